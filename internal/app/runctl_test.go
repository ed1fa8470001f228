package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/store"
)

// TestRunCancelerCancelsPendingManualRun cancels a manual run's workflow
// on a real Temporal by the id the runner gives it, as the API does for a
// run still pending (no workflow id recorded yet).
func TestRunCancelerCancelsPendingManualRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.StartTemporal(ctx, devserver.TemporalConfig{})
	if err != nil {
		t.Fatalf("embedded Temporal: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	tc, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	const queue = "runctl-test"
	w := worker.New(tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		return workflow.Await(ctx, func() bool { return false }) // until canceled
	}, workflow.RegisterOptions{Name: "wait"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	run := store.Run{ID: "r1", DefinitionID: "t.a", Trigger: store.RunTriggerManual, Status: store.RunPending}
	wr, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: manualWorkflowID(run.DefinitionID, run.ID), TaskQueue: queue}, "wait")
	if err != nil {
		t.Fatal(err)
	}
	if err := (runCanceler{tc}).Cancel(ctx, run); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var canceled *temporal.CanceledError
	if err := wr.Get(ctx, nil); !errors.As(err, &canceled) {
		t.Fatalf("workflow ended with %v, want canceled", err)
	}
	// Asking again is harmless (the API refuses runs the store has
	// finished before it gets here).
	if err := (runCanceler{tc}).Cancel(ctx, run); err != nil {
		t.Errorf("second cancel: %v", err)
	}
	if err := (runCanceler{tc}).Cancel(ctx, store.Run{ID: "r3", DefinitionID: "t.none", Trigger: store.RunTriggerManual}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("cancel of a workflow that never started: %v, want ErrConflict", err)
	}
	if err := (runCanceler{tc}).Cancel(ctx, store.Run{ID: "r2", Trigger: store.RunTriggerCron}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("cancel of a run with no workflow: %v, want ErrConflict", err)
	}
}
