package engine

import (
	"context"
	"encoding/json"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// TestResetKeepsTheRunID: an operator resets a finished run to its last
// workflow task (temporal workflow reset --type LastWorkflowTask). The new
// Temporal run replays BeginRun's marker, so it must go on with the run id
// BeginRun recorded, not make a new one from its own Temporal run id: else
// it ends a run the store has never seen and announces it.
func TestResetKeepsTheRunID(t *testing.T) {
	h := newLiveHarness(t)
	var p runPath
	for _, q := range runPaths() {
		if q.name == "failed" {
			p = q
		}
	}
	res := h.runLive(t, p, "")
	ctx := context.Background()
	first := res.run.ID

	var wfID, runID string
	var lastWFT int64
	for _, b := range res.events {
		var ev struct {
			EventID   json.Number `json:"eventId"`
			EventType string      `json:"eventType"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.EventType == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED" || ev.EventType == "WorkflowTaskCompleted" {
			lastWFT, _ = ev.EventID.Int64()
		}
	}
	wfID, runID = res.run.WorkflowID, res.run.WorkflowRunID
	if lastWFT == 0 {
		t.Fatalf("no workflow task completed in %d events", len(res.events))
	}
	reset, err := h.tc.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 embeddedTemporal(t).Namespace(),
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: wfID, RunId: runID},
		Reason:                    "test",
		WorkflowTaskFinishEventId: lastWFT,
		RequestId:                 NewRunID(),
		// Reapply nothing (what the deprecated RESET_REAPPLY_TYPE_NONE meant).
		ResetReapplyExcludeTypes: []enumspb.ResetReapplyExcludeType{enumspb.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL, enumspb.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out RunOutput
	if err := h.tc.GetWorkflow(ctx, wfID, reset.GetRunId()).Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.RunID != first {
		t.Errorf("the reset run calls itself %s; its record is %s", out.RunID, first)
	}
	h.pub.mu.Lock()
	defer h.pub.mu.Unlock()
	for _, m := range h.pub.msgs {
		var ev LifecycleEvent
		if json.Unmarshal(m.Data, &ev) == nil && ev.DefinitionID == p.in.DefinitionID && ev.RunID != first {
			t.Errorf("lifecycle event %s for run %s, which the store does not have", m.Subject, ev.RunID)
		}
	}
}
