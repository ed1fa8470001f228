package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// TestTimeoutIgnoringTERM: a command that ignores SIGTERM and needs the
// SIGKILL after the grace period is still recorded timed_out (not
// canceled), and on_failure: fail fails the workflow.
func TestTimeoutIgnoringTERM(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.stubborn", "instruction: {kind: shell, cmd: 'trap \"\" TERM; echo started; while :; do sleep 0.1; done', timeout: 1s}\n"))
	out, err, run := h.run(RunInput{DefinitionID: "t.stubborn", Trigger: store.RunTriggerCron})
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
