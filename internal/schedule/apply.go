package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/store"
)

// apply carries out the plan: the Temporal calls with Concurrency workers,
// then the store-only work. Failures are recorded on their steps (or
// returned, for store writes that follow a successful call).
func (p *Projector) apply(ctx context.Context, steps []*step, in *planInput) []ItemError {
	w := newStateWriter(ctx, p.cfg.Store)
	var calls []*step
	for _, s := range steps {
		if s.op != opNone {
			calls = append(calls, s)
		}
	}
	work := make(chan *step)
	var wg sync.WaitGroup
	// Once a call finds Temporal unreachable (each call retries for up to
	// a minute first), the remaining steps are not tried: every one would
	// wait its own minute, and a sync during an outage must report the
	// error, not hang (docs/definitions.md). The next sync converges.
	var down struct {
		sync.Mutex
		err error
	}
	for range min(p.cfg.Concurrency, len(calls)) {
		wg.Go(func() {
			for s := range work {
				down.Lock()
				derr := down.err
				down.Unlock()
				if derr != nil {
					s.err = fmt.Errorf("%s schedule %s: not tried after Temporal stopped answering: %w", opVerbs[s.op], s.scheduleID, derr)
					continue
				}
				p.execute(ctx, s, in.now)
				if s.err == nil {
					w.record(s)
				} else if isUnavailable(s.err) {
					down.Lock()
					if down.err == nil {
						down.err = s.err
						if u := errors.Unwrap(s.err); u != nil {
							down.err = u
						}
					}
					down.Unlock()
				}
			}
		})
	}
	for _, s := range calls {
		work <- s
	}
	close(work)
	wg.Wait()

	var errs []ItemError
	for _, s := range steps {
		if s.err != nil {
			continue
		}
		if s.op == opNone && s.seedState {
			w.record(s)
		}
		if s.clearPause {
			err := p.cfg.Store.ClearOperatorPause(ctx, s.defID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, ItemError{ID: s.defID, Message: "clearing the expired operator pause: " + err.Error()})
			}
		}
	}
	// Forget what was applied to schedules that no longer exist and are
	// not wanted (deleted by hand, or by an earlier sync whose state
	// write failed).
	for sid, st := range in.states {
		if in.entries[sid] != nil || in.desired[st.DefinitionID] != nil || in.broken[st.DefinitionID] != nil {
			continue
		}
		if len(sid) < len(in.prefix) || sid[:len(in.prefix)] != in.prefix {
			continue // another prefix's schedule: not ours to forget
		}
		w.forget(sid, st.DefinitionID)
	}
	return append(errs, w.flush()...)
}

// execute makes the call(s) one step needs, falling back when the list was
// stale: a create of a schedule that exists becomes an update; an update,
// pause or unpause of a schedule that vanished becomes a create (if the
// schedule should exist); a delete of a missing schedule is done.
func (p *Projector) execute(ctx context.Context, s *step, now time.Time) {
	var err error
	switch s.op {
	case opCreate:
		err = p.create(ctx, s)
		if errors.Is(err, temporal.ErrScheduleAlreadyRunning) && s.recorded {
			// Not listed yet, but sync already applied this exact form:
			// nothing changed (concurrent or back-to-back syncs).
			s.action, s.bucket, s.reason = "", bucketUnchanged, ""
			return
		}
		if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			s.op, s.action, s.reason = opUpdate, ActionUpdate, "schedule exists but was not listed yet"
			s.trigger = false
			err = p.update(ctx, s, now)
		}
	case opUpdate:
		err = p.update(ctx, s, now)
	case opPause:
		err = p.setPaused(ctx, s.defID, true, s.pause.note)
	case opUnpause:
		note, _ := s.unpauseNoteReason(s.entry.Note)
		err = p.setPaused(ctx, s.defID, false, note)
	case opDelete:
		if err = p.schedules.GetHandle(ctx, s.scheduleID).Delete(ctx); isNotFound(err) {
			err = nil
		}
	}
	if s.op != opDelete && isNotFound(err) {
		if s.want.enabled && !s.want.runAtPassed(now) {
			s.op, s.action, s.bucket, s.reason = opCreate, ActionCreate, bucketUpserted, "schedule disappeared since it was listed"
			err = p.create(ctx, s)
		} else {
			// Gone, and not to be made again (disabled, or a once that
			// already fired): nothing to do but forget its state.
			s.op, s.action, s.bucket, s.reason = opDelete, "", bucketUnchanged, ""
			err = nil
		}
	}
	if err != nil {
		s.err = fmt.Errorf("%s schedule %s: %w", opVerbs[s.op], s.scheduleID, err)
		return
	}
	p.log.Debug("schedule: applied", "schedule_id", s.scheduleID, "action", s.action, "reason", s.reason)
}

// isUnavailable reports whether err says Temporal could not be reached
// (after the SDK's own retries), as opposed to a refusal of one call.
func isUnavailable(err error) bool {
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	return errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.Is(err, context.DeadlineExceeded)
}

var opVerbs = map[op]string{
	opCreate:  "creating",
	opUpdate:  "updating",
	opPause:   "pausing",
	opUnpause: "unpausing",
	opDelete:  "deleting",
}

func (p *Projector) create(ctx context.Context, s *step) error {
	d := s.want
	opts := client.ScheduleOptions{
		ID:                 s.scheduleID,
		Spec:               d.spec(),
		Action:             d.action(p.cfg.Prefix),
		Overlap:            d.overlap,
		CatchupWindow:      d.catchup,
		Paused:             s.pause.paused,
		Note:               s.pause.note,
		TriggerImmediately: s.trigger,
	}
	if d.once {
		opts.RemainingActions = 1
	}
	if p.hashKey != nil {
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(p.hashKey.ValueSet(d.hash))
	}
	_, err := p.schedules.Create(ctx, opts)
	return err
}

// update rewrites spec, action and policies, starting from the described
// schedule: Temporal's update replaces the state too, so the pause state and
// note are carried over unless this step changes them.
func (p *Projector) update(ctx context.Context, s *step, now time.Time) error {
	d := s.want
	return p.schedules.GetHandle(ctx, s.scheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sched := in.Description.Schedule
			spec := d.spec()
			sched.Spec = &spec
			sched.Action = d.action(p.cfg.Prefix)
			sched.Policy = d.policies()
			var st client.ScheduleState
			if sched.State != nil {
				st = *sched.State
			}
			switch {
			case s.pause.paused:
				st.Paused, st.Note = true, s.pause.note
			case st.Paused && s.ownsPause(st.Note):
				st.Paused = false
				st.Note, _ = s.unpauseNoteReason(st.Note)
			}
			switch {
			case !d.once:
				st.LimitedActions, st.RemainingActions = false, 0
			case now.Before(d.runAt):
				st.LimitedActions, st.RemainingActions = true, 1
			case !st.LimitedActions:
				// run_at is past: the calendar cannot match again
				// (Temporal never fires times before an update), and
				// nothing is left to take.
				st.LimitedActions, st.RemainingActions = true, 0
			}
			sched.State = &st
			u := &client.ScheduleUpdate{Schedule: &sched}
			if p.hashKey != nil {
				sa := temporal.NewSearchAttributes(p.hashKey.ValueSet(d.hash))
				u.TypedSearchAttributes = &sa
			}
			return u, nil
		},
	})
}

// stateWriter records ScheduleState changes in batches while the workers
// apply the plan, so a sync that stops half-way has recorded most of what
// it did, without one store transaction per schedule. Its own goroutine does
// the writing, so a worker never waits for the store. It writes even after
// the sync's context is canceled: the Temporal changes it records were made.
type stateWriter struct {
	st   store.Store
	ctx  context.Context // not canceled with the sync
	in   chan stateChange
	done chan struct{}
	errs []ItemError // owned by the goroutine until done is closed
}

// stateChange is a state to put, or (forget) one to delete.
type stateChange struct {
	state  store.ScheduleState
	forget bool
}

func newStateWriter(ctx context.Context, st store.Store) *stateWriter {
	w := &stateWriter{
		st:   st,
		ctx:  context.WithoutCancel(ctx),
		in:   make(chan stateChange, 2*stateBatch),
		done: make(chan struct{}),
	}
	go w.run()
	return w
}

func (w *stateWriter) record(s *step) {
	if s.op == opDelete {
		w.forget(s.scheduleID, s.defID)
		return
	}
	st := store.ScheduleState{ScheduleID: s.scheduleID, DefinitionID: s.defID, SpecHash: s.want.hash}
	if s.pause.paused {
		st.PausedBySync, st.Note = s.pause.bySync, s.pause.note
	}
	w.in <- stateChange{state: st}
}

func (w *stateWriter) forget(scheduleID, definitionID string) {
	w.in <- stateChange{state: store.ScheduleState{ScheduleID: scheduleID, DefinitionID: definitionID}, forget: true}
}

// flush writes what is pending, stops the writer and returns the writes
// that failed. The writer must not be used afterwards.
func (w *stateWriter) flush() []ItemError {
	close(w.in)
	<-w.done
	return w.errs
}

func (w *stateWriter) run() {
	defer close(w.done)
	var puts, dels []store.ScheduleState
	for c := range w.in {
		if c.forget {
			dels = append(dels, c.state)
		} else {
			puts = append(puts, c.state)
		}
		// Write a full batch, or whatever came while the last write ran
		// once nothing else is waiting.
		if len(puts) >= stateBatch || (len(w.in) == 0 && len(puts) > 0 && len(puts)+len(dels) >= stateBatch/4) {
			puts = w.write(puts, false)
		}
		if len(dels) >= stateBatch {
			dels = w.write(dels, true)
		}
	}
	w.write(puts, false)
	w.write(dels, true)
}

func (w *stateWriter) write(batch []store.ScheduleState, forget bool) []store.ScheduleState {
	if len(batch) == 0 {
		return batch
	}
	ctx, cancel := context.WithTimeout(w.ctx, stateWriteTimeout)
	defer cancel()
	var err error
	what := "recording schedule state: "
	if forget {
		what = "forgetting schedule state: "
		ids := make([]string, len(batch))
		for i, s := range batch {
			ids[i] = s.ScheduleID
		}
		err = w.st.DeleteScheduleStates(ctx, ids...)
	} else {
		err = w.st.PutScheduleStates(ctx, batch...)
	}
	if err != nil {
		for _, s := range batch {
			w.errs = append(w.errs, ItemError{ID: s.DefinitionID, Message: what + err.Error()})
		}
	}
	return batch[:0]
}
