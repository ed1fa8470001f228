package store

import "time"

// ScheduleState is what sync last applied to one managed Temporal schedule.
// Temporal refuses memo updates on schedules, so the spec hash sync compares
// and the fact that sync (not an operator) paused a schedule live here.
type ScheduleState struct {
	// ScheduleID is the Temporal schedule ID (prefix + definition ID).
	ScheduleID   string `json:"schedule_id"`
	DefinitionID string `json:"definition_id"`
	// SpecHash is the hash of the desired schedule (spec, action,
	// policies, timezone) last applied.
	SpecHash string `json:"spec_hash"`
	// PausedBySync is true when sync paused the schedule (its definition
	// is disabled); sync unpauses only what it paused.
	PausedBySync bool `json:"paused_by_sync"`
	// Note is the pause note sync set, if any.
	Note string `json:"note,omitempty"`
	// UpdatedAt is set by the store on every put.
	UpdatedAt time.Time `json:"updated_at"`
}

// OperatorPause is a pause an operator made through the API (docs/architecture.md#adminapi-internaladminapi). Sync
// keeps the schedule paused, with this note, until the pause is cleared or
// Until passes.
type OperatorPause struct {
	DefinitionID string `json:"definition_id"`
	Note         string `json:"note,omitempty"`
	// Until ends the pause by itself; nil pauses until resumed.
	Until    *time.Time `json:"until,omitempty"`
	PausedAt time.Time  `json:"paused_at"`
	// By is who paused: "operator" (the API; the default when empty) or
	// "auto-pause" (the detector, after pause_after_failures).
	By string `json:"by,omitempty"`
}

// ActiveAt reports whether the pause still holds at now. The store returns
// expired pauses too; sync and the API decide with the same clock.
func (p OperatorPause) ActiveAt(now time.Time) bool {
	return p.Until == nil || now.Before(*p.Until)
}
