package detector

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/notify"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
)

// The pure decisions of a pass: evaluate over a world built by hand.

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

const testQueue = "q"

var hookTarget = definition.NotifyTarget{Kind: definition.TargetWebhook, URL: "${env:OPS_HOOK}", Secret: "OPS_SECRET"}

// cronDef is a cron definition every minute with a one-minute grace and
// one webhook target; change adjusts it.
func cronDef(id string, change ...func(*definition.Definition)) *definition.Definition {
	d := &definition.Definition{
		ID: id, Enabled: true, Description: "test " + id,
		Trigger:     definition.Trigger{Type: definition.TriggerCron, CronExpression: "* * * * *", Timezone: "UTC", MisfirePolicy: definition.MisfireSkip, CatchupWindow: definition.Duration(time.Minute)},
		Instruction: definition.Instruction{Kind: definition.InstructionShell, Cmd: "true", Timeout: definition.Duration(time.Hour)},
		Expect:      &definition.Expect{Grace: definition.Duration(time.Minute)},
		Notify:      &definition.Notify{Targets: []definition.NotifyTarget{hookTarget}},
	}
	for _, f := range change {
		f(d)
	}
	return d
}

// storeRecord is def as a sync stores it, created at created.
func storeRecord(t testing.TB, d *definition.Definition, created time.Time) store.Definition {
	t.Helper()
	spec, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return store.Definition{
		ID: d.ID, Version: 1, ContentHash: "h-" + d.ID, Spec: spec, SourceFile: "defs/" + d.ID + ".yaml", SourceDir: "defs",
		Enabled: d.Enabled, TriggerType: store.TriggerType(d.Trigger.Type), CreatedAt: created, UpdatedAt: created,
	}
}

func specOf(t testing.TB, d *definition.Definition) *defSpec {
	t.Helper()
	s, err := decodeSpec(storeRecord(t, d, t0))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// worldAt is a world where Temporal has every definition's schedule,
// unpaused, and a worker polls.
func worldAt(now time.Time, ids ...string) *world {
	w := &world{
		now: now, taskQueue: testQueue, states: map[string]*schedule.State{},
		pauses: map[string]store.OperatorPause{}, scheduled: map[string]map[int64]bool{},
		finished: map[string][]store.Run{}, running: map[string][]store.Run{},
		pollers: &pollerAnswers{ask: func(string) (bool, error) { return true, nil }}, episodes: map[string]episode{},
		missedLookback: missedLookback,
	}
	for _, id := range ids {
		w.states[id] = &schedule.State{DefinitionID: id, Exists: true}
	}
	return w
}

func noWorker(w *world) {
	w.pollers = &pollerAnswers{ask: func(string) (bool, error) { return false, nil }}
}

// checkedAt is health whose missed check has reached ct.
func checkedAt(id string, ct time.Time) *store.DefinitionHealth {
	return &store.DefinitionHealth{DefinitionID: id, State: store.HealthOK, CheckedThrough: &ct, LastSuccessAt: ptr(ct.Add(-time.Hour))}
}

func ptr[T any](v T) *T { return &v }

func run(id, def string, status store.RunStatus, finished time.Time) store.Run {
	r := store.Run{ID: id, DefinitionID: def, Status: status, Trigger: store.RunTriggerCron, FinishedAt: &finished, UpdatedAt: finished, WorkflowID: "wf-" + id}
	if status == store.RunFailed {
		r.Stage, r.Error = store.StageInstruction, "exit status 1"
	}
	return r
}

func eventNames(o outcome) []string {
	var out []string
	for _, e := range o.events {
		out = append(out, e.name)
	}
	return out
}

func detail(t *testing.T, r store.Run) (first, last time.Time, count int) {
	t.Helper()
	var d struct {
		First, Last time.Time
		Count       int
	}
	if err := json.Unmarshal(r.TriggerDetail, &d); err != nil {
		t.Fatalf("trigger detail %s: %v", r.TriggerDetail, err)
	}
	return d.First, d.Last, d.Count
}

func TestMissedFiresShareOneRecord(t *testing.T) {
	s := specOf(t, cronDef("a"))
	w := worldAt(t0.Add(5*time.Minute), "a")
	noWorker(w)
	o := evaluate(s, checkedAt("a", t0), w)
	// Fires at +1m..+4m are past their grace at +5m.
	if o.missedFires != 4 || len(o.missed) != 1 {
		t.Fatalf("missed fires %d, records %d; want 4 fires in 1 record", o.missedFires, len(o.missed))
	}
	rec := o.missed[0]
	if want := "missed-a-" + itoa(t0.Add(time.Minute).Unix()); rec.run.ID != want || !rec.created {
		t.Errorf("record %s (created %t), want %s created", rec.run.ID, rec.created, want)
	}
	if rec.run.Status != store.RunMissed || rec.run.SkipReason != "no worker polling task queue q" || !rec.run.ScheduledAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("record = %+v", rec.run)
	}
	if first, last, n := detail(t, rec.run); !first.Equal(t0.Add(time.Minute)) || !last.Equal(t0.Add(4*time.Minute)) || n != 4 {
		t.Errorf("detail first %s last %s count %d", first, last, n)
	}
	h := o.health
	if h.State != store.HealthMissed || h.MissedTotal != 4 || !h.CheckedThrough.Equal(t0.Add(4*time.Minute)) || !h.Problems[0].Notified {
		t.Errorf("health = %+v", h)
	}
	if got := eventNames(o); len(got) != 1 || got[0] != definition.EventMissed {
		t.Fatalf("events = %v, want one missed", got)
	}
	if len(o.timeline) != 1 || o.timeline[0].Kind != store.TimelineProblem {
		t.Errorf("timeline = %+v", o.timeline)
	}

	// The next pass extends the same record, with no new alert.
	w.now = t0.Add(7 * time.Minute)
	w.episodes = map[string]episode{"a": *o.episode}
	o2 := evaluate(s, &o.health, w)
	if len(o2.missed) != 1 || o2.missed[0].created || o2.missed[0].run.ID != rec.run.ID || len(o2.events) != 0 {
		t.Fatalf("second pass: records %+v events %v", o2.missed, eventNames(o2))
	}
	if _, last, n := detail(t, o2.missed[0].run); n != 6 || !last.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("second pass: last %s count %d, want +6m and 6", last, n)
	}

	// A replica that did not open the record counts it again from its ID.
	w.episodes = map[string]episode{}
	o3 := evaluate(s, &o.health, w)
	if _, _, n := detail(t, o3.missed[0].run); n != 6 {
		t.Errorf("recounted: count %d, want 6", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMissedReasons(t *testing.T) {
	now := t0.Add(150 * time.Second) // the fire at +1m is past its grace
	fire := t0.Add(time.Minute)
	cases := []struct {
		name  string
		setup func(w *world)
		want  string
	}{
		{"operator pause", func(w *world) {
			w.pauses["a"] = store.OperatorPause{DefinitionID: "a", Note: "disk swap", PausedAt: t0}
		}, "paused by operator: disk swap"},
		{"auto-pause", func(w *world) {
			w.pauses["a"] = store.OperatorPause{DefinitionID: "a", Note: "auto-paused after 3 consecutive failures; last run r3", PausedAt: t0, By: schedule.ByAutoPause}
		}, "paused by auto-pause: auto-paused after 3 consecutive failures; last run r3"},
		{"pause expired before the fire", func(w *world) {
			w.pauses["a"] = store.OperatorPause{DefinitionID: "a", Note: "n", PausedAt: t0.Add(-time.Hour), Until: ptr(t0)}
			noWorker(w)
		}, "no worker polling task queue q"},
		{"Temporal down", func(w *world) {
			w.states, w.statesErr = nil, errors.New("connection refused")
		}, "Temporal unreachable: connection refused"},
		{"no schedule", func(w *world) { delete(w.states, "a") }, "no schedule in Temporal: the next sync creates it"},
		{"paused in Temporal", func(w *world) {
			w.states["a"].Paused, w.states["a"].Note = true, "by hand"
		}, "schedule paused in Temporal: by hand"},
		{"no worker", noWorker, "no worker polling task queue q"},
		{"poller question failed", func(w *world) {
			w.pollers = &pollerAnswers{ask: func(string) (bool, error) { return false, errors.New("timeout") }}
		}, "catch-up window (1m0s) passed: Temporal did not fire it in time"},
		{"overlap", func(w *world) {
			w.running["a"] = []store.Run{{ID: "r0", DefinitionID: "a", Trigger: store.RunTriggerCron, Status: store.RunRunning, StartedAt: ptr(t0.Add(-time.Minute))}}
		}, "overlap skipped: run r0 was still running"},
		{"overlap with a backfill's run", func(w *world) {
			w.running["a"] = []store.Run{{ID: "r0", DefinitionID: "a", Trigger: store.RunTriggerBackfill, Status: store.RunRunning, StartedAt: ptr(t0.Add(-time.Minute))}}
		}, "overlap skipped: run r0 was still running"},
		{"started, not recorded", func(w *world) {
			w.states["a"].RecentActions = []schedule.RecentAction{{ScheduledAt: fire, TakenAt: fire.Add(time.Second), WorkflowID: "wf-1"}}
		}, "Temporal started workflow wf-1 at 2026-12-05T10:01:01Z but it recorded no run: the worker is busy or cannot reach the store"},
		{"started with jitter, not recorded", func(w *world) {
			w.states["a"].RecentActions = []schedule.RecentAction{{ScheduledAt: fire.Add(7 * time.Second), TakenAt: fire.Add(8 * time.Second), WorkflowID: "a-2026-12-05T10:01:00Z"}}
		}, "Temporal started workflow a-2026-12-05T10:01:00Z at 2026-12-05T10:01:08Z but it recorded no run: the worker is busy or cannot reach the store"},
		{"catch-up", func(*world) {}, "catch-up window (1m0s) passed: Temporal did not fire it in time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := worldAt(now, "a")
			c.setup(w)
			o := evaluate(specOf(t, cronDef("a")), checkedAt("a", t0), w)
			if len(o.missed) != 1 || o.missed[0].run.SkipReason != c.want {
				t.Fatalf("missed = %+v, want one record with reason %q", o.missed, c.want)
			}
		})
	}
}

func TestPausedFiresNotifyOnlyWhenAsked(t *testing.T) {
	w := worldAt(t0.Add(150*time.Second), "a")
	w.pauses["a"] = store.OperatorPause{DefinitionID: "a", Note: "maintenance", PausedAt: t0}
	o := evaluate(specOf(t, cronDef("a")), checkedAt("a", t0), w)
	if len(o.missed) != 1 || len(o.events) != 0 || o.health.State != store.HealthMissed || o.health.Problems[0].Notified {
		t.Fatalf("default notify.on: records %d, events %v, health %+v", len(o.missed), eventNames(o), o.health)
	}
	asked := specOf(t, cronDef("a", func(d *definition.Definition) { d.Notify.On = []string{definition.EventPaused} }))
	o = evaluate(asked, checkedAt("a", t0), w)
	if got := eventNames(o); len(got) != 1 || got[0] != definition.EventPaused || o.events[0].msg.Reason != "paused by operator: maintenance" {
		t.Fatalf("notify.on [paused]: events %v %+v", got, o.events)
	}

	// Resumed, but no worker: the same problem now has a reason to alert
	// on.
	prev := evaluate(specOf(t, cronDef("a")), checkedAt("a", t0), w).health
	w2 := worldAt(t0.Add(210*time.Second), "a")
	noWorker(w2)
	o = evaluate(specOf(t, cronDef("a")), &prev, w2)
	if got := eventNames(o); len(got) != 1 || got[0] != definition.EventMissed || o.missed[0].run.ID == "missed-a-"+itoa(t0.Add(time.Minute).Unix()) {
		t.Fatalf("after resume: events %v, records %+v", got, o.missed)
	}

	// Asked for both: the pause was announced, the miss is announced too.
	both := specOf(t, cronDef("a", func(d *definition.Definition) { d.Notify.On = []string{definition.EventPaused, definition.EventMissed} }))
	prev = evaluate(both, checkedAt("a", t0), w).health
	o = evaluate(both, &prev, w2)
	if got := eventNames(o); len(got) != 1 || got[0] != definition.EventMissed {
		t.Fatalf("paused, then missed: events %v", got)
	}
}

func TestFireWithRunClosesTheRecord(t *testing.T) {
	s := specOf(t, cronDef("a"))
	w := worldAt(t0.Add(4*time.Minute+30*time.Second), "a")
	noWorker(w)
	w.scheduled["a"] = map[int64]bool{t0.Add(2 * time.Minute).Unix(): true}
	o := evaluate(s, checkedAt("a", t0), w)
	// +1m missed, +2m ran, +3m missed: two records, one problem.
	if len(o.missed) != 2 || o.missedFires != 2 || len(o.health.Problems) != 1 || len(o.events) != 1 {
		t.Fatalf("records %+v fires %d problems %+v events %v", o.missed, o.missedFires, o.health.Problems, eventNames(o))
	}
	if o.health.Problems[0].RunID != o.missed[1].run.ID {
		t.Errorf("open record %q, want the second %q", o.health.Problems[0].RunID, o.missed[1].run.ID)
	}
}

func TestMissedThenSuccessRecovers(t *testing.T) {
	s := specOf(t, cronDef("a"))
	w := worldAt(t0.Add(150*time.Second), "a")
	noWorker(w)
	o := evaluate(s, checkedAt("a", t0), w)
	// The worker is back: the stuck fire's run succeeds.
	w2 := worldAt(t0.Add(170*time.Second), "a")
	w2.finished["a"] = []store.Run{run("r1", "a", store.RunSucceeded, t0.Add(160*time.Second))}
	o2 := evaluate(s, &o.health, w2)
	if o2.health.State != store.HealthOK || o2.left != 1 {
		t.Fatalf("health %+v left %d", o2.health, o2.left)
	}
	if got := eventNames(o2); len(got) != 1 || got[0] != definition.EventRecovered || o2.events[0].msg.Status != "ok" || o2.events[0].msg.RunID != "r1" {
		t.Fatalf("events %v %+v", got, o2.events)
	}
	if want := nanos(t0.Add(time.Minute)); o2.events[0].key != want {
		t.Errorf("recovered key %s, want the problem's since %s", o2.events[0].key, want)
	}
}

func TestMissedBeforeALaterSuccessIsNoProblem(t *testing.T) {
	w := worldAt(t0.Add(150*time.Second), "a")
	noWorker(w)
	h := checkedAt("a", t0)
	h.LastSuccessAt = ptr(t0.Add(90 * time.Second))
	o := evaluate(specOf(t, cronDef("a")), h, w)
	if len(o.missed) != 1 || len(o.health.Problems) != 0 || len(o.events) != 0 {
		t.Fatalf("records %d problems %+v events %v", len(o.missed), o.health.Problems, eventNames(o))
	}
}

func TestMissedWindowStartsAtCreation(t *testing.T) {
	s := specOf(t, cronDef("a")) // created at t0
	for _, c := range []struct {
		now  time.Duration
		want int
	}{
		{10 * time.Minute, 9},  // +1m..+9m: not before creation
		{30 * time.Minute, 15}, // +15m..+29m: at most missedLookback back
	} {
		w := worldAt(t0.Add(c.now), "a")
		noWorker(w)
		if o := evaluate(s, nil, w); o.missedFires != c.want {
			t.Errorf("first seen at +%s: %d missed fires, want %d", c.now, o.missedFires, c.want)
		}
	}
	disabled := specOf(t, cronDef("b", func(d *definition.Definition) { d.Enabled = false }))
	if o := evaluate(disabled, nil, worldAt(t0.Add(30*time.Minute))); o.missedFires != 0 || o.health.CheckedThrough != nil {
		t.Errorf("disabled: %d missed fires", o.missedFires)
	}
}

func TestFailingAfterFailures(t *testing.T) {
	s := specOf(t, cronDef("a", func(d *definition.Definition) { d.Notify.AfterFailures = 3; d.Expect = nil }))
	w := worldAt(t0.Add(10*time.Minute), "a")
	w.finished["a"] = []store.Run{
		run("r1", "a", store.RunFailed, t0.Add(time.Minute)),
		run("r2", "a", store.RunFailed, t0.Add(2*time.Minute)),
	}
	o := evaluate(s, nil, w)
	if o.health.ConsecutiveFailures != 2 || o.health.State != store.HealthOK || len(o.events) != 0 {
		t.Fatalf("two failures: %+v events %v", o.health, eventNames(o))
	}
	w.finished["a"] = append(w.finished["a"], run("r3", "a", store.RunTimedOut, t0.Add(3*time.Minute)))
	o = evaluate(s, &o.health, w) // r1 and r2 again: counted once
	if o.health.ConsecutiveFailures != 3 || o.health.State != store.HealthFailing {
		t.Fatalf("third failure: %+v", o.health)
	}
	ev := o.events
	if len(ev) != 1 || ev[0].name != definition.EventTimedOut || ev[0].key != "r3" || ev[0].stderrRun != "r3" || ev[0].msg.ConsecutiveFailures != 3 || ev[0].msg.WorkflowID != "wf-r3" {
		t.Fatalf("events = %+v", ev)
	}
	again := evaluate(s, &o.health, w)
	if again.changed || len(again.events) != 0 {
		t.Errorf("the same feed again changed %t, events %v", again.changed, eventNames(again))
	}
	w.finished["a"] = append(w.finished["a"], run("r4", "a", store.RunFailed, t0.Add(4*time.Minute)), run("r5", "a", store.RunSucceeded, t0.Add(5*time.Minute)))
	o = evaluate(s, &o.health, w)
	if o.health.State != store.HealthOK || o.health.ConsecutiveFailures != 0 || !o.health.LastSuccessAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after success: %+v", o.health)
	}
	if got := eventNames(o); len(got) != 1 || got[0] != definition.EventRecovered {
		t.Errorf("after success: events %v", got)
	}
}

func TestAutoPauseDecision(t *testing.T) {
	s := specOf(t, cronDef("a", func(d *definition.Definition) { d.PauseAfterFailures = 2; d.Expect = nil }))
	w := worldAt(t0.Add(10*time.Minute), "a")
	w.finished["a"] = []store.Run{run("r1", "a", store.RunFailed, t0.Add(time.Minute)), run("r2", "a", store.RunFailed, t0.Add(2*time.Minute))}
	o := evaluate(s, nil, w)
	if o.pause == nil || o.pause.note != "auto-paused after 2 consecutive failures; last run r2" || o.pause.event != nil {
		t.Fatalf("pause = %+v", o.pause)
	}
	w.finished["a"] = append(w.finished["a"], run("r3", "a", store.RunFailed, t0.Add(3*time.Minute)))
	o = evaluate(s, &o.health, w)
	if o.pause != nil {
		t.Errorf("paused again at the third failure")
	}
	// Resumed and still failing: paused again after two more.
	w.finished["a"] = append(w.finished["a"], run("r4", "a", store.RunFailed, t0.Add(4*time.Minute)))
	if o := evaluate(s, &o.health, w); o.pause == nil || o.pause.runID != "r4" {
		t.Errorf("fourth failure: pause %+v, want one naming r4", o.pause)
	}
	asked := specOf(t, cronDef("a", func(d *definition.Definition) {
		d.PauseAfterFailures = 2
		d.Notify.On = []string{definition.EventPaused}
	}))
	w.finished["a"] = w.finished["a"][:2]
	if o := evaluate(asked, nil, w); o.pause == nil || o.pause.event == nil || o.pause.event.name != definition.EventPaused || o.pause.event.key != "r2" {
		t.Errorf("notify.on [paused]: pause %+v", o.pause)
	}
	w.pauses["a"] = store.OperatorPause{DefinitionID: "a", PausedAt: t0}
	if o := evaluate(s, nil, w); o.pause != nil {
		t.Errorf("an operator pause was replaced by an auto-pause")
	}
}

func TestStaleEnteredAndLeft(t *testing.T) {
	s := specOf(t, cronDef("a", func(d *definition.Definition) {
		d.Expect = &definition.Expect{SucceedsWithin: definition.Duration(time.Hour)}
	}))
	h := &store.DefinitionHealth{DefinitionID: "a", State: store.HealthOK, LastSuccessAt: ptr(t0)}
	o := evaluate(s, h, worldAt(t0.Add(59*time.Minute), "a"))
	if o.health.State != store.HealthOK || o.changed {
		t.Fatalf("within the hour: %+v changed %t", o.health, o.changed)
	}
	o = evaluate(s, h, worldAt(t0.Add(61*time.Minute), "a"))
	p := o.health.Problems
	if o.health.State != store.HealthStale || len(p) != 1 || !p[0].Since.Equal(t0.Add(time.Hour)) || len(o.events) != 1 || o.events[0].name != definition.EventStale {
		t.Fatalf("after the hour: %+v events %v", o.health, eventNames(o))
	}
	w := worldAt(t0.Add(62*time.Minute), "a")
	w.finished["a"] = []store.Run{run("r1", "a", store.RunSucceeded, t0.Add(61*time.Minute+30*time.Second))}
	o = evaluate(s, &o.health, w)
	if o.health.State != store.HealthOK || len(o.events) != 1 || o.events[0].name != definition.EventRecovered {
		t.Fatalf("after a success: %+v events %v", o.health, eventNames(o))
	}
	never := evaluate(s, nil, worldAt(t0.Add(2*time.Hour), "a"))
	if never.health.State != store.HealthStale || !strings.Contains(never.health.Problems[0].Reason, "never succeeded") {
		t.Errorf("never succeeded: %+v", never.health)
	}
}

func TestLateEnteredAndLeft(t *testing.T) {
	s := specOf(t, cronDef("a", func(d *definition.Definition) {
		d.Expect = &definition.Expect{MaxDuration: definition.Duration(10 * time.Minute)}
	}))
	w := worldAt(t0.Add(11*time.Minute), "a")
	w.running["a"] = []store.Run{{ID: "r1", DefinitionID: "a", Status: store.RunRunning, StartedAt: ptr(t0), WorkflowID: "wf-r1"}}
	o := evaluate(s, nil, w)
	if o.health.State != store.HealthLate || o.health.Problems[0].RunID != "r1" || len(o.events) != 1 || o.events[0].msg.WorkflowID != "wf-r1" {
		t.Fatalf("late: %+v events %+v", o.health, o.events)
	}
	w2 := worldAt(t0.Add(12*time.Minute), "a")
	o = evaluate(s, &o.health, w2)
	if o.health.State != store.HealthOK || o.left != 1 || len(o.events) != 1 || o.events[0].name != definition.EventRecovered {
		t.Fatalf("after the run ended: %+v events %v", o.health, eventNames(o))
	}
}

func TestSkippedNotifiedOnlyWhenAsked(t *testing.T) {
	w := worldAt(t0.Add(time.Minute), "a")
	sk := run("r1", "a", store.RunSkipped, t0)
	sk.SkipReason = "rule false: x"
	w.finished["a"] = []store.Run{sk}
	if o := evaluate(specOf(t, cronDef("a")), nil, w); len(o.events) != 0 {
		t.Errorf("default: events %v", eventNames(o))
	}
	asked := specOf(t, cronDef("a", func(d *definition.Definition) { d.Notify.On = []string{definition.EventSkipped} }))
	if o := evaluate(asked, nil, w); len(o.events) != 1 || o.events[0].key != "r1" || o.events[0].msg.Reason != "rule false: x" {
		t.Errorf("notify.on [skipped]: events %+v", o.events)
	}
}

func TestNoTargetsThenTargets(t *testing.T) {
	bare := specOf(t, cronDef("a", func(d *definition.Definition) { d.Notify, d.Expect = nil, nil }))
	w := worldAt(t0.Add(time.Hour), "a")
	w.finished["a"] = []store.Run{run("r1", "a", store.RunFailed, t0)}
	o := evaluate(bare, nil, w)
	if o.health.State != store.HealthFailing || o.health.Problems[0].Notified || len(o.events) != 0 {
		t.Fatalf("no targets: %+v events %v", o.health, eventNames(o))
	}
	o = evaluate(specOf(t, cronDef("a", func(d *definition.Definition) { d.Expect = nil })), &o.health, worldAt(t0.Add(time.Hour), "a"))
	if len(o.events) != 1 || o.events[0].name != definition.EventFailed || !o.health.Problems[0].Notified {
		t.Fatalf("targets added: %+v events %v", o.health, eventNames(o))
	}
}

func TestNotificationsPerTarget(t *testing.T) {
	d := cronDef("a", func(d *definition.Definition) {
		d.Notify.Targets = append(d.Notify.Targets,
			definition.NotifyTarget{Kind: definition.TargetSlack, URL: "https://hooks.slack.com/services/T0/B0/secretpart"},
			definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com", "dev@example.com"}},
			definition.NotifyTarget{Kind: definition.TargetNATS, Subject: "org.alerts"},
		)
	})
	s := specOf(t, d)
	ev := event{name: definition.EventFailed, key: "r1", msg: notify.Message{Event: definition.EventFailed, DefinitionID: "a", RunID: "r1"}}
	ns := notifications(s, []event{ev}, t0)
	if len(ns) != 4 {
		t.Fatalf("%d notifications, want 4", len(ns))
	}
	want := []string{"webhook:${env:OPS_HOOK}", "slack:https://hooks.slack.com/…#", "email:ops@example.com,dev@example.com", "nats:org.alerts"}
	for i, n := range ns {
		if !strings.HasPrefix(n.Target, want[i]) || n.ID != "a|failed|r1|"+n.Target || n.Status != store.NotificationPending || !n.NextAttemptAt.Equal(t0) {
			t.Errorf("notification %d = %+v", i, n)
		}
		if strings.Contains(n.Target, "secretpart") || strings.Contains(n.ID, "secretpart") {
			t.Errorf("a literal webhook URL shows in %q", n.ID)
		}
		var m notify.Message
		if err := json.Unmarshal(n.Message, &m); err != nil || m.RunID != "r1" {
			t.Errorf("message %s: %v", n.Message, err)
		}
	}
	if again := notifications(s, []event{ev}, t0.Add(time.Hour)); again[1].ID != ns[1].ID {
		t.Errorf("IDs are not deterministic: %s then %s", ns[1].ID, again[1].ID)
	}
}

func TestStderrTail(t *testing.T) {
	if got := stderrTail("short\n"); got != "short\n" {
		t.Errorf("short: %q", got)
	}
	long := strings.Repeat("line of output\n", 500) + "é the end\n"
	got := stderrTail(long)
	if len(got) > stderrTailMax || !strings.HasSuffix(got, "é the end\n") || !strings.HasPrefix(got, "line of output\n") {
		t.Errorf("long: %d bytes, %.30q…", len(got), got)
	}
	bad := strings.Repeat("\xff", 5000)
	if got := stderrTail(bad); len(got) > stderrTailMax || !strings.HasPrefix(got, "\uFFFD") {
		t.Errorf("invalid UTF-8: %d bytes", len(got))
	}
}

func TestRetireRemoved(t *testing.T) {
	h := store.DefinitionHealth{DefinitionID: "gone", State: store.HealthFailing, ConsecutiveFailures: 4,
		Problems: []store.Problem{{Kind: store.HealthFailing, Since: t0, RunID: "r4", Notified: true}}}
	o := retire(h, t0.Add(time.Hour))
	if o.health.State != store.HealthOK || len(o.health.Problems) != 0 || o.health.ConsecutiveFailures != 4 || len(o.events) != 0 {
		t.Errorf("retired: %+v events %v", o.health, eventNames(o))
	}
	if len(o.timeline) != 1 || o.timeline[0].Kind != store.TimelineRecovered || o.timeline[0].RunID != "r4" {
		t.Errorf("timeline %+v", o.timeline)
	}
}
