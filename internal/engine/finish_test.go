package engine

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coulomb/activity-core/internal/store"
)

// records is a slog handler that keeps what the activities log.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// outcome is the level and attributes of the "engine: run <status>" line
// of a run.
func (r *records) outcome(t *testing.T, runID string) (slog.Level, map[string]string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.list {
		attrs := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		if strings.HasPrefix(rec.Message, "engine: run ") && attrs["run_id"] == runID {
			return rec.Level, attrs
		}
	}
	t.Fatalf("no outcome logged for run %s", runID)
	return 0, nil
}

func logged(t *testing.T) (*harness, *records) {
	h := newHarness(t)
	rec := &records{}
	h.acts.log = slog.New(rec)
	return h, rec
}

// TestOutcomeLoggedAtPolicyLevel: a run's outcome is logged at the level
// its on_failure implies, a failure with the bounded tail of its stderr.
func TestOutcomeLoggedAtPolicyLevel(t *testing.T) {
	h, rec := logged(t)
	h.put(cronShell("t.ok", "instruction: {kind: shell, cmd: 'true'}\n"))
	h.put(cronShell("t.lac", "on_failure: log_and_continue\ninstruction: {kind: shell, cmd: 'echo first >&2; echo oops >&2; exit 4'}\n"))
	h.put(cronShell("t.fail", "instruction: {kind: shell, cmd: 'head -c 5000 /dev/zero | tr \"\\\\0\" x >&2; echo end >&2; exit 3'}\n"))
	cases := []struct {
		id    string
		level slog.Level
	}{{"t.ok", slog.LevelInfo}, {"t.lac", slog.LevelWarn}, {"t.fail", slog.LevelError}}
	for _, c := range cases {
		_, run, _ := h.run(RunInput{DefinitionID: c.id, Trigger: store.RunTriggerCron})
		level, attrs := rec.outcome(t, run.ID)
		if level != c.level || attrs["status"] != string(run.Status) {
			t.Errorf("%s: logged %s %v, want %s", c.id, level, attrs, c.level)
		}
		switch c.id {
		case "t.ok":
			if _, ok := attrs["stderr_tail"]; ok {
				t.Errorf("a success logs stderr: %v", attrs)
			}
		case "t.lac":
			if attrs["stderr_tail"] != "first\noops" || attrs["exit_code"] != "4" {
				t.Errorf("log_and_continue attrs %v", attrs)
			}
		case "t.fail":
			tail := attrs["stderr_tail"]
			if len(tail) > stderrTailMax+len("…") || !strings.HasPrefix(tail, "…x") || !strings.HasSuffix(tail, "xxend") {
				t.Errorf("stderr tail not bounded (%d bytes): %.40q…", len(tail), tail)
			}
		}
	}
}

// TestLostCompletionRecordsTheKeptResult: the instruction succeeded and
// kept its result, but its report to Temporal was lost (PostgreSQL went
// away): the heartbeat timeout that follows is recorded as the success it
// was, even with max_attempts 1. Without a kept result it stays a failure.
func TestLostCompletionRecordsTheKeptResult(t *testing.T) {
	for _, kept := range []bool{true, false} {
		h, rec := logged(t)
		h.put(cronShell("t.lost", "instruction: {kind: shell, cmd: 'true'}\n"))
		out, run, werr := h.runWith(RunInput{DefinitionID: "t.lost", Trigger: store.RunTriggerCron}, func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(h.acts.RunInstruction, mock.Anything, mock.Anything).Return(
				func(ctx context.Context, in InstructionInput) (*InstructionResult, error) {
					if kept {
						zero := 0
						h.acts.keepSucceeded(ctx, in.RunID, &InstructionResult{ExitCode: &zero, Stdout: "done\n", Attempt: 1, StartedAt: time.Now()})
					}
					return nil, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil)
				})
		})
		if !kept {
			if werr == nil || run.Status != store.RunFailed {
				t.Errorf("no kept result: %v %+v", werr, run)
			}
			continue
		}
		if werr != nil || out.Status != store.RunSucceeded || run.Status != store.RunSucceeded || run.Stdout != "done\n" || run.Error != "" || run.Stage != store.StageNone {
			t.Fatalf("kept result: %v %+v %+v", werr, out, run)
		}
		if level, _ := rec.outcome(t, run.ID); level != slog.LevelInfo {
			t.Errorf("recovered success logged at %s", level)
		}
	}
}

// TestRecordedSuccessOutlivesALostReport: a lean attempt recorded the run
// as succeeded and announced it, then its report to Temporal came too late
// (start-to-close timeout, not a heartbeat one). The workflow must not
// contradict the record: no run.timed_out after run.succeeded, and the
// workflow ends as the run did.
func TestRecordedSuccessOutlivesALostReport(t *testing.T) {
	h := newHarness(t)
	h.put("id: t.late\ntrigger: {trigger_type: cron, cron_expression: '@daily', misfire_policy: allow_all}\ninstruction: {kind: shell, cmd: 'true'}\n")
	out, run, werr := h.runWith(RunInput{DefinitionID: "t.late", Trigger: store.RunTriggerCron}, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(h.acts.RunInstruction, mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in InstructionInput) (*InstructionResult, error) {
				zero := 0
				if in.Finish == nil || !h.acts.finishSucceeded(ctx, in, &InstructionResult{ExitCode: &zero, Attempt: 1, StartedAt: time.Now()}) {
					t.Fatal("the attempt did not record the run")
				}
				return nil, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil)
			})
	})
	if werr != nil || out.Status != store.RunSucceeded || run.Status != store.RunSucceeded {
		t.Errorf("workflow %v %+v, record %+v", werr, out, run)
	}
	// Announced again (the attempt may have died before it could), under
	// the same message id, which JetStream de-duplicates.
	h.pub.mu.Lock()
	defer h.pub.mu.Unlock()
	for _, m := range h.pub.msgs {
		if !strings.HasSuffix(m.Subject, ".run.succeeded") || m.MsgID != run.ID+":succeeded" {
			t.Errorf("lifecycle event %s (%s), want only run.succeeded", m.Subject, m.MsgID)
		}
	}
}
