package notify

import (
	"github.com/coulomb/activity-core/internal/testsupport"

	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/coulomb/activity-core/internal/store/postgres"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// testStore is a store under test with the fake clock it stamps records
// with, which the notifier shares.
type testStore struct {
	outbox
	clock *testsupport.Clock
}

// forEachStore runs fn against the real stores: SQLite always,
// PostgreSQL when ACTIVITY_TEST_POSTGRES_URL is set.
func forEachStore(t *testing.T, fn func(t *testing.T, st *testStore)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t)) })
}

func openSQLite(t *testing.T) *testStore {
	t.Helper()
	clk := newClock()
	s, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "activity.db"), Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &testStore{outbox: s, clock: clk}
}

// openPostgres gives the test a schema of its own in
// ACTIVITY_TEST_POSTGRES_URL, dropped when it ends.
func openPostgres(t *testing.T) *testStore {
	t.Helper()
	url := testsupport.PostgresSchema(t, "notifytest")
	ctx := context.Background()
	clk := newClock()
	s, err := postgres.New(ctx, postgres.Config{URL: url, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &testStore{outbox: s, clock: clk}
}
