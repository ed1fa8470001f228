package schedule

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// docs/benchmarks.md budgets 1 and 2, measured against the embedded server in the same
// run as their baselines:
//
//	go test ./internal/schedule -run '^$' -bench SyncNoChange -benchtime 5x
//	go test ./internal/schedule -run '^$' -bench SyncCold -benchtime 3x
//
// ACTIVITY_BENCH_SCHEDULES sets the number of definitions (default 1000; the
// the budget's figure is 10000). ns/op is the sync; "ratio" is the median sync
// over the median baseline and is the number the budgets are about.

func benchN(b *testing.B) int {
	n := 1000
	if v := os.Getenv("ACTIVITY_BENCH_SCHEDULES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("ACTIVITY_BENCH_SCHEDULES=%q: want a positive number", v)
		}
	}
	return n
}

// benchDefs stores n enabled cron definitions that do not fire while the
// benchmark runs (February 29th; the next one is in 2028).
func benchDefs(b *testing.B, e *env, n int) []*desired {
	recs := make([]store.Definition, n)
	ids := make([]string, n)
	ds := make([]*desired, n)
	for i := range n {
		id := fmt.Sprintf("bench.def-%05d", i)
		def, err := definition.Parse(id+".yaml", []byte(cronYAML(id, fmt.Sprintf("%d %d 29 2 *", i%60, i/60%24), true)))
		if err != nil {
			b.Fatal(err)
		}
		recs[i], ids[i] = storeDef(def), id
		if ds[i], err = newDesired(def, e.p.cfg.TaskQueue); err != nil {
			b.Fatal(err)
		}
	}
	e.putDefs(recs, ids)
	return ds
}

// bareList is the baseline of a no-change sync: one ListSchedules pass over
// the schedules with a prefix, nothing else.
func bareList(b *testing.B, prefix string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	it, err := testClient.ScheduleClient().List(ctx, client.ScheduleListOptions{
		PageSize: listPageSize,
		Query:    "ScheduleId STARTS_WITH '" + prefix + "'",
	})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return n
}

func waitCount(b *testing.B, prefix string, n int) {
	b.Helper()
	testsupport.Eventually(b, 5*time.Minute, "schedules listed under "+prefix, func() error {
		if got := bareList(b, prefix); got != n {
			return fmt.Errorf("%d listed, want %d", got, n)
		}
		return nil
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// A no-change sync of N definitions against one bare ListSchedules pass over
// the same N schedules (docs/benchmarks.md: within 1.2x, and no per-schedule call).
func BenchmarkSyncNoChange(b *testing.B) {
	n := benchN(b)
	e := newEnv(b)
	benchDefs(b, e, n)
	start := time.Now()
	res := e.syncOK(false)
	if res.Counts.Upserted != n {
		b.Fatalf("cold sync: %+v", res.Counts)
	}
	b.Logf("setup: cold sync of %d in %s", n, time.Since(start).Round(time.Millisecond))
	waitCount(b, e.prefix, n)
	e.client.sc.take()

	var syncs, lists []time.Duration
	list := func() {
		t0 := time.Now()
		if got := bareList(b, e.prefix); got != n {
			b.Fatalf("bare list: %d entries, want %d", got, n)
		}
		lists = append(lists, time.Since(t0))
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if i%2 == 0 {
			list()
		}
		b.StartTimer()
		t0 := time.Now()
		res := e.syncOK(false)
		syncs = append(syncs, time.Since(t0))
		b.StopTimer()
		if res.Counts != (Counts{Unchanged: n}) {
			b.Fatalf("no-change sync %d: %+v", i, res.Counts)
		}
		if calls := e.client.sc.take(); calls["list"] != 1 || perSchedule(calls) != 0 {
			b.Fatalf("no-change sync %d made calls %v", i, calls)
		}
		if i%2 == 1 {
			list()
		}
		b.Logf("round %d: sync %s, list %s", i, syncs[i].Round(time.Millisecond), lists[i].Round(time.Millisecond))
		b.StartTimer()
	}
	b.StopTimer()
	reportRatio(b, syncs, lists, "list")
	b.ReportMetric(float64(median(syncs).Microseconds())/float64(n), "sync-us/entry")
}

// reportRatio reports the medians of the sync and of its baseline, measured
// in pairs (one of each per round, in alternating order), and the median of
// the per-round ratios ("ratio", the budget's figure: pairing cancels most
// of the shared machine's drift, which moves both by ±40% from round to
// round) and the ratio of the medians ("ratio-of-medians").
func reportRatio(b *testing.B, syncs, bases []time.Duration, base string) {
	ratios := make([]float64, len(syncs))
	for i := range syncs {
		ratios[i] = float64(syncs[i]) / float64(bases[i])
	}
	slices.Sort(ratios)
	s, l := median(syncs), median(bases)
	b.ReportMetric(float64(s.Microseconds())/1000, "sync-ms")
	b.ReportMetric(float64(l.Microseconds())/1000, base+"-ms")
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	b.ReportMetric(float64(s)/float64(l), "ratio-of-medians")
}

// A cold sync of N cron definitions against N bare CreateSchedule calls of
// the same schedules at the same concurrency (docs/benchmarks.md: within 1.25x). Each
// round uses fresh prefixes and deletes both sets afterwards (not timed);
// the order of sync and baseline alternates.
func BenchmarkSyncCold(b *testing.B) {
	n := benchN(b)
	e := newEnv(b)
	ds := benchDefs(b, e, n)
	conc := e.p.cfg.Concurrency
	ctx := benchCtx(b)

	var syncs, bares []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		syncPrefix := fmt.Sprintf("%sc%d:", e.prefix, i)
		barePrefix := fmt.Sprintf("%sb%d:", e.prefix, i)
		cfg := e.p.cfg
		cfg.Prefix = syncPrefix
		p, err := New(cfg) // a new process: nothing cached
		if err != nil {
			b.Fatal(err)
		}
		runSync := func() {
			b.StartTimer()
			t0 := time.Now()
			res, err := p.Sync(ctx, false)
			syncs = append(syncs, time.Since(t0))
			b.StopTimer()
			if err != nil || res.Counts.Upserted != n || len(res.Errors) > 0 {
				b.Fatalf("cold sync: %v %+v %v", err, res.Counts, res.Errors)
			}
		}
		runBare := func() {
			t0 := time.Now()
			parallel(b, n, conc, func(j int) error {
				d := ds[j]
				_, err := testClient.ScheduleClient().Create(ctx, client.ScheduleOptions{
					ID:            barePrefix + d.defID,
					Spec:          d.spec(),
					Action:        d.action(barePrefix),
					Overlap:       d.overlap,
					CatchupWindow: d.catchup,
				})
				return err
			})
			bares = append(bares, time.Since(t0))
		}
		if i%2 == 0 {
			runBare()
			runSync()
		} else {
			runSync()
			runBare()
		}
		b.Logf("round %d: sync %s, bare %s", i, syncs[len(syncs)-1].Round(time.Millisecond), bares[len(bares)-1].Round(time.Millisecond))
		// Clean up so every round starts from the same server load.
		parallel(b, 2*n, conc, func(j int) error {
			prefix := syncPrefix
			if j >= n {
				prefix, j = barePrefix, j-n
			}
			return testClient.ScheduleClient().GetHandle(ctx, prefix+ds[j].defID).Delete(ctx)
		})
		ids := make([]string, n)
		for j, d := range ds {
			ids[j] = syncPrefix + d.defID
		}
		if err := e.store.DeleteScheduleStates(ctx, ids...); err != nil {
			b.Fatal(err)
		}
		// Deletes finish in the background (visibility); let them, so
		// they do not slow the next round's first half.
		waitCount(b, syncPrefix, 0)
		waitCount(b, barePrefix, 0)
		b.StartTimer()
	}
	b.StopTimer()
	reportRatio(b, syncs, bares, "bare-create")
	b.ReportMetric(float64(n)/median(syncs).Seconds(), "sync-creates/s")
}

// parallel runs f(0..n-1) on conc goroutines and fails the benchmark on the
// first error.
func parallel(b *testing.B, n, conc int, f func(int) error) {
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range conc {
		wg.Go(func() {
			for j := range work {
				if err := f(j); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for j := range n {
		work <- j
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

// benchCtx outlives the two minutes ctxT allows: a round of 10,000 takes
// longer.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	b.Cleanup(cancel)
	return ctx
}
