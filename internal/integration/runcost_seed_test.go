package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store/storeopen"
)

// seedDefinitions is how many definitions the seeded runs are spread over.
const seedDefinitions = 100

// seedRuns migrates the store at storeURL and fills it with n finished
// runs (one in ten failed), created an hour and more ago, in one
// statement: 100,000 runs take seconds, not the minutes CreateRun would.
func seedRuns(tb testing.TB, storeURL string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := storeopen.Open(ctx, storeURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	err = st.Migrate(ctx)
	st.Close()
	if err != nil || n == 0 {
		return err
	}
	from := time.Now().Add(-time.Hour).Unix() - int64(n)
	start := time.Now()
	if path, ok := strings.CutPrefix(storeURL, "sqlite://"); ok {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
			INSERT INTO runs (id, definition_id, definition_version, content_hash, trigger_kind, trigger_detail,
				status, workflow_id, workflow_run_id, started_at, finished_at, exit_code, stdout, attempt, created_at, updated_at)
			SELECT printf('00000000-seed-%012d', i), 'seed.def-' || (i % ?3), 1, 'seedhash', 'event',
				'{"trigger":"event","event":{"subject":"seed.x","id":"' || i || '","payload":{"n":1}}}',
				CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'seed:' || i, 'seed', t, t,
				CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, CAST('ok' || char(10) AS BLOB), 1, t, t
			FROM (SELECT i, strftime('%Y-%m-%dT%H:%M:%S', ?2 + i, 'unixepoch') || '.000000Z' AS t FROM n)`,
			n, from, seedDefinitions)
		if err != nil {
			return fmt.Errorf("seeding %d runs: %w", n, err)
		}
	} else {
		conn, err := pgx.Connect(ctx, storeURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `INSERT INTO runs (id, definition_id, definition_version, content_hash, trigger_kind, trigger_detail,
				status, workflow_id, workflow_run_id, started_at, finished_at, exit_code, stdout, attempt, created_at, updated_at)
			SELECT '00000000-seed-' || lpad(i::text, 12, '0'), 'seed.def-' || (i % $3), 1, 'seedhash', 'event',
				('{"trigger":"event","event":{"subject":"seed.x","id":"' || i || '","payload":{"n":1}}}')::json,
				CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'seed:' || i, 'seed', t, t,
				CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, '\x6f6b0a'::bytea, 1, t, t
			FROM (SELECT i, to_timestamp($2 + i) AS t FROM generate_series(0, $1 - 1) AS i) s`,
			n, from, seedDefinitions)
		if err != nil {
			return fmt.Errorf("seeding %d runs: %w", n, err)
		}
		if _, err := conn.Exec(ctx, "ANALYZE runs"); err != nil {
			return err
		}
	}
	tb.Logf("seeded %d runs in %s", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// benchSchema makes a schema of its own in the PostgreSQL database at
// base (dropped at the end) and returns a URL that selects it.
func benchSchema(tb testing.TB, base string) (string, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "runbench_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("ACTIVITY_TEST_POSTGRES_URL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", err
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+name+" CASCADE")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
