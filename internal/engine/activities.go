package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/shell"
	"github.com/coulomb/activity-core/internal/store"
)

// Publisher sends a message to NATS. msgID de-duplicates retries
// (JetStream's Nats-Msg-Id); empty means none.
type Publisher interface {
	Publish(ctx context.Context, subject string, data []byte, msgID string) error
}

// Config holds the dependencies and settings of the activities.
type Config struct {
	Store store.Store
	// Publisher is used by publish instructions and lifecycle events; nil
	// makes publish instructions fail and lifecycle events be skipped.
	Publisher Publisher
	// Temporal is needed for concurrency_key locks.
	Temporal client.Client
	// TaskQueue is where a lock workflow starts when the asking run's
	// task queue is unknown (TaskQueueDefault when empty); it starts on
	// the run's own otherwise.
	TaskQueue string
	// HTTPClient for context and http instructions (a client with no
	// overall timeout: each request has its own). NewActivities uses a
	// copy whose redirect policy follows only same-origin redirects.
	HTTPClient *http.Client
	// Secrets is the operator's allow-list: the only way ${env:NAME}
	// resolves (docs/definitions.md#secrets-envname). Nil allows nothing.
	Secrets *secret.AllowList
	// StateHubURL is ACTIVITY_STATE_HUB_URL, for state_hub.* context.
	StateHubURL string
	// LifecyclePrefix prefixes lifecycle subjects (LifecyclePrefixDefault).
	LifecyclePrefix string
	// ShellGrace is the time between SIGTERM and SIGKILL (shell.GraceDefault).
	ShellGrace time.Duration
	// HeartbeatEvery is how often a running instruction heartbeats
	// (HeartbeatEveryDefault). A cancel reaches the command with the
	// answer to a heartbeat, so this bounds how long a cancel takes
	// (docs/run-control.md#cancel).
	HeartbeatEvery time.Duration
	// Output carries a running command's output to live viewers
	// (docs/run-control.md#live-output); nil sends it nowhere.
	Output OutputSink
	// Shell contains shell commands (a cgroup per run, or the process
	// group); nil means shell.Default().
	Shell *shell.Container
	// BaseEnv is passed to every shell command before the definition's env
	// and the ACTIVITY_* variables. Nil means a minimal environment taken
	// from the worker: PATH, HOME, USER, LANG, LC_ALL, TZ, TMPDIR.
	BaseEnv []string
	Logger  *slog.Logger
	// OnRunFinished, when set, is called with every run FinishRun records
	// (metrics count runs by definition and status).
	OnRunFinished func(store.Run)
}

// Activities are the side effects of RunActivityWorkflow. Register one
// value on a worker with Register.
type Activities struct {
	cfg   Config
	rules *ruleCache
	specs *specCache
	log   *slog.Logger
}

// NewActivities checks the configuration and fills defaults.
func NewActivities(cfg Config) (*Activities, error) {
	if cfg.Store == nil {
		return nil, errors.New("engine: Config.Store is required")
	}
	cfg.TaskQueue = cmp.Or(cfg.TaskQueue, TaskQueueDefault)
	cfg.LifecyclePrefix = cmp.Or(cfg.LifecyclePrefix, LifecyclePrefixDefault)
	client := http.Client{}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	client.CheckRedirect = sameOriginRedirect
	cfg.HTTPClient = &client
	cfg.ShellGrace = cmp.Or(cfg.ShellGrace, shell.GraceDefault)
	cfg.HeartbeatEvery = cmp.Or(cfg.HeartbeatEvery, HeartbeatEveryDefault)
	if cfg.BaseEnv == nil {
		for _, k := range []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"} {
			if v, ok := os.LookupEnv(k); ok {
				cfg.BaseEnv = append(cfg.BaseEnv, k+"="+v)
			}
		}
		if len(cfg.BaseEnv) == 0 {
			cfg.BaseEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
		}
	}
	logger := cmp.Or(cfg.Logger, slog.Default())
	return &Activities{cfg: cfg, rules: newRuleCache(1024), specs: newSpecCache(specCacheSize), log: logger}, nil
}

// Error types of application errors the activities return. The workflow
// and the retry policies key on them.
const (
	errTypeCommandFailed = "CommandFailed" // retryable: a run of the instruction failed
	errTypeTimeout       = "InstructionTimeout"
	errTypeStart         = "StartFailed" // the command could not start: permanent
	errTypeConfig        = "ConfigError" // unset ${env:...}, bad URL: permanent
	errTypeStore         = "StoreError"  // a store error that retrying will not fix
	errTypeContext       = "ContextFailed"
	// errTypeExpectation: the instruction succeeded but its output broke
	// expect.output_matches; retried like a failed command.
	errTypeExpectation = "ExpectationFailed"
)

// storeErr converts a store error at the activity boundary: unavailable is
// retried by Temporal, anything else fails at once.
func storeErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if store.IsRetryable(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", what, err), errTypeStore, err)
}

// StartRunInput asks StartRun to load a definition and record a run.
type StartRunInput struct {
	RunID         string     `json:"run_id"`
	WorkflowID    string     `json:"workflow_id"`
	WorkflowRunID string     `json:"workflow_run_id"`
	Input         RunInput   `json:"input"`
	ScheduledAt   *time.Time `json:"scheduled_at,omitempty"`
	Attempt       int        `json:"attempt"`
	// WorkflowStartedAt is when Temporal started the run's workflow (zero
	// in histories from before it was sent): a fire that started on time
	// and waited for a worker of its pool is not a backfill's.
	WorkflowStartedAt time.Time `json:"workflow_started_at,omitzero"`
}

// StartRunResult is the definition as it is now, or why the run is skipped.
type StartRunResult struct {
	Spec        json.RawMessage `json:"spec,omitempty"`
	Version     int             `json:"version"`
	ContentHash string          `json:"content_hash,omitempty"`
	Skip        bool            `json:"skip"`
	SkipReason  string          `json:"skip_reason,omitempty"`
	StartedAt   time.Time       `json:"started_at"`
	// Inputs are the run's resolved inputs (a JSON object), which its
	// instruction receives; InputsError says why they did not fit the
	// declaration, and the run fails at stage inputs
	// (docs/run-control.md#inputs).
	Inputs      json.RawMessage `json:"inputs,omitempty"`
	InputsError string          `json:"inputs_error,omitempty"`
	// Trigger is set when the run was recorded under another trigger than
	// it was started with: a schedule's backfill (docs/run-control.md#backfill).
	Trigger store.RunTrigger `json:"trigger,omitempty"`
}

// StartRun loads the definition at run time, so an edit synced a second
// ago is what runs, and records the run as running (or skipped).
func (a *Activities) StartRun(ctx context.Context, in StartRunInput) (*StartRunResult, error) {
	res, _, err := a.startRun(ctx, in)
	return res, err
}

// startRun is StartRun, also returning the decoded definition (nil when
// the run is skipped or its spec does not decode).
func (a *Activities) startRun(ctx context.Context, in StartRunInput) (*StartRunResult, *definition.Definition, error) {
	now := time.Now().UTC()
	res := &StartRunResult{StartedAt: now}
	if err := a.loadDefinition(ctx, in, res); err != nil {
		return nil, nil, err
	}
	if err := a.detectBackfill(ctx, &in, now); err != nil {
		return nil, nil, err
	}
	if in.Input.Trigger == store.RunTriggerBackfill {
		res.Trigger = store.RunTriggerBackfill
	}
	run := store.Run{
		ID:                in.RunID,
		DefinitionID:      in.Input.DefinitionID,
		DefinitionVersion: res.Version,
		ContentHash:       res.ContentHash,
		Trigger:           in.Input.Trigger,
		TriggerDetail:     triggerDetail(in),
		Status:            store.RunRunning,
		WorkflowID:        in.WorkflowID,
		WorkflowRunID:     in.WorkflowRunID,
		ScheduledAt:       in.ScheduledAt,
		StartedAt:         &now,
		Attempt:           in.Attempt,
	}
	var def *definition.Definition
	if res.Skip {
		run.Status, run.SkipReason, run.FinishedAt = store.RunSkipped, res.SkipReason, &now
	} else if d, err := definition.FromCanonicalJSON(res.Spec); err == nil {
		// A spec that does not decode fails the run in the workflow.
		def = d
		run.Pool = def.Pool()
		a.resolveInputs(in.Input, def, res)
		run.Inputs = res.Inputs
	}
	stored, recorded, err := a.recordRun(ctx, run)
	if err != nil {
		return nil, nil, err
	}
	if !recorded && stored.Status.Terminal() && stored.WorkflowRunID == "" {
		// No attempt began it (each records its workflow run): the API
		// wrote it off when starting the workflow seemed to fail. Its
		// command must not run under a record that says it did not.
		res.Skip, res.SkipReason = true, "the run was ended before it began: "+cmp.Or(stored.Error, string(stored.Status))
		return res, nil, nil
	}
	if recorded && res.Skip {
		a.logOutcome(stored, "")
		if a.cfg.OnRunFinished != nil {
			a.cfg.OnRunFinished(stored)
		}
	}
	return res, def, nil
}

// loadDefinition loads the run's definition into res, or says in res why
// the run is skipped.
func (a *Activities) loadDefinition(ctx context.Context, in StartRunInput, res *StartRunResult) error {
	def, err := a.cfg.Store.GetDefinition(ctx, in.Input.DefinitionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		res.Skip, res.SkipReason = true, "definition not found: it was never synced, or its id changed"
		return nil
	case err != nil:
		return storeErr("loading definition "+in.Input.DefinitionID, err)
	case def.Removed():
		res.Skip, res.SkipReason = true, fmt.Sprintf("definition removed at %s (its file is gone)", def.RemovedAt.Format(time.RFC3339))
	case !def.Enabled && in.Input.Trigger != store.RunTriggerManual:
		res.Skip, res.SkipReason = true, "definition disabled"
	}
	res.Spec, res.Version, res.ContentHash = def.Spec, def.Version, def.ContentHash
	return nil
}

// recordRun creates the run's record, or adopts the pending record the
// API wrote before it started the workflow (docs/run-control.md#placement):
// that one becomes the run, every field set, keeping what the API gave it
// that the run does not replace. recorded is false when an earlier attempt
// of this activity already recorded the run.
func (a *Activities) recordRun(ctx context.Context, run store.Run) (stored store.Run, recorded bool, err error) {
	stored, err = a.cfg.Store.CreateRun(ctx, run)
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return stored, false, storeErr("recording run", err)
	}
	existing, err := a.cfg.Store.GetRun(ctx, run.ID)
	if err != nil {
		return stored, false, storeErr("loading run "+run.ID, err)
	}
	if existing.Status != store.RunPending {
		return existing, false, nil // an earlier attempt of this activity created it
	}
	// The API placed the run on its pool's task queue: that is where it
	// runs, even if run_on changed since.
	run.Pool = cmp.Or(existing.Pool, run.Pool)
	if len(run.Inputs) == 0 {
		run.Inputs = existing.Inputs
	}
	stored, err = a.cfg.Store.UpdateRun(ctx, run)
	if errors.Is(err, store.ErrConflict) {
		// The pending run ended meanwhile (canceled before it began).
		current, gerr := a.cfg.Store.GetRun(ctx, run.ID)
		return current, false, storeErr("loading run "+run.ID, gerr)
	}
	if err != nil {
		return stored, false, storeErr("recording run", err)
	}
	return stored, true, nil
}

// backfillAfter is how late a scheduled fire must start before its run
// asks whether an operator's backfill fired it: Temporal starts a fire it
// makes on time within moments.
const backfillAfter = time.Minute

// detectBackfill records a cron run that Temporal's schedule backfill
// fired as trigger backfill (docs/run-control.md#backfill). The schedule
// marks both kinds of fire alike; what tells them apart is a fire time
// well in the past that lies in a backfill an operator asked for.
func (a *Activities) detectBackfill(ctx context.Context, in *StartRunInput, now time.Time) error {
	if in.Input.Trigger != store.RunTriggerCron || in.ScheduledAt == nil {
		return nil
	}
	// Lateness is the workflow's start, not the run's begin: a worker of
	// the pool may take an on-time fire hours later, after an operator
	// backfilled the same window. A backfill asked for up to backfillAfter
	// after that start still counts, for the clocks of different hosts.
	late, askedBy := now.Sub(*in.ScheduledAt), now
	if !in.WorkflowStartedAt.IsZero() {
		late, askedBy = in.WorkflowStartedAt.Sub(*in.ScheduledAt), in.WorkflowStartedAt.Add(backfillAfter)
	}
	if late <= backfillAfter {
		return nil
	}
	_, err := a.cfg.Store.FindBackfill(ctx, in.Input.DefinitionID, *in.ScheduledAt, askedBy)
	switch {
	case err == nil:
		in.Input.Trigger = store.RunTriggerBackfill
	case errors.Is(err, store.ErrNotFound):
	case store.IsRetryable(err):
		return storeErr("looking for a backfill", err)
	default:
		a.log.Warn("engine: looking for the backfill of a late fire failed; recording it as cron",
			"definition_id", in.Input.DefinitionID, "scheduled_at", in.ScheduledAt, "error", err)
	}
	return nil
}

func triggerDetail(in StartRunInput) json.RawMessage {
	d := map[string]any{"trigger": in.Input.Trigger}
	if e := in.Input.Event; e != nil {
		d["event"] = map[string]any{"subject": e.Subject, "id": e.ID, "time": e.Time, "payload": e.Payload}
	}
	if in.ScheduledAt != nil {
		d["scheduled_at"] = in.ScheduledAt
	}
	if in.Input.ChainDepth > 0 {
		d["chain_depth"] = in.Input.ChainDepth
	}
	b, _ := json.Marshal(d)
	return b
}

// FinishRunInput is the outcome of a run.
type FinishRunInput struct {
	RunID           string          `json:"run_id"`
	Status          store.RunStatus `json:"status"`
	Stage           store.RunStage  `json:"stage,omitempty"`
	Reason          string          `json:"reason,omitempty"`
	ContextSnapshot json.RawMessage `json:"context_snapshot,omitempty"`
	RuleOutcome     json.RawMessage `json:"rule_outcome,omitempty"`
	Result          *InstructionResult
	Error           string `json:"error,omitempty"`
	Attempt         int    `json:"attempt"`
	// OnFailure is the definition's on_failure; it sets the level the
	// outcome is logged at (empty: fail).
	OnFailure string `json:"on_failure,omitempty"`
	// LostCompletion says the instruction's last attempt ended without a
	// report reaching Temporal (heartbeat timeout): FinishRun records the
	// attempt's own result if it kept one (keepSucceeded).
	LostCompletion bool `json:"lost_completion,omitempty"`
	// WorkflowID and WorkflowRunID fill a record that has none: the API's
	// pending record of a run canceled before it began.
	WorkflowID    string `json:"workflow_id,omitempty"`
	WorkflowRunID string `json:"workflow_run_id,omitempty"`
	// ShadowPlan is what a shadow run would have run (store.ShadowPlan).
	ShadowPlan json.RawMessage `json:"shadow_plan,omitempty"`
	// Shadow says the run's definition is in shadow mode: its end is
	// recorded and announced on no subject (docs/cutover.md#shadow-runs).
	Shadow bool `json:"shadow,omitempty"`
}

// stage is the run's stage as recorded: an instruction whose attempt
// failed its expectation (InstructionResult.Stage) failed at that stage.
func (in FinishRunInput) stage() store.RunStage {
	if in.Stage == store.StageInstruction && in.Result != nil && in.Result.Stage != "" {
		return in.Result.Stage
	}
	return in.Stage
}

// FinishRun records how the run ended. A run already finished keeps its
// status (the store refuses to move a terminal status), so a retried
// FinishRun is harmless.
func (a *Activities) FinishRun(ctx context.Context, in FinishRunInput) (*store.Run, error) {
	in.Stage = in.stage()
	run, err := a.cfg.Store.GetRun(ctx, in.RunID)
	if err != nil {
		return nil, storeErr("loading run "+in.RunID, err)
	}
	if in.LostCompletion && run.Status == store.RunRunning && run.Stage == store.StageInstruction && run.Error == "" {
		// The attempt succeeded and kept its result; only its report to
		// Temporal was lost (docs/topology.md#what-it-found).
		a.log.Warn("engine: the instruction succeeded but its completion report was lost; recording the kept result",
			"run_id", in.RunID, "definition_id", run.DefinitionID, "heartbeat_error", in.Error)
		in.Status, in.Stage, in.Error = store.RunSucceeded, store.StageNone, ""
		in.Result = &InstructionResult{ExitCode: run.ExitCode, Stdout: run.Stdout, Stderr: run.Stderr, Attempt: run.Attempt}
	}
	now := time.Now().UTC()
	run.Status, run.Stage, run.FinishedAt = in.Status, in.Stage, &now
	if in.Status == store.RunSkipped {
		run.SkipReason = in.Reason
	}
	run.ContextSnapshot, run.RuleOutcome, run.Error = in.ContextSnapshot, in.RuleOutcome, in.Error
	run.ShadowPlan = in.ShadowPlan
	if in.Status == store.RunCanceled {
		run.Error = cancelReason(run, in.Error)
	}
	if run.WorkflowID == "" {
		run.WorkflowID, run.WorkflowRunID = in.WorkflowID, in.WorkflowRunID
	}
	if in.Attempt > 0 {
		run.Attempt = in.Attempt
	}
	if r := in.Result; r != nil {
		run.ExitCode, run.Stdout, run.Stderr = r.ExitCode, r.Stdout, r.Stderr
		if r.Attempt > 0 {
			run.Attempt = r.Attempt
		}
	}
	stored, err := a.cfg.Store.UpdateRun(ctx, run)
	if errors.Is(err, store.ErrConflict) {
		current, gerr := a.cfg.Store.GetRun(ctx, in.RunID)
		if gerr == nil {
			return &current, nil
		}
	}
	if err != nil {
		return nil, storeErr("recording run outcome", err)
	}
	a.logOutcome(stored, in.OnFailure)
	if a.cfg.OnRunFinished != nil {
		a.cfg.OnRunFinished(stored)
	}
	return &stored, nil
}

// cancelReason is a canceled run's reason: who asked and their note, as
// the API recorded them (docs/run-control.md#cancel), or what the
// workflow saw when the cancel came from elsewhere (Temporal's own UI).
func cancelReason(run store.Run, seen string) string {
	switch {
	case run.CanceledBy == "":
		return seen
	case run.CancelNote == "":
		return "canceled by " + run.CanceledBy
	}
	return "canceled by " + run.CanceledBy + ": " + run.CancelNote
}

// stderrTailMax bounds the stderr tail a failed run's log line carries.
const stderrTailMax = 2 << 10

// logOutcome logs how a run ended at the level its policy implies:
// succeeded, skipped and canceled at INFO; failed or timed out at WARN when
// on_failure is log_and_continue, else at ERROR, with the (redacted) tail
// of stderr.
func (a *Activities) logOutcome(run store.Run, onFailure string) {
	level := slog.LevelInfo
	attrs := []any{"run_id", run.ID, "definition_id", run.DefinitionID, "status", run.Status, "trigger", run.Trigger, "attempt", run.Attempt}
	switch run.Status {
	case store.RunSkipped:
		attrs = append(attrs, "reason", run.SkipReason)
	case store.RunShadow:
		// The plan itself (argv, inputs) is on the run's record, which the
		// read token guards; the log only says there is one.
		attrs = append(attrs, "shadow_plan_bytes", len(run.ShadowPlan))
	case store.RunFailed, store.RunTimedOut:
		level = slog.LevelError
		if onFailure == definition.OnFailureLogAndContinue {
			level = slog.LevelWarn
		}
		attrs = append(attrs, "stage", run.Stage, "error", run.Error)
		if run.ExitCode != nil {
			attrs = append(attrs, "exit_code", *run.ExitCode)
		}
		if run.Stderr != "" {
			attrs = append(attrs, "stderr_tail", tail(run.Stderr, stderrTailMax))
		}
	case store.RunCanceled:
		attrs = append(attrs, "error", run.Error)
	}
	a.log.Log(context.Background(), level, "engine: run "+string(run.Status), attrs...)
}

// tail is the last limit bytes of s, cut at a UTF-8 boundary, trimmed, and
// marked when cut.
func tail(s string, limit int) string {
	s = strings.TrimSpace(s)
	if len(s) <= limit {
		return s
	}
	s = s[len(s)-limit:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return "…" + s
}

// keepSucceeded records, on the run that is still running, that the
// instruction's attempt succeeded and what it left, before the attempt
// reports to Temporal. If PostgreSQL (and so Temporal) goes away as that
// report is sent, the report can be lost and Temporal sees a heartbeat
// timeout; FinishRun then records this kept result instead of a failure.
// It retries while the store is unavailable, heartbeating, until the
// attempt's deadline.
func (a *Activities) keepSucceeded(ctx context.Context, runID string, res *InstructionResult) {
	wait := time.Second
	for {
		err := a.keepResult(ctx, runID, res)
		if err == nil || !store.IsRetryable(err) {
			if err != nil {
				a.log.Warn("engine: keeping the instruction's result failed", "run_id", runID, "error", err)
			}
			return
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, map[string]any{"keeping_result": err.Error()})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		// At most 2s apart: the kept result should be written before
		// FinishRun, which follows Temporal's recovery, looks for it.
		wait = min(2*wait, 2*time.Second)
	}
}

func (a *Activities) keepResult(ctx context.Context, runID string, res *InstructionResult) error {
	run, err := a.cfg.Store.GetRun(ctx, runID)
	if err != nil || run.Status != store.RunRunning {
		return err
	}
	run.Stage, run.Error = store.StageInstruction, ""
	run.ExitCode, run.Stdout, run.Stderr = res.ExitCode, res.Stdout, res.Stderr
	if res.Attempt > 0 {
		run.Attempt = res.Attempt
	}
	_, err = a.cfg.Store.UpdateRun(ctx, run)
	if errors.Is(err, store.ErrConflict) {
		return nil // the run already ended
	}
	return err
}

// PublishLifecycle publishes <prefix>.run.<status> so other definitions can
// chain on runs. The message id is the run id and status, so a retried
// publish is de-duplicated by JetStream.
func (a *Activities) PublishLifecycle(ctx context.Context, ev LifecycleEvent) error {
	if a.cfg.Publisher == nil {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("encoding lifecycle event", errTypeConfig, err)
	}
	subject := fmt.Sprintf("%s.run.%s", a.cfg.LifecyclePrefix, ev.Status)
	return a.cfg.Publisher.Publish(ctx, subject, b, ev.RunID+":"+string(ev.Status))
}

// loadSpec decodes a definition spec passed through workflow history.
func loadSpec(spec json.RawMessage) (*definition.Definition, error) {
	def, err := definition.FromCanonicalJSON(spec)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("decoding stored definition: "+err.Error(), errTypeStore, err)
	}
	return def, nil
}
