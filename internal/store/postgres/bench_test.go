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

// The seeded history of BenchmarkListRuns: benchRuns runs over benchDefs
// definitions and about a year, as a long-lived deployment collects. One
// definition, benchTarget, is busy: it has a tenth of all runs (about
// 100,900), so that listing its runs of one status, 2% of them, shows
// whether the query walks its whole history.
const (
	benchRuns   = 1_000_000
	benchDefs   = 1_000
	benchTarget = "bench.def-0042"
	// benchSchema holds the seeded runs. It is dropped after the benchmark
	// unless ACTIVITY_BENCH_KEEP_SEED is set, in which case it is kept and
	// reused by later runs (seeding takes most of a minute). Bump the
	// suffix when the seed or the schema changes.
	benchSchema = "storebench_runs_1m_v2"
	// benchStatusIndex is the index migration 0002 adds for lists
	// filtered by definition and status; the benchmark drops it inside a
	// transaction to measure the same query without it.
	benchStatusIndex = "runs_definition_status_idx"
)

// BenchmarkListRuns lists pages of runs out of 1,000,000, through the
// Store, the way GET /api/v1/runs does; and the page of one definition
// and status as plain SQL with and without benchStatusIndex, before and
// after in one run.
func BenchmarkListRuns(b *testing.B) {
	needPostgres(b)
	url := seedRuns(b)
	ctx := context.Background()
	s, err := postgres.New(ctx, postgres.Config{URL: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	// Cursors 1,000 runs deep into the target's history, and 1,000 of its
	// failed runs deep: keyset pages cost the same wherever they start.
	deep := cursorAfter(b, s, store.RunFilter{DefinitionID: benchTarget}, 1000)
	failed := store.RunFilter{DefinitionID: benchTarget, Status: store.RunFailed, Limit: 50}
	deepFailed := cursorAfter(b, s, failed, 1000)
	for _, bc := range []struct {
		name string
		f    store.RunFilter
	}{
		{"definition_newest_100", store.RunFilter{DefinitionID: benchTarget, Limit: 100}},
		{"definition_page_11_of_100", store.RunFilter{DefinitionID: benchTarget, Limit: 100, Before: deep}},
		{"status_failed_newest_100", store.RunFilter{Status: store.RunFailed, Limit: 100}},
		{"all_newest_100", store.RunFilter{Limit: 100}},
		{"definition_failed_newest_50", failed},
		{"definition_failed_page_21_of_50", store.RunFilter{DefinitionID: benchTarget, Status: store.RunFailed, Limit: 50, Before: deepFailed}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				start := time.Now()
				page, err := s.ListRuns(ctx, bc.f)
				lat = append(lat, time.Since(start))
				if err != nil || len(page.Runs) != bc.f.Limit || page.Next == "" {
					b.Fatalf("%d runs, next %q, %v", len(page.Runs), page.Next, err)
				}
			}
			reportLatency(b, lat)
		})
	}
	at, id := decodeRunCursor(b, s, deepFailed)
	benchStatusIndexBeforeAfter(b, url, at, id)
}

// cursorAfter returns the Next cursor after the first n runs of f.
func cursorAfter(b *testing.B, s *postgres.Store, f store.RunFilter, n int) string {
	b.Helper()
	f.Limit = 100
	for range n / f.Limit {
		page, err := s.ListRuns(context.Background(), f)
		if err != nil || page.Next == "" {
			b.Fatalf("paging %+v: next %q, %v", f, page.Next, err)
		}
		f.Before = page.Next
	}
	return f.Before
}

// decodeRunCursor returns the creation time and id of the last run before
// cursor, the values a cursor stands for, read back through the Store so
// the benchmark does not depend on the cursor's form.
func decodeRunCursor(b *testing.B, s *postgres.Store, cursor string) (time.Time, string) {
	b.Helper()
	page, err := s.ListRuns(context.Background(), store.RunFilter{DefinitionID: benchTarget, Status: store.RunFailed, Limit: 1, Before: cursor})
	if err != nil || len(page.Runs) != 1 {
		b.Fatalf("the run after the cursor: %+v, %v", page, err)
	}
	return page.Runs[0].CreatedAt, page.Runs[0].ID
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// listColumns are the columns ListRuns selects (no output tails).
const listColumns = `id, definition_id, definition_version, content_hash, trigger_kind, trigger_detail,
	status, skip_reason, stage, workflow_id, workflow_run_id, scheduled_at, started_at,
	finished_at, context_snapshot, rule_outcome, exit_code, error, attempt, pool, inputs, canceled_by,
	cancel_note, created_at, updated_at`

// benchStatusIndexBeforeAfter runs ListRuns' query for a page of the
// target's failed runs (the first, and one after a cursor 1,000 deep) as
// plain SQL on one connection: with benchStatusIndex ("with_index"), then
// in a transaction that dropped it ("without_index", what the schema of
// migration 0001 gives), logging both plans. The transaction is rolled
// back; the drop holds a lock on runs meanwhile, so nothing else runs.
func benchStatusIndexBeforeAfter(b *testing.B, url string, at time.Time, id string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	queries := []struct {
		name, sql string
		args      []any
	}{
		{"definition_failed_newest_50", `SELECT ` + listColumns + ` FROM runs WHERE definition_id = $1 AND status = $2
			ORDER BY created_at DESC, id DESC LIMIT 51`, []any{benchTarget, "failed"}},
		{"definition_failed_page_21_of_50", `SELECT ` + listColumns + ` FROM runs WHERE definition_id = $1 AND status = $2
			AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT 51`, []any{benchTarget, "failed", at, id}},
	}
	run := func(b *testing.B, q pgx.Tx, variant string) {
		for _, qc := range queries {
			logPlan(b, q, variant+": "+qc.name, qc.sql, qc.args)
			b.Run("sql_"+qc.name+"/"+variant, func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for range b.N {
					start := time.Now()
					rows, err := q.Query(ctx, qc.sql, qc.args...)
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for rows.Next() {
						n++
					}
					lat = append(lat, time.Since(start))
					if rows.Err() != nil || n != 51 {
						b.Fatalf("%d rows, %v", n, rows.Err())
					}
				}
				reportLatency(b, lat)
			})
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	run(b, tx, "with_index")
	if _, err := tx.Exec(ctx, "DROP INDEX "+benchStatusIndex); err != nil {
		b.Fatal(err)
	}
	run(b, tx, "without_index")
}

// logPlan logs the plan of one query, so the figures in
// docs/benchmarks-store.md come with the reason they are what they are.
func logPlan(b *testing.B, q pgx.Tx, name, sql string, args []any) {
	b.Helper()
	rows, err := q.Query(context.Background(), `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) `+sql, args...)
	if err != nil {
		b.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("plan of %s:\n%s", name, strings.Join(lines, "\n"))
}

// migrateSeed brings the seeded schema up to date: a seed kept by an
// older release gets this release's migrations, and the log says how long
// they took on the 1,000,000 runs (what upgrading a large deployment
// costs).
func migrateSeed(b *testing.B, url string) {
	b.Helper()
	ctx := context.Background()
	var logs strings.Builder
	s, err := postgres.New(ctx, postgres.Config{URL: url, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if applied := strings.Count(logs.String(), "applied migration"); applied > 0 {
		b.Logf("%d migrations applied in %s:\n%s", applied, time.Since(start).Round(time.Millisecond), logs.String())
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
		migrateSeed(b, url)
		return url
	}
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+benchSchema+" CASCADE; CREATE SCHEMA "+benchSchema); err != nil {
		b.Fatal(err)
	}
	migrateSeed(b, url)

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
			if i%10 == 0 {
				def = benchTarget
			}
			// Statuses independent of the definition: 2% failed, 2%
			// skipped.
			status := "succeeded"
			switch (uint32(i) * 2654435761 >> 8) % 50 {
			case 7:
				status = "failed"
			case 13:
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
