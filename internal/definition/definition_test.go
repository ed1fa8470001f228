package definition

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// TestSeedDefinitions checks that the seed 002 definitions validate exactly
// as the seed writes them, and read back as the seed means them.
func TestSeedDefinitions(t *testing.T) {
	res := Load([]string{"../../examples/definitions"})
	if err := res.Err(); err != nil {
		t.Fatalf("examples do not validate:\n%v", err)
	}
	byID := map[string]*Definition{}
	for _, d := range res.Definitions() {
		byID[d.ID] = d
	}
	sweep := byID["the-custodian.state-hub-consistency-sweep"]
	if sweep == nil {
		t.Fatal("seed definition A missing")
	}
	if sweep.Trigger.CronExpression != "*/15 * * * *" || sweep.Trigger.MisfirePolicy != MisfireSkip ||
		sweep.OnFailure != OnFailureLogAndContinue || len(sweep.Context) != 1 ||
		sweep.Context[0].Bind != "hub_health" || sweep.Rule.When[0] != "hub_health.status == 'ok'" {
		t.Errorf("seed A read wrongly: %+v", sweep)
	}
	if !strings.Contains(sweep.Instruction.Cmd, "consistency_check.py --remote --all --max-seconds 300") || strings.Contains(sweep.Instruction.Cmd, "\n") {
		t.Errorf("seed A cmd (folded block) read wrongly: %q", sweep.Instruction.Cmd)
	}
	cleanup := byID["the-custodian.state-hub-stale-task-cleanup"]
	if cleanup == nil || cleanup.Trigger.CronExpression != "0 3 * * *" || cleanup.OnFailure != OnFailureFail || !cleanup.Enabled {
		t.Errorf("seed B read wrongly: %+v", cleanup)
	}
	hook := byID["the-custodian.state-hub-commit-consistency"]
	if hook == nil || hook.Trigger.EventType != "org.repo.commit.pushed" || hook.Trigger.Filters["repo_slug"][0] != "*" {
		t.Errorf("seed C read wrongly: %+v", hook)
	}
	if len(res.EventTypes()) < 1 {
		t.Errorf("event types not loaded from event-types folder")
	}
}

func TestValidTestdata(t *testing.T) {
	res := Load([]string{"testdata/valid"})
	if err := res.Err(); err != nil {
		t.Fatalf("valid testdata does not validate:\n%v", err)
	}
	if got, want := len(res.Definitions()), countFiles(t, "testdata/valid"); got != want {
		t.Fatalf("loaded %d definitions from %d files", got, want)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestInvalidGolden parses every file under testdata/invalid and compares
// the whole error output with its golden file. Refresh with -update.
func TestInvalidGolden(t *testing.T) {
	for _, dir := range []string{"testdata/invalid", "testdata/invalid-event-types"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if len(files) == 0 {
			t.Fatalf("no cases in %s", dir)
		}
		for _, file := range files {
			t.Run(filepath.Base(file), func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if dir == "testdata/invalid-event-types" {
					_, err = ParseEventType(file, data)
				} else {
					_, err = Parse(file, data)
				}
				if err == nil {
					t.Fatalf("%s parsed without error", file)
				}
				got := err.Error() + "\n"
				golden := strings.TrimSuffix(file, ".yaml") + ".golden"
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("no golden file (run with -update): %v", err)
				}
				if got != string(want) {
					t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
				}
				for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
					if !strings.HasPrefix(line, file+":") {
						t.Errorf("error line does not start with the file name: %q", line)
					}
				}
			})
		}
	}
}

func TestManyErrorsAllReported(t *testing.T) {
	data, err := os.ReadFile("testdata/invalid/many-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("x.yaml", data)
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("want Errors, got %T %v", err, err)
	}
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
		if e.Line == 0 {
			t.Errorf("error without a line: %v", e)
		}
	}
	for _, f := range []string{"id", "enabled", "trigger.cron_expression", "trigger.timezone", "instruction.args", "instruction.timeout", "on_failure"} {
		if !fields[f] {
			t.Errorf("no error reported for %s; got %v", f, err)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Column: 5, Field: "trigger.timezone", Message: "bad"}, "a.yaml:3:5: trigger.timezone: bad"},
		{Error{File: "a.yaml", Line: 3, Message: "bad"}, "a.yaml:3: bad"},
		{Error{File: "a.yaml", Message: "bad"}, "a.yaml: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestDefaultsFilled(t *testing.T) {
	def, err := Parse("x.yaml", []byte("id: a.b\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ncontext: [{kind: state_hub.health, bind: h}]\ninstruction: {kind: shell, cmd: 'true'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !def.Enabled || def.Trigger.Timezone != "UTC" || def.Trigger.MisfirePolicy != "skip" ||
		def.Trigger.CatchupWindow.D() != time.Minute || def.Instruction.Timeout.D() != time.Hour ||
		def.Context[0].Timeout.D() != 10*time.Second || def.OnFailure != "fail" ||
		def.Retry.MaxAttempts != 1 || def.Retry.BackoffCoefficient != 2 {
		t.Errorf("defaults not filled: %+v", def)
	}
}

// TestContentHash checks that formatting, comments, key order and
// spelled-out defaults do not change the hash, and that any change of
// meaning does.
func TestContentHash(t *testing.T) {
	a := `id: team.job
trigger:
  trigger_type: cron
  cron_expression: "0 3 * * *"
instruction:
  kind: shell
  cmd: echo hi
  env: {A: "1", B: "2"}
`
	same := `# a comment
instruction: {kind: shell, cmd: "echo hi", env: {B: "2", A: "1"}, timeout: 1h}
enabled: true
trigger:    {cron_expression: '0 3 * * *', trigger_type: cron, timezone: UTC, misfire_policy: skip}
id: team.job   # trailing comment
on_failure: fail
`
	changed := []string{
		strings.Replace(a, "0 3 * * *", "0 4 * * *", 1),
		strings.Replace(a, "echo hi", "echo ho", 1),
		strings.Replace(a, `B: "2"`, `B: "3"`, 1),
		a + "enabled: false\n",
		a + "concurrency_key: k\n",
	}
	hash := func(src string) string {
		t.Helper()
		d, err := Parse("x.yaml", []byte(src))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		return d.ContentHash()
	}
	h := hash(a)
	if len(h) != 64 {
		t.Fatalf("hash %q is not hex sha256", h)
	}
	if got := hash(same); got != h {
		t.Errorf("reformatted file changed the hash")
	}
	for i, c := range changed {
		if hash(c) == h {
			t.Errorf("change %d did not change the hash", i)
		}
	}
	// The canonical JSON round-trips to the same hash (the store keeps it).
	d, _ := Parse("x.yaml", []byte(a))
	back, err := FromCanonicalJSON(d.CanonicalJSON())
	if err != nil {
		t.Fatal(err)
	}
	if back.ContentHash() != h {
		t.Errorf("canonical JSON round trip changed the hash")
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything/at.all", true},
		{"coulomb/*", "coulomb/state-hub", true},
		{"coulomb/*", "other/state-hub", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "aéc", true},
		{"*.yaml", "x.yaml", true},
		{"*.yaml", "x.yml", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{`\*`, "*", true},
		{`\*`, "x", false},
		{"main", "main", true},
		{"main", "maint", false},
		{"**a", "bba", true},
	} {
		g, err := CompileGlob(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := g.Match(tc.s); got != tc.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
	for _, bad := range []string{"", `abc\`} {
		if _, err := CompileGlob(bad); err == nil {
			t.Errorf("CompileGlob(%q) accepted", bad)
		}
	}
}

func TestSubjects(t *testing.T) {
	for _, tc := range []struct {
		s       string
		pattern bool
		ok      bool
	}{
		{"org.repo.commit.pushed", false, true},
		{"org.*.commit.>", true, true},
		{"org.*.commit.>", false, false},
		{"org.>.x", true, false},
		{"org..x", true, false},
		{".org", true, false},
		{"org.re*po", true, false},
		{"org repo", true, false},
		{"", true, false},
		{">", true, true},
	} {
		var err error
		if tc.pattern {
			err = ValidateSubjectPattern(tc.s)
		} else {
			err = ValidateSubject(tc.s)
		}
		if (err == nil) != tc.ok {
			t.Errorf("%q (pattern=%v): err=%v, want ok=%v", tc.s, tc.pattern, err, tc.ok)
		}
	}
}

func TestExpandEnvRefs(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cret", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := expandEnvRefs("Bearer ${env:TOKEN}${env:EMPTY}", lookup)
	if err != nil || got != "Bearer s3cret" {
		t.Errorf("got %q, %v", got, err)
	}
	_, err = expandEnvRefs("x ${env:MISSING} ${env:TOKEN}", lookup)
	if err == nil || !strings.Contains(err.Error(), "MISSING") {
		t.Errorf("unset variable not named: %v", err)
	}
	if refs := EnvRefs("${env:A}-${env:B_2}-${env:bad-name}"); strings.Join(refs, ",") != "A,B_2" {
		t.Errorf("EnvRefs = %v", refs)
	}
}

func TestCELVariables(t *testing.T) {
	for _, expr := range []string{
		"event.subject == 'org.x' && event.payload.repo_slug.startsWith('c')",
		"definition.id == 'a.b'",
		"now > timestamp('2020-01-01T00:00:00Z')",
		"h.status == 'ok' && size(h.items) > 0",
	} {
		if _, err := CompileExpression(expr, []string{"h"}); err != nil {
			t.Errorf("%q: %v", expr, err)
		}
	}
	if _, err := CompileExpression("missing.x == 1", []string{"h"}); err == nil || !strings.Contains(err.Error(), "undeclared reference to 'missing'") {
		t.Errorf("undeclared name not caught: %v", err)
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"org.repo.pushed", "org.repo.pushed", true},
		{"org.*.pushed", "org.repo.pushed", true},
		{"org.>", "org.repo.pushed", true},
		{"org.>", "org", false},
		{"org.*", "org.repo.pushed", false},
		{"org.repo", "org.repo.pushed", false},
	} {
		if got := SubjectMatches(tc.p, tc.s); got != tc.want {
			t.Errorf("%s ~ %s = %v", tc.p, tc.s, got)
		}
	}
}
