package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/shell"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport/barerun"
)

// Settings of BenchmarkTopologyRunThroughput (docs/benchmarks.md#cost-per-run).
const (
	topoBenchRoundsDefault = 3
	topoBenchRunsDefault   = 250
	topoBareTaskQueue      = "bench-bare"
	// topoBenchStarters is the routers' default concurrency, times the
	// two routers of the topology.
	topoBenchStarters = 32
	// topoBareWorkers matches the topology's two worker replicas.
	topoBareWorkers = 2
)

// BenchmarkTopologyRunThroughput is BenchmarkRunThroughput of
// internal/integration on the production topology (not in CI): completed
// runs per second of an activity-core event run (publish to a succeeded
// run record, through the routers and worker replicas) and of a bare
// one-workflow-one-activity run of the same command `true` (two workers in
// this process, the same shell runner), on the topology's Temporal
// cluster, in alternating rounds. ACTIVITY_BENCH_ROUNDS (3) and
// ACTIVITY_BENCH_RUNS (250) set the size. Run it with -benchtime 1x.
func BenchmarkTopologyRunThroughput(b *testing.B) {
	rounds := topoBenchSetting(b, "ACTIVITY_BENCH_ROUNDS", topoBenchRoundsDefault)
	perRound := topoBenchSetting(b, "ACTIVITY_BENCH_RUNS", topoBenchRunsDefault)
	c := getCluster(b)
	d := c.scenarioDefs(b, "bench")
	d.write("plain.yaml", "id: bench.plain\ntrigger: {trigger_type: event, event_type: org.bench.plain}\ninstruction: {kind: shell, cmd: 'true'}\n")
	if res := c.sync(b, "api-1", ""); !res.OK() {
		b.Fatalf("sync: %v", res.Errors)
	}

	// Lifecycle events announce each recorded outcome (prefix "activity").
	var mu sync.Mutex
	var waiter chan engine.LifecycleEvent
	sub, err := c.nc.Subscribe("activity.run.>", func(m *nats.Msg) {
		var ev engine.LifecycleEvent
		if json.Unmarshal(m.Data, &ev) != nil || ev.DefinitionID != "bench.plain" {
			return
		}
		mu.Lock()
		ch := waiter
		mu.Unlock()
		if ch != nil {
			ch <- ev
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Unsubscribe() })

	sh, err := shell.NewContainer(shell.ContainerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sh.Close)
	for range topoBareWorkers {
		w := worker.New(c.tc, topoBareTaskQueue, worker.Options{})
		barerun.Register(w, sh)
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.Stop)
	}

	var seq atomic.Int64
	core := func(n int) (time.Duration, string) {
		ch := make(chan engine.LifecycleEvent, n)
		mu.Lock()
		waiter = ch
		mu.Unlock()
		ctx, cancel := context.WithTimeout(c.ctx, 20*time.Minute)
		defer cancel()
		start := time.Now()
		for range n {
			id := fmt.Sprintf("bench-%d-%d", start.UnixNano(), seq.Add(1))
			if _, err := c.js.PublishAsync("org.bench.plain", []byte(`{"n":1}`), jetstream.WithMsgID(id)); err != nil {
				b.Fatal(err)
			}
		}
		<-c.js.PublishAsyncComplete()
		var last string
		for i := 0; i < n; i++ {
			select {
			case ev := <-ch:
				if ev.Status != store.RunSucceeded {
					b.Fatalf("run %s: %s (%s)", ev.RunID, ev.Status, ev.Reason)
				}
				last = ev.WorkflowID
			case <-ctx.Done():
				b.Fatalf("%d of %d runs succeeded in 20 minutes", i, n)
			}
		}
		return time.Since(start), last
	}
	bare := func(n int) (time.Duration, string) {
		ctx, cancel := context.WithTimeout(c.ctx, 20*time.Minute)
		defer cancel()
		runs := make([]client.WorkflowRun, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range topoBenchStarters {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					id := fmt.Sprintf("bench-bare-%d-%d", start.UnixNano(), seq.Add(1))
					r, err := c.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: topoBareTaskQueue}, barerun.WorkflowName)
					if err != nil {
						b.Errorf("bare start: %v", err)
						return
					}
					runs[i] = r
				}
			})
		}
		wg.Wait()
		for _, r := range runs {
			if r == nil {
				b.FailNow()
			}
			if err := r.Get(ctx, nil); err != nil {
				b.Fatalf("bare run %s: %v", r.GetID(), err)
			}
		}
		return time.Since(start), runs[n-1].GetID()
	}

	bare(20)
	core(20)
	var ratios, coreRates, bareRates []float64
	out := &strings.Builder{}
	fmt.Fprintf(out, "\n| round | bare runs/s | activity-core runs/s | ratio |\n|---|---|---|---|\n")
	for b.Loop() {
		for r := range rounds {
			var tb, tc time.Duration
			if r%2 == 0 {
				tb, _ = bare(perRound)
				tc, _ = core(perRound)
			} else {
				tc, _ = core(perRound)
				tb, _ = bare(perRound)
			}
			br, cr := float64(perRound)/tb.Seconds(), float64(perRound)/tc.Seconds()
			bareRates, coreRates, ratios = append(bareRates, br), append(coreRates, cr), append(ratios, cr/br)
			fmt.Fprintf(out, "| %d | %.1f | %.1f | %.2f |\n", r+1, br, cr, cr/br)
		}
	}
	b.StopTimer()
	fmt.Fprintf(out, "| median | %.1f | %.1f | %.2f |\n", barerun.Median(bareRates), barerun.Median(coreRates), barerun.Median(ratios))
	_, bw := bare(1)
	_, cw := core(1)
	fmt.Fprintf(out, "\nhistory events per run: bare %d, activity-core (plain) %d\n", c.historyEvents(b, bw), c.historyEvents(b, cw))
	fmt.Println(out.String()) // printed: the testing package truncates a benchmark's log
	b.ReportMetric(barerun.Median(ratios), "ratio")
	b.ReportMetric(barerun.Median(coreRates), "core-runs/s")
	b.ReportMetric(barerun.Median(bareRates), "bare-runs/s")
}

// historyEvents counts the events of a workflow once it has closed.
func (c *cluster) historyEvents(tb testing.TB, workflowID string) int {
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	if err := c.tc.GetWorkflow(ctx, workflowID, "").Get(ctx, nil); err != nil {
		tb.Fatalf("workflow %s: %v", workflowID, err)
	}
	it := c.tc.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			tb.Fatal(err)
		}
		n++
	}
	return n
}

func topoBenchSetting(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
