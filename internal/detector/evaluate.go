package detector

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/notify"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
)

// outcome is what evaluating one definition decided; the pass carries it
// out (pass.go).
type outcome struct {
	health store.DefinitionHealth
	// changed says health differs from what was stored.
	changed bool
	// missed are the missed records to write, by ID order of first fire.
	missed []missedRecord
	// episode is the open missed record after the pass, nil when none.
	episode  *episode
	events   []event
	timeline []store.TimelineEntry
	pause    *autoPause
	// Counts for PassResult.
	entered, left, missedFires int
}

// missedRecord is a missed run record to create (new in this pass) or
// update.
type missedRecord struct {
	run     store.Run
	created bool
}

// event is one notification before it is addressed to the targets.
type event struct {
	name string
	// key tells this event from others of the definition: the problem's
	// Since in Unix nanoseconds, or a run ID.
	key string
	msg notify.Message
	// stderrRun is the run whose stderr tail the message carries.
	stderrRun string
}

// autoPause is a pause the definition's pause_after_failures asks for;
// event (if any) is sent only when the pause is made.
type autoPause struct {
	definitionID, note, runID string
	event                     *event
}

// evaluation is the state of evaluating one definition.
type evaluation struct {
	d   *defSpec
	w   *world
	h   store.DefinitionHealth
	ep  *episode
	out outcome
}

// evaluate decides what one definition's health is now and what to record
// and notify about it, from prev (nil when first seen) and the world.
func evaluate(d *defSpec, prev *store.DefinitionHealth, w *world) outcome {
	e := &evaluation{d: d, w: w, h: startHealth(d, prev, w)}
	if ep, ok := w.episodes[d.id]; ok && e.openRecord() == ep.recordID {
		e.ep = &ep
	}
	e.applyRuns()
	if d.missedChecked() {
		e.checkMissed()
	} else {
		e.quietLeave(store.HealthMissed, "missed fires are no longer checked: "+d.whyNoMissedCheck())
	}
	e.checkStale()
	e.checkLate()
	for i := range e.h.Problems {
		if !e.h.Problems[i].Notified {
			e.notify(&e.h.Problems[i])
		}
	}
	e.finish(prev)
	return e.out
}

// startHealth is a copy of prev to change, or the health of a definition
// seen for the first time.
func startHealth(d *defSpec, prev *store.DefinitionHealth, w *world) store.DefinitionHealth {
	if prev == nil {
		h := store.DefinitionHealth{DefinitionID: d.id, State: store.HealthOK}
		if t, ok := w.lastSuccess[d.id]; ok {
			h.LastSuccessAt = &t
		}
		return h
	}
	h := *prev
	h.Problems = slices.Clone(prev.Problems)
	return h
}

// applyRuns counts the feed's finished runs. A run is counted once: one
// that finished no later than the last success or failure already counted
// is skipped, so reading the feed again (after a failover) changes nothing.
func (e *evaluation) applyRuns() {
	for _, r := range e.w.finished[e.d.id] {
		at := finishedAt(r)
		switch r.Status {
		case store.RunSkipped:
			if e.d.wants(definition.EventSkipped) {
				e.emit(event{name: definition.EventSkipped, key: r.ID, msg: e.message(definition.EventSkipped, string(r.Status), r.SkipReason, r.ID, r.WorkflowID)})
			}
		case store.RunShadow:
			if after(at, e.h.LastFailureAt) {
				e.shadowed(r)
			}
		case store.RunSucceeded, store.RunFailed, store.RunTimedOut:
			if !after(at, e.h.LastSuccessAt) || !after(at, e.h.LastFailureAt) {
				continue
			}
			if r.Status == store.RunSucceeded {
				e.succeeded(r, at)
			} else {
				e.failed(r, at)
			}
		}
	}
}

func (e *evaluation) succeeded(r store.Run, at time.Time) {
	e.h.ConsecutiveFailures = 0
	e.h.LastSuccessAt = &at
	for _, kind := range []store.HealthState{store.HealthFailing, store.HealthMissed} {
		e.leave(kind, "run "+r.ID+" succeeded", r.ID, false)
	}
}

// shadowed counts a shadow run: not a success (nothing ran, so the last
// success stays), but its context and rule, the only stages a shadow
// definition's runs can fail at, passed, so the failures before it are
// over (docs/cutover.md#shadow-runs).
func (e *evaluation) shadowed(r store.Run) {
	if e.h.ConsecutiveFailures == 0 && e.problem(store.HealthFailing) == nil {
		return
	}
	e.h.ConsecutiveFailures = 0
	e.leave(store.HealthFailing, "shadow run "+r.ID+" gathered its context and passed its rule", r.ID, false)
}

func (e *evaluation) failed(r store.Run, at time.Time) {
	e.h.ConsecutiveFailures++
	e.h.LastFailureAt = &at
	n := e.h.ConsecutiveFailures
	if n >= e.d.notify.AfterFailures && e.problem(store.HealthFailing) == nil {
		e.enter(store.Problem{Kind: store.HealthFailing, Since: at, Reason: runReason(r), RunID: r.ID}, r.WorkflowID)
	}
	// Every limit-th consecutive failure pauses, so a definition resumed
	// while still failing is paused again after limit more.
	if limit := e.d.pauseAfterFailures; limit > 0 && n%limit == 0 && !e.pausedAt(e.w.now) {
		note := fmt.Sprintf("auto-paused after %d consecutive failures; last run %s", limit, r.ID)
		ap := &autoPause{definitionID: e.d.id, note: note, runID: r.ID}
		if e.d.wants(definition.EventPaused) && e.hasTargets() {
			ap.event = &event{name: definition.EventPaused, key: r.ID, msg: e.message(definition.EventPaused, "paused", note, r.ID, r.WorkflowID)}
		}
		e.out.pause = ap
	}
}

// pausedAt reports whether an operator or auto-pause holds at t.
func (e *evaluation) pausedAt(t time.Time) bool {
	op, ok := e.w.pauses[e.d.id]
	return ok && op.ActiveAt(t)
}

// problem returns the active problem of a kind, nil when none.
func (e *evaluation) problem(kind store.HealthState) *store.Problem {
	for i := range e.h.Problems {
		if e.h.Problems[i].Kind == kind {
			return &e.h.Problems[i]
		}
	}
	return nil
}

// enter starts a problem: a timeline entry, and a notification if notify
// asks for it.
func (e *evaluation) enter(p store.Problem, workflowID string) {
	p.Since = micro(p.Since)
	e.h.Problems = append(e.h.Problems, p)
	e.out.entered++
	e.out.timeline = append(e.out.timeline, e.entry(store.TimelineProblem, string(p.Kind)+": "+p.Reason, p.RunID, p))
	e.notifyWith(&e.h.Problems[len(e.h.Problems)-1], workflowID)
}

// leave ends the problem of a kind if there is one: a timeline entry, and
// "recovered" if the problem was notified (unless quiet).
func (e *evaluation) leave(kind store.HealthState, why, runID string, quiet bool) {
	i := slices.IndexFunc(e.h.Problems, func(p store.Problem) bool { return p.Kind == kind })
	if i < 0 {
		return
	}
	p := e.h.Problems[i]
	e.h.Problems = slices.Delete(e.h.Problems, i, i+1)
	e.out.left++
	if kind == store.HealthMissed {
		e.ep = nil
	}
	summary := "recovered from " + string(kind) + ": " + why
	e.out.timeline = append(e.out.timeline, e.entry(store.TimelineRecovered, summary, runID, p))
	if p.Notified && !quiet && e.d.wants(definition.EventRecovered) {
		// Status is the state after the pass, set by finish.
		e.emit(event{name: definition.EventRecovered, key: nanos(p.Since), msg: e.message(definition.EventRecovered, "", summary, runID, "")})
	}
}

// quietLeave ends a problem that is no longer checked, without a
// notification.
func (e *evaluation) quietLeave(kind store.HealthState, why string) { e.leave(kind, why, "", true) }

// notify sends the notification of an active problem not notified yet.
func (e *evaluation) notify(p *store.Problem) { e.notifyWith(p, "") }

func (e *evaluation) notifyWith(p *store.Problem, workflowID string) {
	name := problemEvent(*p)
	if !e.d.wants(name) || !e.hasTargets() || autoPaused(*p) {
		return
	}
	key := nanos(p.Since)
	ev := event{name: name, key: key, msg: e.message(name, string(p.Kind), p.Reason, p.RunID, workflowID)}
	if p.Kind == store.HealthFailing {
		ev.key, ev.stderrRun = p.RunID, p.RunID
		ev.msg.Status = name
		ev.msg.ConsecutiveFailures = e.h.ConsecutiveFailures
	}
	e.emit(ev)
	p.Notified = true
}

// autoPaused reports whether p is fires held back by an auto-pause: the
// pause itself was announced when it was made (failed), not again.
func autoPaused(p store.Problem) bool {
	return p.Kind == store.HealthMissed && strings.HasPrefix(p.Reason, "paused by "+schedule.ByAutoPause+": ")
}

// problemEvent is the notify event a problem is announced with.
func problemEvent(p store.Problem) string {
	switch p.Kind {
	case store.HealthFailing:
		if strings.HasPrefix(p.Reason, reasonTimedOut) {
			return definition.EventTimedOut
		}
		return definition.EventFailed
	case store.HealthMissed:
		if strings.HasPrefix(p.Reason, "paused by ") {
			return definition.EventPaused
		}
		return definition.EventMissed
	}
	return string(p.Kind) // stale, late
}

func (e *evaluation) hasTargets() bool { return len(e.d.notify.Targets) > 0 }

func (e *evaluation) emit(ev event) {
	if e.hasTargets() {
		e.out.events = append(e.out.events, ev)
	}
}

func (e *evaluation) message(name, status, reason, runID, workflowID string) notify.Message {
	return notify.Message{
		Event: name, DefinitionID: e.d.id, Description: e.d.description, At: e.w.now,
		Status: status, Reason: reason, RunID: runID, WorkflowID: workflowID,
	}
}

func (e *evaluation) entry(kind, summary, runID string, p store.Problem) store.TimelineEntry {
	return store.TimelineEntry{
		DefinitionID: e.d.id, At: e.w.now, Kind: kind, Summary: summary, Actor: "detector", RunID: runID, Detail: mustJSON(p),
	}
}

// finish orders the problems, sets the state and says whether anything
// changed.
func (e *evaluation) finish(prev *store.DefinitionHealth) {
	slices.SortStableFunc(e.h.Problems, func(a, b store.Problem) int { return rank(a.Kind) - rank(b.Kind) })
	e.h.State = store.HealthOK
	if len(e.h.Problems) > 0 {
		e.h.State = e.h.Problems[0].Kind
	}
	for i := range e.out.events {
		if e.out.events[i].name == definition.EventRecovered {
			e.out.events[i].msg.Status = string(e.h.State)
		}
	}
	e.out.changed = prev == nil || !sameHealth(*prev, e.h)
	if e.out.changed {
		e.h.UpdatedAt = e.w.now
	}
	e.out.health = e.h
	e.out.episode = e.ep
}

func sameHealth(a, b store.DefinitionHealth) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	if len(a.Problems) == 0 && len(b.Problems) == 0 {
		a.Problems, b.Problems = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// rank orders health states worst first, as store.HealthStates lists them.
func rank(s store.HealthState) int { return slices.Index(store.HealthStates, s) }

func finishedAt(r store.Run) time.Time {
	if r.FinishedAt != nil {
		return *r.FinishedAt
	}
	return r.UpdatedAt
}

// after reports whether t is after ref (always, when ref is nil).
func after(t time.Time, ref *time.Time) bool { return ref == nil || t.After(*ref) }

func nanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// micro is t as the store keeps it: UTC, microseconds.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// openRecord is the ID of the open missed record, "" when none.
func (e *evaluation) openRecord() string {
	if p := e.problem(store.HealthMissed); p != nil {
		return p.RunID
	}
	return ""
}

// retire clears the problems of a definition that is no longer live (its
// file was removed): nothing is checked or notified for it any more.
func retire(h store.DefinitionHealth, now time.Time) outcome {
	o := outcome{changed: true}
	for _, p := range h.Problems {
		o.timeline = append(o.timeline, store.TimelineEntry{
			DefinitionID: h.DefinitionID, At: now, Kind: store.TimelineRecovered, Actor: "detector", RunID: p.RunID,
			Summary: "recovered from " + string(p.Kind) + ": the definition was removed", Detail: mustJSON(p),
		})
	}
	h.Problems, h.State, h.UpdatedAt = nil, store.HealthOK, now
	o.health = h
	o.left = len(o.timeline)
	return o
}
