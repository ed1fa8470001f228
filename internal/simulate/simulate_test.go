package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/router"
)

var testNow = time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC)

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	if cfg.Paths == nil {
		cfg.Paths = []string{"testdata/defs"}
	}
	if cfg.Now.IsZero() {
		cfg.Now = testNow
	}
	return Run(context.Background(), cfg)
}

func trace(t *testing.T, rep *Report, eventID, defID string) DefinitionTrace {
	t.Helper()
	for _, tr := range rep.Events {
		if tr.Event.ID != eventID {
			continue
		}
		for _, dt := range tr.Definitions {
			if dt.DefinitionID == defID {
				return dt
			}
		}
	}
	t.Fatalf("no trace for event %s / %s", eventID, defID)
	return DefinitionTrace{}
}

func problemsText(rep *Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString(p.Error() + "\n")
	}
	return b.String()
}

// TestEventTrace walks the testdata events through the testdata
// definitions and checks every step of the trace.
func TestEventTrace(t *testing.T) {
	rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures.yaml",
		Env: map[string]string{"HOOK_KEY": "hook-key-123", "DEPLOY_TOKEN": "deploy-secret", "CI_TOKEN": "ci-secret"}})
	if !rep.OK {
		t.Fatalf("not ok:\n%s", problemsText(rep))
	}
	if len(rep.Events) != 4 || rep.Counts.Event != 3 || rep.Counts.Cron != 3 || rep.Counts.Once != 1 {
		t.Fatalf("counts %+v, %d events", rep.Counts, len(rep.Events))
	}

	// Matched, context from fixtures (URL key beats nothing, kind key for
	// state_hub), three true expressions, the instruction planned.
	dt := trace(t, rep, "push-main", "test.deploy-on-push")
	if dt.Outcome != OutcomeRuns || !dt.Match.Matched || dt.RulePassed == nil || !*dt.RulePassed {
		t.Fatalf("push-main/deploy: %+v", dt)
	}
	if len(dt.Context) != 2 || dt.Context[0].Key != "ci" || dt.Context[0].From != "testdata/fixtures.yaml:1" ||
		dt.Context[1].Key != "state_hub.health" || string(dt.Context[1].Value) != `{"status":"ok"}` {
		t.Errorf("context: %+v", dt.Context)
	}
	if len(dt.Rule.Expressions) != 3 {
		t.Errorf("rule: %+v", dt.Rule)
	}
	in := dt.Instruction
	if in == nil || in.Kind != "shell" || !slices.Equal(in.Args, []string{"/usr/local/bin/deploy", "--from-event"}) || in.Timeout != "5m0s" {
		t.Fatalf("instruction: %+v", in)
	}
	wantEnv := []string{
		"DEPLOY_TOKEN=***", "MODE=fast",
		"ACTIVITY_RUN_ID=" + runIDPlaceholder,
		"ACTIVITY_DEFINITION_ID=test.deploy-on-push",
		"ACTIVITY_TRIGGER=event",
		`ACTIVITY_CONTEXT_JSON={"ci":{"green":true},"hub":{"status":"ok"}}`,
		"ACTIVITY_EVENT_SUBJECT=org.repo.commit.pushed",
		"ACTIVITY_EVENT_ID=push-main",
		`ACTIVITY_EVENT_JSON={"repo_slug":"coulomb/api","branch":"main","sha":"abcdef12"}`,
		"ACTIVITY_CONTEXT_FILE=$TMPDIR/activity-run-*/context.json",
		"ACTIVITY_EVENT_FILE=$TMPDIR/activity-run-*/event.json",
		"ACTIVITY_INPUTS_FILE=$TMPDIR/activity-run-*/inputs.json",
	}
	if !slices.Equal(in.Env, wantEnv) {
		t.Errorf("env:\n got %q\nwant %q", in.Env, wantEnv)
	}
	if len(dt.UnresolvedEnv) != 0 {
		t.Errorf("unresolved: %v", dt.UnresolvedEnv)
	}

	// A filter says no: which one, and the value it saw.
	dt = trace(t, rep, "push-branch", "test.deploy-on-push")
	if dt.Outcome != OutcomeNotMatched || dt.Match.Stage != router.StageFilter || !strings.Contains(dt.Reason, `filter branch: value "dev" matches none of "main"`) {
		t.Errorf("push-branch/deploy: %+v", dt)
	}
	if dt.Rule != nil || dt.Instruction != nil || dt.RulePassed != nil {
		t.Errorf("an unmatched definition has no rule or instruction: %+v", dt)
	}
	// Disabled says so, and that the rest would have matched.
	dt = trace(t, rep, "push-main", "test.disabled-event")
	if dt.Outcome != OutcomeNotMatched || dt.Match.Stage != router.StageDisabled || !strings.Contains(dt.Reason, "would match") {
		t.Errorf("disabled: %+v", dt)
	}
	// The subject says no.
	dt = trace(t, rep, "other", "test.notify")
	if dt.Outcome != OutcomeNotMatched || dt.Match.Stage != router.StageSubject {
		t.Errorf("other/notify: %+v", dt)
	}

	// Rule false, with the event's own context beating the fixture; the
	// expressions after the first false are still shown.
	dt = trace(t, rep, "push-red", "test.deploy-on-push")
	if dt.Outcome != OutcomeRuleFalse || dt.RulePassed == nil || *dt.RulePassed || dt.Rule.Failed != "ci.green == true" {
		t.Fatalf("push-red/deploy: %+v", dt)
	}
	if dt.Context[0].From != "testdata/events.jsonl:4" || string(dt.Context[0].Value) != `{"green":false}` {
		t.Errorf("event context: %+v", dt.Context[0])
	}
	if len(dt.Unreached) != 2 || dt.Unreached[0].Result == nil || !*dt.Unreached[0].Result || !*dt.Unreached[1].Result {
		t.Errorf("unreached: %+v", dt.Unreached)
	}
	if dt.Instruction != nil {
		t.Errorf("a false rule plans no instruction")
	}

	// Rule on the payload alone; http instruction with every secret
	// redacted.
	dt = trace(t, rep, "push-main", "test.notify")
	if dt.Outcome != OutcomeRuleFalse {
		t.Errorf("push-main/notify: %+v", dt)
	}
	dt = trace(t, rep, "push-red", "test.notify")
	if dt.Outcome != OutcomeRuns || dt.Instruction.Kind != "http" {
		t.Fatalf("push-red/notify: %+v", dt)
	}
	in = dt.Instruction
	if in.URL != "https://hooks.example/notify?key=***" || in.Headers["X-Token"] != "***" || in.Body.(map[string]any)["key"] != "***" || in.Method != http.MethodPost {
		t.Errorf("http plan: %+v", in)
	}
	b, _ := json.Marshal(rep)
	for _, secret := range []string{"hook-key-123", "deploy-secret", "ci-secret"} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("secret %q shows in the report", secret)
		}
	}

	// Warnings: the subject no event type names.
	var warned bool
	for _, w := range rep.Warnings {
		warned = warned || (w.Line == 6 && strings.Contains(w.Message, "no event type names org.other.thing"))
	}
	if !warned {
		t.Errorf("no warning for the unknown subject: %v", rep.Warnings)
	}
}

// TestUnresolvedEnv: without --env a reference is left as written and
// listed, never guessed.
func TestUnresolvedEnv(t *testing.T) {
	rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures.yaml"})
	dt := trace(t, rep, "push-main", "test.deploy-on-push")
	if !slices.Contains(dt.Instruction.Env, "DEPLOY_TOKEN=${env:DEPLOY_TOKEN}") || !slices.Equal(dt.UnresolvedEnv, []string{"CI_TOKEN", "DEPLOY_TOKEN"}) {
		t.Errorf("env %q, unresolved %v", dt.Instruction.Env, dt.UnresolvedEnv)
	}
}

func TestFixturesDirectory(t *testing.T) {
	rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures-dir"})
	if !rep.OK {
		t.Fatalf("not ok:\n%s", problemsText(rep))
	}
	dt := trace(t, rep, "push-main", "test.deploy-on-push")
	if dt.Outcome != OutcomeRuns || dt.Context[1].Key != "hub" || dt.Context[1].From != "testdata/fixtures-dir/hub.json:1" {
		t.Errorf("trace: %+v", dt)
	}
}

func TestFixtureProblems(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"list.yaml", "- a\n- b\n", "list.yaml:1:1: a fixtures file is a mapping"},
		{"broken.yaml", "a: [\n", "broken.yaml: not valid YAML or JSON"},
		{"intkeys.yaml", "ci:\n  1: x\n", "intkeys.yaml:1:1: ci: a mapping inside the value has a key that is not a string"},
		{"dup.yaml", "ci: 1\nci: 2\n", "dup.yaml:2:1: ci: fixture \"ci\" is also defined at"},
	} {
		_, errs := loadFixtures(write(tc.name, tc.text))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, errs, tc.want)
		}
	}
	// Across the files of a directory.
	sub := filepath.Join(dir, "d")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write("d/a.yaml", "ci: 1\n")
	write("d/b.json", `{"ci": 2}`)
	_, errs := loadFixtures(sub)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "d/b.json:1") || !strings.Contains(errs[0].Error(), "also defined at "+filepath.Join(sub, "a.yaml")+":1") {
		t.Errorf("duplicate across files: %v", errs)
	}
	_, errs = loadFixtures(filepath.Join(dir, "nope"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "cannot read fixtures") {
		t.Errorf("missing: %v", errs)
	}
}

// TestMissingFixture: a matched definition whose context has no fixture
// is an error naming the bind and what to add where.
func TestMissingFixture(t *testing.T) {
	dir := t.TempDir()
	partial := filepath.Join(dir, "fixtures.yaml")
	if err := os.WriteFile(partial, []byte("ci: {green: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		context string
		want    string
	}{
		{"", `give --context FIXTURES, a YAML file holding hub: <value> (or "state_hub.health": <value> for this kind only)`},
		{partial, "add hub: <value> (or \"state_hub.health\": <value> for this kind only) to " + partial},
		{dir, "to a .yaml file in " + dir + ", e.g. " + dir + "/hub.yaml"},
	} {
		rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: tc.context})
		if rep.OK {
			t.Fatalf("%q: a missing fixture must fail the run", tc.context)
		}
		var found bool
		for _, p := range rep.Problems {
			if p.Line == 2 && p.File == "testdata/events.jsonl" && strings.Contains(p.Message, `no fixture for context bind "hub" (state_hub.health)`) && strings.Contains(p.Message, tc.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: no clear problem for bind hub:\n%s", tc.context, problemsText(rep))
		}
		dt := trace(t, rep, "push-main", "test.deploy-on-push")
		if dt.Outcome != OutcomeContextMissing || dt.RulePassed != nil || dt.Instruction != nil {
			t.Errorf("%q: trace %+v", tc.context, dt)
		}
	}
}

func TestBadEventLines(t *testing.T) {
	events, errs := loadEvents("testdata/bad-events.jsonl", testNow)
	want := map[int]string{
		2:  `id: event id "ok-1" is already used on line 1`,
		3:  "not valid JSON",
		4:  "an event line must be a JSON object",
		5:  `subject: subject "org..bad" has an empty token`,
		6:  "payload: payload is JSON but not an object",
		7:  `data: unknown field: the event's JSON object goes in "payload"`,
		8:  "subject: is required",
		9:  `time: "yesterday" is not an RFC 3339 time`,
		11: "payload: payload is JSON but not an object",
		12: "id: is empty",
	}
	got := map[int]string{}
	for _, e := range errs {
		if e.File != "testdata/bad-events.jsonl" {
			t.Errorf("file %q", e.File)
		}
		if _, dup := got[e.Line]; dup {
			t.Errorf("line %d: more than one error: %v", e.Line, e)
		}
		got[e.Line] = e.Error()
	}
	for line, w := range want {
		if !strings.Contains(got[line], w) {
			t.Errorf("line %d: got %q, want %q", line, got[line], w)
		}
		if !strings.HasPrefix(got[line], "testdata/bad-events.jsonl:"+strconv.Itoa(line)+": ") {
			t.Errorf("line %d: %q is not file:line: message", line, got[line])
		}
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d: %v", len(errs), len(want), errs)
	}
	// The good lines still load: the first and the one without an id,
	// which gets its line number, and without a time, which gets now.
	if len(events) != 2 || events[0].ID != "ok-1" || events[1].ID != "10" || !events[1].Time.Equal(testNow) || events[1].TimeGiven {
		t.Errorf("events: %+v", events)
	}
	// A bad line makes the whole run fail, and the good lines are traced.
	rep := run(t, Config{EventsFile: "testdata/bad-events.jsonl", ContextPath: "testdata/fixtures.yaml"})
	if rep.OK || len(rep.Events) != 2 {
		t.Errorf("ok %v, %d events", rep.OK, len(rep.Events))
	}
	_, errs = loadEvents("testdata/nope.jsonl", testNow)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "cannot read events file") {
		t.Errorf("missing file: %v", errs)
	}
}

func TestLongEventLine(t *testing.T) {
	line := `{"subject": "a.b", "payload": {"x": "` + strings.Repeat("y", maxEventLine) + `"}}` + "\n" + `{"subject": "a.b", "payload": {}}` + "\n"
	events, errs := readEvents("big.jsonl", strings.NewReader(line), testNow)
	if len(errs) != 1 || errs[0].Line != 1 || !strings.Contains(errs[0].Message, "over the") {
		t.Errorf("errs %v", errs)
	}
	if len(events) != 1 || events[0].Line != 2 {
		t.Errorf("the next line must still load: %+v", events)
	}
}

// TestRuleError: an expression that fails on the event makes the run fail
// at stage rule, as the engine records it.
func TestRuleError(t *testing.T) {
	dir := t.TempDir()
	def := "id: t.count\ntrigger: {trigger_type: event, event_type: a.b}\nrule:\n  when: [\"event.payload.count > 3\"]\ninstruction: {kind: shell, cmd: \"true\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "d.yaml"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(dir, "e.jsonl")
	if err := os.WriteFile(events, []byte(`{"subject": "a.b", "id": "n", "payload": {"count": 5}}`+"\n"+`{"subject": "a.b", "id": "missing", "payload": {}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := run(t, Config{Paths: []string{dir}, EventsFile: events})
	if dt := trace(t, rep, "n", "t.count"); dt.Outcome != OutcomeRuns {
		t.Errorf("count 5: %+v", dt)
	}
	dt := trace(t, rep, "missing", "t.count")
	if dt.Outcome != OutcomeRuleError || dt.RulePassed == nil || *dt.RulePassed || !strings.Contains(dt.Rule.Error, "no such key") {
		t.Errorf("missing count: %+v %+v", dt, dt.Rule)
	}
}

// TestInvalidDefinitions: reported as validate reports them; the valid
// ones are still simulated.
func TestInvalidDefinitions(t *testing.T) {
	rep := run(t, Config{Paths: []string{"testdata/defs", "testdata/invalid"}, EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures.yaml"})
	if rep.OK {
		t.Fatal("an invalid definition must fail the run")
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Error() != "testdata/invalid/broken.yaml:4:20: trigger.cron_expression: minute: 61 is out of range 0-59" {
		t.Errorf("problems:\n%s", problemsText(rep))
	}
	if dt := trace(t, rep, "push-main", "test.deploy-on-push"); dt.Outcome != OutcomeRuns {
		t.Errorf("valid definitions must still be traced: %+v", dt)
	}
	rep = run(t, Config{Paths: []string{"testdata/nope"}, At: &Window{Start: testNow, End: testNow.Add(time.Minute)}})
	if rep.OK || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Message, "does not exist") {
		t.Errorf("missing dir: %s", problemsText(rep))
	}
}

func TestExpectationsPass(t *testing.T) {
	rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures.yaml", ExpectFile: "testdata/expect-pass.yaml"})
	if !rep.OK {
		t.Fatalf("not ok:\n%s%+v", problemsText(rep), rep.Expectations)
	}
	if x := rep.Expectations; x.Failed != 0 || x.Passed != 21 {
		t.Errorf("passed %d, failed %d", x.Passed, x.Failed)
	}
	var out bytes.Buffer
	WriteText(&out, rep, TextOptions{})
	if !strings.Contains(out.String(), "testdata/expect-pass.yaml:3: PASS event push-main / test.deploy-on-push: runs true\n") ||
		!strings.HasPrefix(lastLine(out.String()), "ok: 7 definitions") || strings.Contains(out.String(), "would run:") {
		t.Errorf("text:\n%s", out.String())
	}
	out.Reset()
	WriteText(&out, rep, TextOptions{Trace: true})
	if !strings.Contains(out.String(), "would run: shell") {
		t.Errorf("--trace must print the trace:\n%s", out.String())
	}
}

func TestExpectationsFail(t *testing.T) {
	rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures.yaml", ExpectFile: "testdata/expect-fail.yaml"})
	if rep.OK {
		t.Fatal("failed expectations must fail the run")
	}
	if len(rep.Problems) != 0 {
		t.Errorf("a failed expectation is not a problem:\n%s", problemsText(rep))
	}
	var fails []string
	for _, r := range rep.Expectations.Results {
		if !r.Pass {
			fails = append(fails, r.String())
		}
	}
	want := []string{
		"testdata/expect-fail.yaml:3: FAIL event push-main / test.deploy-on-push: rule: expected false, got true",
		`testdata/expect-fail.yaml:5: FAIL event push-branch / test.deploy-on-push: runs: expected true, got false (filter branch: value "dev" matches none of "main")`,
		"testdata/expect-fail.yaml:8: FAIL at 2026-03-29T00:30:00Z / test.berlin-0230: fire: expected at least one fire, got no fire (30 2 * * * in Europe/Berlin)",
	}
	if !slices.Equal(fails, want) {
		t.Errorf("fails:\n%s\nwant:\n%s", strings.Join(fails, "\n"), strings.Join(want, "\n"))
	}
	if rep.Expectations.Passed != 2 || rep.Expectations.Failed != 3 {
		t.Errorf("counts %d/%d", rep.Expectations.Passed, rep.Expectations.Failed)
	}
}

// TestExpectationsUnknown: an expectation naming an unknown event or
// definition, or a definition of the wrong kind, is a problem with its
// line, and so is a malformed file.
func TestExpectationsUnknown(t *testing.T) {
	rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures.yaml", ExpectFile: "testdata/expect-unknown.yaml"})
	if rep.OK {
		t.Fatal("must fail")
	}
	want := []string{
		`testdata/expect-unknown.yaml:3: events.no-such-event: no event with id "no-such-event" in the events file (ids: push-main, push-branch, push-red, other)`,
		`testdata/expect-unknown.yaml:5: events.push-main.test.no-such-definition: no valid definition with id "test.no-such-definition" was loaded`,
		`testdata/expect-unknown.yaml:6: events.push-main.test.hourly: test.hourly is a cron definition: event expectations name event definitions`,
		`testdata/expect-unknown.yaml:7:25: events.push-main.test.notify.runs: must be true or false`,
		`testdata/expect-unknown.yaml:7:32: events.push-main.test.notify.color: unknown check: use matched, rule and runs (true or false)`,
		`testdata/expect-unknown.yaml:10: at[0].fire: test.notify is an event definition: it fires on events, not on a clock`,
		`testdata/expect-unknown.yaml:10: at[0].fire: no valid definition with id "test.nope" was loaded`,
		`testdata/expect-unknown.yaml:11:5: at[1].time: is required: a time (2026-03-29T03:00:00Z) or a window (START/END or START/36h)`,
		`testdata/expect-unknown.yaml:12:1: surprise: unknown key: an expect file has events: and at:`,
	}
	if got := strings.Split(strings.TrimSpace(problemsText(rep)), "\n"); !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, tc := range []struct{ text, want string }{
		{"", "the expect file is empty"},
		{"events: [1]", "events: must be a mapping"},
		{"at: {x: 1}", "at: must be a list"},
		{"at:\n  - time: tomorrow\n    fire: [a.b]\n", `at[0].time: "tomorrow" is not an RFC 3339 time`},
		{"at:\n  - time: 2026-03-29T00:00:00Z\n", "at[0]: checks nothing"},
		{"events:\n  e1:\n    a.b: {}\n", "events.e1.a.b: checks nothing"},
		{"events:\n  e1:\n    a.b: {runs: true}\n    a.b: {runs: false}\n", "events.e1.a.b: is also written on line 3"},
		{"events: [", "not valid YAML"},
	} {
		_, errs := parseExpectations("x.yaml", []byte(tc.text))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, errs, tc.want)
		}
	}
}

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		in         string
		start, end string
		instant    bool
	}{
		{"2026-03-29T03:00:42Z", "2026-03-29T03:00:00Z", "2026-03-29T03:01:00Z", true},
		{"2026-03-29T05:00+02:00", "2026-03-29T03:00:00Z", "2026-03-29T03:01:00Z", true},
		{"2026-03-28T00:00:00Z/2026-03-30T00:00:00Z", "2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z", false},
		{"2026-03-28T00:00:00Z/36h", "2026-03-28T00:00:00Z", "2026-03-29T12:00:00Z", false},
		{"2026-03-28T00:00:00Z/7d", "2026-03-28T00:00:00Z", "2026-04-04T00:00:00Z", false},
	} {
		w, err := ParseWindow(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := w.Start.UTC().Format(time.RFC3339); got != tc.start || w.End.UTC().Format(time.RFC3339) != tc.end || w.Instant != tc.instant {
			t.Errorf("%s: %s .. %s instant %v", tc.in, got, w.End.UTC().Format(time.RFC3339), w.Instant)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"now", "is not an RFC 3339 time"},
		{"2026-03-29 03:00", "is not an RFC 3339 time"},
		{"2026-03-29T03:00:00", "is not an RFC 3339 time with a zone"},
		{"2026-03-29T03:00:00Z/soon", "neither an RFC 3339 time nor a duration"},
		{"2026-03-29T03:00:00Z/-1h", "neither"},
		{"2026-03-29T03:00:00Z/2026-03-28T03:00:00Z", "ends before it starts"},
		{"2026-03-29T03:00:00Z/400d", "longer than 366 days"},
	} {
		if _, err := ParseWindow(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func loadDefs(t *testing.T, paths ...string) []*definition.Definition {
	t.Helper()
	res := definition.Load(paths)
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return res.Definitions()
}

func fireIDs(rep *AtReport) []string { return rep.Firing() }

// TestAtInstant: which cron and once definitions fire in one minute.
func TestAtInstant(t *testing.T) {
	defs := loadDefs(t, "testdata/defs")
	for _, tc := range []struct {
		at   string
		want []string
	}{
		{"2026-03-29T01:15:00Z", []string{"test.once"}},
		{"2026-03-29T01:15:59Z", []string{"test.once"}},
		{"2026-03-29T01:16:00Z", nil},
		{"2026-03-29T01:00:30Z", []string{"test.hourly"}},
		// Berlin 02:30 CET on the 28th is 01:30Z...
		{"2026-03-28T01:30:00Z", []string{"test.berlin-0230"}},
		// ...and on the 30th, after the switch, 02:30 CEST is 00:30Z.
		{"2026-03-30T00:30:00Z", []string{"test.berlin-0230"}},
		{"2026-03-30T01:30:00Z", nil},
	} {
		w, err := ParseWindow(tc.at)
		if err != nil {
			t.Fatal(err)
		}
		rep := Fires(defs, w)
		if got := fireIDs(rep); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.at, got, tc.want)
		}
		// Every cron and once definition is listed, firing or not, and
		// the paused one never fires.
		if len(rep.Definitions) != 4 {
			t.Errorf("%s: %d definitions listed", tc.at, len(rep.Definitions))
		}
		for _, d := range rep.Definitions {
			if d.DefinitionID == "test.paused" && (d.Count != 0 || !strings.Contains(d.Note, "disabled")) {
				t.Errorf("paused: %+v", d)
			}
		}
	}
}

// TestAtWindowDST: fires over DST changes, in the definition's zone and
// in UTC, as Temporal computes them (see cronexpr's package doc).
func TestAtWindowDST(t *testing.T) {
	defs := loadDefs(t, "testdata/defs")
	w, _ := ParseWindow("2026-03-28T00:00:00Z/3d")
	rep := Fires(defs, w)
	var berlin, hourly FireList
	for _, d := range rep.Definitions {
		switch d.DefinitionID {
		case "test.berlin-0230":
			berlin = d
		case "test.hourly":
			hourly = d
		}
	}
	// 2026-03-29 02:30 does not exist in Berlin: that day is skipped.
	want := []Fire{
		{Local: "2026-03-28T02:30:00+01:00", UTC: "2026-03-28T01:30:00Z"},
		{Local: "2026-03-30T02:30:00+02:00", UTC: "2026-03-30T00:30:00Z"},
	}
	if !slices.Equal(berlin.Fires, want) || berlin.Count != 2 || berlin.Timezone != "Europe/Berlin" {
		t.Errorf("berlin: %+v", berlin)
	}
	if hourly.Count != 72 || len(hourly.Fires) != 72 || !strings.Contains(hourly.Note, "jitter") {
		t.Errorf("hourly: count %d, note %q", hourly.Count, hourly.Note)
	}

	// Fall back in New York: a wall time in the repeated hour fires twice.
	dir := t.TempDir()
	def := "id: t.ny\ntrigger: {trigger_type: cron, cron_expression: \"30 1 * * *\", timezone: America/New_York}\ninstruction: {kind: shell, cmd: \"true\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "ny.yaml"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	w, _ = ParseWindow("2026-11-01T00:00:00Z/2026-11-02T00:00:00Z")
	rep = Fires(loadDefs(t, dir), w)
	want = []Fire{
		{Local: "2026-11-01T01:30:00-04:00", UTC: "2026-11-01T05:30:00Z"},
		{Local: "2026-11-01T01:30:00-05:00", UTC: "2026-11-01T06:30:00Z"},
	}
	if got := rep.Definitions[0].Fires; !slices.Equal(got, want) {
		t.Errorf("new york fall back: %+v", got)
	}

	// A long window counts everything and lists the first maxListedFires.
	w, _ = ParseWindow("2026-03-01T00:00:00Z/30d")
	every := "id: t.every\ntrigger: {trigger_type: cron, cron_expression: \"* * * * *\"}\ninstruction: {kind: shell, cmd: \"true\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "ny.yaml"), []byte(every), 0o644); err != nil {
		t.Fatal(err)
	}
	rep = Fires(loadDefs(t, dir), w)
	if d := rep.Definitions[0]; d.Count != 30*24*60 || len(d.Fires) != maxListedFires || d.CountCapped {
		t.Errorf("every minute for 30 days: count %d, listed %d", d.Count, len(d.Fires))
	}
	var out bytes.Buffer
	WriteText(&out, &Report{OK: true, At: rep}, TextOptions{})
	if !strings.Contains(out.String(), "FIRES t.every: 43200 fires") || !strings.Contains(out.String(), "… 43100 more") {
		t.Errorf("text:\n%s", out.String())
	}
}

func TestTextTrace(t *testing.T) {
	rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures.yaml", Env: map[string]string{"HOOK_KEY": "hook-key-123"}})
	var out bytes.Buffer
	WriteText(&out, rep, TextOptions{})
	s := out.String()
	for _, want := range []string{
		"event push-main (testdata/events.jsonl:2): org.repo.commit.pushed at 2026-03-29T01:00:00Z\n",
		"  test.deploy-on-push: RUNS\n",
		`    match: subject matches org.repo.commit.pushed; branch "main" matches "main"; repo_slug "coulomb/api" matches "coulomb/*"` + "\n",
		"    context ci (http_get http://ci.internal/status) = {\"green\":true}   [ci from testdata/fixtures.yaml:1]\n",
		"    rule true: hub.status == 'ok'\n",
		"      args (no shell): [\"/usr/local/bin/deploy\", \"--from-event\"]\n",
		"    note: ${env:CI_TOKEN}, ${env:DEPLOY_TOKEN} resolved by the worker at run time",
		`  test.deploy-on-push: no match (filter): filter branch: value "dev" matches none of "main"` + "\n",
		"    rule true (not reached: the engine stops at the first false): hub.status == 'ok'\n",
		"      POST https://hooks.example/notify?key=***\n",
		"  => 1 of 3 event definitions would run\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
	if strings.Contains(s, "hook-key-123") {
		t.Error("secret in text output")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
