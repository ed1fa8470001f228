package store

import (
	"encoding/json"
	"time"
)

// TriggerType says what fires a definition. It is stored beside the spec so
// the syncer (cron and once become schedules) and the router (event) can
// select definitions without decoding every spec.
type TriggerType string

// The trigger types of ActivityDefinition v1 (docs/definitions.md).
const (
	TriggerCron  TriggerType = "cron"
	TriggerEvent TriggerType = "event"
	TriggerOnce  TriggerType = "once"
)

// Valid reports whether t is one of the known trigger types; a row holding
// another value is treated as corrupt.
func (t TriggerType) Valid() bool {
	switch t {
	case TriggerCron, TriggerEvent, TriggerOnce:
		return true
	}
	return false
}

// Definition is the current version of an ActivityDefinition as the last
// sync stored it. The store never decodes Spec: the definition package owns
// its format, and the columns beside it (Enabled, TriggerType, EventType)
// exist only so lists can be filtered in the database.
type Definition struct {
	ID string `json:"id"`
	// Version starts at 1 and grows by one each time ContentHash changes.
	Version int `json:"version"`
	// ContentHash identifies the content (the definition package's hash of
	// the canonical spec); an upsert with the same hash writes nothing.
	ContentHash string `json:"content_hash"`
	// Spec is the canonical JSON of the parsed definition, kept byte for
	// byte.
	Spec json.RawMessage `json:"spec"`
	// SourceFile is the file the definition was read from, for messages.
	SourceFile string `json:"source_file"`
	// SourceDir is the definitions directory (ACTIVITY_DEFINITION_PATHS
	// entry) holding SourceFile; MarkDefinitionsRemoved works per source.
	SourceDir   string      `json:"source_dir"`
	Enabled     bool        `json:"enabled"`
	TriggerType TriggerType `json:"trigger_type"`
	// EventType is the subject pattern of an event trigger, empty for
	// others.
	EventType string    `json:"event_type,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// RemovedAt is set when the definition's file disappeared (a
	// tombstone); the row is kept for the history of its runs.
	RemovedAt *time.Time `json:"removed_at,omitempty"`
	// Origin is where the current version came from (source, commit,
	// author, path): the Origin of version Version, nil for versions
	// stored before it was recorded. See Origin for when it is written.
	Origin *Origin `json:"origin,omitempty"`
}

// Removed reports whether the definition is tombstoned.
func (d Definition) Removed() bool { return d.RemovedAt != nil }

// DefinitionVersion is one content version of a definition, kept forever so
// that a run can show exactly what it ran.
type DefinitionVersion struct {
	DefinitionID string          `json:"definition_id"`
	Version      int             `json:"version"`
	ContentHash  string          `json:"content_hash"`
	Spec         json.RawMessage `json:"spec"`
	CreatedAt    time.Time       `json:"created_at"`
	// Origin is where this version was first read from; it never
	// changes.
	Origin *Origin `json:"origin,omitempty"`
}

// DefinitionFilter selects definitions. The zero value selects every live
// (not removed) definition.
type DefinitionFilter struct {
	// TriggerType, when set, keeps only definitions with that trigger.
	TriggerType TriggerType
	// Enabled, when set, keeps only definitions whose Enabled equals it.
	Enabled *bool
	// SourceDir, when set, keeps only definitions of that source.
	SourceDir string
	// IncludeRemoved adds tombstoned definitions.
	IncludeRemoved bool
}

// Limits of DefinitionPageFilter.Limit.
const (
	DefinitionListLimitDefault = 50
	DefinitionListLimitMax     = 1000
)

// DefinitionPageFilter selects one page of definitions. The zero value is
// the first DefinitionListLimitDefault live definitions.
type DefinitionPageFilter struct {
	DefinitionFilter
	// Limit is the page size: 0 or less means DefinitionListLimitDefault,
	// more than DefinitionListLimitMax means DefinitionListLimitMax.
	Limit int
	// After is DefinitionPage.Next of the previous page: the page starts
	// after it. Empty for the first page.
	After string
	// Before is DefinitionPage.Prev of the following page: the page is
	// the Limit definitions just before it. At most one of After and
	// Before may be set; a cursor that does not parse is ErrInvalid.
	Before string
}

// DefinitionPage is one page of ListDefinitionsPage, in ID order.
type DefinitionPage struct {
	Definitions []Definition `json:"definitions"`
	// Next is the cursor of the following page (for After), empty on the
	// last page.
	Next string `json:"next,omitempty"`
	// Prev is the cursor of the preceding page (for Before), empty on
	// the first page. It is set whenever the page was reached from a
	// cursor, so it may lead to an empty page if every definition before
	// was removed meanwhile.
	Prev string `json:"prev,omitempty"`
}

// UpsertOutcome is what an upsert did to one record; the syncer turns it
// into the counts of its result.
type UpsertOutcome string

// The outcomes of an upsert.
const (
	// Created: the key was new.
	Created UpsertOutcome = "created"
	// Updated: the content hash changed; definitions get a new version.
	Updated UpsertOutcome = "updated"
	// Unchanged: same content hash, not removed. Nothing is written, except
	// the source file and directory when the file moved.
	Unchanged UpsertOutcome = "unchanged"
	// Restored: the record was removed and is back. Definitions get a new
	// version only if the content hash changed too.
	Restored UpsertOutcome = "restored"
)

// UpsertResult reports the outcome of one record of a batch upsert.
type UpsertResult struct {
	// ID is the definition ID or event type name.
	ID      string        `json:"id"`
	Outcome UpsertOutcome `json:"outcome"`
	// Version is the definition's version after the upsert (0 for event
	// types, which keep no versions).
	Version int `json:"version,omitempty"`
}

// PlanDefinitionUpsert is the rule UpsertDefinitions applies, exported so a
// dry-run sync reports exactly what a real one would do. current is the
// stored definition, nil when there is none.
func PlanDefinitionUpsert(current *Definition, next Definition) UpsertOutcome {
	if current == nil {
		return plan(false, false, false)
	}
	return plan(true, current.Removed(), current.ContentHash == next.ContentHash)
}

// PlanEventTypeUpsert is PlanDefinitionUpsert for event types.
func PlanEventTypeUpsert(current *EventType, next EventType) UpsertOutcome {
	if current == nil {
		return plan(false, false, false)
	}
	return plan(true, current.Removed(), current.ContentHash == next.ContentHash)
}

func plan(found, removed, sameHash bool) UpsertOutcome {
	switch {
	case !found:
		return Created
	case removed:
		return Restored
	case sameHash:
		return Unchanged
	default:
		return Updated
	}
}
