package definition

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// inputsDef is a cron definition declaring one input of each type.
const inputsDef = `id: team.sweep
run_on: state-hub
trigger:
  trigger_type: cron
  cron_expression: "*/15 * * * *"
  inputs: {repo: "org/app"}
instruction: {kind: shell, cmd: "true"}
inputs:
  repo: {type: string, required: true, description: "org/name of the repository"}
  depth: {type: int, default: 3}
  dry_run: {type: bool, default: false}
  mode: {type: enum, values: [fast, full], default: fast}
  wait: {type: duration, default: 300s}
  note: {type: string}
`

func TestInputsParsed(t *testing.T) {
	d := mustParse(t, inputsDef)
	if d.RunOn != "state-hub" || d.Pool() != "state-hub" {
		t.Errorf("run_on = %q, pool %q", d.RunOn, d.Pool())
	}
	want := []InputDecl{
		{Name: "repo", Type: InputString, Required: true, Description: "org/name of the repository"},
		{Name: "depth", Type: InputInt, Default: int64(3)},
		{Name: "dry_run", Type: InputBool, Default: false},
		{Name: "mode", Type: InputEnum, Values: []string{"fast", "full"}, Default: "fast"},
		{Name: "wait", Type: InputDuration, Default: "5m0s"},
		{Name: "note", Type: InputString},
	}
	if !reflect.DeepEqual(d.Inputs, want) {
		t.Errorf("inputs\n got %#v\nwant %#v", d.Inputs, want)
	}
	if got := d.Trigger.Inputs; !reflect.DeepEqual(got, map[string]TriggerInput{"repo": {Value: "org/app"}}) {
		t.Errorf("trigger.inputs = %#v", got)
	}

	// The canonical JSON reads back to the same declaration, types and all,
	// so a definition from the store resolves and hashes as the parsed one.
	back, err := FromCanonicalJSON(d.CanonicalJSON())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Inputs, d.Inputs) || !reflect.DeepEqual(back.Trigger.Inputs, d.Trigger.Inputs) || back.ContentHash() != d.ContentHash() {
		t.Errorf("canonical JSON does not round-trip:\n%#v\n%#v", back.Inputs, back.Trigger.Inputs)
	}

	// Spelling out defaults (run_on: default, required: false, a duration
	// written another way) is not a change.
	a := mustParse(t, cronHead+"inputs: {wait: {type: duration, default: 5m}}\n")
	b := mustParse(t, cronHead+"run_on: default\ninputs: {wait: {type: duration, default: 300s, required: false}}\n")
	if a.ContentHash() != b.ContentHash() || b.RunOn != "" || b.Pool() != PoolDefault {
		t.Errorf("spelled-out defaults change the definition:\n%s\n%s", a.CanonicalJSON(), b.CanonicalJSON())
	}
}

// TestHashUnchangedWithoutRunControl: definitions that use neither run_on
// nor inputs keep their hash (the alerting test pins the values), and
// their canonical JSON names neither field.
func TestHashUnchangedWithoutRunControl(t *testing.T) {
	TestHashUnchangedWithoutAlerting(t)
	for _, d := range Load([]string{"testdata/valid", "../../examples/definitions"}).Definitions() {
		j := string(d.CanonicalJSON())
		if d.RunOn == "" && d.Inputs == nil && (strings.Contains(j, `"run_on"`) || strings.Contains(j, `"inputs"`)) {
			t.Errorf("%s: canonical JSON has run-control fields: %s", d.Source.File, j)
		}
	}
	plain := mustParse(t, cronHead)
	if got := mustParse(t, cronHead+"run_on: default\n").ContentHash(); got != plain.ContentHash() {
		t.Error("run_on: default changes the hash")
	}
	if mustParse(t, cronHead+"run_on: b\n").ContentHash() == plain.ContentHash() {
		t.Error("run_on: b does not change the hash")
	}
}

func TestResolveInputs(t *testing.T) {
	d := mustParse(t, inputsDef)
	got, err := d.ResolveInputs(map[string]any{"repo": "org/x", "depth": "7", "dry_run": "true", "mode": "full", "wait": "90s"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"repo": "org/x", "depth": int64(7), "dry_run": true, "mode": "full", "wait": "1m30s"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from strings: got %#v, want %#v", got, want)
	}

	// JSON values of the declared type, as an API body decodes them.
	var body map[string]any
	if err := json.Unmarshal([]byte(`{"repo": "org/y", "depth": 12, "dry_run": false, "note": null}`), &body); err != nil {
		t.Fatal(err)
	}
	got, err = d.ResolveInputs(body)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{"repo": "org/y", "depth": int64(12), "dry_run": false, "mode": "fast", "wait": "5m0s"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from JSON: got %#v, want %#v", got, want)
	}

	// A definition read back from the store resolves the same way.
	back, _ := FromCanonicalJSON(d.CanonicalJSON())
	if again, err := back.ResolveInputs(body); err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("after the store: %#v, %v", again, err)
	}

	// No inputs declared, none given: an empty result.
	if got, err := mustParse(t, cronHead).ResolveInputs(nil); err != nil || len(got) != 0 {
		t.Errorf("no inputs: %v, %v", got, err)
	}
}

func TestResolveInputsRefused(t *testing.T) {
	d := mustParse(t, inputsDef)
	long := strings.Repeat("x", maxInputBytes+1)
	cases := []struct {
		name  string
		given map[string]any
		want  map[string]string // field -> message
	}{
		{"required missing", map[string]any{}, map[string]string{"repo": "is required and has no default"}},
		{"required null", map[string]any{"repo": nil}, map[string]string{"repo": "is required and has no default"}},
		{"int from text", map[string]any{"repo": "a", "depth": "x"}, map[string]string{"depth": `want an integer, got "x"`}},
		{"int with a fraction", map[string]any{"repo": "a", "depth": 1.5}, map[string]string{"depth": "want an integer, got 1.5"}},
		{"int out of range", map[string]any{"repo": "a", "depth": "99999999999999999999"},
			map[string]string{"depth": `want an integer, got "99999999999999999999" (out of the 64-bit range)`}},
		{"int as bool", map[string]any{"repo": "a", "depth": true}, map[string]string{"depth": "want an integer, got true"}},
		{"bool", map[string]any{"repo": "a", "dry_run": "yes"}, map[string]string{"dry_run": `want true or false, got "yes"`}},
		{"bool as number", map[string]any{"repo": "a", "dry_run": 1.0}, map[string]string{"dry_run": "want true or false, got 1"}},
		{"enum value not in values", map[string]any{"repo": "a", "mode": "slow"}, map[string]string{"mode": `want one of fast, full, got "slow"`}},
		{"duration bad", map[string]any{"repo": "a", "wait": "5 minutes"}, map[string]string{"wait": `want a duration like 30s, 5m or 1h30m, got "5 minutes"`}},
		{"duration negative", map[string]any{"repo": "a", "wait": "-5m"}, map[string]string{"wait": `want a duration that is not negative, got "-5m"`}},
		{"duration as number", map[string]any{"repo": "a", "wait": 5.0}, map[string]string{"wait": "want a duration like 30s, 5m or 1h30m, got 5"}},
		{"string too long", map[string]any{"repo": long}, map[string]string{"repo": "is 4097 bytes long, the limit is 4096"}},
		{"string with NUL", map[string]any{"repo": "a\x00b"}, map[string]string{"repo": "contains a NUL byte"}},
		{"string not UTF-8", map[string]any{"repo": "a\xffb"}, map[string]string{"repo": "is not valid UTF-8"}},
		{"string as number", map[string]any{"repo": 42.0}, map[string]string{"repo": "want a string, got 42"}},
		{"string as object", map[string]any{"repo": map[string]any{"a": 1}}, map[string]string{"repo": "want a string, got an object"}},
		{"unknown input", map[string]any{"repo": "a", "dept": 1}, map[string]string{"dept": `is not declared (did you mean "depth"?)`}},
		{"unknown input far from any", map[string]any{"repo": "a", "colour": "red"},
			map[string]string{"colour": "is not declared (declared: repo, depth, dry_run, mode, wait, note)"}},
		{"every bad field at once", map[string]any{"depth": "x", "mode": 3.0, "zzz": 1},
			map[string]string{"repo": "is required and has no default", "depth": `want an integer, got "x"`, "mode": "want one of fast, full, got 3", "zzz": "is not declared (declared: repo, depth, dry_run, mode, wait, note)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.ResolveInputs(tc.given)
			if got != nil {
				t.Errorf("returned values with an error: %v", got)
			}
			var ies InputErrors
			if !errors.As(err, &ies) {
				t.Fatalf("error %v (%T) is not InputErrors", err, err)
			}
			fields := map[string]string{}
			for _, e := range ies {
				fields[e.Field] = e.Msg
			}
			if !reflect.DeepEqual(fields, tc.want) {
				t.Errorf("fields\n got %q\nwant %q", fields, tc.want)
			}
		})
	}

	// The message names every field, in declaration order then undeclared.
	_, err := d.ResolveInputs(map[string]any{"zzz": 1, "depth": "x"})
	want := `input repo: is required and has no default; input depth: want an integer, got "x"; input zzz: is not declared (declared: repo, depth, dry_run, mode, wait, note)`
	if err == nil || err.Error() != want {
		t.Errorf("message\n got %v\nwant %s", err, want)
	}

	// No inputs declared.
	_, err = mustParse(t, cronHead).ResolveInputs(map[string]any{"repo": "x"})
	if err == nil || err.Error() != "input repo: is not declared: the definition declares no inputs" {
		t.Errorf("no declaration: %v", err)
	}
}

// TestResolveInputsBounded: a request naming thousands of undeclared
// inputs, or with huge names and values, gets a bounded answer.
func TestResolveInputsBounded(t *testing.T) {
	d := mustParse(t, inputsDef)
	given := map[string]any{"repo": strings.Repeat("v", 1<<20)}
	for i := range 5000 {
		given[fmt.Sprintf("%s%04d", strings.Repeat("n", 1000), i)] = strings.Repeat("v", 1000)
	}
	_, err := d.ResolveInputs(given)
	var ies InputErrors
	if !errors.As(err, &ies) {
		t.Fatalf("error %v", err)
	}
	if len(ies) != maxInputs+2 {
		t.Errorf("%d errors, want %d (repo, %d names, one summary)", len(ies), maxInputs+2, maxInputs)
	}
	if last := ies[len(ies)-1]; last.Msg != fmt.Sprintf("and %d more undeclared names", 5000-maxInputs) {
		t.Errorf("summary: %v", last)
	}
	if n := len(err.Error()); n > 8000 {
		t.Errorf("message is %d bytes", n)
	}
}

func TestParseInputFlags(t *testing.T) {
	got, err := ParseInputFlags([]string{"repo=org/x", "depth=3", "q=a=b", "empty=", "sp = x"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"repo": "org/x", "depth": "3", "q": "a=b", "empty": "", "sp": " x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if got, err := ParseInputFlags(nil); err != nil || len(got) != 0 {
		t.Errorf("no flags: %v, %v", got, err)
	}
	_, err = ParseInputFlags([]string{"repo", "depth=1", "depth=2", "=x"})
	want2 := `input repo: want name=value (e.g. --input repo=org/name); input depth: is given twice; input "=x": has no name before '=': want name=value`
	if err == nil || err.Error() != want2 {
		t.Errorf("errors\n got %v\nwant %s", err, want2)
	}
	var ies InputErrors
	if !errors.As(err, &ies) || len(ies) != 3 {
		t.Errorf("not InputErrors: %T", err)
	}
}

func TestInputEnv(t *testing.T) {
	d := mustParse(t, inputsDef)
	resolved, err := d.ResolveInputs(map[string]any{"repo": "org/x; rm -rf / $(id) `id`", "note": "line1\nline2"})
	if err != nil {
		t.Fatal(err)
	}
	got := InputEnv(resolved)
	want := []string{
		"ACTIVITY_INPUT_DEPTH=3",
		"ACTIVITY_INPUT_DRY_RUN=false",
		"ACTIVITY_INPUT_MODE=fast",
		"ACTIVITY_INPUT_NOTE=line1\nline2",
		"ACTIVITY_INPUT_REPO=org/x; rm -rf / $(id) `id`",
		"ACTIVITY_INPUT_WAIT=5m0s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("env\n got %q\nwant %q", got, want)
	}

	// A recorded run's inputs come back through JSON: same environment.
	b, _ := json.Marshal(resolved)
	var recorded map[string]any
	if err := json.Unmarshal(b, &recorded); err != nil {
		t.Fatal(err)
	}
	if again := InputEnv(recorded); !slices.Equal(again, want) {
		t.Errorf("after JSON\n got %q\nwant %q", again, want)
	}

	// Names that could not come from ResolveInputs, values with NUL and
	// values of other kinds are left out.
	odd := InputEnv(map[string]any{"A=B": "x", "ok": "a\x00b", "list": []any{1}, "Upper": "x", "n": 1.5, "i": 7})
	if !slices.Equal(odd, []string{"ACTIVITY_INPUT_I=7", "ACTIVITY_INPUT_N=1.5"}) {
		t.Errorf("odd env: %q", odd)
	}
	if env := InputEnv(nil); len(env) != 0 {
		t.Errorf("nil: %q", env)
	}
}

func TestCheckPoolName(t *testing.T) {
	for _, ok := range []string{"default", "a", "state-hub", "pool_2", "0", strings.Repeat("p", 63)} {
		if err := CheckPoolName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for name, want := range map[string]string{
		"":                      "pool name is empty",
		"State-Hub":             `pool name "State-Hub" is not valid`,
		"-a":                    `pool name "-a" is not valid`,
		"_a":                    `pool name "_a" is not valid`,
		"a.b":                   `pool name "a.b" is not valid`,
		"a b":                   `pool name "a b" is not valid`,
		"a,b":                   `pool name "a,b" is not valid`,
		"a/b":                   `pool name "a/b" is not valid`,
		"ä":                     `pool name "ä" is not valid`,
		strings.Repeat("p", 64): `pool name "` + strings.Repeat("p", 64) + `" is not valid`,
		"a\n":                   `pool name "a\n" is not valid`,
	} {
		err := CheckPoolName(name)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %s…", name, err, want)
		}
	}
}

const eventInputsDef = `id: team.hook
trigger:
  trigger_type: event
  event_type: org.repo.pushed
  inputs:
    repo: {cel: "event.payload.repo"}
    depth: {cel: "event.payload.depth"}
    mode: {cel: "has(event.payload.mode) ? event.payload.mode : 'fast'"}
    wait: {cel: "duration('1m')"}
    dry_run: true
instruction: {kind: shell, cmd: "true"}
inputs:
  repo: {type: string, required: true}
  depth: {type: int, default: 3}
  mode: {type: enum, values: [fast, full]}
  wait: {type: duration}
  dry_run: {type: bool}
`

func TestTriggerInputValues(t *testing.T) {
	d := mustParse(t, eventInputsDef)
	ev := &EventView{Subject: "org.repo.pushed", ID: "1", Payload: map[string]any{"repo": "org/x", "depth": 5.0}}
	got, err := d.TriggerInputValues(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"repo": "org/x", "depth": int64(5), "mode": "fast", "wait": "1m0s", "dry_run": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	resolved, err := d.ResolveInputs(got)
	if err != nil || !reflect.DeepEqual(resolved, want) {
		t.Errorf("resolved %#v, %v", resolved, err)
	}

	// The same from the definition as the store keeps it.
	back, _ := FromCanonicalJSON(d.CanonicalJSON())
	if again, err := back.TriggerInputValues(ev); err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("after the store: %#v, %v", again, err)
	}

	// Literals of a cron trigger, no event.
	cron := mustParse(t, inputsDef)
	if got, err := cron.TriggerInputValues(nil); err != nil || !reflect.DeepEqual(got, map[string]any{"repo": "org/app"}) {
		t.Errorf("cron: %#v, %v", got, err)
	}
	if got, err := mustParse(t, cronHead).TriggerInputValues(nil); err != nil || len(got) != 0 {
		t.Errorf("no trigger inputs: %#v, %v", got, err)
	}
}

func TestTriggerInputValuesRefused(t *testing.T) {
	d := mustParse(t, eventInputsDef)
	cases := []struct {
		name    string
		payload any
		want    map[string]string
	}{
		{"missing field", map[string]any{"depth": 1.0},
			map[string]string{"repo": `trigger.inputs expression "event.payload.repo": no such key: repo`}},
		{"wrong type", map[string]any{"repo": 7.0, "depth": "x"},
			map[string]string{"repo": `trigger.inputs expression "event.payload.repo": want a string, got 7`,
				"depth": `trigger.inputs expression "event.payload.depth": want an integer, got "x"`}},
		{"enum value not in values", map[string]any{"repo": "a", "depth": 1.0, "mode": "slow"},
			map[string]string{"mode": `trigger.inputs expression "has(event.payload.mode) ? event.payload.mode : 'fast'": want one of fast, full, got "slow"`}},
		{"null", map[string]any{"repo": nil, "depth": 1.0},
			map[string]string{"repo": `trigger.inputs expression "event.payload.repo": want a string, got null`}},
		{"a list", map[string]any{"repo": []any{"a"}, "depth": 1.0},
			map[string]string{"repo": `trigger.inputs expression "event.payload.repo": want a string, got a list`}},
		{"NUL", map[string]any{"repo": "a\x00", "depth": 1.0},
			map[string]string{"repo": `trigger.inputs expression "event.payload.repo": contains a NUL byte`}},
		{"too long", map[string]any{"repo": strings.Repeat("r", maxInputBytes+1), "depth": 1.0},
			map[string]string{"repo": `trigger.inputs expression "event.payload.repo": is 4097 bytes long, the limit is 4096`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.TriggerInputValues(&EventView{Payload: tc.payload})
			var ies InputErrors
			if !errors.As(err, &ies) {
				t.Fatalf("error %v (%T) is not InputErrors", err, err)
			}
			fields := map[string]string{}
			for _, e := range ies {
				fields[e.Field] = e.Msg
			}
			if !reflect.DeepEqual(fields, tc.want) {
				t.Errorf("fields\n got %q\nwant %q", fields, tc.want)
			}
		})
	}

	// No event: an expression has nothing to read.
	_, err := d.TriggerInputValues(nil)
	if err == nil || !strings.Contains(err.Error(), `input depth: trigger.inputs expression "event.payload.depth": the run has no event to read`) {
		t.Errorf("nil event: %v", err)
	}
}

// TestTriggerInputCost: an expression that could not finish is refused at
// parse; one that is cheap to check but costly on a large event stops at
// the cost limit when it runs.
func TestTriggerInputCost(t *testing.T) {
	head := "id: team.hook\ntrigger:\n  trigger_type: event\n  event_type: a.b\n  inputs:\n    n: {cel: %q}\ninstruction: {kind: shell, cmd: \"true\"}\ninputs:\n  n: {type: int}\n"
	_, err := Parse("x.yaml", fmt.Appendf(nil, head, "size(event.payload.l.map(a, event.payload.l.map(b, event.payload.l.map(c, event.payload.l.map(d, 1)))))"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:6:14: trigger.inputs.n.cel: CEL: expression costs up to") {
		t.Errorf("costly expression: %v", err)
	}
	d := mustParse(t, fmt.Sprintf(head, "size(event.payload.l.map(a, event.payload.l.map(b, a + b)))"))
	big := make([]any, 3000)
	for i := range big {
		big[i] = float64(i)
	}
	_, err = d.TriggerInputValues(&EventView{Payload: map[string]any{"l": big}})
	if err == nil || !strings.Contains(err.Error(), ErrRuleCost.Error()) {
		t.Errorf("large event: %v", err)
	}
}

// TestInputsParseErrors: every bad declaration is refused with one
// message naming the file, line, column and field.
func TestInputsParseErrors(t *testing.T) {
	cron := "id: team.job\ntrigger: {trigger_type: cron, cron_expression: \"0 3 * * *\"}\ninstruction: {kind: shell, cmd: \"true\"}\n"
	cronIn := func(inputs string) string {
		return "id: team.job\ntrigger: {trigger_type: cron, cron_expression: \"0 3 * * *\", inputs: " + inputs + "}\ninstruction: {kind: shell, cmd: \"true\"}\n"
	}
	event := func(inputs string) string {
		return "id: team.job\ntrigger: {trigger_type: event, event_type: a.b, inputs: " + inputs + "}\ninstruction: {kind: shell, cmd: \"true\"}\n"
	}
	many := "inputs:\n"
	for i := range maxInputs + 1 {
		many += fmt.Sprintf("  i%d: {type: bool}\n", i)
	}
	cases := []struct{ name, src, want string }{
		{"run_on bad pool name", cron + "run_on: State_Hub\n",
			`x.yaml:4:9: run_on: pool name "State_Hub" is not valid: use at most 63 lower-case letters, digits, '-' and '_', starting with a letter or digit (e.g. state-hub)`},
		{"run_on empty", cron + "run_on: \"\"\n", `x.yaml:4:9: run_on: pool name is empty`},
		{"run_on a number", cron + "run_on: 5\n", `x.yaml:4:9: run_on: must be a string, got integer 5 (quote it: "5")`},
		{"run_on with a dot", cron + "run_on: a.b\n", `x.yaml:4:9: run_on: pool name "a.b" is not valid: use at most 63 lower-case letters, digits, '-' and '_', starting with a letter or digit (e.g. state-hub)`},
		{"inputs not a mapping", cron + "inputs: [repo]\n", `x.yaml:4:9: inputs: must be a mapping, got a list`},
		{"too many inputs", cron + many, fmt.Sprintf("x.yaml:5:3: inputs: declares %d inputs, the limit is %d", maxInputs+1, maxInputs)},
		{"bad input name", cron + "inputs: {Repo: {type: string}}\n",
			`x.yaml:4:10: inputs.Repo: "Repo" is not a valid input name: use lower-case letters, digits and _, starting with a letter, at most 63 characters (it becomes ACTIVITY_INPUT_NAME)`},
		{"input name with a dash", cron + "inputs: {dry-run: {type: bool}}\n",
			`x.yaml:4:10: inputs.dry-run: "dry-run" is not a valid input name: use lower-case letters, digits and _, starting with a letter, at most 63 characters (it becomes ACTIVITY_INPUT_NAME)`},
		{"declaration not a mapping", cron + "inputs: {repo: string}\n", `x.yaml:4:16: inputs.repo: must be a mapping, got string "string"`},
		{"type missing", cron + "inputs: {repo: {required: true}}\n", `x.yaml:4:16: inputs.repo.type: is required: string, int, bool, enum, duration`},
		{"unknown type", cron + "inputs: {repo: {type: strng}}\n", `x.yaml:4:23: inputs.repo.type: "strng" is not one of string, int, bool, enum, duration (did you mean "string"?)`},
		{"unknown field", cron + "inputs: {repo: {type: string, help: x}}\n", `x.yaml:4:31: inputs.repo.help: field not allowed for type string`},
		{"values on a string", cron + "inputs: {repo: {type: string, values: [a]}}\n", `x.yaml:4:31: inputs.repo.values: field not allowed for type string`},
		{"required not a bool", cron + "inputs: {repo: {type: string, default: x, required: yes}}\n", `x.yaml:4:53: inputs.repo.required: must be true or false, got string "yes"`},
		{"description not a string", cron + "inputs: {repo: {type: string, description: 5}}\n", `x.yaml:4:44: inputs.repo.description: must be a string, got integer 5 (quote it: "5")`},
		{"string default is a number", cron + "inputs: {repo: {type: string, default: 5}}\n", `x.yaml:4:40: inputs.repo.default: must be a string, got integer 5 (quote it: "5")`},
		{"string default too long", cron + "inputs: {repo: {type: string, default: " + strings.Repeat("a", maxInputBytes+1) + "}}\n",
			`x.yaml:4:40: inputs.repo.default: is 4097 bytes long, the limit is 4096`},
		{"string default with NUL", cron + "inputs: {repo: {type: string, default: \"a\\0b\"}}\n", `x.yaml:4:40: inputs.repo.default: contains a NUL byte`},
		{"int default is text", cron + "inputs: {depth: {type: int, default: three}}\n", `x.yaml:4:38: inputs.depth.default: must be an integer, got string "three"`},
		{"int default out of range", cron + "inputs: {depth: {type: int, default: 99999999999999999999}}\n", `x.yaml:4:38: inputs.depth.default: must be an integer, got number 99999999999999999999`},
		{"bool default is text", cron + "inputs: {dry_run: {type: bool, default: \"false\"}}\n", `x.yaml:4:41: inputs.dry_run.default: must be true or false, got string "false"`},
		{"duration default bad", cron + "inputs: {wait: {type: duration, default: 5 minutes}}\n",
			`x.yaml:4:42: inputs.wait.default: "5 minutes" is not a duration: use a number with a unit, like 30s, 5m or 1h30m`},
		{"duration default a number", cron + "inputs: {wait: {type: duration, default: 30}}\n",
			`x.yaml:4:42: inputs.wait.default: must be a duration like "30s", "5m" or "1h30m", got integer 30`},
		{"duration default negative", cron + "inputs: {wait: {type: duration, default: -5m}}\n", `x.yaml:4:42: inputs.wait.default: must not be negative`},
		{"enum without values", cron + "inputs: {mode: {type: enum, default: fast}}\n", `x.yaml:4:16: inputs.mode.values: is required for type enum: the list of allowed values`},
		{"enum values empty", cron + "inputs: {mode: {type: enum, values: []}}\n", `x.yaml:4:37: inputs.mode.values: is empty: an enum needs at least one value`},
		{"enum values not strings", cron + "inputs: {mode: {type: enum, values: [1, 2]}}\n",
			"x.yaml:4:38: inputs.mode.values[0]: must be a string, got integer 1 (quote it: \"1\")\nx.yaml:4:41: inputs.mode.values[1]: must be a string, got integer 2 (quote it: \"2\")"},
		{"enum value twice", cron + "inputs: {mode: {type: enum, values: [fast, fast]}}\n", `x.yaml:4:44: inputs.mode.values[1]: "fast" is already listed as inputs.mode.values[0]`},
		{"enum value empty", cron + "inputs: {mode: {type: enum, values: [\"\"]}}\n", `x.yaml:4:38: inputs.mode.values[0]: is empty: an enum value must be some text`},
		{"enum value with NUL", cron + "inputs: {mode: {type: enum, values: [fast, \"a\\0\"]}}\n", `x.yaml:4:44: inputs.mode.values[1]: contains a NUL byte`},
		{"enum value too long", cron + "inputs: {mode: {type: enum, values: [" + strings.Repeat("v", maxInputBytes+1) + "]}}\n",
			`x.yaml:4:38: inputs.mode.values[0]: is 4097 bytes long, the limit is 4096`},
		{"cel on a once trigger", "id: team.job\ntrigger: {trigger_type: once, run_at: \"2026-12-01T03:00:00Z\", inputs: {repo: {cel: \"'x'\"}}}\ninstruction: {kind: shell, cmd: \"true\"}\ninputs: {repo: {type: string}}\n",
			`x.yaml:2:84: trigger.inputs.repo.cel: applies to event triggers only: a once trigger has no event to read, so write a literal string`},
		{"enum default not in values", cron + "inputs: {mode: {type: enum, values: [fast, full], default: slow}}\n",
			`x.yaml:4:60: inputs.mode.default: "slow" is not one of the values: fast, full`},
		{"required without default and no trigger input", cron + "inputs: {repo: {type: string, required: true}}\n",
			`x.yaml:4:10: inputs.repo: is required and has no default, so trigger.inputs must set it: scheduled and event runs have no one to ask`},
		{"required without default on an event trigger", event("{}") + "inputs: {repo: {type: string, required: true}}\n",
			`x.yaml:4:10: inputs.repo: is required and has no default, so trigger.inputs must set it: scheduled and event runs have no one to ask`},
		{"trigger input not declared", cronIn("{repo: x}"), `x.yaml:2:70: trigger.inputs.repo: is not declared: declare it under inputs first`},
		{"trigger input unknown name", cronIn("{dept: 3}") + "inputs: {depth: {type: int}}\n", `x.yaml:2:70: trigger.inputs.dept: is not declared (did you mean "depth"?)`},
		{"trigger input wrong type", cronIn("{depth: x}") + "inputs: {depth: {type: int}}\n", `x.yaml:2:77: trigger.inputs.depth: must be an integer, got string "x"`},
		{"trigger input enum value not in values", cronIn("{mode: slow}") + "inputs: {mode: {type: enum, values: [fast]}}\n",
			`x.yaml:2:76: trigger.inputs.mode: "slow" is not one of the values: fast`},
		{"trigger input duration bad", cronIn("{wait: soon}") + "inputs: {wait: {type: duration}}\n",
			`x.yaml:2:76: trigger.inputs.wait: "soon" is not a duration: use a number with a unit, like 30s, 5m or 1h30m`},
		{"trigger input cel on a cron trigger", cronIn("{repo: {cel: \"'x'\"}}") + "inputs: {repo: {type: string}}\n",
			`x.yaml:2:82: trigger.inputs.repo.cel: applies to event triggers only: a cron trigger has no event to read, so write a literal string`},
		{"trigger input mapping without cel", event("{repo: {expr: x}}") + "inputs: {repo: {type: string}}\n",
			"x.yaml:2:64: trigger.inputs.repo.cel: is required: write a literal string, or {cel: \"event.payload.name\"} for an event trigger\nx.yaml:2:65: trigger.inputs.repo.expr: unknown field (allowed: cel)"},
		{"trigger input cel syntax", event("{repo: {cel: \"event.payload.\"}}") + "inputs: {repo: {type: string}}\n",
			`x.yaml:2:70: trigger.inputs.repo.cel: CEL: Syntax error: no viable alternative at input '.' (expression column 15)`},
		{"trigger input cel wrong type", event("{repo: {cel: \"size(event.payload)\"}}") + "inputs: {repo: {type: string}}\n",
			`x.yaml:2:70: trigger.inputs.repo.cel: CEL: expression yields int, which cannot be a value of string input repo`},
		{"trigger input cel reads now", event("{repo: {cel: \"string(now)\"}}") + "inputs: {repo: {type: string}}\n",
			`x.yaml:2:70: trigger.inputs.repo.cel: CEL: undeclared reference to 'now' (expression column 8)`},
		{"trigger input cel empty", event("{repo: {cel: \" \"}}") + "inputs: {repo: {type: string}}\n", `x.yaml:2:70: trigger.inputs.repo.cel: is an empty expression`},
		{"trigger inputs not a mapping", cronIn("[a]"), `x.yaml:2:69: trigger.inputs: must be a mapping, got a list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.src)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("errors\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestInputsCanonicalForm pins how run_on, inputs and trigger.inputs are
// written into the canonical JSON: a change here changes the hash of
// every definition that uses them, so it must be deliberate.
func TestInputsCanonicalForm(t *testing.T) {
	d := mustParse(t, mustRead(t, "testdata/valid/inputs.yaml"))
	const want = `"trigger":{"trigger_type":"event","event_type":"org.repo.commit.pushed","inputs":{"depth":{"cel":"has(event.payload.depth) ? event.payload.depth : 1"},"dry_run":{"value":false},"repo":{"cel":"event.payload.repo_slug"}}}` +
		`,"rule":{},"instruction":{"kind":"shell","timeout":"1h0m0s","args":["/srv/state-hub/.venv/bin/python","scripts/consistency_check.py"],"workdir":"/srv/state-hub"},"on_failure":"fail","retry":{"max_attempts":1,"initial_interval":"10s","backoff_coefficient":2,"max_interval":"5m0s"}` +
		`,"run_on":"state-hub","inputs":[{"name":"repo","type":"string","required":true,"description":"org/name of the repository"},{"name":"depth","type":"int","default":3,"description":"How many levels of history to check."},{"name":"dry_run","type":"bool","default":false},{"name":"mode","type":"enum","default":"fast","values":["fast","full"]},{"name":"wait","type":"duration","default":"5m0s","description":"How long to wait for the hub's lock."}]}`
	if got := string(d.CanonicalJSON()); !strings.HasSuffix(got, want) {
		t.Errorf("canonical JSON\n got %s\nwant …%s", got, want)
	}
	if h := d.ContentHash(); h != "22de7a743a755a82f55c808cb1ca37f917f90240b04cc585a472e6715c9f5534" {
		t.Errorf("hash %s", h)
	}
}

// FuzzResolveInputs: whatever text arrives for an input, resolving never
// panics, a resolved value resolves to itself (a rerun re-checks recorded
// inputs), and the command environment it makes has one variable per
// input and no NUL.
func FuzzResolveInputs(f *testing.F) {
	for _, s := range []string{"org/x", "3", "-9223372036854775808", "true", "FALSE", "fast", "1h30m", "-5m", "a\x00b", "\xff", "", " 7 ", "1e3"} {
		f.Add("repo", s)
		f.Add("depth", s)
		f.Add("dry_run", s)
		f.Add("mode", s)
		f.Add("wait", s)
	}
	def, err := Parse("x.yaml", []byte(inputsDef))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		given := map[string]any{name: value}
		if name != "repo" {
			given["repo"] = "org/x"
		}
		got, err := def.ResolveInputs(given)
		if err != nil {
			var ies InputErrors
			if !errors.As(err, &ies) || len(ies) == 0 {
				t.Fatalf("error %v (%T)", err, err)
			}
			return
		}
		again, err := def.ResolveInputs(got)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("resolved %#v does not resolve to itself: %#v, %v", got, again, err)
		}
		env := InputEnv(got)
		if len(env) != len(got) {
			t.Fatalf("env %q for %#v", env, got)
		}
		for _, kv := range env {
			if strings.IndexByte(kv, 0) >= 0 {
				t.Fatalf("NUL in %q", kv)
			}
		}
	})
}

// BenchmarkTriggerInputValues is the cost an event run pays for its
// trigger inputs (four expressions and a literal), compilation included.
func BenchmarkTriggerInputValues(b *testing.B) {
	d, err := Parse("x.yaml", []byte(eventInputsDef))
	if err != nil {
		b.Fatal(err)
	}
	ev := &EventView{Subject: "org.repo.pushed", ID: "1", Payload: map[string]any{"repo": "org/x", "depth": 5.0}}
	for b.Loop() {
		if _, err := d.TriggerInputValues(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTriggerInputValuesConcurrent: event runs evaluate trigger inputs in
// parallel through one program cache (run it with -race).
func TestTriggerInputValuesConcurrent(t *testing.T) {
	d := mustParse(t, eventInputsDef)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			ev := &EventView{Payload: map[string]any{"repo": fmt.Sprint("org/", i), "depth": float64(i)}}
			got, err := d.TriggerInputValues(ev)
			if err == nil && (got["repo"] != fmt.Sprint("org/", i) || got["depth"] != int64(i)) {
				err = fmt.Errorf("goroutine %d got %v", i, got)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
