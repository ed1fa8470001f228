package store

import (
	"context"
	"encoding/json"
	"time"
)

// RunControlStore is what run control keeps (docs/run-control.md): the
// audit of who did what, dashboard sessions shared by api replicas, and
// the backfills operators asked for.
type RunControlStore interface {
	// AppendAudit records mutating calls, in one transaction. ID and (when
	// zero) At are set by the store.
	AppendAudit(ctx context.Context, recs ...AuditRecord) error
	// ListAudit returns audit records newest first (by ID), one page.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)

	// PutSession creates or replaces a session.
	PutSession(ctx context.Context, s Session) error
	// GetSession returns the session with that id hash, or ErrNotFound
	// (also when it expired: ExpiresAt before now).
	GetSession(ctx context.Context, idHash string, now time.Time) (Session, error)
	// TouchSession moves a session's LastSeen and ExpiresAt; a missing
	// session is ErrNotFound.
	TouchSession(ctx context.Context, idHash string, lastSeen, expiresAt time.Time) error
	// DeleteSession removes one session (sign-out); a missing one is no
	// error.
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteExpiredSessions removes sessions that expired before now and
	// returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// RecordBackfill keeps a backfill request and returns it with its ID.
	RecordBackfill(ctx context.Context, b Backfill) (Backfill, error)
	// FindBackfill returns the newest backfill of the definition whose
	// window [From, To) holds fireTime and that was requested at or before
	// startedAt, or ErrNotFound.
	FindBackfill(ctx context.Context, definitionID string, fireTime, startedAt time.Time) (Backfill, error)

	// RequestRunCancel records who asked to cancel a run and their note
	// (CanceledBy, CancelNote) without changing its status; the workflow
	// records the status. A later request replaces the earlier one's
	// name and note. A missing run is ErrNotFound; a run in a terminal
	// status is ErrConflict ("already succeeded") and keeps its fields.
	RequestRunCancel(ctx context.Context, runID, by, note string) error
}

// Audit outcomes.
const (
	AuditOK      = "ok"      // the call did what was asked
	AuditRefused = "refused" // authorization or validation refused it
	AuditError   = "error"   // it was allowed and failed
)

// Audit actions (docs/run-control.md#who-did-what).
const (
	AuditSync     = "sync"
	AuditRun      = "run"
	AuditCancel   = "cancel"
	AuditPause    = "pause"
	AuditResume   = "resume"
	AuditBackfill = "backfill"
	AuditSignIn   = "sign-in"
	AuditSignOut  = "sign-out"
)

// AuditRecord is one mutating call: who, what, when, the note, the outcome.
type AuditRecord struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is the token's name ("admin", "read" for the two simple
	// tokens); Role is the role it acted with.
	Actor string `json:"actor"`
	Role  string `json:"role,omitempty"`
	// Surface is where the call came from: "api", "ui" or "cli".
	Surface      string `json:"surface,omitempty"`
	Action       string `json:"action"`
	DefinitionID string `json:"definition_id,omitempty"`
	RunID        string `json:"run_id,omitempty"`
	Note         string `json:"note,omitempty"`
	// Outcome is AuditOK, AuditRefused or AuditError; Message says why
	// when it is not ok.
	Outcome string `json:"outcome"`
	Message string `json:"message,omitempty"`
	// Detail is action-specific JSON (the inputs of a run, a backfill's
	// window, a sync's counts).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Audit list limits.
const (
	AuditLimitDefault = 100
	AuditLimitMax     = 1000
)

// AuditFilter selects audit records; zero fields select all.
type AuditFilter struct {
	Actor        string
	Action       string
	DefinitionID string
	RunID        string
	// BeforeID pages: only records with ID < BeforeID (0: from the newest).
	BeforeID int64
	// Limit: 0 or less is AuditLimitDefault, at most AuditLimitMax.
	Limit int
}

// Session is one signed-in dashboard browser. The store holds the SHA-256
// of the session id, never the id itself nor the token it signed in with.
type Session struct {
	IDHash string `json:"id_hash"`
	Actor  string `json:"actor"`
	Role   string `json:"role"`
	// CSRF is the value every form of this session posts back.
	CSRF string `json:"csrf"`
	// Flash is a one-shot message for the next page.
	Flash     string    `json:"flash,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Backfill is one backfill an operator asked for: Temporal fires the
// schedule for each fire time in [From, To), and runs that stand for those
// times record trigger backfill.
type Backfill struct {
	ID           int64     `json:"id"`
	DefinitionID string    `json:"definition_id"`
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	Overlap      string    `json:"overlap"`
	RequestedAt  time.Time `json:"requested_at"`
	Actor        string    `json:"actor"`
}
