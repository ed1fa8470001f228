// Package barerun is Temporal's floor for a durable run, one workflow that
// runs one activity, for the benchmarks that compare activity-core's cost
// per run against it (docs/benchmarks.md#cost-per-run).
package barerun

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/shell"
)

// Names under which Register puts the workflow and its activity.
const (
	WorkflowName = "BenchBare"
	activityName = "BenchTrue"
)

// Register puts the bare workflow and its activity, which runs `true`
// through the same shell runner and containment as a run's instruction,
// on w.
func Register(w worker.Registry, sh *shell.Container) {
	w.RegisterWorkflowWithOptions(bareWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivityWithOptions(bareActivity(sh), activity.RegisterOptions{Name: activityName})
}

func bareWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	return workflow.ExecuteActivity(ctx, activityName).Get(ctx, nil)
}

func bareActivity(sh *shell.Container) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		info := activity.GetInfo(ctx)
		res, err := shell.Run(ctx, shell.Command{Cmd: "true", Env: []string{"PATH=/usr/bin:/bin"}, Container: sh,
			Name: info.WorkflowExecution.ID + "-" + strconv.Itoa(int(info.Attempt))})
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("true exited %d", res.ExitCode)
		}
		return nil
	}
}

// Median is the middle of xs (the mean of the two middles for an even
// count), 0 for none.
func Median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
