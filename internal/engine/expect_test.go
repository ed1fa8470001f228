package engine

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// TestOutputMatches runs real workflows on the embedded server: a command
// that exits 0 without the expected text in its stdout is a failed run at
// stage expectation, recorded and announced so; one that prints it
// succeeds; a non-zero exit stays an instruction failure; the check is
// retried like a failed command (docs/alerting.md#expect).
func TestOutputMatches(t *testing.T) {
	h := newLiveHarness(t)
	body := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"state":"degraded"}`)) // the run's output shows what arrived
	}))
	t.Cleanup(body.Close)
	def := func(id, instruction string) string {
		return "id: " + id + "\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\non_failure: log_and_continue\n" +
			"expect: {output_matches: 'backup complete'}\ninstruction: " + instruction + "\n"
	}
	cases := []struct {
		id, instruction string
		status          store.RunStatus
		stage           store.RunStage
		err             string
		attempt         int
	}{
		{"x.ok", `{kind: shell, cmd: 'echo "backup complete: 3 files"'}`, store.RunSucceeded, store.StageNone, "", 1},
		{"x.lies", `{kind: shell, cmd: 'echo "disk full, nothing written"'}`, store.RunFailed, store.StageExpectation,
			`expectation: stdout did not match "backup complete"`, 1},
		{"x.exit", `{kind: shell, cmd: 'echo "backup complete"; exit 2'}`, store.RunFailed, store.StageInstruction, "command exited with status 2", 1},
		{"x.retried", "{kind: shell, cmd: 'echo nope'}\nretry: {max_attempts: 2, initial_interval: 1s}", store.RunFailed, store.StageExpectation,
			`expectation: stdout did not match "backup complete"`, 2},
		{"x.http", `{kind: http, method: GET, url: '` + body.URL + `'}`, store.RunFailed, store.StageExpectation,
			`expectation: response body did not match "backup complete"`, 1},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			res := h.runLive(t, runPath{name: c.id, def: def(c.id, c.instruction), in: RunInput{DefinitionID: c.id, Trigger: store.RunTriggerCron}}, "")
			run := res.run
			if run.Status != c.status || run.Stage != c.stage || run.Error != c.err || run.Attempt != c.attempt {
				t.Errorf("run: status %s stage %q error %q attempt %d, want %s %q %q %d", run.Status, run.Stage, run.Error, run.Attempt, c.status, c.stage, c.err, c.attempt)
			}
			if c.stage == store.StageExpectation && c.id != "x.http" && (run.ExitCode == nil || *run.ExitCode != 0 || run.Stdout == "") {
				t.Errorf("the output a lying run left is not kept: exit %v stdout %q", run.ExitCode, run.Stdout)
			}
			if len(res.lifecycle) != 1 {
				t.Fatalf("lifecycle events: %d", len(res.lifecycle))
			}
			var ev LifecycleEvent
			if err := json.Unmarshal(res.lifecycle[0].Data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Status != c.status || ev.Stage != c.stage || ev.Reason != c.err {
				t.Errorf("lifecycle: %s %q %q", ev.Status, ev.Stage, ev.Reason)
			}
		})
	}
}
