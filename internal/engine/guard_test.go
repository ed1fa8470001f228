package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/store"
)

// stubLocks stands in for the lock workflows in the SDK's test
// environment (a unit test of the workflow logic; the real lock workflows
// run in internal/integration): a key is free unless h.held names its
// holder, and then a try request is refused.
func (h *harness) stubLocks(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(h.acts.AcquireLock, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, key string, req lockRequest) error {
			h.asked = append(h.asked, req)
			if holder, ok := h.held[key]; ok && req.Try {
				env.SignalWorkflow(lockRefusedSignal, lockRefusal{Key: key, Holder: holder})
				return nil
			}
			env.SignalWorkflow(lockGrantedSignal, key)
			return nil
		})
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, lockReleaseSignal, mock.Anything).Return(
		func(_, workflowID, _, _ string, _ any) error {
			h.released = append(h.released, workflowID)
			return nil
		})
}

// TestGuardSkipsAnOverlappingRun: a run of a misfire_policy skip
// definition whose guard is held ends skipped with reason overlap, naming
// the run that holds it, whatever triggered it; a free guard is taken
// and given back.
func TestGuardSkipsAnOverlappingRun(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.guard", "instruction: {kind: shell, cmd: 'echo ran'}\n"))
	h.held = map[string]string{"definition t.guard": "run-holding"}
	for _, trig := range []store.RunTrigger{store.RunTriggerManual, store.RunTriggerCron} {
		out, run, err := h.run(RunInput{DefinitionID: "t.guard", Trigger: trig})
		if err != nil || out.Status != store.RunSkipped || run.Status != store.RunSkipped {
			t.Fatalf("%s: %v %+v %+v", trig, err, out, run)
		}
		if want := "overlap: run run-holding of this definition is still running (misfire_policy: skip)"; run.SkipReason != want {
			t.Errorf("%s: skip reason %q, want %q", trig, run.SkipReason, want)
		}
		if run.Stdout != "" || run.ExitCode != nil {
			t.Errorf("%s: a refused run ran its instruction: %+v", trig, run)
		}
	}
	if len(h.asked) != 2 || !h.asked[0].Try || h.asked[0].LockID != guardWorkflowID("t.guard") || h.asked[0].Run == "" {
		t.Errorf("guard requests %+v", h.asked)
	}
	if len(h.released) != 0 {
		t.Errorf("a refused run released the guard: %v", h.released)
	}

	h.held, h.asked = nil, nil
	_, run, err := h.run(RunInput{DefinitionID: "t.guard", Trigger: store.RunTriggerManual})
	if err != nil || run.Status != store.RunSucceeded {
		t.Fatalf("free guard: %v %+v", err, run)
	}
	if len(h.released) != 1 || h.released[0] != guardWorkflowID("t.guard") {
		t.Errorf("released %v, want the guard once", h.released)
	}
}

// TestGuardFollowsMisfirePolicy: buffer policies wait for the guard,
// allow_all and event definitions take none.
func TestGuardFollowsMisfirePolicy(t *testing.T) {
	cases := []struct {
		trigger string
		ask     bool
		try     bool
	}{
		{"{trigger_type: cron, cron_expression: '@daily', misfire_policy: buffer_one}", true, false},
		{"{trigger_type: cron, cron_expression: '@daily', misfire_policy: buffer_all}", true, false},
		{"{trigger_type: cron, cron_expression: '@daily', misfire_policy: allow_all}", false, false},
		{"{trigger_type: event, event_type: t.guard.ev}", false, false},
	}
	for _, c := range cases {
		h := newHarness(t)
		h.put("id: t.policy\ntrigger: " + c.trigger + "\ninstruction: {kind: shell, cmd: 'true'}\n")
		_, run, err := h.run(RunInput{DefinitionID: "t.policy", Trigger: store.RunTriggerManual})
		if err != nil || run.Status != store.RunSucceeded {
			t.Fatalf("%s: %v %+v", c.trigger, err, run)
		}
		if asked := len(h.asked) == 1; asked != c.ask || (asked && h.asked[0].Try != c.try) {
			t.Errorf("%s: guard requests %+v", c.trigger, h.asked)
		}
	}
}

// TestLockRefusesATryWhileHeld: the lock workflow refuses a try request
// while the key is held (naming the holder's run) and still queues a
// waiting request.
func TestLockRefusesATryWhileHeld(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ConcurrencyLockWorkflow, workflow.RegisterOptions{Name: LockWorkflowName})
	var sent []string
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, _, signal string, arg any) error {
			if r, ok := arg.(lockRefusal); ok {
				signal += " holder=" + r.Holder
			}
			sent = append(sent, workflowID+" "+signal)
			return nil
		})
	ask := func(at time.Duration, wf string, try bool) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(lockAcquireSignal, lockRequest{WorkflowID: wf, RunID: wf + "-r", Run: "run-" + wf, Lease: time.Hour, Try: try})
		}, at)
	}
	ask(time.Second, "b", true)
	ask(2*time.Second, "c", false)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(lockReleaseSignal, lockRelease{WorkflowID: "a", RunID: "a-r"})
	}, 3*time.Second)
	ask(4*time.Second, "d", true)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(lockReleaseSignal, lockRelease{WorkflowID: "c", RunID: "c-r"})
	}, 5*time.Second)
	// a holds the key when the workflow starts (as after a continue-as-new).
	env.ExecuteWorkflow(ConcurrencyLockWorkflow, lockState{Key: "definition t", Holder: &lockRequest{WorkflowID: "a", RunID: "a-r", Run: "run-a", Lease: time.Hour}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := "b lock-refused holder=run-a|c lock-granted|d lock-refused holder=run-c"
	if got := strings.Join(sent, "|"); got != want {
		t.Errorf("signals %q, want %q", got, want)
	}
}

// TestLeaseRenewedWhileHolderRuns: when the holder's lease runs out while
// its workflow still runs (queued behind busy workers), the key is not
// taken back, so a try request is still refused; once the holder is gone,
// the next expiry takes the key back and the lock workflow ends.
func TestLeaseRenewedWhileHolderRuns(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ConcurrencyLockWorkflow, workflow.RegisterOptions{Name: LockWorkflowName})
	holderGone := false
	var sent []string
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, _, signal string, arg any) error {
			if signal == lockLeaseCheckSignal && holderGone {
				return errors.New("workflow execution already completed")
			}
			if r, ok := arg.(lockRefusal); ok {
				signal += " holder=" + r.Holder
			}
			sent = append(sent, workflowID+" "+signal)
			return nil
		})
	ask := func(at time.Duration, wf string) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(lockAcquireSignal, lockRequest{WorkflowID: wf, RunID: wf + "-r", Run: "run-" + wf, Lease: time.Minute, Try: true})
		}, at)
	}
	ask(90*time.Second, "b") // after the first expiry: a still runs
	env.RegisterDelayedCallback(func() { holderGone = true }, 100*time.Second)
	env.ExecuteWorkflow(ConcurrencyLockWorkflow, lockState{Key: "definition t", Holder: &lockRequest{WorkflowID: "a", RunID: "a-r", Run: "run-a", Lease: time.Minute}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !env.IsWorkflowCompleted() {
		t.Error("the lock workflow still runs after its holder is gone")
	}
	want := "a lock-lease-check|b lock-refused holder=run-a"
	if got := strings.Join(sent, "|"); got != want {
		t.Errorf("signals %q, want %q", got, want)
	}
}

// TestCanceledBeginRunLeavesTheGuard: BeginRun sends the guard request; a
// run canceled before BeginRun's answer is recorded still leaves the
// guard's queue, or the guard would be granted to a closed run and held
// until its lease (hours) runs out.
func TestCanceledBeginRunLeavesTheGuard(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.gone", "instruction: {kind: shell, cmd: 'true'}\n"))
	_, _, werr := h.runWith(RunInput{DefinitionID: "t.gone", Trigger: store.RunTriggerCron}, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(h.acts.BeginRun, mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in BeginRunInput) (*BeginRunResult, error) {
				if _, err := h.acts.StartRun(ctx, in.StartRunInput); err != nil {
					return nil, err
				}
				h.asked = append(h.asked, lockRequest{Run: in.RunID, LockID: guardWorkflowID("t.gone")})
				env.CancelWorkflow()
				<-ctx.Done()
				return nil, ctx.Err()
			})
	})
	if werr == nil || len(h.asked) != 1 {
		t.Fatalf("run %v, asked %v", werr, h.asked)
	}
	if len(h.released) != 1 || h.released[0] != guardWorkflowID("t.gone") {
		t.Errorf("released %v, want the guard", h.released)
	}
}
