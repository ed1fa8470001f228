package detector

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// BenchmarkPass is the budget of docs/benchmarks.md: one detector pass over
// N cron definitions against one bare ListSchedules pass plus one store
// query (ListDefinitions), measured in the same rounds:
//
//	ACTIVITY_BENCH_SCHEDULES=10000 go test ./internal/detector -run '^$' -bench Pass -benchtime 10x -timeout 60m
//
// ACTIVITY_BENCH_SCHEDULES is N (default 1000); ACTIVITY_BENCH_STORE=postgres
// uses ACTIVITY_TEST_POSTGRES_URL instead of SQLite. "ratio" is the median
// pass over the median baseline; "pass-ms" and "bare-ms" are the medians.
// The definitions expect a grace, a success within 26h and a max duration,
// and fire on February 29th only, so nothing runs while it measures.
func BenchmarkPass(b *testing.B) {
	n := 1000
	if v := os.Getenv("ACTIVITY_BENCH_SCHEDULES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("ACTIVITY_BENCH_SCHEDULES=%q: want a positive number", v)
		}
	}
	open := openSQLite
	if os.Getenv("ACTIVITY_BENCH_STORE") == "postgres" {
		open = openPostgres
	}
	st := open(b, nil)
	_, tc := embeddedTemporal(b)
	name := testName(b)
	proj := projector(b, st, name, name, time.Now)
	defs := make([]*definition.Definition, n)
	for i := range n {
		defs[i] = cronDef(fmt.Sprintf("bench.def-%05d", i), func(d *definition.Definition) {
			d.Trigger.CronExpression = fmt.Sprintf("%d %d 29 2 *", i%60, i/60%24)
			d.Expect = &definition.Expect{Grace: definition.Duration(5 * time.Minute), SucceedsWithin: definition.Duration(26 * time.Hour), MaxDuration: definition.Duration(30 * time.Minute)}
		})
	}
	putDefs(b, st, defs...)
	ctx := context.Background()
	start := time.Now()
	if res, err := proj.Sync(ctx, false); err != nil || len(res.Errors) > 0 || res.Counts.Upserted != n {
		b.Fatalf("creating %d schedules: %v %+v", n, err, res)
	}
	b.Logf("created %d schedules in %s", n, time.Since(start).Round(time.Second))
	d := newDetector(b, Config{Store: st, Schedules: proj, Pollers: TemporalPollers{Client: tc}, TaskQueue: name})
	waitListed(b, tc, name+":", n)
	if res := pass(b, d); res.Definitions != n { // first sight: writes every health row
		b.Fatalf("first pass: %+v", res)
	}

	var bare, passes []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if got := bareList(b, tc, name+":"); got != n {
			b.Fatalf("listed %d schedules, want %d", got, n)
		}
		if _, err := st.ListDefinitions(ctx, store.DefinitionFilter{}); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(t0))
		t0 = time.Now()
		if res := pass(b, d); res.Definitions != n || res.TemporalError != "" {
			b.Fatalf("pass: %+v", res)
		}
		passes = append(passes, time.Since(t0))
	}
	mb, mp := median(bare), median(passes)
	b.ReportMetric(float64(mp)/float64(mb), "ratio")
	b.ReportMetric(float64(mp.Microseconds())/1000, "pass-ms")
	b.ReportMetric(float64(mb.Microseconds())/1000, "bare-ms")
}

// bareList is one ListSchedules pass over the schedules with a prefix.
func bareList(b *testing.B, tc client.Client, prefix string) int {
	it, err := tc.ScheduleClient().List(context.Background(), client.ScheduleListOptions{PageSize: 1000, Query: "ScheduleId STARTS_WITH '" + prefix + "'"})
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

// waitListed waits until the visibility store lists every schedule.
func waitListed(b *testing.B, tc client.Client, prefix string, n int) {
	b.Helper()
	testsupport.Eventually(b, 5*time.Minute, "every schedule listed", func() error {
		if got := bareList(b, tc, prefix); got < n {
			return fmt.Errorf("%d of %d listed", got, n)
		}
		return nil
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
