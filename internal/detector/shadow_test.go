package detector

import (
	"slices"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// TestShadowRunsAreFiresOnly: a shadow run is a fire (the missed check is
// satisfied by it) and neither a success nor a failure, though it ends the
// failures before it (its context and rule passed); a shadow definition is
// never stale (docs/cutover.md#shadow-runs). The same runs
// of an active definition are counted, so the test can tell.
func TestShadowRunsAreFiresOnly(t *testing.T) {
	mk := func(mode string) *defSpec {
		return specOf(t, cronDef("a", func(d *definition.Definition) {
			d.Mode = mode
			d.Expect = &definition.Expect{Grace: definition.Duration(time.Minute), SucceedsWithin: definition.Duration(time.Hour)}
			d.Notify.AfterFailures = 1
		}))
	}
	now := t0.Add(2*time.Hour + 150*time.Second)
	prev := func() *store.DefinitionHealth {
		h := checkedAt("a", t0.Add(2*time.Hour))
		h.LastSuccessAt, h.ConsecutiveFailures = ptr(t0), 2
		return h
	}
	world := func(status store.RunStatus) *world {
		w := worldAt(now, "a")
		fire := t0.Add(2*time.Hour + time.Minute)
		w.scheduled["a"] = map[int64]bool{fire.Unix(): true}
		w.finished["a"] = []store.Run{run("r1", "a", status, fire.Add(time.Second))}
		return w
	}

	o := evaluate(mk(definition.ModeShadow), prev(), world(store.RunShadow))
	if len(o.missed) != 0 || o.missedFires != 0 {
		t.Errorf("the shadow fire counted missed: %+v", o.missed)
	}
	if o.health.ConsecutiveFailures != 0 || !o.health.LastSuccessAt.Equal(t0) {
		t.Errorf("the shadow run counted as a success or failure, or did not end the failures: %+v", o.health)
	}
	if o.health.State != store.HealthOK || len(o.health.Problems) != 0 || len(o.events) != 0 {
		t.Errorf("shadow definition: state %s problems %+v events %v", o.health.State, o.health.Problems, eventNames(o))
	}

	// The controls: an active definition with the same history is stale,
	// a fire without a run is missed, and a failed run is counted.
	if o := evaluate(mk(""), prev(), world(store.RunShadow)); o.health.State != store.HealthStale {
		t.Errorf("active definition two hours after its last success: %s", o.health.State)
	}
	noFire := world(store.RunShadow)
	noFire.scheduled = map[string]map[int64]bool{}
	if o := evaluate(mk(definition.ModeShadow), prev(), noFire); o.missedFires != 1 {
		t.Errorf("a shadow definition's fire without a run: %d missed, want 1", o.missedFires)
	}
	if o := evaluate(mk(""), prev(), world(store.RunFailed)); o.health.ConsecutiveFailures != 3 {
		t.Errorf("active failed run: %d consecutive failures, want 3", o.health.ConsecutiveFailures)
	}
}

// TestShadowRunEndsFailing: a shadow definition failing at its context is
// failing until a shadow run passes its context and rule; that run ends
// the problem without being a success.
func TestShadowRunEndsFailing(t *testing.T) {
	d := specOf(t, cronDef("a", func(d *definition.Definition) {
		d.Mode = definition.ModeShadow
		d.Notify.AfterFailures = 1
	}))
	failedAt := t0.Add(time.Hour)
	prev := checkedAt("a", failedAt)
	prev.LastFailureAt, prev.ConsecutiveFailures = ptr(failedAt), 1
	prev.State = store.HealthFailing
	prev.Problems = []store.Problem{{Kind: store.HealthFailing, Since: failedAt, Reason: "failed at context", RunID: "r0"}}

	for _, tc := range []struct {
		name    string
		at      time.Time
		failing bool
	}{{"a shadow run after the failure", failedAt.Add(time.Hour), false}, {"a shadow run before it", failedAt.Add(-time.Minute), true}} {
		p := *prev
		p.Problems = slices.Clone(prev.Problems)
		w := worldAt(failedAt.Add(2*time.Hour), "a")
		w.finished["a"] = []store.Run{run("r1", "a", store.RunShadow, tc.at)}
		o := evaluate(d, &p, w)
		still := slices.ContainsFunc(o.health.Problems, func(p store.Problem) bool { return p.Kind == store.HealthFailing })
		if still != tc.failing {
			t.Errorf("%s: problems %+v, want failing %v", tc.name, o.health.Problems, tc.failing)
		}
		if !tc.failing && (o.health.ConsecutiveFailures != 0 || !equalTime(o.health.LastSuccessAt, prev.LastSuccessAt)) {
			t.Errorf("%s: health %+v, want no failures and the last success unchanged (%v)", tc.name, o.health, prev.LastSuccessAt)
		}
	}
}

func equalTime(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}
