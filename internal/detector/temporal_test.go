package detector

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/notify"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// Missed fires against the embedded Temporal.

// startWorker runs the engine's worker on queue, as internal/app does.
func startWorker(t *testing.T, st store.Store, tc client.Client, queue string) {
	t.Helper()
	acts, err := engine.NewActivities(engine.Config{Store: st, Temporal: tc, TaskQueue: queue, Logger: quiet(), ShellGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tc, queue, worker.Options{})
	engine.Register(w, acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// TestMissedFireNoWorker: a cron every minute with no worker polling gives
// one missed record and one notification naming the task queue; a worker
// that comes back runs the stuck fire, and "recovered" follows.
func TestMissedFireNoWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a real fire (up to a minute)")
	}
	st := openSQLite(t, nil)
	_, tc := embeddedTemporal(t)
	name := testName(t)
	proj := projector(t, st, name, name, time.Now)
	d := newDetector(t, Config{Store: st, Schedules: proj, Pollers: TemporalPollers{Client: tc}, TaskQueue: name})
	putDefs(t, st, cronDef("every.minute", func(d *definition.Definition) { d.Expect.Grace = definition.Duration(time.Second) }))
	if _, err := proj.Sync(ctxT(t), false); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, 100*time.Second, "a missed record", func() error {
		pass(t, d)
		if rs := missedRuns(t, st, "every.minute"); len(rs) != 1 {
			return fmt.Errorf("%d missed records", len(rs))
		}
		return nil
	})
	rec := missedRuns(t, st, "every.minute")[0]
	if want := "no worker polling task queue " + name; rec.SkipReason != want {
		t.Errorf("reason %q, want %q", rec.SkipReason, want)
	}
	ns := notificationsOf(t, st, "every.minute")
	if len(ns) != 1 || ns[0].Event != definition.EventMissed || ns[0].RunID != rec.ID {
		t.Fatalf("notifications %+v, want one missed", ns)
	}
	var m notify.Message
	if err := json.Unmarshal(ns[0].Message, &m); err != nil || !strings.Contains(m.Reason, "no worker polling") {
		t.Errorf("message %s", ns[0].Message)
	}

	startWorker(t, st, tc, name)
	testsupport.Eventually(t, 90*time.Second, "recovered", func() error {
		pass(t, d)
		if got := events(notificationsOf(t, st, "every.minute")); len(got) != 2 || got[1] != definition.EventRecovered {
			return fmt.Errorf("notifications %v", got)
		}
		return nil
	})
	if h := health(t, st, "every.minute"); h.State != store.HealthOK || h.MissedTotal < 1 {
		t.Errorf("health %+v", h)
	}
	if rs := missedRuns(t, st, "every.minute"); len(rs) != 1 {
		t.Errorf("%d missed records after recovery", len(rs))
	}
}

// atMinuteSoon is a cron definition that fires once an hour, one to two
// minutes from now: a detector clock three minutes ahead sees that one
// fire missed.
func atMinuteSoon(id string, change ...func(*definition.Definition)) *definition.Definition {
	m := time.Now().UTC().Add(2 * time.Minute).Minute()
	return cronDef(id, append([]func(*definition.Definition){func(d *definition.Definition) {
		d.Trigger.CronExpression = fmt.Sprintf("%d * * * *", m)
		d.Expect.Grace = definition.Duration(time.Second)
	}}, change...)...)
}

// TestOperatorPauseMissed: fires of a schedule an operator paused are
// missed with the operator's note, and notified only when notify.on lists
// paused.
func TestOperatorPauseMissed(t *testing.T) {
	st := openSQLite(t, nil)
	_, tc := embeddedTemporal(t)
	name := testName(t)
	proj := projector(t, st, name, name, time.Now)
	clk := testsupport.NewClock(time.Now().Add(3 * time.Minute))
	d := newDetector(t, Config{Store: st, Schedules: proj, Pollers: TemporalPollers{Client: tc}, TaskQueue: name, Now: clk.Now})
	putDefs(t, st,
		atMinuteSoon("paused.quiet"),
		atMinuteSoon("paused.loud", func(d *definition.Definition) { d.Notify.On = []string{definition.EventPaused} }),
	)
	if _, err := proj.Sync(ctxT(t), false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"paused.quiet", "paused.loud"} {
		if err := proj.Pause(ctxT(t), id, "disk swap", nil); err != nil {
			t.Fatal(err)
		}
	}
	res := pass(t, d)
	if res.MissedFires != 2 || res.Notifications != 1 {
		t.Errorf("pass %+v, want 2 missed fires and 1 notification", res)
	}
	for id, want := range map[string][]string{"paused.quiet": nil, "paused.loud": {definition.EventPaused}} {
		rs := missedRuns(t, st, id)
		if len(rs) != 1 || rs[0].SkipReason != "paused by operator: disk swap" {
			t.Errorf("%s missed records %+v", id, rs)
		}
		if got := events(notificationsOf(t, st, id)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s notifications %v, want %v", id, got, want)
		}
	}
}

// TestTemporalUnreachable: with Temporal down the detector still records
// missed fires, from the store, and says why.
func TestTemporalUnreachable(t *testing.T) {
	st := openSQLite(t, nil)
	name := testName(t)
	dead, err := client.NewLazyClient(client.Options{HostPort: testsupport.FreeAddr(t), Logger: sdklog.NewStructuredLogger(quiet())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dead.Close)
	proj := projectorWith(t, st, dead, name)
	clk := testsupport.NewClock(time.Now().Add(3 * time.Minute))
	d := newDetector(t, Config{Store: st, Schedules: proj, Pollers: TemporalPollers{Client: dead}, TaskQueue: name, Now: clk.Now,
		Interval: time.Second, LeaseTTL: 3 * time.Second})
	putDefs(t, st, atMinuteSoon("while.down"))
	res := pass(t, d)
	if res.TemporalError == "" || res.MissedFires != 1 || res.Notifications != 1 {
		t.Fatalf("pass %+v, want a Temporal error, 1 missed fire, 1 notification", res)
	}
	rs := missedRuns(t, st, "while.down")
	if len(rs) != 1 || !strings.HasPrefix(rs[0].SkipReason, "Temporal unreachable: ") {
		t.Fatalf("missed records %+v", rs)
	}
	if h := health(t, st, "while.down"); h.State != store.HealthMissed {
		t.Errorf("health %+v", h)
	}
}
