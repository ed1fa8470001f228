package cli

import (
	"github.com/coulomb/activity-core/internal/testsupport"

	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// week writes the records of one week to a store, moving the clock as it
// goes: what sync, the engine, the detector and the notifier would write.
type week struct {
	t     *testing.T
	st    store.Store
	clock *testsupport.Clock
	ctx   context.Context
}

func (w *week) at(t time.Time) { w.clock.Set(t) }

func (w *week) check(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// fire records a run starting now and ending at end with status, as the
// engine does.
func (w *week) fire(id string, trigger store.RunTrigger, end time.Time, final store.Run) {
	w.t.Helper()
	start := w.clock.Now()
	r := store.Run{ID: id, DefinitionID: "team.backup", DefinitionVersion: cmp.Or(final.DefinitionVersion, 2), Trigger: trigger, Status: store.RunRunning, StartedAt: &start}
	if trigger == store.RunTriggerCron {
		r.ScheduledAt = &start
	}
	r, err := w.st.CreateRun(w.ctx, r)
	w.check(err)
	w.at(end)
	r.Status, r.FinishedAt, r.ExitCode, r.Stage, r.Error = final.Status, &end, final.ExitCode, final.Stage, final.Error
	_, err = w.st.UpdateRun(w.ctx, r)
	w.check(err)
}

// health writes the detector's view of the definition now.
func (w *week) health(state store.HealthState, failures int, lastSuccess *time.Time, problems ...store.Problem) {
	w.t.Helper()
	w.check(w.st.PutHealth(w.ctx, store.DefinitionHealth{DefinitionID: "team.backup", State: state, Problems: problems,
		ConsecutiveFailures: failures, LastSuccessAt: lastSuccess, UpdatedAt: w.clock.Now()}))
}

// entry appends a detector's or notifier's timeline entry now.
func (w *week) entry(kind, actor, runID, summary string, detail any) {
	w.t.Helper()
	b, err := json.Marshal(detail)
	w.check(err)
	w.check(w.st.AppendTimeline(w.ctx, store.TimelineEntry{DefinitionID: "team.backup", Kind: kind, Actor: actor, RunID: runID, Summary: summary, Detail: b}))
}

// notify enqueues a notification now and records it sent at sentAt.
func (w *week) notify(event, runID string, sentAt time.Time) {
	w.t.Helper()
	const target = "slack:${env:SLACK_OPS_URL}"
	n := store.Notification{ID: fmt.Sprintf("team.backup|%s|%s|%s", event, runID, target), DefinitionID: "team.backup", RunID: runID, Event: event,
		Target: target, TargetSpec: json.RawMessage(`{"kind":"slack","url":"${env:SLACK_OPS_URL}"}`), Message: json.RawMessage(`{"event":"` + event + `"}`)}
	_, err := w.st.EnqueueNotifications(w.ctx, n)
	w.check(err)
	w.at(sentAt)
	n.Status, n.Attempts, n.SentAt = store.NotificationSent, 1, &sentAt
	w.check(w.st.UpdateNotifications(w.ctx, n))
	w.entry(store.TimelineNotification, "notifier", runID, event+": sent to "+target+" (attempt 1)", map[string]any{"id": n.ID, "status": n.Status, "attempts": 1})
}

// scriptWeek is Monday 2026-03-02 to Sunday: a backup that moved from
// 03:00 to 04:00, skipped on Wednesday by its rule, failed on Thursday
// (disk full), timed out on Friday, was paused by an operator who forgot
// it over the weekend (two missed fires), and ran by hand on Sunday.
func scriptWeek(t *testing.T, st store.Store, clock *testsupport.Clock) {
	w := &week{t: t, st: st, clock: clock, ctx: context.Background()}
	exit := func(c int) *int { return &c }

	w.at(day(0, 9, 0, 0))
	syncDefinition(t, st, backupYAML("0 3 * * *", "Nightly backup of every database."))
	w.at(day(1, 3, 0, 0))
	w.fire("r-tue", store.RunTriggerCron, day(1, 3, 4, 12), store.Run{DefinitionVersion: 1, Status: store.RunSucceeded, ExitCode: exit(0)})
	tue := day(1, 3, 4, 12)
	w.health(store.HealthOK, 0, &tue)
	w.at(day(1, 10, 30, 0))
	syncDefinition(t, st, backupYAML("0 4 * * *", "Nightly backup of every database, after the 03:30 vacuum."))

	w.at(day(2, 4, 0, 0))
	now := w.clock.Now()
	_, err := st.CreateRun(w.ctx, store.Run{ID: "r-wed", DefinitionID: "team.backup", DefinitionVersion: 2, Trigger: store.RunTriggerCron, Status: store.RunSkipped,
		ScheduledAt: &now, StartedAt: &now, FinishedAt: &now, SkipReason: "rule false: now.getDayOfWeek() != 3"})
	w.check(err)

	w.at(day(3, 4, 0, 0))
	w.fire("r-thu", store.RunTriggerCron, day(3, 4, 0, 41), store.Run{Status: store.RunFailed, ExitCode: exit(1), Stage: store.StageInstruction,
		Error: "exit status 1: backup: write /var/backups/db.tar: no space left on device"})
	w.at(day(3, 4, 0, 55))
	failing := store.Problem{Kind: store.HealthFailing, Since: day(3, 4, 0, 41), Reason: "1 consecutive failure: run r-thu failed, exit 1", RunID: "r-thu", Notified: true}
	w.health(store.HealthFailing, 1, &tue, failing)
	w.entry(store.TimelineProblem, "detector", "r-thu", "failing: 1 consecutive failure: run r-thu failed, exit 1", failing)
	w.notify("failed", "r-thu", day(3, 4, 1, 10))

	w.at(day(4, 4, 0, 0))
	w.fire("r-fri", store.RunTriggerCron, day(4, 5, 0, 0), store.Run{Status: store.RunTimedOut, Stage: store.StageInstruction, Error: "instruction timed out after 1h0m0s"})
	w.health(store.HealthFailing, 2, &tue, failing)
	w.at(day(4, 9, 15, 0))
	_, err = st.SetOperatorPause(w.ctx, store.OperatorPause{DefinitionID: "team.backup", Note: "disk full on backup host, OPS-4211", By: "operator"})
	w.check(err)

	scriptWeekend(w, failing)
}

// scriptWeekend: two fires missed while paused, one record; the resume,
// a run by hand, and the recovery.
func scriptWeekend(w *week, failing store.Problem) {
	const reason = "paused by operator: disk full on backup host, OPS-4211"
	w.at(day(5, 4, 10, 0))
	first := day(5, 4, 0, 0)
	missed, err := w.st.CreateRun(w.ctx, store.Run{ID: fmt.Sprintf("missed-team.backup-%d", first.Unix()), DefinitionID: "team.backup", Trigger: store.RunTriggerCron,
		Status: store.RunMissed, ScheduledAt: &first, SkipReason: reason, TriggerDetail: missedDetail(first, first, 1)})
	w.check(err)
	w.at(day(6, 4, 10, 0))
	missed.TriggerDetail = missedDetail(first, day(6, 4, 0, 0), 2)
	_, err = w.st.UpdateRun(w.ctx, missed)
	w.check(err)

	w.at(day(6, 11, 0, 0))
	w.check(w.st.ClearOperatorPause(w.ctx, "team.backup"))
	w.at(day(6, 11, 5, 0))
	w.fire("r-sun", store.RunTriggerManual, day(6, 11, 6, 30), store.Run{Status: store.RunSucceeded, ExitCode: func() *int { c := 0; return &c }()})
	w.at(day(6, 11, 6, 45))
	sun := day(6, 11, 6, 30)
	w.health(store.HealthOK, 0, &sun)
	w.entry(store.TimelineRecovered, "detector", "r-sun", "recovered: run r-sun succeeded after 2 consecutive failures", failing)
	w.notify("recovered", "r-sun", day(6, 11, 7, 0))
}

func missedDetail(first, last time.Time, count int) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"first": first, "last": last, "count": count})
	return b
}
