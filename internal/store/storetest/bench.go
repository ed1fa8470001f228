package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// BenchDefinitions is the size of the upsert benchmarks: the 10,000
// definitions of docs/benchmarks.md's sync budgets.
const BenchDefinitions = 10_000

// BenchmarkUpsertDefinitions measures what the definitions stage of a sync
// costs the store: BenchDefinitions definitions (about 1 KiB of spec each,
// in one batch) upserted into an empty database ("first"), then again with
// no change ("unchanged"). A driver's benchmark calls it.
func BenchmarkUpsertDefinitions(b *testing.B, d Driver) {
	defs := benchDefinitions(BenchDefinitions)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(b *testing.B) store.Store {
		s, err := d.Open(context.Background(), d.NewDatabase(b), logger)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if err := s.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		return s
	}
	upsert := func(b *testing.B, s store.Store, want store.UpsertOutcome) {
		res, err := s.UpsertDefinitions(context.Background(), defs...)
		if err != nil {
			b.Fatal(err)
		}
		if len(res) != len(defs) || res[0].Outcome != want || res[len(res)-1].Outcome != want {
			b.Fatalf("got %d results, first %s; want %d %s", len(res), res[0].Outcome, len(defs), want)
		}
	}
	b.Run("first", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			s := open(b)
			b.StartTimer()
			upsert(b, s, store.Created)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(defs)), "µs/def")
	})
	b.Run("unchanged", func(b *testing.B) {
		s := open(b)
		upsert(b, s, store.Created)
		b.ResetTimer()
		for range b.N {
			upsert(b, s, store.Unchanged)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(defs)), "µs/def")
	})
}

// benchDefinitions makes n definitions with specs shaped like real ones.
func benchDefinitions(n int) []store.Definition {
	defs := make([]store.Definition, n)
	for i := range defs {
		id := fmt.Sprintf("bench.definition-%05d", i)
		spec, _ := json.Marshal(map[string]any{
			"id":          id,
			"description": "Sweep all registered repos and report drift to the state hub.",
			"enabled":     true,
			"trigger": map[string]any{"trigger_type": "cron", "cron_expression": "*/15 * * * *", "timezone": "UTC",
				"misfire_policy": "skip", "catchup_window": "5m0s", "jitter": "0s"},
			"context": []any{map[string]any{"kind": "http_get", "url": "http://127.0.0.1:8000/state/health",
				"bind": "hub_health", "timeout": "5s", "headers": map[string]string{"Authorization": "Bearer ${env:STATE_HUB_TOKEN}"}}},
			"rule": map[string]any{"when": []string{"hub_health.status == 'ok'"}},
			"instruction": map[string]any{"kind": "shell", "timeout": "10m0s", "workdir": "/srv/state-hub",
				"cmd": "cd /srv/state-hub && .venv/bin/python scripts/consistency_check.py --all", "env": map[string]string{"LOG_LEVEL": "info"}},
			"on_failure": "log_and_continue",
			"retry":      map[string]any{"max_attempts": 1, "initial_interval": "10s", "backoff_coefficient": 2, "max_interval": "5m0s"},
		})
		defs[i] = store.Definition{ID: id, ContentHash: fmt.Sprintf("%064x", i), Spec: spec,
			SourceFile: "/srv/defs/" + id + ".yaml", SourceDir: "/srv/defs", Enabled: true, TriggerType: store.TriggerCron}
	}
	return defs
}

// BenchmarkListDefinitions measures a dashboard or API list over
// BenchDefinitions definitions (a tenth event-triggered, a seventh
// disabled, in three sources): every definition with ListDefinitions (what
// the definitions page read before it paged, "all"), then pages of 50 with
// ListDefinitionsPage: the first, one 5,000 deep, one backward, and the
// first of a filter. Each reports its median as median-ms. A driver's
// benchmark calls it.
//
// The tables are analyzed after loading, as PostgreSQL's autovacuum does
// within a minute of a large sync: before that, its planner takes the
// fresh table for a small one and sorts all of it
// (docs/benchmarks-store.md#paged-lists).
func BenchmarkListDefinitions(b *testing.B, d Driver) {
	ctx := context.Background()
	url := d.NewDatabase(b)
	s, err := d.Open(ctx, url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	defs := benchDefinitions(BenchDefinitions)
	for i := range defs {
		if i%10 == 9 {
			defs[i].TriggerType, defs[i].EventType = store.TriggerEvent, "org.repo.pushed"
		}
		defs[i].Enabled = i%7 != 0
		defs[i].SourceDir = fmt.Sprintf("/srv/defs-%d", i%3)
	}
	if _, err := s.UpsertDefinitions(ctx, defs...); err != nil {
		b.Fatal(err)
	}
	if err := d.Exec(ctx, url, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	const size = 50
	deep := store.DefinitionPageFilter{Limit: size, After: pageCursor(b, s, BenchDefinitions/2)}
	yes := true
	for _, bc := range []struct {
		name string
		f    store.DefinitionPageFilter
	}{
		{"page_50_first", store.DefinitionPageFilter{Limit: size}},
		{"page_50_deep_5000", deep},
		{"page_50_backward", store.DefinitionPageFilter{Limit: size, Before: deep.After}},
		{"page_50_cron_enabled", store.DefinitionPageFilter{Limit: size,
			DefinitionFilter: store.DefinitionFilter{TriggerType: store.TriggerCron, Enabled: &yes}}},
		{"page_50_source", store.DefinitionPageFilter{Limit: size,
			DefinitionFilter: store.DefinitionFilter{SourceDir: "/srv/defs-1"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			medianMS(b, func() {
				page, err := s.ListDefinitionsPage(ctx, bc.f)
				if err != nil || len(page.Definitions) != size || page.Next == "" {
					b.Fatalf("%d definitions, next %q, %v", len(page.Definitions), page.Next, err)
				}
			})
		})
	}
	b.Run("all_10000", func(b *testing.B) {
		medianMS(b, func() {
			got, err := s.ListDefinitions(ctx, store.DefinitionFilter{})
			if err != nil || len(got) != BenchDefinitions {
				b.Fatalf("%d definitions, %v", len(got), err)
			}
		})
	})
}

// pageCursor returns the cursor after the first n definitions.
func pageCursor(b *testing.B, s store.Store, n int) string {
	page, err := s.ListDefinitionsPage(context.Background(), store.DefinitionPageFilter{Limit: n})
	if err != nil || page.Next == "" {
		b.Fatalf("first %d definitions: next %q, %v", n, page.Next, err)
	}
	return page.Next
}

// medianMS times f once per iteration and reports the median: on a
// shared machine it moves less than the mean.
func medianMS(b *testing.B, f func()) {
	ds := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		f()
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "median-ms")
}

// BenchAuditRecords is the size of the audit benchmark: years of a busy
// team's acts.
const BenchAuditRecords = 100_000

// BenchmarkListAudit lists pages of the audit out of BenchAuditRecords
// records, as GET /api/v1/audit does: the newest, one actor's, one
// definition's, one rare action's, and a page 2,000 records deep. 20
// actors act in turn; every 10th record is about one busy definition; 1%
// are cancels.
func BenchmarkListAudit(b *testing.B, d Driver) {
	ctx := context.Background()
	url := d.NewDatabase(b)
	s, err := d.Open(ctx, url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-365 * 24 * time.Hour)
	for i := 0; i < BenchAuditRecords; i += 1000 {
		batch := make([]store.AuditRecord, 1000)
		for j := range batch {
			n := i + j
			a := store.AuditRecord{At: start.Add(time.Duration(n) * 5 * time.Minute),
				Actor: fmt.Sprintf("actor-%02d", n%20), Role: "operate", Surface: "api", Action: store.AuditRun,
				DefinitionID: fmt.Sprintf("bench.def-%04d", n%997), Outcome: store.AuditOK,
				Detail: json.RawMessage(`{"inputs":{"repo":"org/x"}}`)}
			if n%10 == 0 {
				a.DefinitionID = "bench.busy"
			}
			if n%100 == 7 {
				a.Action, a.Note = store.AuditCancel, "wrong repo"
			}
			batch[j] = a
		}
		if err := s.AppendAudit(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Exec(ctx, url, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	deep := store.AuditFilter{Actor: "actor-07", Limit: store.AuditLimitMax}
	for range 2 {
		page, err := s.ListAudit(ctx, deep)
		if err != nil || len(page) != deep.Limit {
			b.Fatalf("%d records, %v", len(page), err)
		}
		deep.BeforeID = page[len(page)-1].ID
	}
	deep.Limit = 100
	for _, bc := range []struct {
		name string
		f    store.AuditFilter
	}{
		{"newest_100", store.AuditFilter{Limit: 100}},
		{"actor_newest_100", store.AuditFilter{Actor: "actor-07", Limit: 100}},
		{"actor_page_21_of_100", deep},
		{"definition_newest_100", store.AuditFilter{DefinitionID: "bench.busy", Limit: 100}},
		{"action_cancel_newest_100", store.AuditFilter{Action: store.AuditCancel, Limit: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			medianMS(b, func() {
				recs, err := s.ListAudit(ctx, bc.f)
				if err != nil || len(recs) != bc.f.Limit {
					b.Fatalf("%d records, %v", len(recs), err)
				}
			})
		})
	}
}
