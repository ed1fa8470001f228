package detector

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/limits"

	"github.com/coulomb/activity-core/internal/store"
)

// reasonTimedOut starts the reason of a failing problem tipped by a run
// that timed out (its event is timed_out, not failed).
const reasonTimedOut = "timed out"

// checkStale enters stale when the last success (or, never succeeded, the
// definition's creation) is older than expect.succeeds_within, and leaves
// it once that is no longer so (docs/alerting.md#expect).
func (e *evaluation) checkStale() {
	within := e.d.expect.SucceedsWithin.D()
	if within <= 0 || !e.d.enabled || e.d.shadow {
		e.quietLeave(store.HealthStale, "staleness is no longer checked")
		return
	}
	base, what := e.d.createdAt, "never succeeded since it was stored at"
	if ls := e.h.LastSuccessAt; ls != nil {
		base, what = *ls, "last success at"
	}
	since := base.Add(within)
	stale := e.w.now.After(since)
	switch p := e.problem(store.HealthStale); {
	case stale && p == nil:
		reason := fmt.Sprintf("no success within %s: %s %s", within, what, base.UTC().Format(time.RFC3339))
		e.enter(store.Problem{Kind: store.HealthStale, Since: since, Reason: reason}, "")
	case !stale && p != nil:
		e.leave(store.HealthStale, "a run succeeded at "+base.UTC().Format(time.RFC3339), "", false)
	}
}

// checkLate enters late while a run has been running longer than
// expect.max_duration, and leaves it when no run is.
func (e *evaluation) checkLate() {
	limit := e.d.expect.MaxDuration.D()
	var late *store.Run
	if limit > 0 {
		for i, r := range e.w.running[e.d.id] {
			if r.StartedAt != nil && e.w.now.Sub(*r.StartedAt) > limit {
				late = &e.w.running[e.d.id][i]
				break
			}
		}
	}
	p := e.problem(store.HealthLate)
	if p != nil && (late == nil || late.ID != p.RunID) {
		e.leave(store.HealthLate, e.lateEnd(p.RunID), p.RunID, false)
		p = nil
	}
	if late != nil && p == nil {
		reason := fmt.Sprintf("run %s started at %s is still running past max_duration %s", late.ID, late.StartedAt.UTC().Format(time.RFC3339), limit)
		e.enter(store.Problem{Kind: store.HealthLate, Since: late.StartedAt.Add(limit), Reason: reason, RunID: late.ID}, late.WorkflowID)
	}
}

// lateEnd says what became of a late run.
func (e *evaluation) lateEnd(runID string) string {
	for _, r := range e.w.finished[e.d.id] {
		if r.ID == runID {
			return "run " + runID + " ended: " + string(r.Status)
		}
	}
	return "run " + runID + " is no longer running past max_duration"
}

// runReason says in one line how a run failed.
func runReason(r store.Run) string {
	s := "failed"
	if r.Status == store.RunTimedOut {
		s = reasonTimedOut
	}
	if r.Stage != store.StageNone {
		s += " at stage " + string(r.Stage)
	}
	switch {
	case r.Error != "":
		// An expectation's error names its stage already.
		s += ": " + strings.TrimPrefix(r.Error, string(r.Stage)+": ")
	case r.ExitCode != nil:
		s += fmt.Sprintf(": exit status %d", *r.ExitCode)
	}
	return limits.Clip(s, reasonMax)
}

// mustJSON marshals values that always marshal (store records, maps of
// times and numbers).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("detector: marshaling %T: %v", v, err))
	}
	return b
}
