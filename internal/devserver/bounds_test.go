package devserver

import (
	"context"
	"runtime/debug"
	"strings"
	"testing"

	"go.temporal.io/server/common/dynamicconfig"
)

// The embedded server's history cache is bounded for dev
// (docs/benchmarks.md#memory-of-dev), not the server's 128,000 entries
// for an hour.
func TestDevDynamicConfigBoundsTheHistoryCache(t *testing.T) {
	dc := devDynamicConfig(historyCacheEntriesDefault)
	if got := dc[dynamicconfig.HistoryCacheHostLevelMaxSize.Key()]; got != historyCacheEntriesDefault {
		t.Errorf("history cache entries = %v, want %d", got, historyCacheEntriesDefault)
	}
	if got := dc[dynamicconfig.HistoryCacheTTL.Key()]; got != historyCacheTTL {
		t.Errorf("history cache TTL = %v, want %v", got, historyCacheTTL)
	}
}

func TestStartTemporalRefusesANegativeCacheSize(t *testing.T) {
	_, err := StartTemporal(context.Background(), TemporalConfig{HistoryCacheEntries: -1})
	if err == nil || !strings.Contains(err.Error(), "HistoryCacheEntries") {
		t.Fatalf("err = %v, want one naming HistoryCacheEntries", err)
	}
}

func TestLimitMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	if got := LimitMemory(); got != memoryLimitDefault || debug.SetMemoryLimit(-1) != memoryLimitDefault {
		t.Errorf("LimitMemory() = %d, runtime limit %d; want %d", got, debug.SetMemoryLimit(-1), memoryLimitDefault)
	}
	debug.SetMemoryLimit(1 << 30)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := LimitMemory(); got != 1<<30 {
		t.Errorf("with GOMEMLIMIT set, LimitMemory() = %d, want the limit in force (%d)", got, 1<<30)
	}
}
