package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
)

// Who paused a schedule, in State.PausedBy.
const (
	PausedByOperator = "operator" // through Pause with no name; a pause through the API carries the token's name
	PausedBySync     = "sync"     // its definition is disabled
	PausedByExternal = "external" // by hand, in the Temporal UI or CLI
)

// State is a definition's schedule as the API shows it (docs/definitions.md#what-a-run-leaves-behind, docs/architecture.md#adminapi-internaladminapi).
type State struct {
	DefinitionID string `json:"definition_id"`
	ScheduleID   string `json:"schedule_id"`
	// Exists is false when Temporal has no schedule for the definition
	// (an event definition, a disabled one never scheduled, or one the
	// next sync will create); the fields below are then empty, except the
	// operator pause.
	Exists bool `json:"exists"`
	Paused bool `json:"paused"`
	// PausedBy says whose pause it is: operator, sync or external.
	PausedBy string `json:"paused_by,omitempty"`
	// Note is the operator's note for an operator pause, else the
	// schedule's Temporal note.
	Note string `json:"note,omitempty"`
	// Until ends an operator pause by itself.
	Until *time.Time `json:"until,omitempty"`
	// Pending, when set, says how Temporal and the store disagree: an
	// operator pause is recorded but Temporal's schedule still fires (the
	// pause call failed, or it was unpaused by hand). Paused is Temporal's
	// state; the next sync re-applies the pause and reports it.
	Pending string `json:"pending,omitempty"`
	// NextFireTimes are the next nominal fire times (10 from Describe, 5
	// from States).
	NextFireTimes []time.Time `json:"next_fire_times"`
	// RecentActions are the latest fires, oldest first.
	RecentActions []RecentAction `json:"recent_actions"`
	// The counts below come from Describe only (a list entry has none).
	NumActions int `json:"num_actions"`
	// OverlapSkipped counts fires skipped because a run was still going
	// (misfire_policy skip).
	OverlapSkipped int `json:"overlap_skipped"`
	// MissedCatchupWindow counts fires missed by more than catchup_window
	// (Temporal was down or busy).
	MissedCatchupWindow int `json:"missed_catchup_window"`
	// RunningWorkflows are the workflow ids of runs the schedule started
	// that are still going.
	RunningWorkflows []string `json:"running_workflows,omitempty"`
}

// RecentAction is one fire of a schedule.
type RecentAction struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	TakenAt     time.Time `json:"taken_at"`
	WorkflowID  string    `json:"workflow_id,omitempty"`
}

// temporalNoteMax is Temporal's limit on a schedule note, in bytes.
const temporalNoteMax = 1000

// Pause makes an operator pause (docs/dashboard.md#pausing): its input is
// checked first (note at most limits.PauseNote, until in the future); it is
// then recorded in the store, so every later sync keeps it, then the
// schedule is paused with a note naming it. If Temporal refuses or cannot
// be reached, the error says so and wraps store.ErrUnavailable: the pause
// stays recorded, Describe shows it as Pending, and the next sync applies
// it. The first sync after until unpauses the schedule. A definition with no schedule yet (or an event
// definition) gets only the record; sync creates its schedule paused. It
// holds the store's sync lock, so it waits for a running sync: do not call
// it while holding that lock. Errors wrap store.ErrNotFound (unknown or
// removed definition) and store.ErrInvalid (until in the past).
func (p *Projector) Pause(ctx context.Context, definitionID, note string, until *time.Time) error {
	return p.PauseBy(ctx, definitionID, note, "", until)
}

// Who made a pause, in store.OperatorPause.By.
const (
	ByOperator  = "operator"
	ByAutoPause = "auto-pause"
)

// PauseBy is Pause recording who paused in store.OperatorPause.By:
// ByOperator (what Pause records, as an empty By) or ByAutoPause, the
// detector after pause_after_failures (docs/alerting.md#detector). Sync and
// the API treat both alike.
func (p *Projector) PauseBy(ctx context.Context, definitionID, note, by string, until *time.Time) error {
	if until != nil && !until.After(p.cfg.Now()) {
		return fmt.Errorf("pausing %q: %w: until %s is not in the future", definitionID, store.ErrInvalid, until.UTC().Format(time.RFC3339))
	}
	if len(note) > limits.PauseNote {
		return fmt.Errorf("pausing %q: %w: the note is %d bytes; at most %d", definitionID, store.ErrInvalid, len(note), limits.PauseNote)
	}
	return p.cfg.Store.WithSyncLock(ctx, func(ctx context.Context) error {
		def, err := p.liveDefinition(ctx, definitionID)
		if err != nil {
			return fmt.Errorf("pausing %q: %w", definitionID, err)
		}
		op, err := p.cfg.Store.SetOperatorPause(ctx, store.OperatorPause{DefinitionID: definitionID, Note: note, Until: until, By: by})
		if err != nil {
			return fmt.Errorf("pausing %q: %w", definitionID, err)
		}
		if !hasSchedule(def) {
			return nil
		}
		err = p.setPaused(ctx, definitionID, true, operatorNote(op))
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("pausing schedule %s: %w: the pause is recorded and the next sync applies it; Temporal said: %v", p.ScheduleID(definitionID), store.ErrUnavailable, err)
		}
		p.log.Info("schedule: paused", "by", cmp.Or(by, ByOperator), "definition_id", definitionID, "note", note, "until", until)
		return nil
	})
}

// Resume ends an operator pause: the schedule is unpaused if its definition
// is enabled (whoever paused it), or left paused by sync with NoteDisabled
// if not; then the record is cleared. Resuming a definition that is not
// paused is not an error. It holds the store's sync lock, like Pause.
func (p *Projector) Resume(ctx context.Context, definitionID string) error {
	return p.cfg.Store.WithSyncLock(ctx, func(ctx context.Context) error {
		def, err := p.liveDefinition(ctx, definitionID)
		if err != nil {
			return fmt.Errorf("resuming %q: %w", definitionID, err)
		}
		if hasSchedule(def) {
			if def.Enabled {
				err = p.setPaused(ctx, definitionID, false, noteResumed)
			} else {
				err = p.setPaused(ctx, definitionID, true, NoteDisabled)
			}
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("resuming schedule %s (still paused): %w", p.ScheduleID(definitionID), err)
			}
		}
		if err := p.cfg.Store.ClearOperatorPause(ctx, definitionID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("resuming %q: the schedule is unpaused but the pause record stays (the next sync pauses it again): %w", definitionID, err)
		}
		p.log.Info("schedule: resumed by operator", "definition_id", definitionID)
		return nil
	})
}

// setPauseAttempts bounds how often setPaused re-sends a pause or unpause
// that an update overwrote.
const setPauseAttempts = 3

// setPaused pauses or unpauses a schedule and checks that it held. Temporal
// applies a pending full update after a pause or unpause sent later (and an
// update replaces the state), so a pause sent just after a sync updated the
// schedule can be undone; Describe answers only once both are applied, so
// what it shows is final and a lost pause is sent again.
func (p *Projector) setPaused(ctx context.Context, definitionID string, paused bool, note string) error {
	h := p.schedules.GetHandle(ctx, p.ScheduleID(definitionID))
	for range setPauseAttempts {
		var err error
		if paused {
			err = h.Pause(ctx, client.SchedulePauseOptions{Note: note})
		} else {
			err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
		}
		if err != nil {
			return err
		}
		d, err := h.Describe(ctx)
		if err != nil {
			return err
		}
		if st := d.Schedule.State; st != nil && st.Paused == paused && st.Note == note {
			return nil
		}
	}
	return fmt.Errorf("the schedule's pause state was overwritten %d times by concurrent updates", setPauseAttempts)
}

func (p *Projector) liveDefinition(ctx context.Context, id string) (store.Definition, error) {
	def, err := p.cfg.Store.GetDefinition(ctx, id)
	if err != nil {
		return def, err
	}
	if def.Removed() {
		return def, fmt.Errorf("%w: definition %q was removed", store.ErrNotFound, id)
	}
	return def, nil
}

func hasSchedule(def store.Definition) bool {
	return def.TriggerType == store.TriggerCron || def.TriggerType == store.TriggerOnce
}

// Describe returns a definition's schedule with its counts: one Describe
// call. A definition without a schedule gives Exists false, not an error.
func (p *Projector) Describe(ctx context.Context, definitionID string) (*State, error) {
	op, err := p.operatorPause(ctx, definitionID)
	if err != nil {
		return nil, err
	}
	st := &State{DefinitionID: definitionID, ScheduleID: p.ScheduleID(definitionID), NextFireTimes: []time.Time{}, RecentActions: []RecentAction{}}
	desc, err := p.schedules.GetHandle(ctx, st.ScheduleID).Describe(ctx)
	if isNotFound(err) {
		st.setPause(false, "", op, p.cfg.Now())
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing schedule %s: %w", st.ScheduleID, err)
	}
	st.Exists = true
	if s := desc.Schedule.State; s != nil {
		st.setPause(s.Paused, s.Note, op, p.cfg.Now())
	} else {
		st.setPause(false, "", op, p.cfg.Now())
	}
	info := desc.Info
	st.NextFireTimes = append(st.NextFireTimes, info.NextActionTimes...)
	st.RecentActions = recentActions(info.RecentActions)
	st.NumActions = info.NumActions
	st.OverlapSkipped = info.NumActionsSkippedOverlap
	st.MissedCatchupWindow = info.NumActionsMissedCatchupWindow
	for _, w := range info.RunningWorkflows {
		st.RunningWorkflows = append(st.RunningWorkflows, w.WorkflowID)
	}
	return st, nil
}

// States returns the state of every managed schedule, by definition id, from
// one list pass (no counts: those need Describe). For API list pages.
func (p *Projector) States(ctx context.Context) (map[string]*State, error) {
	pauses, err := p.cfg.Store.ListOperatorPauses(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing operator pauses: %w", err)
	}
	ops := make(map[string]*store.OperatorPause, len(pauses))
	for i := range pauses {
		ops[pauses[i].DefinitionID] = &pauses[i]
	}
	entries, err := p.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	now := p.cfg.Now()
	out := make(map[string]*State, len(entries))
	for id, e := range entries {
		defID := strings.TrimPrefix(id, p.cfg.Prefix)
		st := &State{DefinitionID: defID, ScheduleID: id, Exists: true, NextFireTimes: append([]time.Time{}, e.NextActionTimes...), RecentActions: recentActions(e.RecentActions)}
		st.setPause(e.Paused, e.Note, ops[defID], now)
		out[defID] = st
	}
	return out, nil
}

func (p *Projector) operatorPause(ctx context.Context, definitionID string) (*store.OperatorPause, error) {
	op, err := p.cfg.Store.GetOperatorPause(ctx, definitionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the operator pause of %q: %w", definitionID, err)
	}
	return &op, nil
}

// setPause fills the pause fields: Paused is what Temporal has (false when
// the schedule does not exist); an active operator pause that Temporal does
// not show is Pending, for the next sync to apply.
func (st *State) setPause(paused bool, note string, op *store.OperatorPause, now time.Time) {
	st.Paused, st.Note = paused, note
	active := op != nil && op.ActiveAt(now)
	switch {
	case active:
		st.PausedBy, st.Note, st.Until = cmp.Or(op.By, PausedByOperator), op.Note, op.Until
		if st.Exists && !paused {
			st.Pending = "the operator pause is recorded but Temporal's schedule is not paused: the next sync pauses it"
		}
	case !paused:
	case note == NoteDisabled:
		st.PausedBy = PausedBySync
	case strings.HasPrefix(note, noteOperator):
		// An expired operator pause the next sync lifts.
		st.PausedBy = PausedByOperator
	default:
		st.PausedBy = PausedByExternal
	}
}

func recentActions(rs []client.ScheduleActionResult) []RecentAction {
	out := make([]RecentAction, 0, len(rs))
	for _, r := range rs {
		a := RecentAction{ScheduledAt: r.ScheduleTime, TakenAt: r.ActualTime}
		if r.StartWorkflowResult != nil {
			a.WorkflowID = r.StartWorkflowResult.WorkflowID
		}
		out = append(out, a)
	}
	return out
}
