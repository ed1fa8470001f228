package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
