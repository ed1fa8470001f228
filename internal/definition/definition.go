// Package definition reads, validates and fingerprints ActivityDefinition
// files (docs/definitions.md) and event-type files (docs/definitions.md#event-types).
//
// Files are decoded from the YAML node tree by hand rather than with
// yaml.Unmarshal, so that every problem in a file is reported at once with
// its line and column, duplicate keys and unknown fields are errors, and
// values are never coerced silently. A parsed Definition has every default
// filled in; its canonical JSON (Definition.CanonicalJSON) is what the store
// keeps and what the content hash is computed from, so reformatting a file
// or editing its comments never looks like a change.
package definition

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Trigger types.
const (
	TriggerCron  = "cron"
	TriggerEvent = "event"
	TriggerOnce  = "once"
)

// Misfire (overlap) policies, named as Temporal's ScheduleOverlapPolicy.
const (
	MisfireSkip           = "skip"
	MisfireBufferOne      = "buffer_one"
	MisfireBufferAll      = "buffer_all"
	MisfireAllowAll       = "allow_all"
	MisfireCancelOther    = "cancel_other"
	MisfireTerminateOther = "terminate_other"
)

// Context kinds.
const (
	ContextHTTPGet        = "http_get"
	ContextStateHubHealth = "state_hub.health"
	ContextStateHubRepos  = "state_hub.repos"
)

// Instruction kinds.
const (
	InstructionShell   = "shell"
	InstructionHTTP    = "http"
	InstructionPublish = "publish"
)

// on_failure values.
const (
	OnFailureFail           = "fail"
	OnFailureLogAndContinue = "log_and_continue"
)

// Defaults docs/definitions.md names. They are filled in at parse time so that the
// canonical form, and so the content hash, does not depend on whether a
// file spelled a default out.
const (
	TimezoneDefault           = "UTC"
	MisfirePolicyDefault      = MisfireSkip
	CatchupWindowDefault      = time.Minute
	ContextTimeoutDefault     = 10 * time.Second
	instructionTimeoutDefault = time.Hour
	onFailureDefault          = OnFailureFail
	httpMethodDefault         = "POST"
	// retryMaxAttemptsDefault is 1 (no retry): a shell command is not
	// idempotent in general, so retrying must be asked for.
	retryMaxAttemptsDefault        = 1
	retryInitialIntervalDefault    = 10 * time.Second
	retryBackoffCoefficientDefault = 2.0
	retryMaxIntervalDefault        = 5 * time.Minute
	// maxFileSize bounds a definition file: anything bigger is a mistake
	// (a generated dump, a binary) and is refused before it is parsed.
	maxFileSize = 1 << 20
)

// Definition is one parsed, validated ActivityDefinition with every default
// filled in. Its JSON form is the canonical form.
type Definition struct {
	ID             string          `json:"id"`
	Description    string          `json:"description,omitempty"`
	Enabled        bool            `json:"enabled"`
	Trigger        Trigger         `json:"trigger"`
	Context        []ContextSource `json:"context,omitempty"`
	Rule           Rule            `json:"rule"`
	Instruction    Instruction     `json:"instruction"`
	OnFailure      string          `json:"on_failure"`
	Retry          Retry           `json:"retry"`
	ConcurrencyKey string          `json:"concurrency_key,omitempty"`
	// Expect, Notify and PauseAfterFailures are the alerting fields
	// (docs/alerting.md), with folder and deployment defaults merged in.
	Expect             *Expect `json:"expect,omitempty"`
	Notify             *Notify `json:"notify,omitempty"`
	PauseAfterFailures int     `json:"pause_after_failures,omitempty"`
	// RunOn is the worker pool (docs/run-control.md#placement); empty is
	// PoolDefault, and is left out of the canonical form so definitions
	// without it keep their hash.
	RunOn string `json:"run_on,omitempty"`
	// Inputs are the typed parameters runs take, in file order
	// (docs/definitions.md#inputs).
	Inputs []InputDecl `json:"inputs,omitempty"`
	// Mode is ModeActive (left out of the canonical form, so definitions
	// without it keep their hash) or ModeShadow: fire, gather context and
	// evaluate, then record what would have run and run nothing
	// (docs/cutover.md#shadow-runs).
	Mode string `json:"mode,omitempty"`

	// Source is where the definition was read from; not part of the
	// canonical form (moving a file is not a change of behaviour).
	Source Source `json:"-"`
	// Warnings are things that are valid but probably not meant, such as a
	// cron expression Temporal reads differently from crontab.
	Warnings []*Error `json:"-"`
	// SecretRefs is every ${env:NAME} the worker will resolve and every
	// secret a notification target names, where it is, so sync and
	// validate can check it against the allow-list.
	SecretRefs []secretRef `json:"-"`

	// own is the alerting fields as the file wrote them, for merging
	// defaults in at load time.
	own *alerting
}

// Modes of a definition.
const (
	ModeActive = "active"
	ModeShadow = "shadow"
)

// Shadow reports whether the definition is in shadow mode.
func (d *Definition) Shadow() bool { return d.Mode == ModeShadow }

// UncheckedSecrets is the warning validate and plan give, with no
// allow-list to check against, for a definition that names secrets; nil
// when it names none.
func (d *Definition) UncheckedSecrets() *Error {
	var names []string
	for _, r := range d.SecretRefs {
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &Error{File: d.Source.File, Line: d.Source.Line, DefinitionID: d.ID,
		Message: fmt.Sprintf("secrets %s not checked: no allow-list given (pass --secret-env and --secrets-dir as set on the workers)", strings.Join(names, ", "))}
}

// Source locates a definition or event type on disk.
type Source struct {
	// Dir is the definitions directory the file was found under (as
	// configured), so a sync can tell which source a definition belongs to.
	Dir string
	// File is the path of the file (Dir joined with the relative path).
	File string
	// Line and Column locate the value of `id` (or `name`).
	Line, Column int
}

// Trigger says when a definition fires. Which fields are set depends on Type.
type Trigger struct {
	Type string `json:"trigger_type"`

	// cron
	CronExpression string `json:"cron_expression,omitempty"`
	// cron and once: the zone cron fields are read in, and the zone `next`
	// shows times in.
	Timezone      string   `json:"timezone,omitempty"`
	MisfirePolicy string   `json:"misfire_policy,omitempty"`
	CatchupWindow Duration `json:"catchup_window,omitempty"`
	Jitter        Duration `json:"jitter,omitempty"`

	// once
	RunAt *time.Time `json:"run_at,omitempty"`

	// event
	EventType string `json:"event_type,omitempty"`
	// Filters maps a dotted payload path to the globs its value may match
	// (any of them).
	Filters map[string][]string `json:"filters,omitempty"`

	// Inputs set the declared inputs of the runs this trigger starts.
	Inputs map[string]TriggerInput `json:"inputs,omitempty"`
}

// ContextSource is one piece of context gathered before the rule runs.
type ContextSource struct {
	Kind    string            `json:"kind"`
	Bind    string            `json:"bind"`
	URL     string            `json:"url,omitempty"`
	Timeout Duration          `json:"timeout"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Rule holds CEL expressions that must all be true for the instruction to
// run.
type Rule struct {
	When []string `json:"when,omitempty"`
}

// Instruction is what a run does. Which fields are set depends on Kind.
type Instruction struct {
	Kind    string   `json:"kind"`
	Timeout Duration `json:"timeout"`

	// shell
	Cmd     string            `json:"cmd,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Workdir string            `json:"workdir,omitempty"`
	Env     map[string]string `json:"env,omitempty"`

	// http
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is sent as JSON when it is a mapping or list, as text when it is
	// a string.
	Body any `json:"body,omitempty"`
	// ExpectStatus lists accepted status codes; empty means any 2xx.
	ExpectStatus []int `json:"expect_status,omitempty"`

	// publish
	Subject string         `json:"subject,omitempty"`
	Payload map[string]any `json:"payload,omitempty"`
}

// Expect is what a healthy definition does (docs/alerting.md#expect); a
// zero field checks nothing.
type Expect struct {
	// SucceedsWithin: stale when the last success is older than this.
	SucceedsWithin Duration `json:"succeeds_within,omitempty"`
	// MaxDuration: late when a run is still going past this.
	MaxDuration Duration `json:"max_duration,omitempty"`
	// Grace: missed when a scheduled fire left no run within this.
	Grace Duration `json:"grace,omitempty"`
	// OutputMatches is an RE2 regular expression: a run that exits 0
	// without a match in its stdout fails at stage expectation.
	OutputMatches string `json:"output_matches,omitempty"`
}

// Notification events (notify.on).
const (
	EventFailed    = "failed"
	EventTimedOut  = "timed_out"
	EventMissed    = "missed"
	EventStale     = "stale"
	EventLate      = "late"
	EventRecovered = "recovered"
	EventSkipped   = "skipped"
	// EventPaused: a missed fire of a schedule an operator paused, and an
	// auto-pause; off unless listed.
	EventPaused = "paused"
)

// NotifyOnDefault is notify.on when not given: all but skipped and paused.
var NotifyOnDefault = []string{EventFailed, EventTimedOut, EventMissed, EventStale, EventLate, EventRecovered}

// Notify says who is told, and when (docs/alerting.md#notify).
type Notify struct {
	On []string `json:"on,omitempty"`
	// AfterFailures: alert on the Nth consecutive failure (default 1).
	AfterFailures int            `json:"after_failures,omitempty"`
	Targets       []NotifyTarget `json:"targets,omitempty"`
}

// Notification target kinds.
const (
	TargetWebhook = "webhook"
	TargetSlack   = "slack"
	TargetEmail   = "email"
	TargetNATS    = "nats"
)

// NotifyTarget is one place notifications go. Which fields are set
// depends on Kind. URL may be a ${env:NAME} reference, resolved by the
// notifier like any secret.
type NotifyTarget struct {
	Kind string `json:"kind"`
	// webhook, slack
	URL string `json:"url,omitempty"`
	// webhook: the allow-listed secret that signs the body (HMAC-SHA256).
	Secret string `json:"secret,omitempty"`
	// email
	To []string `json:"to,omitempty"`
	// nats
	Subject string `json:"subject,omitempty"`
}

// Retry is the retry policy of the instruction activity.
type Retry struct {
	MaxAttempts        int      `json:"max_attempts"`
	InitialInterval    Duration `json:"initial_interval"`
	BackoffCoefficient float64  `json:"backoff_coefficient"`
	MaxInterval        Duration `json:"max_interval"`
}

// Duration is a time.Duration that reads and writes Go duration strings
// ("90s", "5m", "1h30m") in JSON.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as Go does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"5m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// EventType is a named event subject with an optional JSON Schema of its
// payload (docs/definitions.md#event-types).
type EventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`

	Source Source `json:"-"`
}
