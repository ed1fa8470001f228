// Package storetest is the conformance suite every store driver passes: one
// set of tests, so that PostgreSQL in production and SQLite in `dev` behave
// alike. A driver's test calls Run with a Driver saying how to get fresh
// databases:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Driver{NewDatabase: ..., Open: ..., Exec: ...})
//	}
//
// The suite re-executes the test binary to check that the sync lock holds
// between processes: Run must therefore be called from a test whose name
// selects it (it is, when called at the top of a Test function), and before
// any side effect the child process should not repeat.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// Driver tells the suite how to reach databases of one kind. The raw-SQL
// hooks assume the driver's tables and columns are those of the postgres
// and sqlite migrations (the two are kept identical in names).
type Driver struct {
	// NewDatabase returns the URL of a new, empty database private to t
	// (a schema, a file), removed when t ends.
	NewDatabase func(tb testing.TB) string
	// Open opens a Store on url, as production does but with settings
	// that keep tests quick (a short lock check interval). The suite
	// closes it.
	Open func(ctx context.Context, url string, logger *slog.Logger) (store.Store, error)
	// Exec runs one SQL statement on the database at url outside any
	// Store, as an operator at a psql or sqlite3 prompt would; the suite
	// uses it to corrupt rows. An error means the database refused.
	Exec func(ctx context.Context, url, sql string) error
	// Disrupt ends the database sessions of every Store open on url, as a
	// server restart does. Nil for engines without sessions (SQLite); the
	// tests that need it are skipped.
	Disrupt func(t *testing.T, url string)
}

// Run runs the whole suite against d.
func Run(t *testing.T, d Driver) {
	if os.Getenv(childEnv) != "" {
		runChild(t, d)
		return
	}
	root := t.Name()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, d Driver)
	}{
		{"Migrate", testMigrate},
		{"MigrateConcurrently", testMigrateConcurrently},
		{"DefinitionLifecycle", testDefinitionLifecycle},
		{"DefinitionMoved", testDefinitionMoved},
		{"DefinitionBatchInvalid", testDefinitionBatchInvalid},
		{"DefinitionsRemovedPerSource", testDefinitionsRemovedPerSource},
		{"DefinitionFilters", testDefinitionFilters},
		{"DefinitionPagination", testDefinitionPagination},
		{"DefinitionPaginationFilters", testDefinitionPaginationFilters},
		{"DefinitionPaginationStable", testDefinitionPaginationStable},
		{"DefinitionPaginationInvalid", testDefinitionPaginationInvalid},
		{"DefinitionPaginationLimits", testDefinitionPaginationLimits},
		{"DefinitionPaginationCorrupt", testDefinitionPaginationCorrupt},
		{"SpecJSONRoundTrip", testSpecJSONRoundTrip},
		{"DefinitionOrigins", testDefinitionOrigins},
		{"CorruptOrigin", testCorruptOrigin},
		{"EventTypes", testEventTypes},
		{"RunRoundTrip", testRunRoundTrip},
		{"RunUpdate", testRunUpdate},
		{"RunOutputTail", testRunOutputTail},
		{"RunText", testRunText},
		{"RunPagination", testRunPagination},
		{"RunPaginationStable", testRunPaginationStable},
		{"RunFilters", testRunFilters},
		{"RunLimits", testRunLimits},
		{"ShadowRuns", testShadowRuns},
		{"SyncResults", testSyncResults},
		{"ScheduleStates", testScheduleStates},
		{"SourceStates", testSourceStates},
		{"SourceStatesInvalid", testSourceStatesInvalid},
		{"CorruptSourceStates", testCorruptSourceStates},
		{"OperatorPauses", testOperatorPauses},
		{"SyncLockExclusive", testSyncLockExclusive},
		{"SyncLockTwoStores", testSyncLockTwoStores},
		{"SyncLockErrorAndPanic", testSyncLockErrorAndPanic},
		{"SyncLockTwoProcesses", func(t *testing.T, d Driver) { testSyncLockTwoProcesses(t, d, root) }},
		{"SyncLockProcessDies", func(t *testing.T, d Driver) { testSyncLockProcessDies(t, d, root) }},
		{"SyncLockSessionLost", testSyncLockSessionLost},
		{"ConcurrentWriters", testConcurrentWriters},
		{"CorruptDefinitions", testCorruptDefinitions},
		{"CorruptRuns", testCorruptRuns},
		{"CorruptOther", testCorruptOther},
		{"LeaseExclusive", testLeaseExclusive},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseContended", testLeaseContended},
		{"Outbox", testOutbox},
		{"OutboxList", testOutboxList},
		{"TimelineAutomatic", testTimelineAutomatic},
		{"TimelineList", testTimelineList},
		{"Health", testHealth},
		{"RunsUpdatedSince", testRunsUpdatedSince},
		{"ScheduledRunTimes", testScheduledRunTimes},
		{"LastSuccesses", testLastSuccesses},
		{"MissedRun", testMissedRun},
		{"PauseBy", testPauseBy},
		{"CorruptAlerting", testCorruptAlerting},
		{"Reconnect", testReconnect},
		{"PingClose", testPingClose},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, d) })
	}
	for _, tc := range runControlTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, d) })
	}
}

// env is one test's database and the store open on it.
type env struct {
	t    *testing.T
	d    Driver
	url  string
	s    store.Store
	logs *logBuffer
}

func setup(t *testing.T, d Driver) *env {
	t.Helper()
	e := &env{t: t, d: d, url: d.NewDatabase(t), logs: &logBuffer{}}
	e.s = e.open()
	if err := e.s.Migrate(ctx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return e
}

// open opens another Store on the test's database, closed when t ends.
func (e *env) open() store.Store {
	e.t.Helper()
	s, err := e.d.Open(ctx(e.t), e.url, slog.New(slog.NewTextHandler(e.logs, nil)))
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// exec runs raw SQL, reporting whether the database accepted it.
func (e *env) exec(sql string) error {
	return e.d.Exec(ctx(e.t), e.url, sql)
}

func (e *env) mustExec(sql string) {
	e.t.Helper()
	if err := e.exec(sql); err != nil {
		e.t.Fatalf("exec %q: %v", sql, err)
	}
}

func (e *env) upsert(defs ...store.Definition) []store.UpsertResult {
	e.t.Helper()
	res, err := e.s.UpsertDefinitions(ctx(e.t), defs...)
	if err != nil {
		e.t.Fatalf("UpsertDefinitions: %v", err)
	}
	return res
}

func (e *env) get(id string) store.Definition {
	e.t.Helper()
	d, err := e.s.GetDefinition(ctx(e.t), id)
	if err != nil {
		e.t.Fatalf("GetDefinition(%q): %v", id, err)
	}
	return d
}

func (e *env) createRun(r store.Run) store.Run {
	e.t.Helper()
	got, err := e.s.CreateRun(ctx(e.t), r)
	if err != nil {
		e.t.Fatalf("CreateRun(%q): %v", r.ID, err)
	}
	return got
}

// ctx is a context that ends with the test, or a minute from now.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// def is a definition with a spec that tells its content apart.
func def(id, hash string) store.Definition {
	return store.Definition{
		ID:          id,
		ContentHash: hash,
		Spec:        json.RawMessage(fmt.Sprintf(`{"id":%q,"content":%q}`, id, hash)),
		SourceFile:  "/srv/defs/" + id + ".yaml",
		SourceDir:   "/srv/defs",
		Enabled:     true,
		TriggerType: store.TriggerCron,
	}
}

func run(id, definitionID string, status store.RunStatus) store.Run {
	return store.Run{ID: id, DefinitionID: definitionID, DefinitionVersion: 1, ContentHash: "h1",
		Trigger: store.RunTriggerCron, Status: status}
}

// logBuffer collects what the store logs, for tests that check a corrupt
// row was reported.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write lets the store log into the buffer from any goroutine.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything logged so far.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// within waits for cond, polling until the deadline; tests never sleep to
// wait for something.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test ended", what)
		case <-time.After(wait):
		}
	}
}
