package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// Register puts the workflows and activities on a worker.
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflowWithOptions(RunActivityWorkflow, workflow.RegisterOptions{Name: RunWorkflowName})
	w.RegisterWorkflowWithOptions(ConcurrencyLockWorkflow, workflow.RegisterOptions{Name: LockWorkflowName})
	w.RegisterActivity(a)
}

// storeRetry retries store activities while the database is unavailable:
// an outage of a few minutes delays runs, it does not lose them.
var storeRetry = &temporal.RetryPolicy{
	InitialInterval:        time.Second,
	BackoffCoefficient:     2,
	MaximumInterval:        time.Minute,
	NonRetryableErrorTypes: []string{errTypeStore, errTypeConfig},
}

// scheduledStartKey is the search attribute Temporal sets on workflows a
// schedule starts: the time the fire was due.
var scheduledStartKey = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// RunActivityWorkflow is one fire of a definition (docs/definitions.md#what-a-run-leaves-behind): load the
// definition as it is now, gather context, evaluate the rule, run the
// instruction with its retry policy, record the run and announce it.
func RunActivityWorkflow(ctx workflow.Context, in RunInput) (*RunOutput, error) {
	if workflow.GetVersion(ctx, leanRunVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return runV0(ctx, in)
	}
	return runLean(ctx, in)
}

// runV0 is the run's first shape: every step a real activity. Runs that
// started on it finish on it; new runs take runLean.
func runV0(ctx workflow.Context, in RunInput) (*RunOutput, error) {
	info := workflow.GetInfo(ctx)
	// The run id is a UUIDv7 (time-ordered, so ids sort like runs), made
	// once and replayed from history. The Temporal run id is recorded
	// beside it.
	runID := in.RunID
	if runID == "" {
		if err := workflow.SideEffect(ctx, func(workflow.Context) any { return NewRunID() }).Get(&runID); err != nil {
			return nil, err
		}
	}
	out := &RunOutput{RunID: runID}

	short := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy:            storeRetry,
	})
	start, err := startRunV0(ctx, short, in, runID)
	if err != nil {
		return nil, fmt.Errorf("starting run: %w", err)
	}
	f := &finisher{ctx: ctx, short: short, in: in, runID: runID, workflowID: info.WorkflowExecution.ID, startedAt: start.StartedAt}
	if start.Skip {
		// A shadow definition's skips are not announced either: nothing
		// may chain on a definition that is not running for real.
		f.shadow = specShadow(start.Spec)
		out.Status, out.Reason = store.RunSkipped, start.SkipReason
		f.announce(store.RunSkipped, "", start.SkipReason, nil)
		return out, nil
	}
	def, err := definition.FromCanonicalJSON(start.Spec)
	if err != nil {
		return f.end(out, FinishRunInput{Status: store.RunFailed, Error: "stored definition does not decode: " + err.Error()}, definition.OnFailureFail)
	}
	f.shadow = def.Shadow()

	// The definition's guard (misfire_policy), then its concurrency_key,
	// before anything else.
	releaseKey, fin, ok := f.holdV0(def)
	if !ok {
		return f.end(out, fin, def.OnFailure)
	}
	if releaseKey != nil {
		defer releaseKey()
	}

	var gathered GatherResult
	if len(def.Context) > 0 {
		var a *Activities // names the activity; the worker runs its registered value
		if err := workflow.ExecuteActivity(gatherOptions(ctx, def), a.GatherContext, GatherInput{Spec: start.Spec}).Get(ctx, &gathered); err != nil {
			return f.end(out, FinishRunInput{Status: statusOf(ctx, err), Stage: store.StageContext, Error: errMessage(err)}, def.OnFailure)
		}
	}
	if fin := f.ruleV0(start, def, gathered); fin != nil {
		return f.end(out, *fin, def.OnFailure)
	}

	iin := InstructionInput{
		RunID: runID, DefinitionID: in.DefinitionID, Trigger: string(in.Trigger), Spec: start.Spec, Event: in.Event, Context: gathered.Values,
	}
	if def.Shadow() {
		return f.shadowEnd(out, iin, gathered.Snapshot, def.OnFailure)
	}
	var a *Activities // names the activity; the worker runs its registered value
	var result InstructionResult
	err = workflow.ExecuteActivity(instructionOptions(ctx, def), a.RunInstruction, iin).Get(ctx, &result)
	return f.end(out, instructionOutcome(ctx, err, &result, gathered.Snapshot, f.rule), def.OnFailure)
}

// startRunV0 records the start of a run of the first shape (StartRun).
func startRunV0(ctx, short workflow.Context, in RunInput, runID string) (StartRunResult, error) {
	info := workflow.GetInfo(ctx)
	var scheduledAt *time.Time
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledStartKey); ok {
		t = t.UTC()
		scheduledAt = &t
	}
	var a *Activities // names the activity; the worker runs its registered value
	var start StartRunResult
	err := workflow.ExecuteActivity(short, a.StartRun, StartRunInput{
		RunID: runID, WorkflowID: info.WorkflowExecution.ID, WorkflowRunID: info.WorkflowExecution.RunID,
		Input: in, ScheduledAt: scheduledAt, Attempt: int(info.Attempt),
	}).Get(ctx, &start)
	return start, err
}

// holdV0 takes the definition's guard, then its concurrency key, for a run
// of the first shape. The guard is given back when the run ends (f.end);
// releaseKey, when not nil, gives the key back. When the run cannot go
// on, ok is false and fin is its end.
func (f *finisher) holdV0(def *definition.Definition) (releaseKey func(), fin FinishRunInput, ok bool) {
	ctx := f.ctx
	release, skipped, err := guardRunV0(ctx, f.in.DefinitionID, f.runID, def)
	if err != nil {
		return nil, FinishRunInput{Status: statusOf(ctx, err), Error: "waiting for the definition's earlier run: " + err.Error()}, false
	}
	if skipped != "" {
		return nil, FinishRunInput{Status: store.RunSkipped, Reason: skipped}, false
	}
	// The guard is given back before the run is recorded, so a run shown
	// finished never holds its definition.
	f.release = release
	if !takesKey(def) {
		return nil, FinishRunInput{}, true
	}
	releaseKey, err = acquireLock(ctx, def.ConcurrencyKey, lockLease(def))
	if err != nil {
		return nil, FinishRunInput{Status: statusOf(ctx, err), Error: "waiting for concurrency key " + def.ConcurrencyKey + ": " + err.Error()}, false
	}
	return releaseKey, FinishRunInput{}, true
}

// ruleV0 evaluates the rule of a run of the first shape in a local
// activity. It returns the run's end when the rule failed or said no, and
// nil when the run goes on (and f keeps the outcome for its record).
func (f *finisher) ruleV0(start StartRunResult, def *definition.Definition, gathered GatherResult) *FinishRunInput {
	if len(def.Rule.When) == 0 {
		return nil
	}
	ctx := f.ctx
	var a *Activities // names the activity; the worker runs its registered value
	var outcome RuleOutcome
	err := workflow.ExecuteLocalActivity(ruleOptions(ctx), a.EvaluateRule, RuleInput{
		Spec: start.Spec, ContentHash: start.ContentHash, Context: gathered.Values, Event: f.in.Event, Now: workflow.Now(ctx),
	}).Get(ctx, &outcome)
	if err != nil {
		return &FinishRunInput{Status: statusOf(ctx, err), Stage: store.StageRule, ContextSnapshot: gathered.Snapshot, Error: errMessage(err)}
	}
	ruleJSON, _ := json.Marshal(outcome)
	switch {
	case outcome.Error != "":
		return &FinishRunInput{Status: store.RunFailed, Stage: store.StageRule, ContextSnapshot: gathered.Snapshot, RuleOutcome: ruleJSON, Error: outcome.Error}
	case !outcome.Passed:
		reason := fmt.Sprintf("rule false: %s", outcome.Failed)
		return &FinishRunInput{Status: store.RunSkipped, Reason: reason, ContextSnapshot: gathered.Snapshot, RuleOutcome: ruleJSON}
	}
	f.rule = ruleJSON
	return nil
}

// NewRunID makes a run id: a UUIDv7, so ids sort in creation order.
func NewRunID() string { return uuid.Must(uuid.NewV7()).String() }

// instructionRetry turns the definition's retry block into Temporal's
// policy. Timeouts, start failures and configuration errors are never
// retried: they would fail the same way again. Nor is an attempt whose
// worker was lost (heartbeat or start-to-close timeout): its command may
// still be running, and a retry could run it twice at once.
func instructionRetry(r definition.Retry) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    r.InitialInterval.D(),
		BackoffCoefficient: r.BackoffCoefficient,
		MaximumInterval:    r.MaxInterval.D(),
		MaximumAttempts:    int32(max(r.MaxAttempts, 1)),
		NonRetryableErrorTypes: []string{errTypeTimeout, errTypeStart, errTypeConfig,
			nonRetryableHeartbeatTimeout, nonRetryableStartToCloseTimeout},
	}
}

// statusOf maps a workflow-side error to a run status.
func statusOf(ctx workflow.Context, err error) store.RunStatus {
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled):
		return store.RunCanceled
	case errors.As(err, &appErr) && appErr.Type() == errTypeTimeout:
		return store.RunTimedOut
	case errors.As(err, &timeoutErr) && timeoutErr.TimeoutType().String() == "StartToClose":
		return store.RunTimedOut
	}
	return store.RunFailed
}

// errMessage is the innermost useful message of an activity error.
func errMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		if timeoutErr.TimeoutType().String() == "Heartbeat" {
			return workerLostMessage
		}
		return "activity timed out (" + timeoutErr.TimeoutType().String() + ")"
	}
	if temporal.IsCanceledError(err) {
		return "canceled"
	}
	return err.Error()
}

// resultFromError recovers the InstructionResult an activity attached to
// its failure (the output of the last attempt).
func resultFromError(err error) *InstructionResult {
	var res InstructionResult
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.HasDetails() {
		if appErr.Details(&res) == nil {
			return &res
		}
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) && canceled.HasDetails() {
		if canceled.Details(&res) == nil {
			return &res
		}
	}
	return nil
}

// finisher records the end of a run and announces it; it runs on a
// disconnected context so a canceled run is still recorded.
type finisher struct {
	ctx        workflow.Context
	short      workflow.Context
	in         RunInput
	runID      string
	workflowID string
	startedAt  time.Time
	rule       json.RawMessage
	release    func() // the definition's guard, if the run holds it
	lean       bool   // the run's shape: runLean, else runV0
	// shadow says the definition is in shadow mode: the run's end is
	// announced on no subject (docs/cutover.md#shadow-runs).
	shadow bool
}

func (f *finisher) end(out *RunOutput, fin FinishRunInput, onFailure string) (*RunOutput, error) {
	fin.RunID, fin.OnFailure, fin.Shadow = f.runID, onFailure, f.shadow
	if f.release != nil {
		f.release()
		f.release = nil
	}
	if f.lean {
		return f.endLean(out, fin)
	}
	dctx, _ := workflow.NewDisconnectedContext(f.short)
	var a *Activities // names the activity; the worker runs its registered value
	var run store.Run
	if err := workflow.ExecuteActivity(dctx, a.FinishRun, fin).Get(dctx, &run); err != nil {
		workflow.GetLogger(f.ctx).Error("engine: recording run outcome failed", "run_id", f.runID, "error", err)
	}
	if fin.LostCompletion && run.Status == store.RunSucceeded {
		// FinishRun found the attempt's kept result: the command succeeded
		// and only its report was lost.
		fin.Status, fin.Stage, fin.Error = store.RunSucceeded, store.StageNone, ""
		fin.Result = &InstructionResult{ExitCode: run.ExitCode}
	}
	out.Status = fin.Status
	out.Reason = fin.Reason
	if fin.Error != "" {
		out.Reason = fin.Error
	}
	var exit *int
	if fin.Result != nil {
		exit = fin.Result.ExitCode
	}
	f.announce(fin.Status, fin.Stage, out.Reason, exit)
	return f.verdict(out, onFailure)
}

// verdict is the workflow's result for the run's end: a canceled run
// ends canceled, a failed one fails unless on_failure says otherwise.
func (f *finisher) verdict(out *RunOutput, onFailure string) (*RunOutput, error) {
	failed := out.Status == store.RunFailed || out.Status == store.RunTimedOut
	switch {
	case out.Status == store.RunCanceled:
		return out, temporal.NewCanceledError(out.Reason)
	case failed && onFailure != definition.OnFailureLogAndContinue:
		// on_failure: fail — the workflow fails, visible and alertable in
		// Temporal.
		return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("run %s %s: %s", f.runID, out.Status, out.Reason), "RunFailed", nil, out)
	}
	return out, nil
}

// heartbeatTimedOut reports whether an activity ended by its heartbeat
// timeout: its worker was lost, or its completion report was.
func heartbeatTimedOut(err error) bool {
	var timeoutErr *temporal.TimeoutError
	return errors.As(err, &timeoutErr) && timeoutErr.TimeoutType().String() == "Heartbeat"
}

// announce publishes the lifecycle event; a NATS outage is logged, it does
// not fail the run.
func (f *finisher) announce(status store.RunStatus, stage store.RunStage, reason string, exit *int) {
	if f.shadow {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(f.ctx)
	pctx := workflow.WithActivityOptions(dctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
	now := workflow.Now(dctx).UTC()
	started := f.startedAt
	ev := LifecycleEvent{
		RunID: f.runID, DefinitionID: f.in.DefinitionID, Status: status, Trigger: f.in.Trigger,
		Stage: stage, Reason: reason, ExitCode: exit, WorkflowID: f.workflowID,
		StartedAt: &started, FinishedAt: &now, ChainDepth: f.in.ChainDepth,
	}
	var a *Activities // names the activity; the worker runs its registered value
	if err := workflow.ExecuteActivity(pctx, a.PublishLifecycle, ev).Get(dctx, nil); err != nil {
		workflow.GetLogger(f.ctx).Warn("engine: publishing lifecycle event failed", "run_id", f.runID, "status", status, "error", err)
	}
}
