package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/shell"
	"github.com/coulomb/activity-core/internal/store"
)

// InstructionInput is everything an instruction may use.
type InstructionInput struct {
	RunID        string `json:"run_id"`
	DefinitionID string `json:"definition_id"`
	Trigger      string `json:"trigger"`
	// Spec is the definition (first-shape runs); Ref names it (lean runs).
	Spec    json.RawMessage            `json:"spec,omitempty"`
	Ref     *SpecRef                   `json:"ref,omitempty"`
	Event   *Event                     `json:"event,omitempty"`
	Context map[string]json.RawMessage `json:"context,omitempty"`
	// Inputs are the run's resolved inputs, a JSON object
	// (docs/run-control.md#inputs); empty when it has none.
	Inputs json.RawMessage `json:"inputs,omitempty"`
	// Finish, when set, has a successful attempt record the run's end.
	Finish *instructionFinish `json:"finish,omitempty"`
}

// InstructionResult is what an attempt left behind; secrets are redacted.
type InstructionResult struct {
	ExitCode    *int      `json:"exit_code,omitempty"`
	Signal      string    `json:"signal,omitempty"`
	Stdout      string    `json:"stdout,omitempty"`
	Stderr      string    `json:"stderr,omitempty"`
	StdoutBytes int64     `json:"stdout_bytes,omitempty"`
	StderrBytes int64     `json:"stderr_bytes,omitempty"`
	HTTPStatus  int       `json:"http_status,omitempty"`
	Error       string    `json:"error,omitempty"`
	Attempt     int       `json:"attempt"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	// Recorded says the attempt recorded the run's end (and announced it)
	// itself, as InstructionInput.Finish asked.
	Recorded bool `json:"recorded,omitempty"`
	// Stage is set when the attempt failed after its instruction succeeded:
	// expectation, when the output broke expect.output_matches.
	Stage store.RunStage `json:"stage,omitempty"`
}

// RunInstruction performs the instruction once (Temporal retries it by the
// definition's retry policy). A failed attempt returns an application error
// carrying the InstructionResult as details, so the workflow can record the
// output of the last attempt.
func (a *Activities) RunInstruction(ctx context.Context, in InstructionInput) (*InstructionResult, error) {
	def, err := a.definition(ctx, in.Spec, in.Ref)
	if err != nil {
		return nil, err
	}
	info := activity.GetInfo(ctx)
	ctx, stopSteady := steadyContext(ctx, a.log, a.runStopped(in.RunID))
	defer stopSteady()
	sec := newSecrets(a.cfg.Secrets)
	res := &InstructionResult{Attempt: int(info.Attempt), StartedAt: time.Now().UTC()}
	// The instruction's own timeout ends the attempt a little before
	// Temporal's StartToClose does, so the output can still be reported.
	ictx, cancel := context.WithTimeoutCause(ctx, def.Instruction.Timeout.D(), errInstructionTimeout)
	defer cancel()

	var runErr error
	switch def.Instruction.Kind {
	case definition.InstructionShell:
		runErr = a.runShell(ictx, sec, def, in, res)
	case definition.InstructionHTTP:
		runErr = a.runHTTP(ictx, sec, def, res)
	case definition.InstructionPublish:
		runErr = a.runPublish(ictx, sec, def, in, res)
	default:
		runErr = temporal.NewNonRetryableApplicationError("unknown instruction kind "+def.Instruction.Kind, errTypeConfig, nil)
	}
	res.FinishedAt = time.Now().UTC()
	res.Stdout, res.Stderr = sec.redact(res.Stdout), sec.redact(res.Stderr)
	if runErr == nil {
		runErr = expectOutput(def, res)
	}
	if runErr == nil {
		if in.Finish != nil {
			res.Recorded = a.finishSucceeded(ctx, in, res)
		}
		if !res.Recorded {
			a.keepSucceeded(ctx, in.RunID, res)
		}
		return res, nil
	}
	// Classify: our timeout, cancellation, or a failure. The timeout comes
	// first: once it fired, a cancel that arrives while the command is
	// still being killed does not turn a timed-out run into a canceled one
	// (docs/definitions.md#timeouts).
	var appErr *temporal.ApplicationError
	switch {
	case errors.Is(context.Cause(ictx), errInstructionTimeout):
		res.Error = fmt.Sprintf("timed out after %s", def.Instruction.Timeout)
		return nil, temporal.NewApplicationErrorWithOptions(res.Error, errTypeTimeout, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{res}})
	case ctx.Err() != nil:
		res.Error = "canceled"
		return nil, temporal.NewCanceledError(res)
	case errors.As(runErr, &appErr):
		res.Error = sec.redact(appErr.Message())
		return nil, temporal.NewApplicationErrorWithOptions(res.Error, appErr.Type(), temporal.ApplicationErrorOptions{NonRetryable: appErr.NonRetryable(), Details: []any{res}})
	default:
		res.Error = sec.redact(runErr.Error())
		return nil, temporal.NewApplicationErrorWithOptions(res.Error, errTypeCommandFailed, temporal.ApplicationErrorOptions{Details: []any{res}})
	}
}

// expectOutput checks expect.output_matches (docs/alerting.md#expect)
// against the output the run keeps: a shell command's stdout, an http
// response's body, both their last 64 KiB and redacted. No match fails
// the attempt at stage expectation, retried like a failed command.
func expectOutput(def *definition.Definition, res *InstructionResult) error {
	if def.Expect == nil || def.Expect.OutputMatches == "" || def.Instruction.Kind == definition.InstructionPublish {
		return nil
	}
	re, err := regexp.Compile(def.Expect.OutputMatches)
	if err != nil {
		// Validated when the definition was loaded: only a stored spec
		// from elsewhere gets here.
		return configErr(fmt.Errorf("expect.output_matches: %v", err))
	}
	if re.MatchString(res.Stdout) {
		return nil
	}
	what := "stdout"
	if def.Instruction.Kind == definition.InstructionHTTP {
		what = "response body"
	}
	res.Stage = store.StageExpectation
	return temporal.NewApplicationError(fmt.Sprintf("expectation: %s did not match %q", what, def.Expect.OutputMatches), errTypeExpectation)
}

func configErr(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), errTypeConfig, err)
}

// Files in a run's private directory that carry the event payload and the
// context to a shell command, whatever their size (docs/definitions.md#limits).
const (
	eventFileName   = "event.json"
	contextFileName = "context.json"
	// previewRunDir stands for the per-run directory in a preview.
	previewRunDir = "$TMPDIR/activity-run-*"
)

// shellEnv builds a command's whole environment: the worker's minimal base,
// the definition's env (with ${env:...} resolved), then the ACTIVITY_*
// variables, which carry all untrusted data
// (docs/definitions.md#instruction). The inputs are ACTIVITY_INPUT_<NAME>
// variables (docs/run-control.md#inputs). The event, the context and the
// inputs are in files in runDir (see writeRunFiles), named by
// ACTIVITY_EVENT_FILE, ACTIVITY_CONTEXT_FILE and ACTIVITY_INPUTS_FILE; ACTIVITY_EVENT_JSON and ACTIVITY_CONTEXT_JSON
// repeat them only when they fit in limits.EnvValue, since Linux refuses
// an environment string over 128 KiB.
func (a *Activities) shellEnv(sec *secrets, def *definition.Definition, in InstructionInput, runDir string) ([]string, error) {
	env := append([]string(nil), a.cfg.BaseEnv...)
	for k, v := range def.Instruction.Env {
		ev, err := sec.expand(v)
		if err != nil {
			return nil, fmt.Errorf("instruction.env.%s: %w", k, err)
		}
		env = append(env, k+"="+ev)
	}
	ctxJSON, payload := runData(in)
	env = append(env,
		"ACTIVITY_RUN_ID="+in.RunID,
		"ACTIVITY_DEFINITION_ID="+in.DefinitionID,
		"ACTIVITY_TRIGGER="+in.Trigger,
	)
	if len(ctxJSON) <= limits.EnvValue {
		env = append(env, "ACTIVITY_CONTEXT_JSON="+string(ctxJSON))
	}
	if in.Event != nil {
		env = append(env, "ACTIVITY_EVENT_SUBJECT="+in.Event.Subject, "ACTIVITY_EVENT_ID="+in.Event.ID)
		if len(payload) <= limits.EnvValue {
			env = append(env, "ACTIVITY_EVENT_JSON="+string(payload))
		}
	}
	inputs, err := inputEnv(in.Inputs)
	if err != nil {
		return nil, err
	}
	env = append(env, inputs...)
	env = append(env,
		"ACTIVITY_CONTEXT_FILE="+filepath.Join(runDir, contextFileName),
		"ACTIVITY_EVENT_FILE="+filepath.Join(runDir, eventFileName),
		"ACTIVITY_INPUTS_FILE="+filepath.Join(runDir, inputsFileName),
	)
	return env, nil
}

// runData is the context ({} when none) and the event payload (null when
// none) as a command receives them.
func runData(in InstructionInput) (ctxJSON, payload []byte) {
	ctxJSON = []byte("{}")
	if in.Context != nil {
		ctxJSON, _ = json.Marshal(in.Context)
	}
	payload = []byte("null")
	if in.Event != nil && len(in.Event.Payload) > 0 {
		payload = in.Event.Payload
	}
	return ctxJSON, payload
}

// writeRunFiles makes the run's private directory (0700, in the worker's
// TMPDIR) holding the event, context and inputs files (0600); remove
// deletes it.
func writeRunFiles(in InstructionInput) (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "activity-run-")
	if err != nil {
		return "", nil, fmt.Errorf("creating the run's directory: %w", err)
	}
	remove = func() { _ = os.RemoveAll(dir) }
	ctxJSON, payload := runData(in)
	inputs := []byte("{}")
	if len(in.Inputs) > 0 {
		inputs = in.Inputs
	}
	for name, data := range map[string][]byte{contextFileName: ctxJSON, eventFileName: payload, inputsFileName: inputs} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			remove()
			return "", nil, fmt.Errorf("writing the run's %s: %w", name, err)
		}
	}
	return dir, remove, nil
}

func (a *Activities) runShell(ctx context.Context, sec *secrets, def *definition.Definition, in InstructionInput, res *InstructionResult) error {
	dir, remove, err := writeRunFiles(in)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), errTypeStart, err)
	}
	defer remove()
	env, err := a.shellEnv(sec, def, in, dir)
	if err != nil {
		return configErr(err)
	}
	cmd := shell.Command{
		Cmd:           def.Instruction.Cmd,
		Args:          def.Instruction.Args,
		Dir:           def.Instruction.Workdir,
		Env:           env,
		Grace:         a.cfg.ShellGrace,
		ProgressEvery: a.cfg.HeartbeatEvery,
		Container:     a.cfg.Shell,
		Name:          in.RunID + "-" + strconv.Itoa(res.Attempt),
		Progress:      heartbeatProgress(ctx),
	}
	done := func() {}
	if a.cfg.Output != nil {
		// Opened once the secrets are resolved: the redaction is complete.
		cmd.Stdout, cmd.Stderr, done = a.cfg.Output.Open(in.RunID, sec.redact, sec.longest())
	}
	out, err := shell.Run(ctx, cmd)
	done()
	if err == nil && out.Containment != shell.ContainCgroup {
		a.log.Debug("engine: shell command contained by its process group only", "run_id", in.RunID, "containment", out.Containment)
	}
	if err != nil {
		return temporal.NewNonRetryableApplicationError(sec.redact(err.Error()), errTypeStart, err)
	}
	res.Stdout, res.Stderr = out.Stdout, out.Stderr
	res.StdoutBytes, res.StderrBytes = out.StdoutBytes, out.StderrBytes
	res.Signal = out.Signal
	if out.Signal == "" {
		code := out.ExitCode
		res.ExitCode = &code
	}
	switch {
	case out.Canceled:
		return ctx.Err()
	case out.Signal != "":
		return fmt.Errorf("command killed by signal %s", out.Signal)
	case out.ExitCode != 0:
		return fmt.Errorf("command exited with status %d", out.ExitCode)
	}
	return nil
}

// heartbeatProgress heartbeats a running command's progress. The
// heartbeat's answer is also how a cancel reaches the command
// (docs/run-control.md#cancel).
func heartbeatProgress(ctx context.Context) func(shell.Progress) {
	return func(p shell.Progress) {
		// ctx is the instruction's: past its timeout it is done while
		// the command is still being killed. A heartbeat on a done
		// context fails, and the SDK then cancels the activity — the
		// run would read canceled. Heartbeat on the activity's context.
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(context.WithoutCancel(ctx), map[string]any{
				"pid": p.PID, "elapsed": p.Elapsed.String(), "stdout_bytes": p.StdoutBytes, "stderr_bytes": p.StderrBytes,
				"containment": string(p.Containment),
			})
		}
	}
}

func (a *Activities) runHTTP(ctx context.Context, sec *secrets, def *definition.Definition, res *InstructionResult) error {
	in := def.Instruction
	url, err := sec.expand(in.URL)
	if err != nil {
		return configErr(err)
	}
	var body io.Reader
	contentType := ""
	if in.Body != nil {
		b, err := sec.expandAny(in.Body)
		if err != nil {
			return configErr(err)
		}
		if s, ok := b.(string); ok {
			body, contentType = strings.NewReader(s), "text/plain; charset=utf-8"
		} else {
			j, err := json.Marshal(b)
			if err != nil {
				return configErr(err)
			}
			body, contentType = bytes.NewReader(j), "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, url, body)
	if err != nil {
		return configErr(fmt.Errorf("building request: %v", err))
	}
	req.Header.Set("User-Agent", "activity-core")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range in.Headers {
		ev, err := sec.expand(v)
		if err != nil {
			return configErr(err)
		}
		req.Header.Set(k, ev)
	}
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s: %v", in.Method, sec.redact(url), unwrapURLError(err))
	}
	defer resp.Body.Close()
	tail := shell.NewTail(shell.TailSize)
	_, _ = io.Copy(tail, resp.Body)
	res.HTTPStatus = resp.StatusCode
	res.Stdout = tail.String()
	if !statusAccepted(resp.StatusCode, in.ExpectStatus) {
		return fmt.Errorf("%s %s: status %d, expected %s%s", in.Method, sec.redact(url), resp.StatusCode, expectText(in.ExpectStatus), redirectNote(resp))
	}
	return nil
}

func statusAccepted(code int, expect []int) bool {
	if len(expect) == 0 {
		return code >= 200 && code <= 299
	}
	for _, e := range expect {
		if e == code {
			return true
		}
	}
	return false
}

func expectText(expect []int) string {
	if len(expect) == 0 {
		return "2xx"
	}
	parts := make([]string, len(expect))
	for i, e := range expect {
		parts[i] = fmt.Sprint(e)
	}
	return strings.Join(parts, " or ")
}

func (a *Activities) runPublish(ctx context.Context, sec *secrets, def *definition.Definition, in InstructionInput, res *InstructionResult) error {
	if a.cfg.Publisher == nil {
		return configErr(errors.New("publish instruction: this worker has no NATS connection (set ACTIVITY_NATS_URL)"))
	}
	var payload any = map[string]any{}
	if len(def.Instruction.Payload) > 0 {
		p, err := sec.expandAny(def.Instruction.Payload)
		if err != nil {
			return configErr(err)
		}
		payload = p
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return configErr(err)
	}
	if err := a.cfg.Publisher.Publish(ctx, def.Instruction.Subject, b, in.RunID); err != nil {
		return fmt.Errorf("publishing to %s: %v", def.Instruction.Subject, err)
	}
	res.Stdout = fmt.Sprintf("published %d bytes to %s", len(b), def.Instruction.Subject)
	return nil
}

// runStopped says whether a run was asked to cancel or has ended, from the
// store: what a command asks once its heartbeats could not reach Temporal
// (steadyContext).
func (a *Activities) runStopped(runID string) func(context.Context) bool {
	return func(ctx context.Context) bool {
		r, err := a.cfg.Store.GetRun(ctx, runID)
		return err == nil && (r.CanceledBy != "" || r.Status.Terminal())
	}
}
