package engine

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// The cancel tests run on the embedded Temporal server: what they check
// is how a cancel reaches a run wherever it is (docs/run-control.md#cancel).

// startRun starts a manual run of a definition on the harness's worker.
func (h *liveHarness) startRun(t testing.TB, definitionID string) (runID string, wr client.WorkflowRun) {
	t.Helper()
	runID = NewRunID()
	wr, err := h.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "cancel-" + runID, TaskQueue: h.queue},
		RunWorkflowName, RunInput{RunID: runID, DefinitionID: definitionID, Trigger: store.RunTriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	return runID, wr
}

// cancelRun cancels as the API does: who and why first, then Temporal.
func (h *liveHarness) cancelRun(t testing.TB, runID, workflowID, by, note string) time.Time {
	t.Helper()
	ctx := context.Background()
	if err := h.store.RequestRunCancel(ctx, runID, by, note); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if err := h.tc.CancelWorkflow(ctx, workflowID, ""); err != nil {
		t.Fatal(err)
	}
	return at
}

// waitStatus waits for the run's record to reach status.
func (h *liveHarness) waitStatus(t testing.TB, runID string, status store.RunStatus) store.Run {
	t.Helper()
	var run store.Run
	testsupport.Eventually(t, 30*time.Second, "run "+runID+" "+string(status), func() error {
		var err error
		if run, err = h.store.GetRun(context.Background(), runID); err != nil {
			return err
		}
		if run.Status != status {
			return fmt.Errorf("status %s (%s)", run.Status, run.Error)
		}
		return nil
	})
	return run
}

// pidGone reports whether a process has ended (a zombie has: it waits
// only for its parent to read its status).
func pidGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func readPID(dir, name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// sleeperDef is a command whose shell starts a shell with two sleeps: a
// process tree three deep, the sleeps' pids written to dir.
func sleeperDef(id, dir, extra string) string {
	return cronShell(id, extra+fmt.Sprintf(`instruction:
  kind: shell
  timeout: 10m
  cmd: "sh -c 'sleep 300 & echo $! > %[1]s/bg.tmp; mv %[1]s/bg.tmp %[1]s/bg; sleep 300 & echo $! > %[1]s/fg.tmp; mv %[1]s/fg.tmp %[1]s/fg; wait'"
`, dir))
}

// waitSleeping waits for a sleeper's two sleeps and returns their pids.
func waitSleeping(t testing.TB, dir string) []int {
	t.Helper()
	var pids []int
	testsupport.Eventually(t, 30*time.Second, "the command's sleeps", func() error {
		pids = nil
		for _, name := range []string{"bg", "fg"} {
			pid, err := readPID(dir, name)
			if err != nil {
				return err
			}
			pids = append(pids, pid)
		}
		return nil
	})
	return pids
}

// cancelTree cancels a running sleeper and returns how long its process
// tree took to end after the cancel call.
func cancelTree(t testing.TB, h *liveHarness, runID, workflowID string, pids []int) time.Duration {
	at := h.cancelRun(t, runID, workflowID, "alice", "wrong branch")
	testsupport.Eventually(t, 30*time.Second, "the command's processes end", func() error {
		for _, pid := range pids {
			if !pidGone(pid) {
				return fmt.Errorf("pid %d still runs", pid)
			}
		}
		return nil
	})
	return time.Since(at)
}

// TestCancelEndsTheProcessTree: canceling a run of `sleep 300` with a
// grandchild ends every process of it and records the run canceled with
// who asked and why. The time it takes is measured by
// BenchmarkCancelLatency (docs/run-control.md#cancel).
func TestCancelEndsTheProcessTree(t *testing.T) {
	h := newLiveHarness(t)
	dir := t.TempDir()
	h.put(sleeperDef("c.sleep", dir, ""))
	runID, wr := h.startRun(t, "c.sleep")
	pids := waitSleeping(t, dir)
	took := cancelTree(t, h, runID, wr.GetID(), pids)
	t.Logf("process tree ended %s after the cancel call", took.Round(time.Millisecond))
	run := h.waitStatus(t, runID, store.RunCanceled)
	if run.Error != "canceled by alice: wrong branch" || run.CanceledBy != "alice" || run.CancelNote != "wrong branch" || run.Stage != store.StageInstruction {
		t.Errorf("canceled run: stage %q error %q by %q note %q", run.Stage, run.Error, run.CanceledBy, run.CancelNote)
	}
	if err := wr.Get(context.Background(), nil); err == nil {
		t.Error("the workflow of a canceled run succeeded")
	}
}

// TestCancelWhileWaitingForAKey: a run queued behind another run's
// concurrency key ends canceled, and leaves the key's queue.
func TestCancelWhileWaitingForAKey(t *testing.T) {
	h := newLiveHarness(t)
	dir := t.TempDir()
	h.put(sleeperDef("c.holder", dir, "concurrency_key: c-key\n"))
	h.put(cronShell("c.waiter", "concurrency_key: c-key\ninstruction: {kind: shell, cmd: 'echo ran'}\n"))
	holder, hwr := h.startRun(t, "c.holder")
	pids := waitSleeping(t, dir)
	waiter, wwr := h.startRun(t, "c.waiter")
	h.waitStatus(t, waiter, store.RunRunning)
	h.cancelRun(t, waiter, wwr.GetID(), "bob", "not needed")
	run := h.waitStatus(t, waiter, store.RunCanceled)
	if run.Error != "canceled by bob: not needed" || run.Stdout != "" {
		t.Errorf("waiter: error %q stdout %q", run.Error, run.Stdout)
	}
	if got, _ := h.store.GetRun(context.Background(), holder); got.Status != store.RunRunning {
		t.Errorf("the holder is %s, want still running", got.Status)
	}
	cancelTree(t, h, holder, hwr.GetID(), pids)
	h.waitStatus(t, holder, store.RunCanceled)
	// The key is free: a new run takes it.
	next, _ := h.startRun(t, "c.waiter")
	h.waitStatus(t, next, store.RunSucceeded)
}

// TestCancelWhileGatheringContext: a run whose context source does not
// answer ends canceled at stage context.
func TestCancelWhileGatheringContext(t *testing.T) {
	h := newLiveHarness(t)
	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hub.Close()
	defer close(release)
	h.put(cronShell("c.ctx", fmt.Sprintf("context:\n  - {kind: http_get, url: '%s/slow', bind: hub, timeout: 60s}\ninstruction: {kind: shell, cmd: 'echo ran'}\n", hub.URL)))
	runID, wr := h.startRun(t, "c.ctx")
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the context source was never asked")
	}
	h.cancelRun(t, runID, wr.GetID(), "carol", "")
	run := h.waitStatus(t, runID, store.RunCanceled)
	if run.Error != "canceled by carol" || run.Stage != store.StageContext {
		t.Errorf("canceled run: stage %q error %q", run.Stage, run.Error)
	}
}

// TestCancelBeforeAWorkerBegan: a pending run (the API's record, no
// worker polling its queue yet) canceled before it began is recorded
// canceled, with who asked, once a worker takes it.
func TestCancelBeforeAWorkerBegan(t *testing.T) {
	h := newLiveHarness(t)
	h.put(cronShell("c.pending", "instruction: {kind: shell, cmd: 'echo ran'}\n"))
	ctx := context.Background()
	runID := NewRunID()
	if _, err := h.store.CreateRun(ctx, store.Run{ID: runID, DefinitionID: "c.pending", Trigger: store.RunTriggerManual, Status: store.RunPending, Pool: "later"}); err != nil {
		t.Fatal(err)
	}
	queue := h.queue + ".later"
	wr, err := h.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "cancel-" + runID, TaskQueue: queue},
		RunWorkflowName, RunInput{RunID: runID, DefinitionID: "c.pending", Trigger: store.RunTriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	h.cancelRun(t, runID, wr.GetID(), "dave", "never mind")
	w := worker.New(h.tc, queue, WorkerOptions(worker.Options{}))
	Register(w, h.acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run := h.waitStatus(t, runID, store.RunCanceled)
	if run.Error != "canceled by dave: never mind" || run.Stdout != "" || run.WorkflowID != wr.GetID() || run.Pool != "later" {
		t.Errorf("canceled pending run: %+v", run)
	}
}

// BenchmarkCancelLatency measures the time from the cancel call to the
// end of every process of a running command (`sleep 300` with a
// grandchild), on the embedded server: ms/cancel.
//
//	go test ./internal/engine -run '^$' -bench CancelLatency -benchtime 5x
func BenchmarkCancelLatency(b *testing.B) {
	h := newLiveHarness(b)
	dir := b.TempDir()
	h.put(sleeperDef("c.bench", dir, ""))
	var total time.Duration
	for b.Loop() {
		for _, name := range []string{"bg", "fg"} {
			_ = os.Remove(filepath.Join(dir, name))
		}
		runID, wr := h.startRun(b, "c.bench")
		pids := waitSleeping(b, dir)
		total += cancelTree(b, h, runID, wr.GetID(), pids)
		h.waitStatus(b, runID, store.RunCanceled)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/cancel")
}

// TestLocksStartOnTheRunsQueue: the guard and the concurrency key's lock
// workflows start on the task queue of the run that asks, so a worker
// that polls only its pool's queue runs them (docs/run-control.md#placement).
func TestLocksStartOnTheRunsQueue(t *testing.T) {
	h := newLiveHarness(t)
	h.acts.cfg.TaskQueue = h.queue + ".nobody-polls"
	h.put(cronShell("c.locks", "concurrency_key: c-queue-key\ninstruction: {kind: shell, cmd: 'echo ran'}\n"))
	wr, err := h.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "locks-" + NewRunID(), TaskQueue: h.queue},
		RunWorkflowName, RunInput{DefinitionID: "c.locks", Trigger: store.RunTriggerCron})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out RunOutput
	if err := wr.Get(ctx, &out); err != nil || out.Status != store.RunSucceeded {
		t.Fatalf("run: %v %+v", err, out)
	}
	for _, id := range []string{guardWorkflowID("c.locks"), lockWorkflowID("c-queue-key")} {
		desc, err := h.tc.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		if q := desc.GetExecutionConfig().GetTaskQueue().GetName(); q != h.queue {
			t.Errorf("%s ran on %q, want the run's %q", id, q, h.queue)
		}
	}
}
