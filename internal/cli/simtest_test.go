package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/simulate"
)

const simdata = "../simulate/testdata"

// TestSimulateThroughKong drives `activity-core test` through Main, as a
// shell would.
func TestSimulateThroughKong(t *testing.T) {
	// The example passes, and the output is PASS lines and a summary.
	code, out, errOut := run(t, "test", examples, "--events", "../../examples/simulate/events.jsonl",
		"--context", "../../examples/simulate/fixtures", "--expect", "../../examples/simulate/expect.yaml")
	if code != ExitOK {
		t.Fatalf("example: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "PASS event push-1 / the-custodian.state-hub-commit-consistency: runs true") ||
		!strings.HasPrefix(lastLine(out), "ok: 6 definitions") || strings.Contains(out, "FAIL") {
		t.Errorf("example output:\n%s", out)
	}

	// A failed expectation exits 1 with FAIL lines.
	code, out, _ = run(t, "test", simdata+"/defs", "--events", simdata+"/events.jsonl", "--context", simdata+"/fixtures.yaml",
		"--expect", simdata+"/expect-fail.yaml")
	if code != ExitFailure || !strings.Contains(out, "FAIL event push-branch / test.deploy-on-push: runs: expected true, got false") ||
		!strings.HasPrefix(lastLine(out), "FAILED:") {
		t.Errorf("expect-fail: exit %d\n%s", code, out)
	}

	// JSON: the trace with the secret given by --env redacted, and --at.
	code, out, errOut = run(t, "test", simdata+"/defs", "--events", simdata+"/events.jsonl", "--context", simdata+"/fixtures.yaml",
		"--env", "HOOK_KEY=hook=key,123", "--at", "2026-03-29T01:15:00Z", "--format", "json")
	if code != ExitOK {
		t.Fatalf("json: exit %d\n%s%s", code, out, errOut)
	}
	var rep simulate.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !rep.OK || len(rep.Events) != 4 || rep.At == nil || strings.Join(rep.At.Firing(), ",") != "test.once" {
		t.Errorf("report: ok %v, %d events, at %+v", rep.OK, len(rep.Events), rep.At)
	}
	if strings.Contains(out, "hook=key,123") || !strings.Contains(out, `"url": "https://hooks.example/notify?key=***"`) {
		t.Errorf("--env value (with = and ,) must be resolved and redacted:\n%s", out)
	}

	// Bad input in a file: file:line: message, exit 1.
	code, out, _ = run(t, "test", simdata+"/defs", "--events", simdata+"/bad-events.jsonl", "--context", simdata+"/fixtures.yaml")
	if code != ExitFailure || !strings.Contains(out, simdata+"/bad-events.jsonl:7: data: unknown field") {
		t.Errorf("bad events: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "test", simdata+"/invalid", "--at", "2026-03-29T01:15:00Z")
	if code != ExitFailure || !strings.Contains(out, simdata+"/invalid/broken.yaml:4:20: trigger.cron_expression: minute: 61 is out of range 0-59") {
		t.Errorf("invalid definition: exit %d\n%s", code, out)
	}
}

func TestSimulateUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"test", examples}, "needs something to simulate"},
		{[]string{"test", examples, "--at", "tomorrow"}, `--at: "tomorrow" is not an RFC 3339 time`},
		{[]string{"test", examples, "--at", "2026-03-29T00:00:00Z/0s"}, "--at: window end"},
		{[]string{"test", examples, "--at", "2026-03-29T00:00:00Z", "--env", "NOVALUE"}, `--env "NOVALUE": write NAME=VALUE`},
		{[]string{"test", "--at", "2026-03-29T00:00:00Z"}, "expected"},
		{[]string{"test", examples, "--at", "2026-03-29T00:00:00Z", "--format", "xml"}, "format"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	code, out, _ := run(t, "test", "--help")
	if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "activity-core test defs/") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// TestSimulateEventsWithoutTime: an event line without a time gets the
// command's clock.
func TestSimulateEventsWithoutTime(t *testing.T) {
	c := &testCmd{Paths: []string{simdata + "/defs"}, Events: simdata + "/bad-events.jsonl", Context: simdata + "/fixtures.yaml",
		Format: "json", now: time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC)}
	var out strings.Builder
	err := c.Run(&cmdEnv{Ctx: context.Background(), Stdout: &out, Stderr: &out})
	if err == nil {
		t.Fatal("bad lines must fail")
	}
	var rep simulate.Report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Events) != 2 || !rep.Events[1].Event.Time.Equal(c.now) {
		t.Errorf("events: %+v", rep.Events)
	}
}
