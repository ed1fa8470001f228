// Package teststore opens a real, migrated store for tests, so each test
// package does not repeat the dance.
package teststore

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// SQLite opens a migrated SQLite store in a folder of the test's own,
// closed when the test ends.
func SQLite(tb testing.TB) *sqlite.Store {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "test.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return st
}
