// Package store is what activity-core remembers: definitions and the versions
// runs point at (with where each came from), event types, runs, the history
// of syncs and each source's last one, what sync last applied to each
// Temporal schedule, operator pauses, and run control's audit, dashboard
// sessions and backfills (docs/run-control.md).
//
// The Store interface is implemented by two drivers that pass one
// conformance suite (storetest): postgres (production, pgx) and sqlite (the
// embedded default, pure Go). Open a store from ACTIVITY_DATABASE_URL with
// storeopen.Open; the drivers live in subpackages so that this package,
// which every other part imports, pulls in no database code.
//
// Conventions every method follows:
//
//   - Times go in and come out in UTC, truncated to microseconds (the
//     precision both databases keep), so a record read back equals the
//     record written.
//   - JSON fields (json.RawMessage) are opaque to the store and kept
//     byte for byte; they must be valid JSON. Free-text fields have NUL
//     bytes and invalid UTF-8 replaced by U+FFFD, because PostgreSQL text
//     cannot hold them; run output (Stdout, Stderr) is stored as bytes and
//     kept exactly, NULs included.
//   - Errors wrap the sentinels in errors.go: ErrNotFound, ErrConflict,
//     ErrInvalid, ErrCorrupt, and ErrUnavailable for failures worth
//     retrying (the database is down or restarting).
//   - A row that cannot be decoded (edited by hand, or written by a newer
//     release) is logged with its key and skipped by List methods, and
//     returned as a *CorruptError by Get methods: one bad row never hides
//     the others.
package store

import "context"

// Store is the one persistence interface of activity-core. Its users are the
// syncer (definitions, event types, schedule state, sync results, the sync
// lock), the workflow activities (definitions, versions, runs), the event
// router (event definitions, last sync) and the HTTP API (everything read,
// operator pauses). Consumers that need only a few methods should declare
// their own narrower interface; every Store satisfies it.
//
// All methods are safe for concurrent use, also from several processes
// sharing one database.
type Store interface {
	// AlertStore is what the detector, the notifier and the timeline
	// keep (docs/alerting.md).
	AlertStore
	// RunControlStore is the audit, sessions and backfills
	// (docs/run-control.md).
	RunControlStore
	// SourceStore is each definitions source's last sync
	// (docs/git-sources.md#status).
	SourceStore

	// UpsertDefinitions writes the definitions a sync found, in one
	// transaction, keyed by ID and compared by ContentHash: a new ID is
	// created at version 1; a changed hash becomes a new version (kept in
	// definition versions); an unchanged hash writes nothing (but the
	// new SourceFile and SourceDir of a file that moved); a removed
	// definition that is found again is restored. Version, CreatedAt,
	// UpdatedAt and RemovedAt of the input are ignored. The results are in
	// input order. Invalid input (empty ID or hash, invalid Spec JSON,
	// unknown trigger type, an Origin without Source, an ID twice) fails
	// the whole batch with ErrInvalid and writes nothing. Origin is
	// recorded with each new version only (see Origin). Each new version
	// and each restored definition gets its timeline entry (kinds
	// version, restored; Actor "sync") in the same transaction.
	UpsertDefinitions(ctx context.Context, defs ...Definition) ([]UpsertResult, error)

	// MarkDefinitionsRemoved tombstones the live definitions of sourceDir
	// whose IDs are not in keepIDs, and returns their IDs sorted. Only the
	// given source is touched, so a source that could not be read can be
	// left out of a sync without losing its definitions. Nothing is ever
	// hard-deleted: runs keep pointing at removed definitions.
	// Each removed definition gets a timeline entry "removed".
	MarkDefinitionsRemoved(ctx context.Context, sourceDir string, keepIDs []string) ([]string, error)

	// GetDefinition returns the current version of a definition, removed or
	// not: a run that loads a removed definition must be able to say so.
	GetDefinition(ctx context.Context, id string) (Definition, error)

	// GetDefinitionVersion returns the exact version a run recorded.
	GetDefinitionVersion(ctx context.Context, id string, version int) (DefinitionVersion, error)

	// ListDefinitions returns every definition matching f, sorted by ID.
	// Lists shown to people page with ListDefinitionsPage instead.
	ListDefinitions(ctx context.Context, f DefinitionFilter) ([]Definition, error)

	// ListDefinitionsPage returns one page of the definitions matching f,
	// sorted by ID, paged by key in the database: a page costs the same
	// wherever it is, and definitions created or removed between two
	// pages neither repeat nor hide the others.
	ListDefinitionsPage(ctx context.Context, f DefinitionPageFilter) (DefinitionPage, error)

	// ListDefinitionSources returns the source directories holding live
	// definitions, sorted, at a cost that grows with their number, not
	// with the number of definitions (the dashboard's source filter).
	ListDefinitionSources(ctx context.Context) ([]string, error)

	// UpsertEventTypes is UpsertDefinitions for event types, keyed by Name.
	// Event types keep no version history. Result IDs are the names.
	UpsertEventTypes(ctx context.Context, types ...EventType) ([]UpsertResult, error)

	// MarkEventTypesRemoved is MarkDefinitionsRemoved for event types.
	MarkEventTypesRemoved(ctx context.Context, sourceDir string, keepNames []string) ([]string, error)

	// ListEventTypes returns the event types matching f, sorted by name.
	ListEventTypes(ctx context.Context, f EventTypeFilter) ([]EventType, error)

	// CreateRun records a new run and returns it as stored (CreatedAt and
	// UpdatedAt set, times normalized). A run whose ID exists is
	// ErrConflict, so a retried activity can tell its first attempt
	// succeeded.
	CreateRun(ctx context.Context, r Run) (Run, error)

	// UpdateRun replaces every field of an existing run but ID and
	// CreatedAt, and returns it as stored. A run that reached a terminal
	// status keeps it: changing it to another status is ErrConflict
	// (rewriting the same status is allowed, so retries are harmless).
	// A missing run is ErrNotFound. An empty CanceledBy keeps the stored
	// CanceledBy and CancelNote (RequestRunCancel writes them while the
	// engine holds the run), so the engine's last update never erases who
	// asked to cancel.
	UpdateRun(ctx context.Context, r Run) (Run, error)

	// GetRun returns one run with its output.
	GetRun(ctx context.Context, id string) (Run, error)

	// ListRuns returns runs newest first (by CreatedAt, then ID), one page
	// at a time. Pages are stable: runs created after the first page never
	// shift later pages.
	ListRuns(ctx context.Context, f RunFilter) (RunPage, error)

	// SaveSyncResult records a finished sync (dry runs included, for the
	// audit trail). A SyncID that exists is ErrConflict.
	SaveSyncResult(ctx context.Context, r SyncResult) error

	// LastSyncResult returns the most recent sync that was not a dry run,
	// or ErrNotFound before the first.
	LastSyncResult(ctx context.Context) (SyncResult, error)

	// LastSuccessfulSync returns the most recent OK sync that was not a
	// dry run, or ErrNotFound.
	LastSuccessfulSync(ctx context.Context) (SyncResult, error)

	// ListScheduleStates returns what sync last applied to each managed
	// schedule, sorted by schedule ID. Temporal refuses memo updates on
	// schedules, so this is where sync remembers spec hashes and its own
	// pauses between runs.
	ListScheduleStates(ctx context.Context) ([]ScheduleState, error)

	// PutScheduleStates creates or replaces schedule states, in one
	// transaction.
	PutScheduleStates(ctx context.Context, states ...ScheduleState) error

	// DeleteScheduleStates forgets the given schedules; unknown IDs are
	// ignored.
	DeleteScheduleStates(ctx context.Context, scheduleIDs ...string) error

	// SetOperatorPause records (or replaces) an operator's pause of a
	// definition, which sync must keep until it is cleared or Until
	// passes. A zero PausedAt is set to now. An unknown definition is
	// ErrNotFound.
	SetOperatorPause(ctx context.Context, p OperatorPause) (OperatorPause, error)

	// ClearOperatorPause removes an operator pause and appends a timeline
	// entry "resumed"; ErrNotFound when the definition was not paused.
	ClearOperatorPause(ctx context.Context, definitionID string) error

	// GetOperatorPause returns the operator pause of a definition, or
	// ErrNotFound. Expired pauses are returned too: see ActiveAt.
	GetOperatorPause(ctx context.Context, definitionID string) (OperatorPause, error)

	// ListOperatorPauses returns every operator pause, sorted by
	// definition ID, expired ones included.
	ListOperatorPauses(ctx context.Context) ([]OperatorPause, error)

	// WithSyncLock runs fn while holding the deployment-wide sync lock,
	// waiting for it as long as ctx allows, so that syncs from any number
	// of processes sharing the database run one at a time. The lock is
	// released when fn returns or panics, and by the operating system or
	// database if the process dies. If the lock is lost while fn runs
	// (its database session ended), fn's context is canceled and
	// WithSyncLock returns an error wrapping ErrUnavailable. fn's error is
	// returned as is.
	WithSyncLock(ctx context.Context, fn func(ctx context.Context) error) error

	// Migrate brings the schema up to date. It is safe to call at every
	// start, twice, or from several processes at once.
	Migrate(ctx context.Context) error

	// Ping reports whether the database answers; /readyz calls it.
	Ping(ctx context.Context) error

	// Close releases connections. The Store must not be used afterwards.
	Close() error
}
