package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// run runs the command line in-process and returns exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const examples = "../../examples/definitions"

func TestValidateExamples(t *testing.T) {
	code, out, errOut := run(t, "validate", examples)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.HasPrefix(lastLine(out), "ok: 6 valid definitions, 2 event types, 0 invalid files, 0 errors") {
		t.Errorf("summary: %q", lastLine(out))
	}
}

func TestValidateBrokenFile(t *testing.T) {
	file := "../definition/testdata/invalid/many-errors.yaml"
	code, out, _ := run(t, "validate", file)
	if code != ExitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 {
		t.Fatalf("want every error listed, got:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], file+":2:5: id: ") {
		t.Errorf("first line %q is not file:line:col: field: message", lines[0])
	}
	if !strings.HasPrefix(lastLine(out), "FAILED:") {
		t.Errorf("summary: %q", lastLine(out))
	}
}

func TestValidateJSON(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("id: a.b\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, "validate", "--format", "json", dir)
	if code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Valid || rep.Files != 1 || len(rep.Errors) != 1 || rep.Errors[0].Field != "instruction.cmd" || rep.Errors[0].Line != 3 || rep.Errors[0].DefinitionID != "a.b" {
		t.Errorf("report: %+v (%+v)", rep, rep.Errors)
	}
}

func TestValidateMissingDir(t *testing.T) {
	code, out, _ := run(t, "validate", filepath.Join(t.TempDir(), "nope"))
	if code != ExitFailure || !strings.Contains(out, "does not exist") {
		t.Errorf("exit %d, output %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nosuchcommand"},
		{"validate"},
		{"validate", "--format", "xml", "."},
		{"next"},
		{"next", "nosuch.id"},
		{"next", examples + "/demo/hello-cron.yaml", "--count", "0"},
		{"next", examples + "/demo/hello-cron.yaml", "--from", "yesterday"},
	} {
		code, _, errOut := run(t, args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errOut)
		}
	}
}

// TestUsageNamesNestedCommand: a usage error in a nested command points at
// that command's own help, path and all.
func TestUsageNamesNestedCommand(t *testing.T) {
	code, _, errOut := run(t, "runs", "show")
	if code != ExitUsage || !strings.Contains(errOut, `Run "activity-core runs show --help"`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestHelpTeaches(t *testing.T) {
	for _, cmd := range []string{"validate", "next", "schema"} {
		code, out, _ := run(t, cmd, "--help")
		if code != ExitOK {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "activity-core "+cmd) {
			t.Errorf("%s --help has no examples:\n%s", cmd, out)
		}
	}
}

func TestNext(t *testing.T) {
	file := examples + "/state-hub/state-hub-stale-task-cleanup.yaml"
	code, out, errOut := run(t, "next", file, "--count", "2", "--from", "2026-03-28T12:00:00Z", "--format", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	var rep nextReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Fires) != 2 || rep.Fires[0].UTC != "2026-03-29T03:00:00Z" || rep.Fires[1].UTC != "2026-03-30T03:00:00Z" {
		t.Errorf("fires: %+v", rep.Fires)
	}
	// By id, looked up in the definitions folders.
	code, out, errOut = run(t, "next", "the-custodian.state-hub-stale-task-cleanup", "--definitions", examples, "-n", "1", "--from", "2026-03-28T12:00:00Z")
	if code != ExitOK || !strings.Contains(out, "2026-03-29T03:00:00Z") {
		t.Errorf("by id: exit %d\n%s%s", code, out, errOut)
	}
	// Event definitions do not fire on a clock.
	code, _, errOut = run(t, "next", examples+"/demo/hello-event.yaml")
	if code != ExitFailure || !strings.Contains(errOut, "fires on events") {
		t.Errorf("event: exit %d, %q", code, errOut)
	}
}

func TestSchemaCompiles(t *testing.T) {
	code, out, _ := run(t, "schema")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("schema output is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile("schema.json"); err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != ExitOK || !strings.HasPrefix(out, "activity-core dev (go") {
		t.Errorf("exit %d, %q", code, out)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestServeBadSettings: a missing or malformed setting stops startup with
// one line naming it.
func TestServeBadSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--roles", "api"}, "ACTIVITY_DATABASE_URL: not set"},
		{[]string{"serve", "--roles", "api,cook", "--database-url", "sqlite:///tmp/x.db"}, `ACTIVITY_ROLES: unknown role "cook"`},
		{[]string{"serve", "--roles", "api", "--database-url", "ftp://x/y"}, "ACTIVITY_DATABASE_URL: unsupported scheme"},
		{[]string{"serve", "--roles", "worker", "--database-url", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, "ACTIVITY_DATABASE_URL:"},
		{[]string{"serve", "--roles", "worker", "--ops-addr", "9090"}, `ACTIVITY_OPS_ADDR: "9090" is not host:port`},
	} {
		code, out, errOut := run(t, tc.args...)
		if code != ExitFailure || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q (stdout %q)", tc.args, code, errOut, out)
		}
		if strings.Contains(errOut, "goroutine ") || strings.Count(strings.TrimSpace(errOut), "\n") > 2 {
			t.Errorf("%v: not one clear line: %q", tc.args, errOut)
		}
	}
}

// TestValidateSecrets: with an allow-list, a reference outside it is an
// error; without one, ACTIVITY_* is still an error and the others are
// warned about as not checked.
func TestValidateSecrets(t *testing.T) {
	t.Setenv("ACTIVITY_SECRET_ENV", "")
	t.Setenv("ACTIVITY_SECRETS_DIR", "")
	dir := t.TempDir()
	def := func(id, name string) string {
		return "id: " + id + "\ntrigger: {trigger_type: cron, cron_expression: \"0 1 * * *\"}\ninstruction:\n  kind: shell\n  cmd: echo\n  env: {T: \"${env:" + name + "}\"}\n"
	}
	for file, body := range map[string]string{"hub.yaml": def("team.hub", "HUB_TOKEN"), "home.yaml": def("team.home", "HOME")} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := run(t, "validate", "--secret-env", "HUB_*", dir)
	if code != ExitFailure || !strings.Contains(out, "home.yaml:6:") || !strings.Contains(out, "instruction.env.T: secret HOME is not allowed") || strings.Contains(out, "HUB_TOKEN is not") {
		t.Errorf("with a list: exit %d\n%s", code, out)
	}

	code, out, _ = run(t, "validate", dir)
	if code != ExitOK || !strings.Contains(out, "secrets HOME not checked: no allow-list given") || !strings.Contains(out, "secrets HUB_TOKEN not checked") {
		t.Errorf("without a list: exit %d\n%s", code, out)
	}

	if err := os.WriteFile(filepath.Join(dir, "db.yaml"), []byte(def("team.db", "ACTIVITY_POSTGRES_URL")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "validate", dir)
	if code != ExitFailure || !strings.Contains(out, "secret ACTIVITY_POSTGRES_URL is not allowed: ACTIVITY_POSTGRES_URL is one of activity-core's own settings") {
		t.Errorf("own settings without a list: exit %d\n%s", code, out)
	}

	code, _, errOut := run(t, "validate", "--secret-env", "*", dir)
	if code != ExitUsage || !strings.Contains(errOut, "bare *") {
		t.Errorf("bad list: exit %d %s", code, errOut)
	}
}
