package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/liveout"
	"github.com/coulomb/activity-core/internal/shell"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
	"github.com/coulomb/activity-core/internal/testsupport"
)

const logsReadToken = "logs-read-token-0123456789"

// Environment of the worker process TestRunsLogsFollowAcrossProcesses
// starts (this test binary again).
const (
	helperRunEnv  = "ACTIVITY_TEST_LIVE_WORKER_RUN"
	helperGateEnv = "ACTIVITY_TEST_LIVE_WORKER_GATE"
)

// liveCommand prints a line every 100 ms: ten, then (once the gate file
// exists: the viewer has shown line 9 while this still runs) ten more,
// each with the time it was printed.
const liveCommand = `i=0
while [ $i -lt 20 ]; do
  if [ $i -eq 10 ]; then while [ ! -e "$GATE" ]; do sleep 0.05; done; fi
  echo "line $i $(date +%s%N)"
  i=$((i+1))
  sleep 0.1
done
echo "done" >&2`

// TestLiveWorkerProcess is the worker side of the cross-process test: it
// runs liveCommand through the shell package with its output on a
// liveout.Sink, as a worker does. It does nothing unless started by that
// test.
func TestLiveWorkerProcess(t *testing.T) {
	runID := os.Getenv(helperRunEnv)
	if runID == "" {
		t.Skip("started only by TestRunsLogsFollowAcrossProcesses")
	}
	nc, err := nats.Connect(os.Getenv("ACTIVITY_TEST_NATS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = nc.Drain() }()
	sink, err := liveout.NewSink(liveout.SinkConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, done := sink.Open(runID, nil, 0)
	res, err := shell.Run(context.Background(), shell.Command{
		Cmd: liveCommand, Env: []string{"PATH=" + os.Getenv("PATH"), "GATE=" + os.Getenv(helperGateEnv)},
		Stdout: stdout, Stderr: stderr,
	})
	done()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("command: %v %+v", err, res)
	}
}

// stampedBuffer records when each write arrived.
type stampedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	stamps []time.Time // per line, when its end arrived
}

func (b *stampedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for range bytes.Count(p, []byte("\n")) {
		b.stamps = append(b.stamps, now)
	}
	return b.buf.Write(p)
}

func (b *stampedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunsLogsFollowAcrossProcesses: a command runs in another process
// (a worker's sink on NATS); `runs logs -f` here, through a real API
// server, prints its lines in order while it runs, then exits with the
// run's status once the run is recorded finished.
func TestRunsLogsFollowAcrossProcesses(t *testing.T) {
	natsURL := os.Getenv("ACTIVITY_TEST_NATS_URL")
	if natsURL == "" {
		t.Skip("ACTIVITY_TEST_NATS_URL is not set; set it to a NATS server (e.g. nats://127.0.0.1:4222) to run the live-output test")
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
	runID := fmt.Sprintf("live-%d", time.Now().UnixNano())
	run := store.Run{ID: runID, DefinitionID: "t.live", Trigger: store.RunTriggerManual, Status: store.RunRunning}
	if _, err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	viewer, err := liveout.NewViewer(liveout.ViewerConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	api, err := adminapi.New(adminapi.Config{Store: st, ReadToken: logsReadToken, AdminToken: logsReadToken + "-admin", Output: viewer, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()

	// The viewer first: it waits for the worker, as for a pending run.
	var stdout, stderr stampedBuffer
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, []string{"runs", "logs", "-f", runID, "--server", srv.URL, "--token", logsReadToken}, &stdout, &stderr)
	}()

	gate := filepath.Join(t.TempDir(), "gate")
	worker := exec.Command(os.Args[0], "-test.run=^TestLiveWorkerProcess$", "-test.v")
	worker.Env = append(os.Environ(), helperRunEnv+"="+runID, helperGateEnv+"="+gate)
	var workerOut bytes.Buffer
	worker.Stdout, worker.Stderr = &workerOut, &workerOut
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, 30*time.Second, "runs logs -f shows line 9 while the command runs", func() error {
		if !strings.Contains(stdout.String(), "line 9 ") {
			return fmt.Errorf("stdout so far %q, stderr %q", stdout.String(), stderr.String())
		}
		return nil
	})
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := worker.Wait(); err != nil {
		t.Fatalf("worker process: %v\n%s", err, workerOut.String())
	}
	// The engine records the end; here the test does.
	run.Status, run.Stdout = store.RunSucceeded, "(stored tail, not to be printed again)\n"
	if _, err := st.UpdateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != ExitOK {
			t.Fatalf("runs logs -f exited %d; stderr %q", c, stderr.String())
		}
	case <-time.After(30 * time.Second): // a deadline, not a wait
		t.Fatalf("runs logs -f did not end; stdout %q", stdout.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("runs logs -f printed %d lines, want 20:\n%s", len(lines), stdout.String())
	}
	var worst time.Duration
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "line" || f[1] != strconv.Itoa(i) {
			t.Fatalf("line %d is %q; want line %d, in order, once", i, l, i)
		}
		if ns, err := strconv.ParseInt(f[2], 10, 64); err == nil && i < len(stdout.stamps) {
			worst = max(worst, stdout.stamps[i].Sub(time.Unix(0, ns)))
		}
	}
	if stderr.String() != "done\n" {
		t.Fatalf("stderr %q, want the command's own", stderr.String())
	}
	// Without -f: the stored tails.
	var out, errOut bytes.Buffer
	if c := Main(ctx, []string{"runs", "logs", runID, "--server", srv.URL, "--token", logsReadToken}, &out, &errOut); c != ExitOK || out.String() != run.Stdout {
		t.Fatalf("runs logs exited %d printing %q (stderr %q), want the stored tail", c, out.String(), errOut.String())
	}
	t.Logf("longest time from printing a line to runs logs -f showing it: %s", worst)
}

// TestRunsLogsFollowFinishedRun: -f on a finished run prints its kept
// tails on the right streams and exits with its status, as run --wait.
func TestRunsLogsFollowFinishedRun(t *testing.T) {
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
	for id, status := range map[string]store.RunStatus{"r-failed": store.RunFailed, "r-canceled": store.RunCanceled, "r-ok": store.RunSucceeded} {
		if _, err := st.CreateRun(ctx, store.Run{ID: id, DefinitionID: "t.x", Trigger: store.RunTriggerManual, Status: status, Stdout: "out of " + id + "\n", Stderr: "err\n"}); err != nil {
			t.Fatal(err)
		}
	}
	api, err := adminapi.New(adminapi.Config{Store: st, ReadToken: logsReadToken, AdminToken: logsReadToken + "-admin", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	for id, want := range map[string]int{"r-failed": ExitFailure, "r-canceled": exitRunCanceled, "r-ok": ExitOK} {
		var out, errOut bytes.Buffer
		code := Main(ctx, []string{"runs", "logs", "-f", id, "--server", srv.URL, "--token", logsReadToken}, &out, &errOut)
		if code != want || out.String() != "out of "+id+"\n" || !strings.HasPrefix(errOut.String(), "err\n") {
			t.Errorf("runs logs -f %s: exit %d (want %d), stdout %q, stderr %q", id, code, want, out.String(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := Main(ctx, []string{"runs", "logs", "-f", "r-missing", "--server", srv.URL, "--token", logsReadToken}, &out, &errOut); code != ExitFailure || !strings.Contains(errOut.String(), "404") {
		t.Errorf("runs logs -f of a missing run: exit %d, stderr %q", code, errOut.String())
	}
}
