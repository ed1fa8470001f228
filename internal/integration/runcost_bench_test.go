package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/shell"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport/barerun"
)

// Settings of BenchmarkRunThroughput (docs/benchmarks.md#cost-per-run).
const (
	benchRoundsDefault   = 3
	benchPerRoundDefault = 250
	// benchStarters is how many goroutines start bare workflows at once:
	// the router's default concurrency, so both paths start runs alike.
	benchStarters = 16
	bareTaskQueue = "bench-bare"
)

// benchInt reads a positive integer setting of the benchmark, or def.
func benchInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		tb.Fatalf("%s=%q: give a whole number (0 or more)", name, v)
	}
	return n
}

// runBench is an embedded Temporal server kept on disk as `dev` keeps it,
// a bare worker on it, and one or more dev-shaped activity-core processes
// (every role, SQLite or PostgreSQL store) on it.
type runBench struct {
	b      *testing.B
	tmp    *devserver.Temporal
	tc     client.Client
	nc     *nats.Conn
	js     jetstream.JetStream
	hubURL string // a context source that answers {"status":"ok"}
}

// coreProc is one activity-core process of a runBench.
type coreProc struct {
	rb      *runBench
	in      *instance
	subject string // events go to subject + "." + path

	mu      sync.Mutex
	waiters map[string]chan engine.LifecycleEvent // by definition id
}

// benchPaths are the definitions whose runs the benchmark measures and
// whose history it counts: one per shape of the run workflow.
var benchPaths = []string{"plain", "context", "rule", "key"}

func newRunBench(b *testing.B) *runBench {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp, err := devserver.StartTemporal(ctx, devserver.TemporalConfig{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tmp.Stop() })
	rb := &runBench{b: b, tmp: tmp}
	if rb.tc, err = client.Dial(client.Options{HostPort: tmp.Address(), Namespace: tmp.Namespace(), Logger: quietLogger{}}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rb.tc.Close)
	if rb.nc, err = nats.Connect(natsSrv.ClientURL()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rb.nc.Close)
	if rb.js, err = jetstream.New(rb.nc); err != nil {
		b.Fatal(err)
	}
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	b.Cleanup(hub.Close)
	rb.hubURL = hub.URL

	sh, err := shell.NewContainer(shell.ContainerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sh.Close)
	w := worker.New(rb.tc, bareTaskQueue, worker.Options{})
	barerun.Register(w, sh)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	return rb
}

// addCore starts an activity-core process on the store at storeURL, with
// a task queue, stream and subjects of its own (named after label), and
// syncs the benchPaths definitions into it.
func (rb *runBench) addCore(label, storeURL string) *coreProc {
	b := rb.b
	b.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(b.Name()))
	if label != "" {
		name += "-" + label
	}
	cp := &coreProc{rb: rb, subject: "it." + name + ".ev", waiters: map[string]chan engine.LifecycleEvent{}}
	lifecycle := "it." + name + ".lc" // inside the stream, as dev's activity.> is
	cp.in = startWith(b, rb.tmp.Address(), func(o *app.Options) {
		o.Engines.DatabaseURL = storeURL
		o.Engines.TaskQueue = "it-" + name
		o.Engines.NATSStream = "IT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		o.Engines.NATSSubjects = "it." + name + ".>"
		o.Engines.LifecyclePrefix = lifecycle
		o.Sync.SchedulePrefix = "it-" + name + ":"
	})
	cp.in.tc = rb.tc
	if _, err := rb.nc.Subscribe(lifecycle+".run.>", cp.onLifecycle); err != nil {
		b.Fatal(err)
	}
	defs := map[string]string{
		"plain":   "",
		"context": fmt.Sprintf("context: [{kind: http_get, url: %q, bind: hub}]\n", rb.hubURL),
		"rule":    "rule: {when: [\"event.payload.n >= 0\"]}\n",
		"key":     "concurrency_key: bench-key-" + name + "\n",
	}
	for _, p := range benchPaths {
		cp.in.write(p+".yaml", fmt.Sprintf("id: bench.%s\ntrigger: {trigger_type: event, event_type: %s.%s}\n%sinstruction: {kind: shell, cmd: 'true'}\n",
			p, cp.subject, p, defs[p]))
	}
	if res := cp.in.sync(""); !res.OK() {
		b.Fatalf("sync: %+v", res)
	}
	return cp
}

func (cp *coreProc) onLifecycle(m *nats.Msg) {
	var ev engine.LifecycleEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		cp.rb.b.Errorf("lifecycle event: %v", err)
		return
	}
	cp.mu.Lock()
	ch := cp.waiters[ev.DefinitionID]
	cp.mu.Unlock()
	if ch != nil {
		ch <- ev
	}
}

// watch returns the channel lifecycle events of a definition arrive on.
func (cp *coreProc) watch(definitionID string, n int) chan engine.LifecycleEvent {
	ch := make(chan engine.LifecycleEvent, n)
	cp.mu.Lock()
	cp.waiters[definitionID] = ch
	cp.mu.Unlock()
	return ch
}

var benchEventSeq atomic.Int64

// coreRuns publishes n events for a path and returns how long it took
// until n runs were recorded succeeded (their lifecycle event announces
// the stored record).
func (cp *coreProc) coreRuns(path string, n int) (time.Duration, []string) {
	rb := cp.rb
	ch := cp.watch("bench."+path, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	for range n {
		id := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), benchEventSeq.Add(1))
		if _, err := rb.js.PublishAsync(cp.subject+"."+path, []byte(`{"n":1}`), jetstream.WithMsgID(id)); err != nil {
			rb.b.Fatal(err)
		}
	}
	select {
	case <-rb.js.PublishAsyncComplete():
	case <-ctx.Done():
		rb.b.Fatal("publishing did not complete")
	}
	var wids []string
	for len(wids) < n {
		select {
		case ev := <-ch:
			if ev.Status != store.RunSucceeded {
				rb.b.Fatalf("run %s of bench.%s: %s (%s)", ev.RunID, path, ev.Status, ev.Reason)
			}
			wids = append(wids, ev.WorkflowID)
		case <-ctx.Done():
			rb.b.Fatalf("bench.%s: %d of %d runs succeeded in 10 minutes", path, len(wids), n)
		}
	}
	return time.Since(start), wids
}

// bareRuns starts n bare workflows from benchStarters goroutines and
// returns how long it took until all completed.
func (rb *runBench) bareRuns(n int) (time.Duration, []client.WorkflowRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	runs := make([]client.WorkflowRun, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchStarters {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				id := fmt.Sprintf("bench-bare-%d-%d", time.Now().UnixNano(), benchEventSeq.Add(1))
				r, err := rb.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: bareTaskQueue}, barerun.WorkflowName)
				if err != nil {
					rb.b.Errorf("bare start: %v", err)
					return
				}
				runs[i] = r
			}
		})
	}
	wg.Wait()
	for _, r := range runs {
		if r == nil {
			rb.b.FailNow()
		}
		if err := r.Get(ctx, nil); err != nil {
			rb.b.Fatalf("bare run %s: %v", r.GetID(), err)
		}
	}
	return time.Since(start), runs
}

// historyEvents counts the events in a finished workflow's history.
func (rb *runBench) historyEvents(workflowID string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rb.tc.GetWorkflow(ctx, workflowID, "").Get(ctx, nil); err != nil {
		rb.b.Fatalf("workflow %s: %v", workflowID, err)
	}
	it := rb.tc.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			rb.b.Fatal(err)
		}
		n++
	}
	return n
}

// BenchmarkRunThroughput measures the cost of a run against Temporal's
// floor (docs/benchmarks.md#cost-per-run): completed runs per second of an
// activity-core event run (publish to a succeeded run record) and of a
// bare one-workflow-one-activity run of the same command, on one embedded
// Temporal server, in alternating rounds; then the history events of one
// run of each workflow shape. Settings:
//
//	ACTIVITY_BENCH_ROUNDS     rounds (3)
//	ACTIVITY_BENCH_RUNS       runs per round and path (250)
//	ACTIVITY_BENCH_STORE      sqlite (default) or postgres (needs ACTIVITY_TEST_POSTGRES_URL)
//	ACTIVITY_BENCH_SEED_RUNS  runs stored before the first round (0)
//
// Run it once (-benchtime 1x): it reports the median ratio.
func BenchmarkRunThroughput(b *testing.B) {
	rounds := benchInt(b, "ACTIVITY_BENCH_ROUNDS", benchRoundsDefault)
	perRound := benchInt(b, "ACTIVITY_BENCH_RUNS", benchPerRoundDefault)
	rb := newRunBench(b)
	storeURL, err := benchStore(b, benchInt(b, "ACTIVITY_BENCH_SEED_RUNS", 0))
	if err != nil {
		b.Fatal(err)
	}
	core := rb.addCore("", storeURL)

	// Warm both paths up (workers polling, caches, the router's index).
	rb.bareRuns(20)
	core.coreRuns("plain", 20)

	var ratios, coreRates, bareRates []float64
	out := &strings.Builder{}
	fmt.Fprintf(out, "\n| round | bare runs/s | activity-core runs/s | ratio |\n|---|---|---|---|\n")
	for b.Loop() {
		for r := range rounds {
			var tb, tc time.Duration
			if r%2 == 0 {
				tb, _ = rb.bareRuns(perRound)
				tc, _ = core.coreRuns("plain", perRound)
			} else {
				tc, _ = core.coreRuns("plain", perRound)
				tb, _ = rb.bareRuns(perRound)
			}
			bare, core := float64(perRound)/tb.Seconds(), float64(perRound)/tc.Seconds()
			bareRates, coreRates, ratios = append(bareRates, bare), append(coreRates, core), append(ratios, core/bare)
			fmt.Fprintf(out, "| %d | %.1f | %.1f | %.2f |\n", r+1, bare, core, core/bare)
			fmt.Printf("round %d: bare %.1f runs/s, activity-core %.1f runs/s, ratio %.2f, RSS %s\n", r+1, bare, core, core/bare, pidRSS(os.Getpid()))
		}
	}
	b.StopTimer()
	fmt.Fprintf(out, "| median | %.1f | %.1f | %.2f |\n", barerun.Median(bareRates), barerun.Median(coreRates), barerun.Median(ratios))

	_, bare := rb.bareRuns(1)
	fmt.Fprintf(out, "\n| path | history events per run |\n|---|---|\n| bare | %d |\n", rb.historyEvents(bare[0].GetID()))
	for _, p := range benchPaths {
		_, wids := core.coreRuns(p, 1)
		fmt.Fprintf(out, "| %s | %d |\n", p, rb.historyEvents(wids[0]))
	}
	fmt.Fprintf(out, "\nprocess RSS %s after %d runs\n", pidRSS(os.Getpid()), rounds*perRound*2+len(benchPaths)+41)
	// Printed, not logged: the testing package truncates a benchmark's log.
	fmt.Println(out.String())
	b.ReportMetric(barerun.Median(ratios), "ratio")
	b.ReportMetric(barerun.Median(coreRates), "core-runs/s")
	b.ReportMetric(barerun.Median(bareRates), "bare-runs/s")
}

// benchStore makes the store the benchmark's process uses, seeded with
// ACTIVITY_BENCH_SEED_RUNS finished runs.
func benchStore(b *testing.B, seed int) (string, error) {
	switch kind := os.Getenv("ACTIVITY_BENCH_STORE"); kind {
	case "", "sqlite":
		u := "sqlite://" + filepath.Join(b.TempDir(), fmt.Sprintf("bench-%d.db", seed))
		return u, seedRuns(b, u, seed)
	case "postgres":
		base := os.Getenv("ACTIVITY_TEST_POSTGRES_URL")
		if base == "" {
			b.Skip("ACTIVITY_BENCH_STORE=postgres needs ACTIVITY_TEST_POSTGRES_URL")
		}
		u, err := benchSchema(b, base)
		if err != nil {
			return "", err
		}
		return u, seedRuns(b, u, seed)
	default:
		return "", fmt.Errorf("ACTIVITY_BENCH_STORE=%q: use sqlite or postgres", kind)
	}
}

// BenchmarkRunThroughputStoredRuns measures whether stored history slows
// runs down (docs/benchmarks.md#stored-runs-do-not-slow-runs-down): two activity-core processes
// on one Temporal server, one on an empty store and one on a store seeded
// with ACTIVITY_BENCH_SEED_RUNS finished runs (100,000), run
// ACTIVITY_BENCH_RUNS event runs each (250) in ACTIVITY_BENCH_ROUNDS
// alternating rounds (3). ACTIVITY_BENCH_STORE picks the driver. It
// reports the median of seeded ÷ empty.
func BenchmarkRunThroughputStoredRuns(b *testing.B) {
	rounds := benchInt(b, "ACTIVITY_BENCH_ROUNDS", benchRoundsDefault)
	perRound := benchInt(b, "ACTIVITY_BENCH_RUNS", benchPerRoundDefault)
	seed := benchInt(b, "ACTIVITY_BENCH_SEED_RUNS", 100_000)
	rb := newRunBench(b)
	emptyURL, err := benchStore(b, 0)
	if err != nil {
		b.Fatal(err)
	}
	seededURL, err := benchStore(b, seed)
	if err != nil {
		b.Fatal(err)
	}
	empty, seeded := rb.addCore("empty", emptyURL), rb.addCore("seeded", seededURL)
	empty.coreRuns("plain", 20)
	seeded.coreRuns("plain", 20)
	var ratios, er, sr []float64
	fmt.Printf("\n| round | empty store runs/s | %d stored runs, runs/s | ratio |\n|---|---|---|---|\n", seed)
	for b.Loop() {
		for r := range rounds {
			var te, ts time.Duration
			if r%2 == 0 {
				te, _ = empty.coreRuns("plain", perRound)
				ts, _ = seeded.coreRuns("plain", perRound)
			} else {
				ts, _ = seeded.coreRuns("plain", perRound)
				te, _ = empty.coreRuns("plain", perRound)
			}
			e, s := float64(perRound)/te.Seconds(), float64(perRound)/ts.Seconds()
			er, sr, ratios = append(er, e), append(sr, s), append(ratios, s/e)
			fmt.Printf("| %d | %.1f | %.1f | %.2f |\n", r+1, e, s, s/e)
		}
	}
	b.StopTimer()
	fmt.Printf("| median | %.1f | %.1f | %.2f |\n\n", barerun.Median(er), barerun.Median(sr), barerun.Median(ratios))
	b.ReportMetric(barerun.Median(ratios), "ratio")
}
