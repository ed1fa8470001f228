package adminapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/coulomb/activity-core/internal/liveout"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/shell"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// Settings of BenchmarkLiveOutput (docs/benchmarks.md#live-output); the
// environment overrides them.
const (
	liveBenchRoleEnv    = "ACTIVITY_LIVE_BENCH_ROLE"
	liveBenchRunsEnv    = "ACTIVITY_LIVE_BENCH_RUNS"    // default 50
	liveBenchSecondsEnv = "ACTIVITY_LIVE_BENCH_SECONDS" // default 10
	liveBenchTagEnv     = "ACTIVITY_LIVE_BENCH_TAG"
)

func liveBenchSetting(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func liveBenchRunID(tag string, i int) string { return fmt.Sprintf("bench-%s-%d", tag, i) }

// BenchmarkLiveOutput runs 50 commands that each print 1 MB/s in a worker
// process, with an api process beside it, once with no viewer and once
// with a `GET /api/v1/runs/{id}/output` stream on every run, and reports
// the worker's CPU and the api's memory in each (one round per b.N).
//
//	ACTIVITY_TEST_NATS_URL=nats://127.0.0.1:4222 go test ./internal/adminapi -run '^$' -bench LiveOutput -benchtime 3x
func BenchmarkLiveOutput(b *testing.B) {
	if os.Getenv("ACTIVITY_TEST_NATS_URL") == "" {
		b.Skip("ACTIVITY_TEST_NATS_URL is not set; set it to a NATS server (e.g. nats://127.0.0.1:4222)")
	}
	var none, watched []liveBenchResult
	for round := range b.N {
		for _, viewers := range []bool{false, true} {
			r := liveBenchRound(b, fmt.Sprintf("%d-%d-%t", time.Now().UnixNano(), round, viewers), viewers)
			b.Logf("round %d viewers=%t: worker CPU %.3f cores, api RSS %.1f MiB (peak %.1f), api heap %.1f MiB; commands printed %.1f MB/s, viewers got %.1f MB/s of events, skipped %d bytes",
				round, viewers, r.workerCores, r.apiRSS, r.apiHWM, r.apiHeap, r.printed/1e6, r.received/1e6, r.skipped)
			if viewers {
				watched = append(watched, r)
			} else {
				none = append(none, r)
			}
		}
	}
	med := func(rs []liveBenchResult, f func(liveBenchResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	cpuN, cpuW := med(none, func(r liveBenchResult) float64 { return r.workerCores }), med(watched, func(r liveBenchResult) float64 { return r.workerCores })
	rssN, rssW := med(none, func(r liveBenchResult) float64 { return r.apiRSS }), med(watched, func(r liveBenchResult) float64 { return r.apiRSS })
	b.ReportMetric(cpuN, "worker-cores-unwatched")
	b.ReportMetric(cpuW, "worker-cores-watched")
	b.ReportMetric(cpuW/cpuN, "worker-cpu-ratio")
	b.ReportMetric(rssN, "api-MiB-unwatched")
	b.ReportMetric(rssW, "api-MiB-watched")
	b.ReportMetric(rssW/rssN, "api-mem-ratio")
}

type liveBenchResult struct {
	workerCores             float64 // CPU seconds per second of the worker process
	apiRSS, apiHWM, apiHeap float64 // MiB
	received                float64 // bytes per second all viewers got (SSE lines)
	printed                 float64 // bytes per second all commands printed
	skipped                 int64
}

// liveProc is a helper process speaking lines on stdin/stdout.
type liveProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startLiveProc(b *testing.B, role, tag string) *liveProc {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLiveBench"+role+"$", "-test.v")
	cmd.Env = append(os.Environ(), liveBenchRoleEnv+"="+role, liveBenchTagEnv+"="+tag)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return &liveProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
}

// expect reads lines until one starts with prefix and returns its rest.
func (p *liveProc) expect(b *testing.B, prefix string) string {
	b.Helper()
	for p.out.Scan() {
		if rest, ok := strings.CutPrefix(p.out.Text(), prefix); ok {
			return rest
		}
	}
	b.Fatalf("%s: no %q line", p.cmd.Args[1], prefix)
	return ""
}

func liveBenchRound(b *testing.B, tag string, viewers bool) liveBenchResult {
	b.Helper()
	runs, secs := liveBenchSetting(liveBenchRunsEnv, 50), liveBenchSetting(liveBenchSecondsEnv, 10)
	api := startLiveProc(b, "API", tag)
	defer func() { api.in.Close(); _ = api.cmd.Wait() }()
	addr := strings.TrimSpace(api.expect(b, "addr "))
	worker := startLiveProc(b, "Worker", tag)
	defer func() { worker.in.Close(); _ = worker.cmd.Wait() }()
	worker.expect(b, "ready")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var received, skipped atomic.Int64
	if viewers {
		var attached sync.WaitGroup
		for i := range runs {
			attached.Add(1)
			go liveBenchViewer(ctx, addr, liveBenchRunID(tag, i), &attached, &received, &skipped)
		}
		attached.Wait()
	}
	received.Store(0)
	fmt.Fprintln(worker.in, "go")
	time.Sleep(time.Duration(secs) * time.Second / 2) // the measurement window, in a benchmark
	mem := strings.Fields(api.mem(b))
	cpuLine := strings.Fields(worker.expect(b, "cpu "))
	cpu, _ := strconv.ParseFloat(cpuLine[0], 64)
	printed, _ := strconv.ParseFloat(cpuLine[1], 64)
	got := received.Load()
	mem2 := strings.Fields(api.mem(b))
	num := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	return liveBenchResult{
		workerCores: cpu / float64(secs),
		apiRSS:      max(num(mem[0]), num(mem2[0])) / 1024, apiHWM: num(mem2[1]) / 1024, apiHeap: max(num(mem[2]), num(mem2[2])) / (1 << 20),
		received: float64(got) / float64(secs), skipped: skipped.Load(), printed: printed / float64(secs),
	}
}

func (p *liveProc) mem(b *testing.B) string {
	fmt.Fprintln(p.in, "mem")
	return p.expect(b, "mem ")
}

// liveBenchViewer reads one run's stream, counting bytes; attached is
// done at its first output event.
func liveBenchViewer(ctx context.Context, addr, runID string, attached *sync.WaitGroup, received, skipped *atomic.Int64) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/runs/"+runID+"/output", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		attached.Done()
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 8<<20)
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case first && string(line) == "event: output":
			first = false
			attached.Done()
		case strings.HasPrefix(string(line), `data: {"bytes":`):
			n, _ := strconv.ParseInt(strings.Split(strings.TrimPrefix(string(line), `data: {"bytes":`), ",")[0], 10, 64)
			skipped.Add(n)
		default:
			received.Add(int64(len(line)))
		}
	}
	if first {
		attached.Done()
	}
}

// TestLiveBenchAPI is BenchmarkLiveOutput's api process.
func TestLiveBenchAPI(t *testing.T) {
	if os.Getenv(liveBenchRoleEnv) != "API" {
		t.Skip("started only by BenchmarkLiveOutput")
	}
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "api.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	runs, tag := liveBenchSetting(liveBenchRunsEnv, 50), os.Getenv(liveBenchTagEnv)
	for i := range runs {
		if _, err := st.CreateRun(ctx, store.Run{ID: liveBenchRunID(tag, i), DefinitionID: "bench.live", Trigger: store.RunTriggerManual, Status: store.RunRunning}); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(os.Getenv("ACTIVITY_TEST_NATS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	v, err := liveout.NewViewer(liveout.ViewerConfig{Conn: nc, Max: runs, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{Store: st, ReadToken: readToken, AdminToken: adminToken, Output: v, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = http.Serve(ln, api) }() // serves until the process exits
	fmt.Println("addr", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		status, _ := os.ReadFile("/proc/self/status")
		fmt.Printf("mem %s %s %d\n", procKB(status, "VmRSS:"), procKB(status, "VmHWM:"), ms.HeapInuse)
	}
}

func procKB(status []byte, key string) string {
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			return strings.Fields(rest)[0]
		}
	}
	return "0"
}

// TestLiveBenchWorker is BenchmarkLiveOutput's worker process: it runs
// the printers through the shell runner with their output on a sink, and
// reports its own CPU time over the window.
func TestLiveBenchWorker(t *testing.T) {
	if os.Getenv(liveBenchRoleEnv) != "Worker" {
		t.Skip("started only by BenchmarkLiveOutput")
	}
	nc, err := nats.Connect(os.Getenv("ACTIVITY_TEST_NATS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sink, err := liveout.NewSink(liveout.SinkConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	// The engine redacts with every resolved secret; one here.
	vals := secret.NewValues("***", 3)
	vals.Add("bench-secret-value-0123456789")
	longest := 0
	for _, f := range secret.Forms("bench-secret-value-0123456789") {
		longest = max(longest, len(f))
	}
	runs, secs, tag := liveBenchSetting(liveBenchRunsEnv, 50), liveBenchSetting(liveBenchSecondsEnv, 10), os.Getenv(liveBenchTagEnv)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var started sync.WaitGroup
	var printed atomic.Int64
	for i := range runs {
		stdout, stderr, done := sink.Open(liveBenchRunID(tag, i), vals.Redact, longest)
		first := &firstWrite{w: stdout, n: &printed}
		first.wg.Add(1)
		started.Add(1)
		go func() { first.wg.Wait(); started.Done() }()
		wg.Go(func() {
			defer done()
			_, _ = shell.Run(ctx, shell.Command{
				Args: []string{os.Args[0], "-test.run=^TestLiveBenchPrinter$"}, Env: []string{liveBenchRoleEnv + "=Printer"},
				Stdout: first, Stderr: stderr, Grace: 100 * time.Millisecond,
			})
		})
	}
	started.Wait()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	in.Scan() // "go"
	printed.Store(0)
	r0 := cpuTime()
	time.Sleep(time.Duration(secs) * time.Second) // the measurement window, in a benchmark
	fmt.Printf("cpu %.4f %d\n", cpuTime()-r0, printed.Load())
	cancel()
	wg.Wait()
}

// firstWrite passes writes on and says when the first came.
type firstWrite struct {
	w    io.Writer
	n    *atomic.Int64
	wg   sync.WaitGroup
	once sync.Once
}

func (f *firstWrite) Write(p []byte) (int, error) {
	f.once.Do(f.wg.Done)
	f.n.Add(int64(len(p)))
	return f.w.Write(p)
}

func cpuTime() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// TestLiveBenchPrinter is the command of BenchmarkLiveOutput: 1 MB/s of
// log-like lines, in 10 KB writes every 10 ms, until it is ended.
func TestLiveBenchPrinter(t *testing.T) {
	if os.Getenv(liveBenchRoleEnv) != "Printer" {
		t.Skip("started only by BenchmarkLiveOutput")
	}
	var block strings.Builder
	for i := 0; block.Len() < 10_000-100; i++ {
		fmt.Fprintf(&block, "2026-12-05T04:00:00Z INFO step %06d of the job: copying files, all is well %s\n", i, strings.Repeat(".", 20))
	}
	buf := []byte(block.String())
	os.Stdout.WriteString("hello\n")
	tick := time.NewTicker(time.Duration(float64(len(buf)) / 1e6 * float64(time.Second)))
	for range tick.C {
		if _, err := os.Stdout.Write(buf); err != nil {
			return
		}
	}
}
