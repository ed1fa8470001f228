package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// TestTimeoutIgnoringTERM: a command that ignores SIGTERM and needs the
// SIGKILL after the grace period is still recorded timed_out (not
// canceled), and on_failure: fail fails the workflow.
func TestTimeoutIgnoringTERM(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.stubborn", "instruction: {kind: shell, cmd: 'trap \"\" TERM; echo started; while :; do sleep 0.1; done', timeout: 1s}\n"))
	out, run, err := h.run(RunInput{DefinitionID: "t.stubborn", Trigger: store.RunTriggerCron})
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || temporal.IsCanceledError(err) {
		t.Fatalf("on_failure fail: workflow error %v", err)
	}
	if run.Status != store.RunTimedOut || run.Stdout != "started\n" || !strings.Contains(run.Error, "timed out after 1s") {
		t.Errorf("run %+v (out %+v)", run, out)
	}
}

// TestLostWorkerIsNotRetried: an attempt whose worker was lost (heartbeat
// or start-to-close timeout) is never retried by Temporal, whatever the
// definition's retry block says: the old command may still be running.
func TestLostWorkerIsNotRetried(t *testing.T) {
	p := instructionRetry(definition.Retry{MaxAttempts: 5})
	for _, typ := range []string{"TemporalTimeout:Heartbeat", "TemporalTimeout:StartToClose", errTypeTimeout} {
		if !slices.Contains(p.NonRetryableErrorTypes, typ) {
			t.Errorf("%s is retried: %v", typ, p.NonRetryableErrorTypes)
		}
	}
}

// TestLostWorkerRecordedWithReason: an attempt that ends in a heartbeat
// timeout (its worker died) is recorded failed with that reason, and
// on_failure: fail fails the workflow. (Whether to retry is the server's
// decision by the policy, TestLostWorkerIsNotRetried; the SDK's test
// environment does not apply "TemporalTimeout:" types, so calls is not
// asserted to be 1 here.)
func TestLostWorkerRecordedWithReason(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.lost", "retry: {max_attempts: 3, initial_interval: 1s}\ninstruction: {kind: shell, cmd: 'sleep 300'}\n"))
	calls := 0
	out, run, err := h.runWith(RunInput{DefinitionID: "t.lost", Trigger: store.RunTriggerCron}, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(h.acts.RunInstruction, mock.Anything, mock.Anything).Return(func(context.Context, InstructionInput) (*InstructionResult, error) {
			calls++
			return nil, temporal.NewHeartbeatTimeoutError()
		})
	})
	if err == nil || temporal.IsCanceledError(err) {
		t.Fatalf("workflow error %v (out %+v)", err, out)
	}
	if run.Status != store.RunFailed || run.Error != workerLostMessage {
		t.Errorf("run %s %q", run.Status, run.Error)
	}
	if calls < 1 {
		t.Errorf("RunInstruction called %d times", calls)
	}
}
