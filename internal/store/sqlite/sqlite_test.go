package sqlite_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
	"github.com/coulomb/activity-core/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, driver)
}

func BenchmarkUpsertDefinitions(b *testing.B) {
	storetest.BenchmarkUpsertDefinitions(b, driver)
}

func BenchmarkListDefinitions(b *testing.B) {
	storetest.BenchmarkListDefinitions(b, driver)
}

var driver = storetest.Driver{
	NewDatabase: func(tb testing.TB) string {
		return "sqlite://" + filepath.Join(tb.TempDir(), "activity-core.db")
	},
	Open: func(ctx context.Context, url string, logger *slog.Logger) (store.Store, error) {
		s, err := sqlite.Open(ctx, url, logger)
		if err != nil {
			return nil, err
		}
		return s, nil
	},
	Exec: execSQL,
}

// execSQL edits the database file directly, as the sqlite3 shell would.
func execSQL(ctx context.Context, url, query string) error {
	path, err := sqlite.PathFromURL(url)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, query)
	return err
}

func TestPathFromURL(t *testing.T) {
	for _, tc := range []struct {
		url, path string
		ok        bool
	}{
		{"sqlite:///var/lib/activity-core/store.db", "/var/lib/activity-core/store.db", true},
		{"sqlite:data/store.db", "data/store.db", true},
		{"sqlite:/abs/store.db", "/abs/store.db", true},
		{"sqlite://var/lib/store.db", "", false}, // two slashes: "var" would be a host
		{"sqlite:///", "", false},
		{"sqlite:///tmp/x.db?mode=ro", "", false},
		{"postgres:///x", "", false},
	} {
		got, err := sqlite.PathFromURL(tc.url)
		if (err == nil) != tc.ok || got != tc.path {
			t.Errorf("PathFromURL(%q) = %q, %v; want %q, ok=%v", tc.url, got, err, tc.path, tc.ok)
		}
	}
}

func BenchmarkListAudit(b *testing.B) {
	storetest.BenchmarkListAudit(b, driver)
}
