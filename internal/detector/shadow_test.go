package detector

import (
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// TestShadowRunsAreFiresOnly: a shadow run is a fire (the missed check is
// satisfied by it) and neither a success nor a failure; a shadow
// definition is never stale (docs/cutover.md#shadow-runs). The same runs
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
	if o.health.ConsecutiveFailures != 2 || !o.health.LastSuccessAt.Equal(t0) {
		t.Errorf("the shadow run counted as a success or failure: %+v", o.health)
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
