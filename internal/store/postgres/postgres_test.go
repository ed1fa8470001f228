package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/postgres"
	"github.com/coulomb/activity-core/internal/store/storetest"
)

// testURL is the database the tests use; each test gets a schema of its
// own in it, dropped when the test ends.
var testURL = os.Getenv("ACTIVITY_TEST_POSTGRES_URL")

func needPostgres(tb testing.TB) {
	tb.Helper()
	if testURL == "" {
		tb.Skip("ACTIVITY_TEST_POSTGRES_URL is not set; set it to a PostgreSQL database the tests may create schemas in, " +
			"e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
}

func TestConformance(t *testing.T) {
	needPostgres(t)
	storetest.Run(t, driver)
}

func BenchmarkUpsertDefinitions(b *testing.B) {
	needPostgres(b)
	storetest.BenchmarkUpsertDefinitions(b, driver)
}

func BenchmarkListDefinitions(b *testing.B) {
	needPostgres(b)
	storetest.BenchmarkListDefinitions(b, driver)
}

func BenchmarkListAudit(b *testing.B) {
	needPostgres(b)
	storetest.BenchmarkListAudit(b, driver)
}

var driver = storetest.Driver{
	NewDatabase: newSchema,
	Open: func(ctx context.Context, url string, logger *slog.Logger) (store.Store, error) {
		s, err := postgres.New(ctx, postgres.Config{URL: url, Logger: logger, LockCheckInterval: 50 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		return s, nil
	},
	Exec:    execSQL,
	Disrupt: disrupt,
}

// schemaPrefix marks the schemas tests create, so that ones left behind by
// a killed test run can be recognized and dropped.
const schemaPrefix = "storetest_"

var sweepOnce sync.Once

// newSchema creates a schema for one test and returns a URL whose
// search_path selects it. The application_name is the schema name too, so
// disrupt can find the test's sessions.
func newSchema(t testing.TB) string {
	t.Helper()
	sweepOnce.Do(func() { sweepSchemas(t) })
	b := make([]byte, 4)
	rand.Read(b)
	name := fmt.Sprintf("%s%d_%s", schemaPrefix, time.Now().Unix(), hex.EncodeToString(b))
	if err := execSQL(context.Background(), testURL, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := execSQL(ctx, testURL, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return schemaURL(t, name)
}

func schemaURL(tb testing.TB, schema string) string {
	u, err := url.Parse(testURL)
	if err != nil {
		tb.Fatalf("ACTIVITY_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// sweepSchemas drops test schemas more than an hour old: what a killed
// test run left behind.
func sweepSchemas(t testing.TB) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL)
	if err != nil {
		t.Fatalf("connecting to ACTIVITY_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, schemaPrefix)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		ts, _, _ := strings.Cut(strings.TrimPrefix(n, schemaPrefix), "_")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)) < time.Hour {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{n}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("dropping stale schema %s: %v", n, err)
		}
	}
}

func execSQL(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// disrupt terminates every session of the test's stores, as a server
// restart would, and waits until they are gone.
func disrupt(t *testing.T, u string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	app := pu.Query().Get("application_name")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Select first, terminate after: in one statement the planner may call
	// pg_terminate_backend before filtering, on every session of the server.
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) == 0 {
		t.Fatalf("no session of %s to terminate", app)
	}
	for _, pid := range pids {
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid); err != nil {
			t.Fatalf("terminating session %d: %v", pid, err)
		}
	}
}
