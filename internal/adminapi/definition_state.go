package adminapi

import (
	"cmp"
	"context"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// States of a definition in a list (DefinitionState.State).
const (
	stateActive       = "active"        // its schedule fires
	statePaused       = "paused"        // its schedule does not fire (see PausedBy)
	stateNotScheduled = "not_scheduled" // no schedule in Temporal yet (the next sync makes it)
	stateListening    = "listening"     // an enabled event definition
	stateDisabled     = "disabled"      // a disabled event definition
	stateRemoved      = "removed"       // its file is gone
)

// DefinitionState is a definition's schedule state in GET
// /api/v1/definitions: from the store (operator pauses, enabled, removed)
// and, when the process has schedules, from one list pass over Temporal.
type DefinitionState struct {
	// State is active, paused, not_scheduled, listening, disabled or
	// removed.
	State string `json:"state"`
	// PausedBy is operator, sync (the definition is disabled) or
	// external (paused by hand in Temporal).
	PausedBy string     `json:"paused_by,omitempty"`
	Note     string     `json:"note,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	// Pending says how Temporal and the store disagree; the next sync
	// repairs it.
	Pending string `json:"pending,omitempty"`
}

// definitionRow is one definition of the list with its state.
type definitionRow struct {
	store.Definition
	ScheduleState DefinitionState `json:"schedule_state"`
	// Health is what the detector last found; absent before it looked.
	Health *store.DefinitionHealth `json:"health,omitempty"`
}

// definitionStates pairs each definition with its state. Temporal is asked
// once for all (when the Schedules can list); if that fails the states come
// from the store alone and schedErr says why.
func (s *Server) definitionStates(ctx context.Context, defs []store.Definition) (rows []definitionRow, schedErr error, err error) {
	pauses, err := s.cfg.Store.ListOperatorPauses(ctx)
	if err != nil {
		return nil, nil, err
	}
	ops := make(map[string]*store.OperatorPause, len(pauses))
	for i := range pauses {
		ops[pauses[i].DefinitionID] = &pauses[i]
	}
	var temporal map[string]*ScheduleInfo
	if lister, ok := s.cfg.Schedules.(scheduleStates); ok && s.cfg.Schedules != nil {
		if temporal, schedErr = lister.States(ctx); schedErr != nil {
			temporal = nil
		}
	}
	now := s.cfg.Now()
	rows = make([]definitionRow, len(defs))
	for i, def := range defs {
		var info *ScheduleInfo
		if temporal != nil {
			if info = temporal[def.ID]; info == nil {
				info = &ScheduleInfo{} // listed: Temporal has none
			}
		}
		rows[i] = definitionRow{Definition: def, ScheduleState: stateOf(def, ops[def.ID], info, now)}
	}
	return rows, schedErr, nil
}

// stateOf is one definition's state. info is Temporal's schedule (Exists
// false: none), or nil when Temporal was not asked.
func stateOf(def store.Definition, op *store.OperatorPause, info *ScheduleInfo, now time.Time) DefinitionState {
	switch {
	case def.Removed():
		return DefinitionState{State: stateRemoved}
	case def.TriggerType == store.TriggerEvent && !def.Enabled:
		return DefinitionState{State: stateDisabled}
	case def.TriggerType == store.TriggerEvent:
		return DefinitionState{State: stateListening}
	}
	var st DefinitionState
	switch {
	case op != nil && op.ActiveAt(now):
		st = DefinitionState{State: statePaused, PausedBy: cmp.Or(op.By, "operator"), Note: op.Note, Until: op.Until}
	case !def.Enabled:
		st = DefinitionState{State: statePaused, PausedBy: "sync", Note: "disabled in its file"}
	default:
		st = DefinitionState{State: stateActive}
	}
	if info == nil {
		return st
	}
	switch {
	case !info.Exists && def.Enabled:
		st.State = stateNotScheduled
		st.Pending = "Temporal has no schedule for it yet: the next sync creates it"
	case !info.Exists:
	case info.Paused && st.State == stateActive:
		st = DefinitionState{State: statePaused, PausedBy: info.PausedBy, Note: info.Note}
	case !info.Paused && st.State == statePaused:
		st.State = stateActive
		st.Pending = "the pause is recorded but Temporal's schedule is not paused: the next sync pauses it"
	}
	return st
}
