package engine

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// inputsDef declares one input of every type
// (docs/run-control.md#inputs); its command shows what it received.
const inputsDef = `inputs:
  repo: {type: string, required: true}
  depth: {type: int, default: 3}
  dry_run: {type: bool, default: false}
  mode: {type: enum, values: [fast, full], default: fast}
  wait: {type: duration, default: 5m}
instruction:
  kind: shell
  cmd: 'printf "%s|%s|%s|%s|%s\n" "$ACTIVITY_INPUT_REPO" "$ACTIVITY_INPUT_DEPTH" "$ACTIVITY_INPUT_DRY_RUN" "$ACTIVITY_INPUT_MODE" "$ACTIVITY_INPUT_WAIT"; cat "$ACTIVITY_INPUTS_FILE"; echo; stat -c %a "$ACTIVITY_INPUTS_FILE"'
`

// cronWithRepo is a daily trigger that sets the required input.
const cronWithRepo = "trigger: {trigger_type: cron, cron_expression: '@daily', inputs: {repo: x/y}}\n"

// TestInputsReachTheCommand: a manual run's inputs are resolved against
// the definition (defaults filled, strings parsed), recorded, and given
// to the command as ACTIVITY_INPUT_* and a 0600 inputs.json. A value that
// looks like shell stays text.
func TestInputsReachTheCommand(t *testing.T) {
	h := newHarness(t)
	h.put("id: t.inputs\nrun_on: hub\n" + cronWithRepo + inputsDef)
	marker := filepath.Join(t.TempDir(), "pwned")
	evil := "a/b$(touch " + marker + ")`touch " + marker + "`;touch " + marker
	_, run, err := h.run(RunInput{DefinitionID: "t.inputs", Trigger: store.RunTriggerManual,
		Inputs: map[string]any{"repo": evil, "depth": "5", "wait": "90s"}})
	if err != nil || run.Status != store.RunSucceeded {
		t.Fatalf("run: %v %s %q %q", err, run.Status, run.Error, run.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(run.Stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("stdout %q", run.Stdout)
	}
	if want := evil + "|5|false|fast|1m30s"; lines[0] != want {
		t.Errorf("env: got %q, want %q", lines[0], want)
	}
	want := map[string]any{"repo": evil, "depth": float64(5), "dry_run": false, "mode": "fast", "wait": "1m30s"}
	var file, recorded map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &file); err != nil || !sameValues(file, want) {
		t.Errorf("inputs.json %s (%v), want %v", lines[1], err, want)
	}
	if lines[2] != "600" {
		t.Errorf("inputs.json mode %s, want 600", lines[2])
	}
	if err := json.Unmarshal(run.Inputs, &recorded); err != nil || !sameValues(recorded, want) {
		t.Errorf("recorded inputs %s (%v), want %v", run.Inputs, err, want)
	}
	if run.Pool != "hub" {
		t.Errorf("pool %q, want hub", run.Pool)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("an input value ran as shell")
	}
	// A scheduled run takes trigger.inputs.
	_, run, err = h.run(RunInput{DefinitionID: "t.inputs", Trigger: store.RunTriggerCron})
	if err != nil || !strings.HasPrefix(run.Stdout, "x/y|3|false|fast|5m0s\n") {
		t.Errorf("cron run: %v %q %q", err, run.Stdout, run.Error)
	}
}

func sameValues(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestBadInputsFailAtStageInputs: a value that does not fit, from a
// manual run or from an event's trigger.inputs expression, fails the run
// at stage inputs naming the field; the command never runs.
func TestBadInputsFailAtStageInputs(t *testing.T) {
	h := newHarness(t)
	h.put("id: t.bad\n" + cronWithRepo + inputsDef)
	_, run, _ := h.run(RunInput{DefinitionID: "t.bad", Trigger: store.RunTriggerManual, Inputs: map[string]any{"repo": "a/b", "depth": "x"}})
	if run.Status != store.RunFailed || run.Stage != store.StageInputs || !strings.Contains(run.Error, "input depth") || run.Stdout != "" {
		t.Errorf("manual: %s %q %q stdout %q", run.Status, run.Stage, run.Error, run.Stdout)
	}
	_, run, _ = h.run(RunInput{DefinitionID: "t.bad", Trigger: store.RunTriggerManual})
	if run.Status != store.RunFailed || run.Stage != store.StageInputs || !strings.Contains(run.Error, "input repo") {
		t.Errorf("missing required: %s %q %q", run.Status, run.Stage, run.Error)
	}

	h.put(`id: t.ev
trigger:
  trigger_type: event
  event_type: org.repo.pushed
  inputs: {repo: {cel: "event.payload.repo"}, depth: 7}
` + inputsDef)
	ev := func(payload string) RunInput {
		return RunInput{DefinitionID: "t.ev", Trigger: store.RunTriggerEvent,
			Event: &Event{Subject: "org.repo.pushed", ID: "e1", Time: time.Now(), Payload: json.RawMessage(payload)}}
	}
	_, run, err := h.run(ev(`{"repo":"c/d"}`))
	if err != nil || run.Status != store.RunSucceeded || !strings.HasPrefix(run.Stdout, "c/d|7|false|fast|5m0s\n") {
		t.Errorf("event: %v %s %q %q", err, run.Status, run.Error, run.Stdout)
	}
	_, run, _ = h.run(ev(`{"repo":42}`))
	if run.Status != store.RunFailed || run.Stage != store.StageInputs || !strings.Contains(run.Error, "input repo") {
		t.Errorf("event with a bad value: %s %q %q", run.Status, run.Stage, run.Error)
	}
}

// TestPendingRecordIsAdopted: the API writes a pending record before it
// starts the workflow; the run takes it over (running, then its end) with
// every field set and what the API gave kept, instead of mistaking it for
// an earlier attempt's record.
func TestPendingRecordIsAdopted(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.pending", "instruction: {kind: shell, cmd: 'echo ran'}\n"))
	ctx := context.Background()
	pending, err := h.store.CreateRun(ctx, store.Run{ID: NewRunID(), DefinitionID: "t.pending", Trigger: store.RunTriggerManual,
		Status: store.RunPending, Pool: "hub", Inputs: json.RawMessage(`{"kept":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, run, err := h.run(RunInput{RunID: pending.ID, DefinitionID: "t.pending", Trigger: store.RunTriggerManual})
	if err != nil || run.ID != pending.ID || run.Status != store.RunSucceeded || run.Stdout != "ran\n" {
		t.Fatalf("run: %v %+v", err, run)
	}
	if run.WorkflowID == "" || run.StartedAt == nil || run.DefinitionVersion != 1 || run.ContentHash == "" || len(run.TriggerDetail) == 0 {
		t.Errorf("adopted record incomplete: %+v", run)
	}
	if run.Pool != "hub" || string(run.Inputs) != `{"kept":true}` {
		t.Errorf("the API's pool and inputs were not kept: %q %s", run.Pool, run.Inputs)
	}
	if !run.CreatedAt.Equal(pending.CreatedAt) {
		t.Errorf("created at moved: %s, was %s", run.CreatedAt, pending.CreatedAt)
	}
	page, _ := h.store.ListRuns(ctx, store.RunFilter{DefinitionID: "t.pending"})
	if len(page.Runs) != 1 {
		t.Errorf("%d runs recorded, want 1", len(page.Runs))
	}
}

// TestWrittenOffRunDoesNotRun: the API marks its pending record failed
// when starting the workflow seemed to fail; if the workflow did start
// after all, the run is skipped, its command never runs, and the record
// keeps saying why.
func TestWrittenOffRunDoesNotRun(t *testing.T) {
	h := newHarness(t)
	marker := filepath.Join(t.TempDir(), "ran")
	h.put(cronShell("t.off", "instruction: {kind: shell, cmd: 'touch "+marker+"'}\n"))
	ctx := context.Background()
	now := time.Now().UTC()
	off, err := h.store.CreateRun(ctx, store.Run{ID: NewRunID(), DefinitionID: "t.off", Trigger: store.RunTriggerManual,
		Status: store.RunPending, Pool: "default"})
	if err != nil {
		t.Fatal(err)
	}
	off.Status, off.FinishedAt, off.Error = store.RunFailed, &now, "the workflow did not start: context canceled"
	if _, err := h.store.UpdateRun(ctx, off); err != nil {
		t.Fatal(err)
	}
	out, run, _ := h.run(RunInput{RunID: off.ID, DefinitionID: "t.off", Trigger: store.RunTriggerManual})
	if out == nil || out.Status != store.RunSkipped {
		t.Errorf("workflow outcome %+v, want skipped", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command of a run written off before it began ran")
	}
	if run.Status != store.RunFailed || run.Error != off.Error {
		t.Errorf("record %s %q, want the API's failed record kept", run.Status, run.Error)
	}
}

// TestBackfillFireRecorded: a cron run that starts long after its fire
// time, inside a backfill an operator asked for, is recorded as trigger
// backfill with that fire time; a late fire outside any backfill stays
// cron.
func TestBackfillFireRecorded(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.bf", "instruction: {kind: shell, cmd: 'echo ran'}\n"))
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := h.store.RecordBackfill(ctx, store.Backfill{DefinitionID: "t.bf", From: now.Add(-3 * time.Hour), To: now.Add(-time.Hour),
		Overlap: "skip", RequestedAt: now.Add(-time.Second), Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fire    time.Time
		started time.Time // the workflow's start; zero in older histories
		want    store.RunTrigger
	}{
		{now.Add(-2 * time.Hour), time.Time{}, store.RunTriggerBackfill},
		{now.Add(-30 * time.Minute), time.Time{}, store.RunTriggerCron},
		{now.Add(-2 * time.Hour), now, store.RunTriggerBackfill},
		// Started on time, begun now that a worker of its pool is back:
		// the cron's fire, though a backfill of its window came first.
		{now.Add(-2 * time.Hour), now.Add(-2*time.Hour + time.Second), store.RunTriggerCron},
	} {
		in := StartRunInput{RunID: NewRunID(), WorkflowID: "w", Input: RunInput{DefinitionID: "t.bf", Trigger: store.RunTriggerCron}, ScheduledAt: &c.fire, Attempt: 1,
			WorkflowStartedAt: c.started}
		res, err := h.acts.StartRun(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		run, err := h.store.GetRun(ctx, in.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Trigger != c.want || run.ScheduledAt == nil || !run.ScheduledAt.Equal(c.fire.Truncate(time.Microsecond)) {
			t.Errorf("fire %s, workflow started %s: recorded %s at %v, want %s", c.fire, c.started, run.Trigger, run.ScheduledAt, c.want)
		}
		if c.want == store.RunTriggerBackfill && res.Trigger != store.RunTriggerBackfill {
			t.Errorf("fire %s: the workflow is not told the trigger: %+v", c.fire, res)
		}
	}
}

// recordingSink is an OutputSink that keeps what it was given.
type recordingSink struct {
	mu      sync.Mutex
	runID   string
	longest int
	out     strings.Builder
	done    bool
}

func (s *recordingSink) Open(runID string, redact func(string) string, longest int) (io.Writer, io.Writer, func()) {
	s.runID, s.longest = runID, longest
	w := writerFunc(func(p []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.out.WriteString(redact(string(p)))
		return len(p), nil
	})
	return w, io.Discard, func() { s.done = true }
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestOutputSinkGetsTheCommandsOutput: Config.Output is opened for the
// run with its redaction and the length of the longest text it replaces,
// receives the output as it is written, and is closed after the command.
func TestOutputSinkGetsTheCommandsOutput(t *testing.T) {
	h := newHarness(t)
	sink := &recordingSink{}
	h.acts.cfg.Output = sink
	h.env["API_TOKEN"] = "tok-123456789"
	h.put(cronShell("t.live", "instruction: {kind: shell, cmd: 'echo \"live $T\"', env: {T: '${env:API_TOKEN}'}}\n"))
	_, run, err := h.run(RunInput{DefinitionID: "t.live", Trigger: store.RunTriggerCron})
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for _, f := range secret.Forms("tok-123456789") {
		longest = max(longest, len(f))
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.runID != run.ID || !sink.done || sink.out.String() != "live ***\n" || sink.longest != longest {
		t.Errorf("sink: run %q done %v longest %d (want %d) output %q", sink.runID, sink.done, sink.longest, longest, sink.out.String())
	}
}
