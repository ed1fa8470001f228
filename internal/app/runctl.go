package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
)

// Temporal's side of run control for the API (docs/run-control.md):
// cancel, backfill, and who paused.

// manualWorkflowID is the workflow id of a manual run; the runner starts
// it under this id, and the canceler finds a pending run's workflow by it.
func manualWorkflowID(definitionID, runID string) string {
	return "activity-core:manual:" + definitionID + ":" + runID
}

// runCanceler cancels a run's workflow with client.CancelWorkflow.
type runCanceler struct{ c client.Client }

// Cancel asks Temporal to cancel the run's workflow; the workflow records
// the run canceled. A pending manual run has no workflow id recorded yet:
// its id is the runner's.
func (rc runCanceler) Cancel(ctx context.Context, run store.Run) error {
	wid := run.WorkflowID
	if wid == "" && run.Trigger == store.RunTriggerManual {
		wid = manualWorkflowID(run.DefinitionID, run.ID)
	}
	if wid == "" {
		return fmt.Errorf("run %s: %w: it has no workflow yet to cancel", run.ID, store.ErrConflict)
	}
	err := rc.c.CancelWorkflow(ctx, wid, "")
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return fmt.Errorf("run %s: %w: its workflow %s has already ended", run.ID, store.ErrConflict, wid)
	}
	return fmt.Errorf("canceling workflow %s: %w: %v", wid, store.ErrUnavailable, err)
}

// scheduleBackfiller is the projector's schedule backfill
// (schedule.Projector.Backfill) for the window [from, to), or nil while
// the projector lacks it, so the API answers 503 rather than pretend.
func scheduleBackfiller(p *schedule.Projector) adminapi.Backfiller {
	if b, ok := any(p).(adminapi.Backfiller); ok {
		return halfOpenBackfill{b}
	}
	return nil
}

// halfOpenBackfill turns the API's [from, to) into Temporal's bounds.
// Temporal v1.32.1's scheduler (service/worker/scheduler/workflow.go)
// takes both ends inclusive: it moves the start back 1 ms
// (InclusiveBackfillStartTime) and fires every time not after the end.
// Fires are whole seconds, so ending 1 ms before to leaves a fire at to
// out and every earlier one in (docs/run-control.md#backfill).
type halfOpenBackfill struct{ b adminapi.Backfiller }

func (h halfOpenBackfill) Backfill(ctx context.Context, id string, from, to time.Time, overlap string) error {
	return h.b.Backfill(ctx, id, from, to.Add(-time.Millisecond), overlap)
}

// PauseBy records the API's principal as who paused
// (store.OperatorPause.By), so paused_by names a person.
func (s scheduleControl) PauseBy(ctx context.Context, id, note, by string, until *time.Time) error {
	return s.p.PauseBy(ctx, id, note, cmp.Or(by, schedule.ByOperator), until)
}
