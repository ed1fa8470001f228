package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// The lean shape of a run (docs/architecture.md#the-run-workflow): the
// store and bookkeeping steps are local activities, recorded as one marker
// each, and the instruction is the one real activity of a plain run. Runs
// that started on the earlier shape replay on it (runV0).

// leanRunVersion is the change id that tells the two shapes apart.
const leanRunVersion = "lean-run"

// storeLocal are the options of the local activities that write the run
// record: they retry while the store is unavailable, for up to an hour, so
// a database outage of minutes delays runs and does not lose them. The SDK
// retries a local activity in the worker while the backoff is under the
// workflow task timeout, and through a workflow timer beyond it; a long
// attempt keeps the workflow task alive by heartbeating it.
var storeLocal = workflow.LocalActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: time.Hour,
	RetryPolicy:            storeRetry,
}

// endLocal is storeLocal for EndRun, whose attempt also announces the run
// (lifecycleAttempts publishes, backing off up to 15 s in all).
var endLocal = workflow.LocalActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: time.Hour,
	RetryPolicy:            storeRetry,
}

// leanRunID makes the run id of a run that was not given one without a
// history event: a UUIDv7 whose time is the workflow's start and whose
// random bits come from Temporal's run id, so it is the same on replay.
func leanRunID(info *workflow.Info) string {
	sum := sha256.Sum256([]byte(info.WorkflowExecution.RunID))
	var u uuid.UUID
	ms := uint64(info.WorkflowStartTime.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	copy(u[6:], sum[:10])
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 4122 variant
	return u.String()
}

// runLean is RunActivityWorkflow in the lean shape.
func runLean(ctx workflow.Context, in RunInput) (*RunOutput, error) {
	info := workflow.GetInfo(ctx)
	begin, out, done, err := leanBegin(ctx, in, info)
	if done {
		return out, err
	}
	runID := out.RunID
	in.Trigger = cmp.Or(begin.Trigger, in.Trigger) // a backfill's fire
	f := &finisher{ctx: ctx, in: in, runID: runID, workflowID: info.WorkflowExecution.ID, startedAt: begin.StartedAt, lean: true}
	def, err := definition.FromCanonicalJSON(begin.Spec)
	if err != nil {
		return f.end(out, FinishRunInput{Status: store.RunFailed, Error: "stored definition does not decode: " + err.Error()}, definition.OnFailureFail)
	}
	f.shadow = def.Shadow()
	if begin.InputsError != "" {
		return f.end(out, FinishRunInput{Status: store.RunFailed, Stage: store.StageInputs, Error: begin.InputsError}, def.OnFailure)
	}
	ref := &SpecRef{DefinitionID: in.DefinitionID, Version: begin.Version, ContentHash: begin.ContentHash}

	hold, fin, ok := f.holdLean(def, begin.GuardAsked)
	if !ok {
		return f.end(out, fin, def.OnFailure)
	}
	defer hold.releaseKeyUnlessGiven()

	var a *Activities // names the activity; the worker runs its registered value
	var gathered GatherResult
	if len(def.Context) > 0 {
		if err := workflow.ExecuteActivity(gatherOptions(ctx, def), a.GatherContext, GatherInput{Ref: ref}).Get(ctx, &gathered); err != nil {
			return f.end(out, FinishRunInput{Status: statusOf(ctx, err), Stage: store.StageContext, Error: errMessage(err)}, def.OnFailure)
		}
	}
	if len(def.Rule.When) > 0 {
		if res, done := f.leanRule(out, &begin, ref, gathered, def); done {
			return res()
		}
	}

	iin := InstructionInput{
		RunID: runID, DefinitionID: in.DefinitionID, Trigger: string(in.Trigger), Ref: ref, Event: in.Event, Context: gathered.Values,
		Inputs: begin.Inputs,
	}
	if def.Shadow() {
		return f.shadowEnd(out, iin, gathered.Snapshot, def.OnFailure)
	}
	// A successful attempt gives back what the run holds, then records and
	// announces the run's end itself.
	iin.Finish = &instructionFinish{
		ContextSnapshot: gathered.Snapshot, RuleOutcome: f.rule, OnFailure: def.OnFailure, Lifecycle: f.lifecycle(),
		Release: hold.held, WorkflowRunID: info.WorkflowExecution.RunID,
	}
	var result InstructionResult
	err = workflow.ExecuteActivity(instructionOptions(ctx, def), a.RunInstruction, iin).Get(ctx, &result)
	if err == nil && result.Recorded {
		f.release = nil
		hold.keyGiven = true
		out.Status = store.RunSucceeded
		return out, nil
	}
	return f.end(out, instructionOutcome(ctx, err, &result, gathered.Snapshot, f.rule), def.OnFailure)
}

// leanHold is what a lean run holds besides the guard f.release gives
// back: the lock workflows a successful attempt gives back before it
// records the run's end, and the concurrency key.
type leanHold struct {
	held       []string
	releaseKey func() // nil when the run takes no concurrency key
	keyGiven   bool   // the attempt gave the key back
}

// releaseKeyUnlessGiven gives the concurrency key back, unless the run
// takes none or its successful attempt gave it back already.
func (h *leanHold) releaseKeyUnlessGiven() {
	if h.releaseKey != nil && !h.keyGiven {
		h.releaseKey()
	}
}

// holdLean takes the definition's guard (asked says BeginRun sent the
// request), then its concurrency key. When the run cannot go on, ok is
// false and fin is its end.
func (f *finisher) holdLean(def *definition.Definition, asked bool) (hold *leanHold, fin FinishRunInput, ok bool) {
	ctx := f.ctx
	release, skipped, err := guardRun(ctx, f.in.DefinitionID, f.runID, def, asked)
	if err != nil {
		return nil, FinishRunInput{Status: statusOf(ctx, err), Error: "waiting for the definition's earlier run: " + err.Error()}, false
	}
	if skipped != "" {
		return nil, FinishRunInput{Status: store.RunSkipped, Reason: skipped}, false
	}
	f.release = release
	hold = &leanHold{}
	if release != nil {
		hold.held = append(hold.held, guardWorkflowID(f.in.DefinitionID))
	}
	if takesKey(def) {
		releaseKey, err := acquireLock(ctx, def.ConcurrencyKey, lockLease(def))
		if err != nil {
			return nil, FinishRunInput{Status: statusOf(ctx, err), Error: "waiting for concurrency key " + def.ConcurrencyKey + ": " + err.Error()}, false
		}
		hold.releaseKey = releaseKey
		hold.held = append(hold.held, lockWorkflowID(def.ConcurrencyKey))
	}
	return hold, FinishRunInput{}, true
}

// leanBegin runs BeginRun. done means the run ended there, with out and
// err: skipped (BeginRun recorded and announced it), canceled before it
// began, or never begun.
func leanBegin(ctx workflow.Context, in RunInput, info *workflow.Info) (begin BeginRunResult, out *RunOutput, done bool, err error) {
	runID := cmp.Or(in.RunID, leanRunID(info))
	begin, err = beginLean(ctx, in, info, runID)
	if err != nil {
		leaveGuard(ctx, in.DefinitionID)
		if ctx.Err() != nil && workflow.GetVersion(ctx, cancelBeforeBeginVersion, workflow.DefaultVersion, 1) == 1 {
			out, err = endBeforeBegin(ctx, in, runID)
			return begin, out, true, err
		}
		return begin, nil, true, fmt.Errorf("starting run: %w", err)
	}
	// After a reset the Temporal run id, and so leanRunID, is new, but a
	// replayed BeginRun names the run it recorded.
	out = &RunOutput{RunID: cmp.Or(begin.RunID, runID)}
	if begin.Skip {
		out.Status, out.Reason = store.RunSkipped, begin.SkipReason
		return begin, out, true, nil
	}
	return begin, out, false, nil
}

// cancelBeforeBeginVersion marks runs that record a cancel that came
// before BeginRun answered (a pending run canceled before a worker took
// it); earlier runs ended without a record of it.
const cancelBeforeBeginVersion = "cancel-before-begin"

// endBeforeBegin records a run canceled before BeginRun answered: the
// API's pending record, if there is one, becomes canceled with who asked
// (docs/run-control.md#cancel). A run nobody recorded leaves nothing.
func endBeforeBegin(ctx workflow.Context, in RunInput, runID string) (*RunOutput, error) {
	info := workflow.GetInfo(ctx)
	f := &finisher{ctx: ctx, in: in, runID: runID, workflowID: info.WorkflowExecution.ID, startedAt: workflow.Now(ctx).UTC(), lean: true}
	fin := FinishRunInput{
		Status: store.RunCanceled, Error: "canceled before the run began",
		WorkflowID: info.WorkflowExecution.ID, WorkflowRunID: info.WorkflowExecution.RunID,
	}
	return f.end(&RunOutput{RunID: runID}, fin, definition.OnFailureFail)
}

// leaveGuard takes a run that ends before BeginRun answered out of its
// definition's guard: BeginRun may have sent the request already, and a
// grant to a closed run would hold the guard until its lease ran out. A
// definition without a guard (no lock workflow) only costs a failed signal.
func leaveGuard(ctx workflow.Context, definitionID string) {
	info := workflow.GetInfo(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	rel := lockRelease{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}
	if err := workflow.SignalExternalWorkflow(dctx, guardWorkflowID(definitionID), "", lockReleaseSignal, rel).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Info("engine: leaving the definition's guard", "definition_id", definitionID, "error", err)
	}
}

// ruleVerdict ends the run when the rule failed or said no; done is false
// when the run goes on (and the outcome is kept for its record).
func (f *finisher) ruleVerdict(out *RunOutput, outcome *RuleOutcome, snapshot json.RawMessage, onFailure string) (func() (*RunOutput, error), bool) {
	ruleJSON, _ := json.Marshal(outcome)
	switch {
	case outcome.Error != "":
		return func() (*RunOutput, error) {
			return f.end(out, FinishRunInput{Status: store.RunFailed, Stage: store.StageRule, ContextSnapshot: snapshot, RuleOutcome: ruleJSON, Error: outcome.Error}, onFailure)
		}, true
	case !outcome.Passed:
		reason := fmt.Sprintf("rule false: %s", outcome.Failed)
		return func() (*RunOutput, error) {
			return f.end(out, FinishRunInput{Status: store.RunSkipped, Reason: reason, ContextSnapshot: snapshot, RuleOutcome: ruleJSON}, onFailure)
		}, true
	}
	f.rule = ruleJSON
	return nil, false
}

func gatherOptions(ctx workflow.Context, def *definition.Definition) workflow.Context {
	var total time.Duration
	for _, c := range def.Context {
		total += c.Timeout.D()
	}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: total + 10*time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{errTypeConfig, errTypeStore},
		},
	})
}

func ruleOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
}

func instructionOptions(ctx workflow.Context, def *definition.Definition) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The activity stops the instruction at its own timeout and reports
		// the output; StartToClose is the backstop for a lost worker.
		StartToCloseTimeout: def.Instruction.Timeout.D() + 2*time.Minute,
		HeartbeatTimeout:    time.Minute,
		WaitForCancellation: true,
		RetryPolicy:         instructionRetry(def.Retry),
	})
}

// instructionOutcome is the run's end after its instruction.
func instructionOutcome(ctx workflow.Context, err error, result *InstructionResult, snapshot, rule json.RawMessage) FinishRunInput {
	fin := FinishRunInput{Status: store.RunSucceeded, Stage: store.StageNone, ContextSnapshot: snapshot, RuleOutcome: rule, Result: result}
	if err != nil {
		fin.Stage = store.StageInstruction
		fin.Status = statusOf(ctx, err)
		fin.Error = errMessage(err)
		fin.Result = resultFromError(err)
		if fin.Result != nil && fin.Result.Error != "" {
			fin.Error = fin.Result.Error
		}
		fin.LostCompletion = heartbeatTimedOut(err)
	}
	return fin
}

// lifecycle is the run's lifecycle event before its end is known.
func (f *finisher) lifecycle() LifecycleEvent {
	started := f.startedAt
	return LifecycleEvent{
		RunID: f.runID, DefinitionID: f.in.DefinitionID, Trigger: f.in.Trigger,
		WorkflowID: f.workflowID, StartedAt: &started, ChainDepth: f.in.ChainDepth,
	}
}

// endLean records and announces the run's end in one local activity.
func (f *finisher) endLean(out *RunOutput, fin FinishRunInput) (*RunOutput, error) {
	dctx, _ := workflow.NewDisconnectedContext(f.ctx)
	var a *Activities // names the activity; the worker runs its registered value
	var res EndRunResult
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(dctx, endLocal), a.EndRun,
		EndRunInput{FinishRunInput: fin, Lifecycle: f.lifecycle()}).Get(dctx, &res)
	if err != nil {
		workflow.GetLogger(f.ctx).Error("engine: recording run outcome failed", "run_id", f.runID, "error", err)
		res = EndRunResult{Status: fin.Status, Reason: cmp.Or(fin.Error, fin.Reason)}
	}
	out.Status, out.Reason = res.Status, res.Reason
	return f.verdict(out, fin.OnFailure)
}

// BeginRunInput asks BeginRun to start a run.
type BeginRunInput struct {
	StartRunInput
	// Now is the workflow's time, which a rule sees.
	Now time.Time `json:"now"`
}

// BeginRunResult is StartRun's, with the rule's verdict when BeginRun
// could give it.
type BeginRunResult struct {
	StartRunResult
	// RunID is the run BeginRun recorded (empty in histories from before
	// it was returned).
	RunID string `json:"run_id,omitempty"`
	// Rule is the rule's outcome, or RuleError why it could not be
	// evaluated, when the definition has a rule and nothing that must come
	// before it (context, guard, concurrency key). Both are empty when the
	// workflow evaluates the rule itself.
	Rule      *RuleOutcome `json:"rule,omitempty"`
	RuleError string       `json:"rule_error,omitempty"`
	// GuardAsked says BeginRun sent the run's request to the definition's
	// guard: the workflow only waits for the answer.
	GuardAsked bool `json:"guard_asked,omitempty"`
}

// BeginRun is StartRun as a local activity: it loads the definition,
// records the run (announcing it when it is skipped at once), keeps the
// spec in the worker's cache, and evaluates the rule when it can.
func (a *Activities) BeginRun(ctx context.Context, in BeginRunInput) (*BeginRunResult, error) {
	res, def, err := a.startRun(ctx, in.StartRunInput)
	if err != nil {
		return nil, err
	}
	out := &BeginRunResult{StartRunResult: *res, RunID: in.RunID}
	if res.Skip {
		if specShadow(res.Spec) {
			return out, nil // announced on no subject (docs/cutover.md#shadow-runs)
		}
		now := res.StartedAt
		a.announce(ctx, LifecycleEvent{
			RunID: in.RunID, DefinitionID: in.Input.DefinitionID, Status: store.RunSkipped, Trigger: cmp.Or(res.Trigger, in.Input.Trigger),
			Reason: res.SkipReason, WorkflowID: in.WorkflowID, StartedAt: &now, FinishedAt: &now, ChainDepth: in.Input.ChainDepth,
		})
		return out, nil
	}
	a.specs.Add(SpecRef{DefinitionID: in.Input.DefinitionID, Version: res.Version, ContentHash: res.ContentHash}.key(), res.Spec)
	if def == nil || res.InputsError != "" {
		return out, nil // the workflow fails the run
	}
	if takesGuard(def) && a.cfg.Temporal != nil {
		// Asking here saves the run an activity and a round trip
		// (docs/benchmarks.md#fire-to-shell-process-start-embedded-default).
		// A retried BeginRun asks again; the guard knows the request.
		req := guardRequest(def, in.Input.DefinitionID, in.RunID, in.WorkflowID, in.WorkflowRunID)
		if err := a.AcquireLock(ctx, guardKey(in.Input.DefinitionID), req); err != nil {
			return nil, err
		}
		out.GuardAsked = true
	}
	if len(def.Rule.When) == 0 || !ruleFirst(def) {
		return out, nil
	}
	outcome, err := a.evaluateRule(ctx, def, res.ContentHash, RuleInput{Event: in.Input.Event, Now: in.Now})
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, err
	case err != nil:
		out.RuleError = errMessage(err)
	default:
		out.Rule = outcome
	}
	return out, nil
}

// ruleFirst reports whether a definition's rule can be evaluated as the
// run begins: nothing it sees or waits for comes before it.
func ruleFirst(def *definition.Definition) bool {
	return len(def.Context) == 0 && !takesKey(def) && !takesGuard(def)
}

// EndRunInput is the run's outcome and the lifecycle event to announce it
// with (EndRun sets its status, stage, reason, exit code and end).
type EndRunInput struct {
	FinishRunInput
	Lifecycle LifecycleEvent `json:"lifecycle"`
}

// EndRunResult is how the run ended, as recorded.
type EndRunResult struct {
	Status store.RunStatus `json:"status"`
	Reason string          `json:"reason,omitempty"`
}

// EndRun is FinishRun then PublishLifecycle, as one local activity. It is
// retried while the store is unavailable; the announcement is best effort.
func (a *Activities) EndRun(ctx context.Context, in EndRunInput) (*EndRunResult, error) {
	fin := in.FinishRunInput
	fin.Stage = fin.stage()
	run, err := a.FinishRun(ctx, fin)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
	case fin.Status == store.RunCanceled && errors.Is(err, store.ErrNotFound):
		// Canceled before anything recorded it: nothing to record or announce.
		return &EndRunResult{Status: fin.Status, Reason: fin.Error}, nil
	case !errors.As(err, &appErr) || !appErr.NonRetryable():
		return nil, err // the store is unavailable: retried
	default:
		a.log.Error("engine: recording run outcome failed", "run_id", fin.RunID, "error", err)
	}
	var exit *int
	if fin.Result != nil {
		exit = fin.Result.ExitCode
	}
	if run != nil && run.Status == store.RunSucceeded && fin.Status != store.RunSucceeded {
		// The command succeeded and only its report was lost: FinishRun
		// found the attempt's kept result, or the attempt had recorded the
		// run itself (InstructionInput.Finish) and the record keeps it.
		fin.Status, fin.Stage, fin.Error, exit = store.RunSucceeded, store.StageNone, "", run.ExitCode
	}
	res := &EndRunResult{Status: fin.Status, Reason: cmp.Or(fin.Error, fin.Reason)}
	if run != nil && run.Status == store.RunCanceled && fin.Status == store.RunCanceled {
		res.Reason = run.Error // who canceled it and why
	}
	if fin.Shadow {
		return res, nil // announced on no subject (docs/cutover.md#shadow-runs)
	}
	ev := in.Lifecycle
	now := time.Now().UTC()
	ev.Status, ev.Stage, ev.Reason, ev.ExitCode, ev.FinishedAt = fin.Status, fin.Stage, res.Reason, exit, &now
	a.announce(ctx, ev)
	return res, nil
}

// lifecycleAttempts is how often a lifecycle event is published before it
// is given up (logged): 1 s, 2 s, 4 s, 8 s apart.
const lifecycleAttempts = 5

// announce publishes a lifecycle event; a NATS outage is logged, it does
// not fail the run.
func (a *Activities) announce(ctx context.Context, ev LifecycleEvent) {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := a.PublishLifecycle(ctx, ev)
		if err == nil {
			return
		}
		var appErr *temporal.ApplicationError
		if attempt == lifecycleAttempts || errors.As(err, &appErr) && appErr.NonRetryable() {
			a.log.Warn("engine: publishing lifecycle event failed", "run_id", ev.RunID, "status", ev.Status, "error", err)
			return
		}
		select {
		case <-ctx.Done():
			a.log.Warn("engine: publishing lifecycle event failed", "run_id", ev.RunID, "status", ev.Status, "error", err)
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// instructionFinish lets a successful attempt record the run's end and
// announce it, saving the workflow a step.
type instructionFinish struct {
	ContextSnapshot json.RawMessage `json:"context_snapshot,omitempty"`
	RuleOutcome     json.RawMessage `json:"rule_outcome,omitempty"`
	OnFailure       string          `json:"on_failure,omitempty"`
	Lifecycle       LifecycleEvent  `json:"lifecycle"`
	// Release are the lock workflows (the guard, the concurrency key) the
	// run holds: given back first, so a run shown finished never holds
	// them. WorkflowRunID is the run's Temporal run id they know it by.
	Release       []string `json:"release,omitempty"`
	WorkflowRunID string   `json:"workflow_run_id,omitempty"`
}

// releaseLocks gives back the locks a run holds, from the worker (a
// retried release is harmless: the lock workflow forgets a run once).
func (a *Activities) releaseLocks(ctx context.Context, in InstructionInput) error {
	if len(in.Finish.Release) == 0 {
		return nil
	}
	if a.cfg.Temporal == nil {
		return errors.New("no Temporal client on the worker")
	}
	for _, id := range in.Finish.Release {
		err := a.cfg.Temporal.SignalWorkflow(ctx, id, "", lockReleaseSignal, lockRelease{WorkflowID: in.Finish.Lifecycle.WorkflowID, RunID: in.Finish.WorkflowRunID})
		if err != nil {
			return fmt.Errorf("releasing %s: %w", id, err)
		}
	}
	return nil
}

// finishSucceeded records a successful attempt as the run's end and
// announces it. It retries while the store is unavailable, heartbeating,
// until the attempt's deadline; false means the workflow records it.
func (a *Activities) finishSucceeded(ctx context.Context, in InstructionInput, res *InstructionResult) bool {
	fin := FinishRunInput{
		RunID: in.RunID, Status: store.RunSucceeded, Stage: store.StageNone,
		ContextSnapshot: in.Finish.ContextSnapshot, RuleOutcome: in.Finish.RuleOutcome, Result: res, OnFailure: in.Finish.OnFailure,
	}
	if err := a.releaseLocks(ctx, in); err != nil {
		a.log.Info("engine: the attempt could not give back the run's locks; the workflow will", "run_id", in.RunID, "error", err)
		return false
	}
	wait := time.Second
	for {
		run, err := a.FinishRun(ctx, fin)
		if err == nil {
			if run.Status != store.RunSucceeded {
				return false // the run ended otherwise meanwhile: the workflow says how
			}
			ev := in.Finish.Lifecycle
			ev.Status, ev.ExitCode, ev.FinishedAt = store.RunSucceeded, res.ExitCode, run.FinishedAt
			a.announce(ctx, ev)
			return true
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			a.log.Warn("engine: recording the instruction's success failed", "run_id", in.RunID, "error", err)
			return false
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, map[string]any{"recording_result": err.Error()})
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// beginLean runs BeginRun, the lean run's first local activity: it records
// the run (or records and announces a skip), caches the spec, evaluates a
// rule that needs nothing first and asks for the guard.
func beginLean(ctx workflow.Context, in RunInput, info *workflow.Info, runID string) (BeginRunResult, error) {
	var scheduledAt *time.Time
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledStartKey); ok {
		t = t.UTC()
		scheduledAt = &t
	}
	var a *Activities // names the activity; the worker runs its registered value
	var begin BeginRunResult
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, storeLocal), a.BeginRun, BeginRunInput{
		StartRunInput: StartRunInput{
			RunID: runID, WorkflowID: info.WorkflowExecution.ID, WorkflowRunID: info.WorkflowExecution.RunID,
			Input: in, ScheduledAt: scheduledAt, Attempt: int(info.Attempt),
			WorkflowStartedAt: info.WorkflowStartTime.UTC(),
		},
		Now: workflow.Now(ctx),
	}).Get(ctx, &begin)
	return begin, err
}

// leanRule applies the definition's rule: BeginRun's verdict when it could
// evaluate it, else a local activity now, after what must come first (the
// context, the guard, the key). done means the run ends with res.
func (f *finisher) leanRule(out *RunOutput, begin *BeginRunResult, ref *SpecRef, gathered GatherResult, def *definition.Definition) (res func() (*RunOutput, error), done bool) {
	ctx := f.ctx
	outcome, ruleErr := begin.Rule, begin.RuleError
	if outcome == nil && ruleErr == "" {
		outcome = &RuleOutcome{}
		var a *Activities // names the activity; the worker runs its registered value
		err := workflow.ExecuteLocalActivity(ruleOptions(ctx), a.EvaluateRule, RuleInput{
			Ref: ref, ContentHash: begin.ContentHash, Context: gathered.Values, Event: f.in.Event, Now: workflow.Now(ctx),
		}).Get(ctx, outcome)
		if err != nil {
			return func() (*RunOutput, error) {
				return f.end(out, FinishRunInput{Status: statusOf(ctx, err), Stage: store.StageRule, ContextSnapshot: gathered.Snapshot, Error: errMessage(err)}, def.OnFailure)
			}, true
		}
	}
	if ruleErr != "" {
		return func() (*RunOutput, error) {
			return f.end(out, FinishRunInput{Status: store.RunFailed, Stage: store.StageRule, ContextSnapshot: gathered.Snapshot, Error: ruleErr}, def.OnFailure)
		}, true
	}
	return f.ruleVerdict(out, outcome, gathered.Snapshot, def.OnFailure)
}
