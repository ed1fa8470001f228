package store

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// RunStatus is where a run is in its life (docs/definitions.md#what-a-run-leaves-behind). Statuses are stored
// as text and checked when read, so a row holding a status this release does
// not know is reported and skipped rather than misread.
type RunStatus string

// The run statuses.
const (
	RunPending   RunStatus = "pending"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunSkipped   RunStatus = "skipped"
	RunTimedOut  RunStatus = "timed_out"
	RunCanceled  RunStatus = "canceled"
	// RunMissed is a fire the schedule should have made that left no run
	// within its grace (docs/alerting.md#missed-fires); SkipReason says why.
	RunMissed RunStatus = "missed"
	// RunShadow is a fire of a definition in shadow mode whose rule said
	// run: it records what would have run (ShadowPlan) and executed
	// nothing (docs/cutover.md#shadow-runs).
	RunShadow RunStatus = "shadow"
)

// Valid reports whether s is a known status.
func (s RunStatus) Valid() bool {
	switch s {
	case RunPending, RunRunning, RunSucceeded, RunFailed, RunSkipped, RunTimedOut, RunCanceled, RunMissed, RunShadow:
		return true
	}
	return false
}

// Terminal reports whether s is final: UpdateRun refuses to move a run out
// of a terminal status, so a late retry cannot undo a finished run.
func (s RunStatus) Terminal() bool {
	switch s {
	case RunSucceeded, RunFailed, RunSkipped, RunTimedOut, RunCanceled, RunMissed, RunShadow:
		return true
	}
	return false
}

// RunTrigger says what started a run.
type RunTrigger string

// The run triggers.
const (
	RunTriggerCron   RunTrigger = "cron"
	RunTriggerOnce   RunTrigger = "once"
	RunTriggerEvent  RunTrigger = "event"
	RunTriggerManual RunTrigger = "manual"
	// RunTriggerBackfill: Temporal's schedule backfill fired it for a
	// past fire time an operator asked for (ScheduledAt).
	RunTriggerBackfill RunTrigger = "backfill"
)

// Valid reports whether t is a known trigger.
func (t RunTrigger) Valid() bool {
	switch t {
	case RunTriggerCron, RunTriggerOnce, RunTriggerEvent, RunTriggerManual, RunTriggerBackfill:
		return true
	}
	return false
}

// RunStage is the step a failed run failed in, so an operator knows whether
// to look at context sources, the rule or the instruction.
type RunStage string

// The run stages; empty when the run did not fail.
const (
	StageNone        RunStage = ""
	StageContext     RunStage = "context"
	StageRule        RunStage = "rule"
	StageInstruction RunStage = "instruction"
	// StageExpectation: the instruction succeeded but its output did not
	// match expect.output_matches.
	StageExpectation RunStage = "expectation"
	// StageInputs: the run's inputs did not fit the definition's
	// declaration (a CEL expression over the event gave a bad value).
	StageInputs RunStage = "inputs"
)

// Valid reports whether s is a known stage (or none).
func (s RunStage) Valid() bool {
	switch s {
	case StageNone, StageContext, StageRule, StageInstruction, StageExpectation, StageInputs:
		return true
	}
	return false
}

// OutputTailMax is the most output the store keeps per stream: the engine
// streams a command's output and keeps the last 64 KiB. Longer Stdout or
// Stderr given to the store is cut to its last OutputTailMax bytes.
const OutputTailMax = 64 << 10

// Run is the record of one fire of a definition (docs/definitions.md#what-a-run-leaves-behind): what triggered
// it, which exact version ran, what happened and why.
type Run struct {
	// ID is chosen by the caller (the engine uses the workflow run ID).
	ID           string `json:"id"`
	DefinitionID string `json:"definition_id"`
	// DefinitionVersion and ContentHash are the exact version run; 0 and
	// empty when the definition could not be loaded.
	DefinitionVersion int        `json:"definition_version"`
	ContentHash       string     `json:"content_hash,omitempty"`
	Trigger           RunTrigger `json:"trigger"`
	// TriggerDetail is what fired it (event subject, id, payload; schedule
	// time), as JSON; nil when there is nothing to say.
	TriggerDetail json.RawMessage `json:"trigger_detail,omitempty"`
	Status        RunStatus       `json:"status"`
	// SkipReason says why a skipped run did not execute its instruction
	// (rule false, disabled, removed, overlap, deduplicated).
	SkipReason string `json:"skip_reason,omitempty"`
	// Stage is where a failed run failed.
	Stage         RunStage   `json:"stage,omitempty"`
	WorkflowID    string     `json:"workflow_id,omitempty"`
	WorkflowRunID string     `json:"workflow_run_id,omitempty"`
	ScheduledAt   *time.Time `json:"scheduled_at,omitempty"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	// ContextSnapshot is the gathered context, redacted, as JSON.
	ContextSnapshot json.RawMessage `json:"context_snapshot,omitempty"`
	// RuleOutcome is the rule evaluation (which expression was false), as
	// JSON.
	RuleOutcome json.RawMessage `json:"rule_outcome,omitempty"`
	// ExitCode is the shell instruction's exit status; nil when no process
	// ran or it was killed by a signal.
	ExitCode *int `json:"exit_code,omitempty"`
	// Stdout and Stderr are the last OutputTailMax bytes of each stream,
	// kept exactly (they may hold NULs or cut a UTF-8 sequence). They are
	// empty in ListRuns pages unless RunFilter.IncludeOutput is set.
	Stdout  string `json:"stdout,omitempty"`
	Stderr  string `json:"stderr,omitempty"`
	Error   string `json:"error,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	// Pool is the worker pool (run_on) the run was placed on; empty is
	// the default pool.
	Pool string `json:"pool,omitempty"`
	// Inputs are the run's resolved inputs as a JSON object; nil when the
	// definition declares none.
	Inputs json.RawMessage `json:"inputs,omitempty"`
	// CanceledBy and CancelNote say who asked to cancel the run and why
	// (RequestRunCancel); UpdateRun keeps them when given empty.
	CanceledBy string `json:"canceled_by,omitempty"`
	CancelNote string `json:"cancel_note,omitempty"`
	// ShadowPlan is what a shadow run would have run (ShadowPlan as JSON:
	// argv, env names, working directory, inputs); nil for other runs.
	ShadowPlan json.RawMessage `json:"shadow_plan,omitempty"`
	// CreatedAt is set by CreateRun and orders ListRuns; it never changes.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Limits of RunFilter.Limit.
const (
	RunListLimitDefault = 50
	RunListLimitMax     = 1000
)

// RunFilter selects a page of runs. The zero value is the newest
// RunListLimitDefault runs of every definition.
type RunFilter struct {
	// DefinitionID, when set, keeps only runs of that definition.
	DefinitionID string
	// Status, when set, keeps only runs with that status.
	Status RunStatus
	// Limit is the page size: 0 or less means RunListLimitDefault, more
	// than RunListLimitMax means RunListLimitMax.
	Limit int
	// Before is RunPage.Next of the previous page; empty for the first
	// page. A cursor that does not parse is ErrInvalid.
	Before string
	// IncludeOutput fills Stdout and Stderr, up to 128 KiB a run; lists
	// leave them out by default.
	IncludeOutput bool
}

// RunPage is one page of ListRuns.
type RunPage struct {
	Runs []Run `json:"runs"`
	// Next is the cursor of the following page, empty on the last page.
	// A page may hold fewer than Limit runs when corrupt rows were skipped.
	Next string `json:"next,omitempty"`
}

// ShadowPlan is what a run of a definition in shadow mode would have run,
// recorded instead of running it (docs/cutover.md#shadow-runs). It holds
// names, never values, of the environment.
type ShadowPlan struct {
	Argv     []string        `json:"argv"`
	EnvNames []string        `json:"env_names"`
	Dir      string          `json:"dir,omitempty"`
	Inputs   json.RawMessage `json:"inputs,omitempty"`
}

// ShadowWhy is a shadow run's one-line why, for run lists: the command it
// would have run, each argument quoted when it holds anything but plain
// characters, so the boundaries show.
func ShadowWhy(raw json.RawMessage) string {
	var p ShadowPlan
	if len(raw) == 0 || json.Unmarshal(raw, &p) != nil || len(p.Argv) == 0 {
		return "shadow: would have run its instruction (no plan recorded)"
	}
	out := make([]string, len(p.Argv))
	for i, a := range p.Argv {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return !(r == '/' || r == '-' || r == '_' || r == '.' || r == ':' || r == '=' || r == ',' ||
				r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return "shadow: would have run " + strings.Join(out, " ")
}
