package detector

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/notify"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// Detection from the real store, with a fake clock where time matters.

func failingDef(id string, change ...func(*definition.Definition)) *definition.Definition {
	return cronDef(id, append([]func(*definition.Definition){func(d *definition.Definition) {
		d.Trigger.CronExpression = "17 3 * * *"
		d.Expect = nil
		d.Notify.Targets = []definition.NotifyTarget{hookTarget, {Kind: definition.TargetSlack, URL: "${env:SLACK_OPS_URL}"}}
	}}, change...)...)
}

// TestStorm: 200 definitions failing at once give one notification per
// definition and target (the notifier groups them per target), once.
func TestStorm(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv.name, func(t *testing.T) {
			clk := newClock()
			st := drv.open(t, clk.Now)
			name := testName(t)
			d := newDetector(t, Config{Store: st, Schedules: projector(t, st, name, name, clk.Now), TaskQueue: name, Now: clk.Now})
			var defs []*definition.Definition
			for i := range 200 {
				defs = append(defs, failingDef(fmt.Sprintf("storm.%03d", i)))
			}
			putDefs(t, st, defs...)
			pass(t, d) // first sight
			clk.Add(time.Minute)
			for _, def := range defs {
				finishedRun(t, st, "run-"+def.ID, def.ID, store.RunFailed, clk.Now())
			}
			clk.Add(time.Second)
			res := pass(t, d)
			if res.Notifications != 400 || res.Entered != 200 {
				t.Fatalf("storm pass: %+v, want 400 notifications and 200 problems", res)
			}
			due, err := st.DueNotifications(ctxT(t), clk.Now(), 1000)
			if err != nil {
				t.Fatal(err)
			}
			perTarget := map[string]int{}
			for _, n := range due {
				perTarget[n.Target]++
			}
			if len(due) != 400 || perTarget["webhook:${env:OPS_HOOK}"] != 200 || perTarget["slack:${env:SLACK_OPS_URL}"] != 200 {
				t.Errorf("due: %d, per target %v", len(due), perTarget)
			}
			var m notify.Message
			if err := json.Unmarshal(due[0].Message, &m); err != nil || m.StderrTail != "boom: disk full\n" || m.Event != definition.EventFailed || m.ConsecutiveFailures != 1 {
				t.Errorf("message %s: %v", due[0].Message, err)
			}
			// More failures of the same problems: no new alert.
			clk.Add(time.Minute)
			for _, def := range defs[:50] {
				finishedRun(t, st, "run2-"+def.ID, def.ID, store.RunFailed, clk.Now())
			}
			clk.Add(time.Second)
			if res := pass(t, d); res.Notifications != 0 || res.Entered != 0 {
				t.Errorf("second pass: %+v, want nothing new", res)
			}
			if h := health(t, st, "storm.007"); h.State != store.HealthFailing || h.ConsecutiveFailures != 2 {
				t.Errorf("health of storm.007: %+v", h)
			}
		})
	}
}

// TestStaleAndLate: each is entered and left, with a timeline entry and
// a notification each way.
func TestStaleAndLate(t *testing.T) {
	clk := newClock()
	st := openSQLite(t, clk.Now)
	name := testName(t)
	d := newDetector(t, Config{Store: st, Schedules: projector(t, st, name, name, clk.Now), TaskQueue: name, Now: clk.Now})
	putDefs(t, st,
		failingDef("stale.job", func(d *definition.Definition) {
			d.Expect = &definition.Expect{SucceedsWithin: definition.Duration(time.Hour)}
		}),
		failingDef("late.job", func(d *definition.Definition) {
			d.Expect = &definition.Expect{MaxDuration: definition.Duration(10 * time.Minute)}
		}),
	)
	pass(t, d)
	started := clk.Now()
	if _, err := st.CreateRun(ctxT(t), store.Run{ID: "long-1", DefinitionID: "late.job", Trigger: store.RunTriggerCron, Status: store.RunRunning, StartedAt: &started}); err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Minute)
	res := pass(t, d)
	if h := health(t, st, "late.job"); h.State != store.HealthLate || res.Entered != 1 {
		t.Fatalf("after 30 minutes: late.job %+v, pass %+v", h, res)
	}
	clk.Add(31 * time.Minute)
	pass(t, d)
	if h := health(t, st, "stale.job"); h.State != store.HealthStale || !strings.Contains(h.Problems[0].Reason, "never succeeded") {
		t.Fatalf("after 61 minutes: stale.job %+v", h)
	}
	// The long run ends and stale.job succeeds.
	fin := clk.Now()
	if _, err := st.UpdateRun(ctxT(t), store.Run{ID: "long-1", DefinitionID: "late.job", Trigger: store.RunTriggerCron, Status: store.RunSucceeded, StartedAt: &started, FinishedAt: &fin}); err != nil {
		t.Fatal(err)
	}
	finishedRun(t, st, "ok-1", "stale.job", store.RunSucceeded, fin)
	clk.Add(time.Second)
	if res := pass(t, d); res.Left != 2 {
		t.Errorf("after the success: %+v, want 2 problems left", res)
	}
	for _, id := range []string{"stale.job", "late.job"} {
		if h := health(t, st, id); h.State != store.HealthOK {
			t.Errorf("%s: %+v", id, h)
		}
		want := []string{strings.TrimSuffix(id, ".job"), "recovered"}
		if got := events(notificationsOf(t, st, id)); len(got) != 4 || got[0] != want[0] || got[2] != want[1] {
			t.Errorf("%s notifications %v, want %s then recovered, per target", id, got, want[0])
		}
		es := detectorEntries(t, st, id)
		if len(es) != 2 || es[0].Kind != store.TimelineProblem || es[1].Kind != store.TimelineRecovered {
			t.Errorf("%s timeline %+v", id, es)
		}
	}
}

// TestAutoPause: pause_after_failures pauses the definition with a note
// naming the run, as an auto-pause, and sync keeps the pause.
func TestAutoPause(t *testing.T) {
	clk := newClock()
	st := openSQLite(t, clk.Now)
	name := testName(t)
	proj := projector(t, st, name, name, time.Now)
	d := newDetector(t, Config{Store: st, Schedules: proj, Pauser: proj, TaskQueue: name, Now: clk.Now})
	putDefs(t, st, failingDef("flaky", func(d *definition.Definition) {
		d.PauseAfterFailures = 3
		d.Notify.On = append(definition.NotifyOnDefault, definition.EventPaused)
	}))
	if _, err := proj.Sync(ctxT(t), false); err != nil {
		t.Fatal(err)
	}
	pass(t, d)
	for i := range 3 {
		clk.Add(time.Minute)
		finishedRun(t, st, fmt.Sprintf("flaky-%d", i+1), "flaky", store.RunFailed, clk.Now())
	}
	clk.Add(time.Second)
	res := pass(t, d)
	if len(res.AutoPaused) != 1 {
		t.Fatalf("pass: %+v, want flaky auto-paused", res)
	}
	op, err := st.GetOperatorPause(ctxT(t), "flaky")
	if err != nil {
		t.Fatal(err)
	}
	if op.By != schedule.ByAutoPause || op.Note != "auto-paused after 3 consecutive failures; last run flaky-3" {
		t.Errorf("pause = %+v", op)
	}
	if got := events(notificationsOf(t, st, "flaky")); len(got) != 4 || got[0] != "failed" || got[2] != "paused" {
		t.Errorf("notifications %v, want failed and paused per target", got)
	}
	if _, err := proj.Sync(ctxT(t), false); err != nil {
		t.Fatal(err)
	}
	state, err := proj.Describe(ctxT(t), "flaky")
	if err != nil {
		t.Fatal(err)
	}
	if !state.Paused || state.PausedBy != schedule.ByAutoPause || !strings.Contains(state.Note, "last run flaky-3") {
		t.Errorf("after a sync: %+v", state)
	}
}

// detectorEntries are the detector's timeline entries of a definition.
func detectorEntries(t testing.TB, st store.Store, id string) []store.TimelineEntry {
	t.Helper()
	all, err := st.ListTimeline(ctxT(t), store.TimelineFilter{DefinitionID: id})
	if err != nil {
		t.Fatal(err)
	}
	var es []store.TimelineEntry
	for _, e := range all {
		if e.Actor == "detector" {
			es = append(es, e)
		}
	}
	return es
}

// TestFailover: two replicas on one store; the one holding the lease
// dies without giving it up, the other takes over once the lease expires
// and detection goes on, with no notification twice. A replica that is
// canceled gives the lease up at once.
func TestFailover(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv.name, func(t *testing.T) {
			st := drv.open(t, nil) // the lease runs on the database's clock
			name := testName(t)
			proj := projector(t, st, name, name, time.Now)
			cfg := func(holder string) Config {
				return Config{Store: st, Schedules: proj, TaskQueue: name, Holder: holder, Interval: 50 * time.Millisecond, LeaseTTL: 2 * time.Second}
			}
			a, b := newDetector(t, cfg("replica-a")), newDetector(t, cfg("replica-b"))
			putDefs(t, st, failingDef("one"), failingDef("two"))
			ctx := ctxT(t)

			// a's ticks are driven here, so that it can die without
			// giving the lease up.
			a.tick(ctx)
			if !a.leader.Load() {
				t.Fatal("a did not take the free lease")
			}
			bctx, stopB := context.WithCancel(ctx)
			bDone := make(chan error, 1)
			go func() { bDone <- b.Run(bctx) }()
			t.Cleanup(stopB)
			finishedRun(t, st, "one-1", "one", store.RunFailed, time.Now())
			a.tick(ctx)
			if n := len(notificationsOf(t, st, "one")); n != 2 || b.leader.Load() {
				t.Fatalf("after a's pass: %d notifications of one, b leader %t", n, b.leader.Load())
			}

			// a dies. b takes over once the lease expires.
			finishedRun(t, st, "two-1", "two", store.RunFailed, time.Now())
			testsupport.Eventually(t, 30*time.Second, "b takes over and notifies two", func() error {
				if n := len(notificationsOf(t, st, "two")); !b.leader.Load() || n != 2 {
					return fmt.Errorf("b leader %t, %d notifications of two", b.leader.Load(), n)
				}
				return nil
			})
			// b read the feed again from before a's last pass: nothing twice.
			if n := len(notificationsOf(t, st, "one")); n != 2 {
				t.Errorf("%d notifications of one after the failover, want 2", n)
			}
			if h := health(t, st, "one"); h.ConsecutiveFailures != 1 {
				t.Errorf("one counted %d failures, want 1", h.ConsecutiveFailures)
			}

			// b is canceled: it gives the lease up, and a takes it at once.
			stopB()
			if err := <-bDone; err != nil {
				t.Fatalf("b.Run: %v", err)
			}
			a.tick(ctx)
			if !a.leader.Load() || b.leader.Load() {
				t.Errorf("after b stopped: a leader %t, b leader %t", a.leader.Load(), b.leader.Load())
			}
			all, err := st.ListNotifications(ctx, store.NotificationFilter{Limit: store.NotificationLimitMax})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 4 {
				t.Errorf("%d notifications in all, want 4", len(all))
			}
		})
	}
}

// TestRemovedDefinitionLeavesItsProblems: a definition whose file is gone
// stops showing as a problem, quietly.
func TestRemovedDefinitionLeavesItsProblems(t *testing.T) {
	clk := newClock()
	st := openSQLite(t, clk.Now)
	d := newDetector(t, Config{Store: st, Schedules: noSchedules{}, Now: clk.Now})
	putDefs(t, st, failingDef("doomed"), failingDef("kept"))
	finishedRun(t, st, "doomed-1", "doomed", store.RunFailed, clk.Now())
	clk.Add(time.Second)
	pass(t, d)
	if h := health(t, st, "doomed"); h.State != store.HealthFailing {
		t.Fatalf("doomed: %+v", h)
	}
	if _, err := st.MarkDefinitionsRemoved(ctxT(t), "/defs", []string{"kept"}); err != nil {
		t.Fatal(err)
	}
	if res := pass(t, d); res.Left != 1 || res.Notifications != 0 {
		t.Errorf("pass after the removal: %+v", res)
	}
	if h := health(t, st, "doomed"); h.State != store.HealthOK || len(h.Problems) != 0 {
		t.Errorf("doomed after removal: %+v", h)
	}
	if res := pass(t, d); res.Left != 0 {
		t.Errorf("retired twice: %+v", res)
	}
}
