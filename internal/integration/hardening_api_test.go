package integration

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/cli"
)

// runCLI runs the activity-core CLI in-process against the instance.
func (in *instance) runCLI(args ...string) (int, string, string) {
	in.t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--server", in.base, "--token", token)
	code := cli.Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestRunWaitExitCodes: run --wait exits by the run's final status, so a
// script or CI job can tell success from failure and from a skip.
func TestRunWaitExitCodes(t *testing.T) {
	in := start(t)
	in.write("ok.yaml", cron("it.ok", "0 3 * * *", ""))
	in.write("fail.yaml", "id: it.fail\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'exit 7'}\n")
	in.write("skip.yaml", cron("it.skip", "0 3 * * *", "rule: {when: ['1 == 2']}\n"))
	in.sync("")
	for _, tc := range []struct {
		id   string
		want int
	}{
		{"it.ok", cli.ExitOK},
		{"it.fail", cli.ExitFailure},
		{"it.skip", cli.ExitRunSkipped},
	} {
		code, out, errOut := in.runCLI("run", tc.id, "--wait")
		if code != tc.want {
			t.Errorf("run %s --wait exited %d, want %d\nstdout: %s\nstderr: %s", tc.id, code, tc.want, out, errOut)
		}
		if tc.want != cli.ExitOK && !strings.Contains(errOut, "run ") {
			t.Errorf("run %s --wait: stderr does not name the outcome: %q", tc.id, errOut)
		}
	}
	// --timeout shorter than the run: its own code.
	in.write("slow.yaml", "id: it.slow\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'sleep 30'}\n")
	in.sync("")
	if code, _, errOut := in.runCLI("run", "it.slow", "--wait", "--timeout", "1s"); code != cli.ExitWaitTimeout {
		t.Errorf("run it.slow --wait --timeout 1s exited %d, want %d (%s)", code, cli.ExitWaitTimeout, errOut)
	}
}

// TestPauseNoteAndDefinitionsState: a pause note too long for Temporal is
// refused before anything changes (it used to leave the store paused, the
// schedule firing and every sync failing); a pause shows in the
// definitions list's STATE, from the API and the CLI.
func TestPauseNoteAndDefinitionsState(t *testing.T) {
	in := start(t)
	in.write("job.yaml", cron("it.job", "0 3 * * *", ""))
	in.write("ev.yaml", "id: it.ev\ntrigger: {trigger_type: event, event_type: it.x}\ninstruction: {kind: shell, cmd: 'true'}\n")
	in.sync("")
	in.waitSchedules(map[string]bool{"it.job": false})
	long := `{"note":"` + strings.Repeat("n", 960) + `"}`
	if code := in.call("POST", "/api/v1/definitions/it.job/pause", long, nil); code != http.StatusBadRequest {
		t.Fatalf("pause with a 960-byte note: %d, want 400", code)
	}
	if res := in.sync(""); len(res.Errors) != 0 {
		t.Errorf("sync after the refused pause: %+v", res.Errors)
	}
	var detail struct {
		Schedule adminapi.ScheduleInfo `json:"schedule"`
	}
	in.call("GET", "/api/v1/definitions/it.job", "", &detail)
	if detail.Schedule.Paused || detail.Schedule.PausedBy != "" {
		t.Errorf("after a refused pause: %+v", detail.Schedule)
	}

	var paused struct {
		Paused   bool                   `json:"paused"`
		Schedule *adminapi.ScheduleInfo `json:"schedule"`
	}
	if code := in.call("POST", "/api/v1/definitions/it.job/pause", `{"note":"hub migration"}`, &paused); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	if !paused.Paused || paused.Schedule == nil || !paused.Schedule.Paused || paused.Schedule.Pending != "" {
		t.Errorf("pause answer (Temporal's state): %+v %+v", paused, paused.Schedule)
	}
	if res := in.sync(""); len(res.Errors) != 0 {
		t.Errorf("sync during the pause: %+v", res.Errors)
	}
	var list struct {
		Definitions []struct {
			ID            string                   `json:"id"`
			ScheduleState adminapi.DefinitionState `json:"schedule_state"`
		} `json:"definitions"`
		ScheduleError string `json:"schedule_error"`
	}
	in.call("GET", "/api/v1/definitions", "", &list)
	states := map[string]adminapi.DefinitionState{}
	for _, d := range list.Definitions {
		states[d.ID] = d.ScheduleState
	}
	if s := states["it.job"]; s.State != "paused" || s.PausedBy != "admin" || s.Note != "hub migration" || list.ScheduleError != "" {
		t.Errorf("it.job in the list: %+v (%s)", s, list.ScheduleError)
	}
	if s := states["it.ev"]; s.State != "listening" {
		t.Errorf("it.ev in the list: %+v", s)
	}
	code, out, errOut := in.runCLI("definitions", "list")
	if code != cli.ExitOK || !strings.Contains(out, "paused by admin: hub migration") || !strings.Contains(out, "listening") {
		t.Errorf("definitions list: %d\n%s%s", code, out, errOut)
	}
}
