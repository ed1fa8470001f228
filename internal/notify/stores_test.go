package notify

import (
	"github.com/coulomb/activity-core/internal/testsupport"

	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	base := os.Getenv("ACTIVITY_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("ACTIVITY_TEST_POSTGRES_URL is not set; set it to a PostgreSQL database the tests may create schemas in, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	ctx := context.Background()
	b := make([]byte, 4)
	rand.Read(b)
	schema := fmt.Sprintf("notifytest_%d_%s", time.Now().Unix(), hex.EncodeToString(b))
	exec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("connecting to ACTIVITY_TEST_POSTGRES_URL: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	clk := newClock()
	s, err := postgres.New(ctx, postgres.Config{URL: u.String(), Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		exec("DROP SCHEMA " + schema + " CASCADE")
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &testStore{outbox: s, clock: clk}
}
