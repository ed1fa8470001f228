package engine

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplay replays histories recorded on the real server (see
// internal/integration TestRecordHistory) through the current workflow
// code: a change that breaks determinism — a reordered activity, a new
// timer, a different side effect — fails here before it breaks runs that
// are in flight in production. After an intended change, version the
// change with workflow.GetVersion, or re-record.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/*.history.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("recorded histories missing: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(RunActivityWorkflow, workflow.RegisterOptions{Name: RunWorkflowName})
			r.RegisterWorkflowWithOptions(ConcurrencyLockWorkflow, workflow.RegisterOptions{Name: LockWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replaying %s: %v", f, err)
			}
		})
	}
}
