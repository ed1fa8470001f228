package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

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
