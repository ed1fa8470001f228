package store

import (
	"encoding/json"
	"time"
)

// EventType is a known event subject (docs/definitions.md#event-types), read from an event-types
// folder by sync. The router and `events explain` use the schema; sync warns
// about event definitions that match no known type.
type EventType struct {
	// Name is the NATS subject.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Schema is the JSON Schema of the payload, kept byte for byte; nil
	// when the file declares none.
	Schema      json.RawMessage `json:"schema,omitempty"`
	SourceFile  string          `json:"source_file"`
	SourceDir   string          `json:"source_dir"`
	ContentHash string          `json:"content_hash"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	RemovedAt   *time.Time      `json:"removed_at,omitempty"`
}

// Removed reports whether the event type is tombstoned.
func (e EventType) Removed() bool { return e.RemovedAt != nil }

// EventTypeFilter selects event types. The zero value selects every live
// event type.
type EventTypeFilter struct {
	// SourceDir, when set, keeps only event types of that source.
	SourceDir string
	// IncludeRemoved adds tombstoned event types.
	IncludeRemoved bool
}
