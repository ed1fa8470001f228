package detector

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
)

// Limits of missed-fire checking.
const (
	// firesPerPassMax bounds the fires one definition is checked for in
	// a pass; the rest wait for the next pass.
	firesPerPassMax = 1000
	// recountMax bounds how many fires a missed record's count is
	// recounted over after a leader change.
	recountMax = 1 << 20
	// reasonMax bounds a reason built from an error.
	reasonMax = 300
)

// The reasons of a missed fire (docs/alerting.md#missed-fires). Tests and
// people match their prefixes.
const (
	reasonTemporalDown = "Temporal unreachable: "
	reasonNoSchedule   = "no schedule in Temporal: the next sync creates it"
	reasonPausedIn     = "schedule paused in Temporal: "
	reasonNoWorker     = "no worker polling task queue "
	reasonNoWorkerPool = "no worker polling pool "
	reasonPausedBy     = "paused by "
)

// checkMissed looks at the nominal fires in (CheckedThrough, now-wait]:
// one with a run is accounted for; one without is a missed fire.
func (e *evaluation) checkMissed() {
	from := e.missedFrom()
	to := e.w.now.Add(-waitOf(e.d))
	seen := e.w.scheduled[e.d.id]
	if e.h.CheckedThrough == nil {
		// Not fired yet: without a mark its window would slide with now,
		// and a first fire during a detector downtime longer than the
		// lookback would never be checked. Each fire checked below
		// moves the mark on.
		ct := micro(from)
		e.h.CheckedThrough = &ct
	}
	for range firesPerPassMax {
		f := e.d.cron.Next(from, e.d.loc).UTC()
		if f.IsZero() || f.After(to) {
			return
		}
		from = f
		if seen[f.Unix()] {
			e.closeEpisode()
		} else {
			e.missedFire(f)
		}
		e.h.CheckedThrough = &f
	}
}

// missedFrom is where checking starts: after the last fire accounted for,
// never before the definition's current version was stored, and, for a
// definition seen for the first time, at most missedLookback back.
func (e *evaluation) missedFrom() time.Time {
	return missedFrom(e.d, e.h.CheckedThrough, e.w.now, e.w.missedLookback)
}

func missedFrom(d *defSpec, checkedThrough *time.Time, now time.Time, lookback time.Duration) time.Time {
	start := now.Add(-waitOf(d) - lookback)
	if checkedThrough != nil {
		start = *checkedThrough
	}
	return latest(start, d.createdAt, d.changedAt)
}

// waitOf is how long after a nominal fire its run may still start: the
// grace, plus the schedule's jitter, which delays the start by up to that.
func waitOf(d *defSpec) time.Duration {
	return d.expect.Grace.D() + d.trigger.Jitter.D()
}

// closeEpisode ends the open missed record: a fire had a run. The missed
// problem stays until a run succeeds.
func (e *evaluation) closeEpisode() {
	if p := e.problem(store.HealthMissed); p != nil {
		p.RunID = ""
	}
	e.ep = nil
}

// missedFire records fire f as missed: it joins the open record when the
// reason is the same, or starts a new one.
func (e *evaluation) missedFire(f time.Time) {
	reason := e.w.missedReason(e.d, f)
	e.h.MissedTotal++
	e.out.missedFires++
	p := e.problem(store.HealthMissed)
	if p != nil && p.RunID != "" && p.Reason == reason {
		if e.ep == nil || e.ep.recordID != p.RunID {
			e.ep = e.recount(p.RunID)
		}
		e.ep.last = f
		e.ep.count++
		e.record(reason, false)
		return
	}
	e.ep = &episode{recordID: missedRunID(e.d.id, f), first: f, last: f, count: 1}
	e.record(reason, true)
	switch {
	case p != nil:
		// A pause that turned into a real miss (or back) is another event:
		// it is announced again if notify asks for it.
		if problemEvent(*p) != problemEvent(store.Problem{Kind: store.HealthMissed, Reason: reason}) {
			p.Notified = false
		}
		p.RunID, p.Reason = e.ep.recordID, reason
	case after(f, e.h.LastSuccessAt):
		e.enter(store.Problem{Kind: store.HealthMissed, Since: f, Reason: reason, RunID: e.ep.recordID}, "")
	}
}

// recount rebuilds an open record the detector does not remember (another
// replica opened it): its first fire is in its ID, and every fire from
// there to CheckedThrough was missed.
func (e *evaluation) recount(recordID string) *episode {
	ep := &episode{recordID: recordID, count: 1}
	sec, err := strconv.ParseInt(recordID[strings.LastIndexByte(recordID, '-')+1:], 10, 64)
	if err != nil {
		ep.first = e.problem(store.HealthMissed).Since
	} else {
		ep.first = time.Unix(sec, 0).UTC()
	}
	ep.last = ep.first
	if ct := e.h.CheckedThrough; ct != nil {
		for t := ep.first; ep.count < recountMax; ep.count++ {
			if t = e.d.cron.Next(t, e.d.loc).UTC(); t.IsZero() || t.After(*ct) {
				break
			}
			ep.last = t
		}
	}
	return ep
}

// record writes the open record's current state into the outcome, once
// per record however many fires joined it in this pass.
func (e *evaluation) record(reason string, created bool) {
	run := missedRun(e.d, *e.ep, reason, e.w.now)
	for i := range e.out.missed {
		if e.out.missed[i].run.ID == run.ID {
			e.out.missed[i].run = run
			return
		}
	}
	e.out.missed = append(e.out.missed, missedRecord{run: run, created: created})
}

// missedRunID names the record of the missed fires that start at first.
func missedRunID(definitionID string, first time.Time) string {
	return "missed-" + definitionID + "-" + strconv.FormatInt(first.Unix(), 10)
}

// missedRun is the run record of an episode of missed fires.
func missedRun(d *defSpec, ep episode, reason string, now time.Time) store.Run {
	first := ep.first.UTC()
	detail := mustJSON(map[string]any{"first": first, "last": ep.last.UTC(), "count": ep.count})
	return store.Run{
		ID: ep.recordID, DefinitionID: d.id, DefinitionVersion: d.version, ContentHash: d.contentHash,
		Trigger: store.RunTriggerCron, TriggerDetail: detail, Status: store.RunMissed, SkipReason: reason,
		ScheduledAt: &first, FinishedAt: &now,
	}
}

// missedReason says why fire f left no run, from what the pass read: the
// pauses, Temporal's schedule, the task queue's pollers and the running
// runs.
func (w *world) missedReason(d *defSpec, f time.Time) string {
	op, paused := w.pauses[d.id]
	if paused && !op.PausedAt.After(f) && op.ActiveAt(f) {
		return reasonPausedBy + cmp.Or(op.By, schedule.ByOperator) + ": " + cmp.Or(op.Note, "no note given")
	}
	// An operator pause made after f pauses Temporal's schedule now, but
	// it did not stop f.
	pausedSince := paused && op.PausedAt.After(f)
	if w.statesErr != nil {
		return reasonTemporalDown + limits.Clip(w.statesErr.Error(), reasonMax)
	}
	st := w.states[d.id]
	switch {
	case st == nil || !st.Exists:
		return reasonNoSchedule
	case st.Paused && !pausedSince:
		return reasonPausedIn + cmp.Or(st.Note, "no note given")
	}
	if q := engine.TaskQueueFor(w.taskQueue, d.pool); !w.hasPollers(q) {
		if d.pool == definition.PoolDefault {
			// The reason of before pools: an open episode keeps its
			// reason across the upgrade.
			return reasonNoWorker + q
		}
		return fmt.Sprintf("%s%s (task queue %s)", reasonNoWorkerPool, d.pool, q)
	}
	if d.trigger.MisfirePolicy == definition.MisfireSkip {
		if id := w.overlapping(d.id, f); id != "" {
			return "overlap skipped: run " + id + " was still running"
		}
	}
	// A recent action's time includes jitter; its workflow ID ends with
	// the nominal time.
	nominal := "-" + f.UTC().Format(time.RFC3339)
	for _, a := range st.RecentActions {
		if a.ScheduledAt.Equal(f) || strings.HasSuffix(a.WorkflowID, nominal) {
			return fmt.Sprintf("Temporal started workflow %s at %s but it recorded no run: the worker is busy or cannot reach the store",
				a.WorkflowID, a.TakenAt.UTC().Format(time.RFC3339))
		}
	}
	return fmt.Sprintf("catch-up window (%s) passed: Temporal did not fire it in time", d.trigger.CatchupWindow)
}

// hasPollers reports whether a worker polls taskQueue; a failed question
// counts as yes, so the reason falls through to what else is known.
func (w *world) hasPollers(taskQueue string) bool {
	has, err := w.pollers.get(taskQueue)
	return err != nil || has
}

// whyNoMissedCheck says why missed fires are not checked.
func (d *defSpec) whyNoMissedCheck() string {
	switch {
	case !d.enabled:
		return "definition disabled"
	case d.cron == nil:
		return "not a cron definition"
	}
	return "expect.grace is not set"
}

func latest(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// overlapping returns a run the definition's schedule started (a cron
// fire or a backfill's, which Temporal's overlap policy counts alike) that
// was going at f: one still running, or one of the pass's feed that ended
// after f. An overrun that ended before the pass's feed began is not seen
// (docs/alerting.md#known-limits).
func (w *world) overlapping(definitionID string, f time.Time) string {
	for _, r := range w.running[definitionID] {
		if scheduleStarted(r) && r.StartedAt != nil && r.StartedAt.Before(f) {
			return r.ID
		}
	}
	for _, r := range w.finished[definitionID] {
		if scheduleStarted(r) && r.StartedAt != nil && r.StartedAt.Before(f) && r.FinishedAt != nil && r.FinishedAt.After(f) {
			return r.ID
		}
	}
	return ""
}

// scheduleStarted reports whether the definition's Temporal schedule
// started r: its overlap policy skips a fire while such a run is going.
func scheduleStarted(r store.Run) bool {
	return r.Trigger == store.RunTriggerCron || r.Trigger == store.RunTriggerBackfill
}
