package store

import (
	"encoding/json"
	"time"
)

// SyncResult is one finished sync, kept so GET /admin/sync/status can show
// the last result, the last success and the last error after a restart and
// from any replica.
type SyncResult struct {
	SyncID     string    `json:"sync_id"`
	DryRun     bool      `json:"dry_run"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// OK is false when any stage reported an error.
	OK bool `json:"ok"`
	// ErrorSummary is a one-line account of what went wrong, empty when
	// OK.
	ErrorSummary string `json:"error_summary,omitempty"`
	// Result is the whole result document (docs/architecture.md#syncer-internalsyncer), kept byte for byte.
	Result json.RawMessage `json:"result"`
}
