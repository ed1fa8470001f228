package engine

import (
	"encoding/json"
	"io"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/coulomb/activity-core/internal/store"
)

// The workflow contract: what schedules, the router and the API send to
// the run workflow (RunInput, Event), what it answers (RunOutput) and
// announces (LifecycleEvent), and the names and task queues it is found
// by. Histories and schedules already stored hold these values, so a
// change here must stay readable by the workers of the previous release
// (docs/architecture.md#the-run-workflow).

// Names under which the workflows are registered. Schedules and the router
// start workflows by these names, so they are part of the contract with
// Temporal and must not change between releases.
const (
	RunWorkflowName  = "RunActivityWorkflow"
	LockWorkflowName = "ConcurrencyLockWorkflow"
	// TaskQueueDefault is the task queue workers poll when none is set.
	TaskQueueDefault = "activity-core"
	// LifecyclePrefixDefault prefixes run lifecycle subjects:
	// activity.run.<status>.
	LifecyclePrefixDefault = "activity"
)

// RunInput starts one run. Schedules pass it as their action's argument,
// the router and the API when they start a run.
type RunInput struct {
	// RunID, when set, is the id the run is recorded under (the API sets
	// it so it can answer with it); schedules and the router leave it
	// empty and the workflow makes one.
	RunID        string           `json:"run_id,omitempty"`
	DefinitionID string           `json:"definition_id"`
	Trigger      store.RunTrigger `json:"trigger"`
	// Event is set for event-triggered runs.
	Event *Event `json:"event,omitempty"`
	// ChainDepth counts how many lifecycle events led to this run; the
	// router uses it to stop definitions that trigger themselves in a loop.
	ChainDepth int `json:"chain_depth,omitempty"`
	// Inputs are the values a manual run was given (or a rerun copied),
	// before defaults; BeginRun resolves them against the definition it
	// loads and records the result. Schedules and events leave it empty:
	// their inputs come from trigger.inputs.
	Inputs map[string]any `json:"inputs,omitempty"`
}

// Event is the message that triggered an event run, as rules see it
// (`event.subject`, `event.id`, `event.time`, `event.payload`).
type Event struct {
	Subject string          `json:"subject"`
	ID      string          `json:"id"`
	Time    time.Time       `json:"time"`
	Payload json.RawMessage `json:"payload"`
}

// RunOutput is the workflow's result.
type RunOutput struct {
	RunID  string          `json:"run_id"`
	Status store.RunStatus `json:"status"`
	// Reason says why a run was skipped or failed.
	Reason string `json:"reason,omitempty"`
}

// LifecycleEvent is the payload published on <prefix>.run.<status> when a
// run ends.
type LifecycleEvent struct {
	RunID        string           `json:"run_id"`
	DefinitionID string           `json:"definition_id"`
	Status       store.RunStatus  `json:"status"`
	Trigger      store.RunTrigger `json:"trigger"`
	Stage        store.RunStage   `json:"stage,omitempty"`
	Reason       string           `json:"reason,omitempty"`
	ExitCode     *int             `json:"exit_code,omitempty"`
	WorkflowID   string           `json:"workflow_id"`
	StartedAt    *time.Time       `json:"started_at,omitempty"`
	FinishedAt   *time.Time       `json:"finished_at,omitempty"`
	ChainDepth   int              `json:"chain_depth"`
}

// TaskQueueFor is the Temporal task queue of a worker pool
// (docs/run-control.md#placement): the deployment's base queue for the
// default pool (so existing schedules keep theirs), base + "." + pool for
// the others.
func TaskQueueFor(base, pool string) string {
	if pool == "" || pool == "default" {
		return base
	}
	return base + "." + pool
}

// OutputSink carries a running command's output to live viewers
// (docs/run-control.md#live-output). Open is called once per attempt
// before the command starts; redact is the run's secret redaction and
// longest the length of the longest text it replaces, so a secret split
// across writes is still caught. The writers must not block the command;
// done flushes and ends the stream.
type OutputSink interface {
	Open(runID string, redact func(string) string, longest int) (stdout, stderr io.Writer, done func())
}

// Heartbeats of a running command (docs/run-control.md#cancel). Temporal
// tells an activity it was canceled only in the answer to a heartbeat, and
// the SDK sends a heartbeat at most every 0.8 × the activity's heartbeat
// timeout (48 s for the instruction's minute) unless the worker caps that
// with worker.Options.MaxHeartbeatThrottleInterval. Heartbeating every
// second, sent at most every second, lets a cancel end the command within
// about a second, for one small RPC a second per running command
// (heartbeats are not history events); the heartbeat timeout, which
// decides when a worker counts as lost, stays a minute.
const (
	HeartbeatEveryDefault = time.Second
	heartbeatThrottleMax  = time.Second
)

// WorkerOptions are o with what the engine's activities need of the
// worker that runs them: heartbeats sent at most heartbeatThrottleMax
// apart, so a cancel arrives in time.
func WorkerOptions(o worker.Options) worker.Options {
	if o.MaxHeartbeatThrottleInterval == 0 || o.MaxHeartbeatThrottleInterval > heartbeatThrottleMax {
		o.MaxHeartbeatThrottleInterval = heartbeatThrottleMax
	}
	return o
}
