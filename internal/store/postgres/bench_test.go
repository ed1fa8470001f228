package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/postgres"
)

// The seeded history of BenchmarkListRuns: benchRuns runs spread evenly over
// benchDefs definitions and over time, as a long-lived deployment collects.
const (
	benchRuns   = 1_000_000
	benchDefs   = 1_000
	benchTarget = "bench.def-0042"
	// benchSchema holds the seeded runs. It is dropped after the benchmark
	// unless ACTIVITY_BENCH_KEEP_SEED is set, in which case it is kept and
	// reused by later runs (seeding takes most of a minute). Bump the
	// suffix when the seed or the schema changes.
	benchSchema = "storebench_runs_1m_v1"
)

// BenchmarkListRuns lists pages of runs out of 1,000,000, through the
// Store, the way GET /api/v1/runs does.
func BenchmarkListRuns(b *testing.B) {
	needPostgres(b)
	url := seedRuns(b)
	ctx := context.Background()
	s, err := postgres.New(ctx, postgres.Config{URL: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	// A cursor 1,000 runs deep into the target's history: keyset pages
	// cost the same wherever they start.
	f := store.RunFilter{DefinitionID: benchTarget, Limit: 100}
	for range 10 {
		page, err := s.ListRuns(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		f.Before = page.Next
	}
	deep := f.Before
	last, err := s.ListRuns(ctx, store.RunFilter{DefinitionID: benchTarget, Limit: 1, Before: deep})
	if err != nil || len(last.Runs) != 1 {
		b.Fatal(last, err)
	}

	explain(b, url, last.Runs[0].ID, last.Runs[0].CreatedAt)
	for _, bc := range []struct {
		name string
		f    store.RunFilter
	}{
		{"definition_newest_100", store.RunFilter{DefinitionID: benchTarget, Limit: 100}},
		{"definition_page_11_of_100", store.RunFilter{DefinitionID: benchTarget, Limit: 100, Before: deep}},
		{"status_failed_newest_100", store.RunFilter{Status: store.RunFailed, Limit: 100}},
		{"all_newest_100", store.RunFilter{Limit: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				start := time.Now()
				page, err := s.ListRuns(ctx, bc.f)
				lat = append(lat, time.Since(start))
				if err != nil || len(page.Runs) != 100 || page.Next == "" {
					b.Fatalf("%d runs, next %q, %v", len(page.Runs), page.Next, err)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// seedRuns fills benchSchema with the runs (with COPY) unless a kept seed
// is there, and returns a URL selecting it.
func seedRuns(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	keep := os.Getenv("ACTIVITY_BENCH_KEEP_SEED") != ""
	url := schemaURL(b, benchSchema)
	conn, err := pgx.Connect(ctx, testURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if !keep {
		b.Cleanup(func() {
			if err := execSQL(context.Background(), testURL, "DROP SCHEMA IF EXISTS "+benchSchema+" CASCADE"); err != nil {
				b.Errorf("dropping %s: %v", benchSchema, err)
			}
		})
	}
	var seeded bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = $1 AND tablename = 'bench_seeded')`,
		benchSchema).Scan(&seeded)
	if err != nil {
		b.Fatal(err)
	}
	if seeded && keep {
		b.Logf("reusing the seeded schema %s", benchSchema)
		return url
	}
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+benchSchema+" CASCADE; CREATE SCHEMA "+benchSchema); err != nil {
		b.Fatal(err)
	}
	s, err := postgres.New(ctx, postgres.Config{URL: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}

	start := time.Now()
	seedConn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer seedConn.Close(ctx)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	stdout := []byte(strings.Repeat("checked repo: ok\n", 12))
	exit0 := int32(0)
	i := 0
	n, err := seedConn.CopyFrom(ctx, pgx.Identifier{"runs"},
		[]string{"id", "definition_id", "definition_version", "content_hash", "trigger_kind", "status",
			"workflow_id", "workflow_run_id", "scheduled_at", "started_at", "finished_at", "exit_code",
			"stdout", "attempt", "created_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == benchRuns {
				return nil, nil
			}
			at := base.Add(time.Duration(i) * 30 * time.Second)
			def := fmt.Sprintf("bench.def-%04d", i%benchDefs)
			status := "succeeded"
			switch {
			case i%50 == 7:
				status = "failed"
			case i%50 == 13:
				status = "skipped"
			}
			// Random-looking ids: run ids do not follow time.
			id := fmt.Sprintf("%08x-%04x-4000-8000-%012x", uint32(i)*2654435761, i%65536, i)
			row := []any{id, def, 1, "h1", "cron", status, "activity-core:" + def, id,
				at, at.Add(time.Second), at.Add(3 * time.Second), &exit0, stdout, 1, at, at.Add(3 * time.Second)}
			i++
			return row, nil
		}))
	if err != nil || n != benchRuns {
		b.Fatalf("COPY: %d rows, %v", n, err)
	}
	if _, err := seedConn.Exec(ctx, "ANALYZE runs; CREATE TABLE bench_seeded ()"); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d runs with COPY in %s", benchRuns, time.Since(start).Round(time.Second))
	return url
}

// explain logs the plans of the definition queries (first page, and a page
// after a cursor), so the figures in docs/benchmarks come with the reason
// they are what they are. The columns are those ListRuns selects.
func explain(b *testing.B, url, cursorID string, cursorAt time.Time) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	const cols = `id, definition_id, definition_version, content_hash, trigger_kind, trigger_detail,
		status, skip_reason, stage, workflow_id, workflow_run_id, scheduled_at, started_at,
		finished_at, context_snapshot, rule_outcome, exit_code, error, attempt, created_at, updated_at`
	for _, q := range []struct {
		name, sql string
		args      []any
	}{
		{"newest runs of one definition", `SELECT ` + cols + ` FROM runs WHERE definition_id = $1
			ORDER BY created_at DESC, id DESC LIMIT 101`, []any{benchTarget}},
		{"the page after a cursor", `SELECT ` + cols + ` FROM runs WHERE definition_id = $1
			AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT 101`, []any{benchTarget, cursorAt, cursorID}},
	} {
		rows, err := conn.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) `+q.sql, q.args...)
		if err != nil {
			b.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("plan of %s:\n%s", q.name, strings.Join(lines, "\n"))
	}
}
