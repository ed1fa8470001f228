package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// TestPreviewMatchesRun runs a definition through the real workflow and
// previews it with the same inputs: the environment the command saw, the
// context snapshot and the rule outcome must be the same.
func TestPreviewMatchesRun(t *testing.T) {
	h := newHarness(t)
	const body = `{"status": "ok", "count": 4}`
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	defer hub.Close()
	vars := []string{"ACTIVITY_DEFINITION_ID", "ACTIVITY_TRIGGER", "ACTIVITY_CONTEXT_JSON", "ACTIVITY_EVENT_SUBJECT", "ACTIVITY_EVENT_ID", "ACTIVITY_EVENT_JSON", "MODE"}
	var refs []string
	for _, v := range vars {
		refs = append(refs, `"$`+v+`"`)
	}
	def := h.put(fmt.Sprintf(`id: t.preview
trigger: {trigger_type: event, event_type: org.repo.pushed}
context:
  - {kind: http_get, url: %s/health, bind: hub}
rule:
  when: ["hub.count > 3", "event.payload.repo == 'a/b'"]
instruction:
  kind: shell
  args: [sh, -c, 'printf "%%s\n" %s']
  env: {MODE: fast}
`, hub.URL, strings.Join(refs, " ")))
	ev := &Event{Subject: "org.repo.pushed", ID: "42", Time: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
		Payload: json.RawMessage(`{"repo": "a/b", "msg": "$(rm -rf /)"}`)}
	out, run, err := h.run(RunInput{DefinitionID: def.ID, Trigger: store.RunTriggerEvent, Event: ev})
	if err != nil || out.Status != store.RunSucceeded {
		t.Fatalf("run: %v %+v %+v", err, out, run)
	}
	seen := strings.Split(strings.TrimSuffix(run.Stdout, "\n"), "\n")

	pv, err := PreviewRun(context.Background(), PreviewInput{
		Definition: def, Trigger: string(store.RunTriggerEvent), Event: ev,
		Context: map[string]json.RawMessage{"hub": json.RawMessage(body)}, Now: ev.Time, RunID: "r",
	})
	if err != nil || !pv.Runs || pv.Instruction == nil {
		t.Fatalf("preview: %v %+v", err, pv)
	}
	env := map[string]string{}
	for _, kv := range pv.Instruction.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if len(seen) != len(vars) {
		t.Fatalf("command printed %q", run.Stdout)
	}
	for i, v := range vars {
		if env[v] != seen[i] {
			t.Errorf("%s: preview %q, the command saw %q", v, env[v], seen[i])
		}
	}
	if env["ACTIVITY_RUN_ID"] != "r" || !slices.Equal(pv.Instruction.Args, def.Instruction.Args) {
		t.Errorf("plan: %+v", pv.Instruction)
	}
	var a, b any
	_ = json.Unmarshal(run.ContextSnapshot, &a)
	_ = json.Unmarshal(pv.ContextSnapshot, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("snapshot: run %s, preview %s", run.ContextSnapshot, pv.ContextSnapshot)
	}
	var recorded RuleOutcome
	if err := json.Unmarshal(run.RuleOutcome, &recorded); err != nil || !reflect.DeepEqual(&recorded, pv.Rule) {
		t.Errorf("rule: run %s, preview %+v", run.RuleOutcome, pv.Rule)
	}
}

// TestPreviewRedactsAndStops: secrets the worker would resolve never show,
// unknown references stay as written, and a false rule plans nothing but
// still shows the expressions the engine would not reach.
func TestPreviewRedactsAndStops(t *testing.T) {
	def, err := definition.Parse("p.yaml", []byte(`id: t.p
trigger: {trigger_type: cron, cron_expression: "@daily"}
context:
  - {kind: http_get, url: "https://hub.example/x?k=${env:HUB_KEY}", bind: hub, headers: {A: "${env:HUB_AUTH}"}}
rule:
  when: ["hub.ok", "hub.n > 1", "hub.missing == 1"]
instruction:
  kind: publish
  subject: org.x.done
  payload: {key: "${env:HUB_KEY}", other: "${env:NOT_GIVEN}"}
`))
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"HUB_KEY": "key-abcdef", "HUB_AUTH": "auth-123456"}[k]
		return v, ok
	}
	in := PreviewInput{Definition: def, Trigger: "cron", Now: time.Now(), RunID: "r", LookupEnv: lookup,
		Context: map[string]json.RawMessage{"hub": json.RawMessage(`{"ok": true, "n": 2, "echo": "auth-123456"}`)}}
	pv, err := PreviewRun(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Runs || pv.Rule == nil || pv.Rule.Passed || pv.Rule.FailedIndex != 2 || !strings.Contains(pv.Rule.Error, "no such key") {
		t.Fatalf("rule: %+v", pv.Rule)
	}
	if string(pv.ContextSnapshot) != `{"hub":{"echo":"***","n":2,"ok":true}}` {
		t.Errorf("snapshot not redacted: %s", pv.ContextSnapshot)
	}
	in.Context["hub"] = json.RawMessage(`{"ok": false, "n": 2}`)
	pv, _ = PreviewRun(context.Background(), in)
	if pv.Runs || pv.Rule.Failed != "hub.ok" || len(pv.Unreached) != 2 || !*pv.Unreached[0].Result || !strings.Contains(pv.Unreached[1].Error, "no such key") {
		t.Errorf("false rule: %+v unreached %+v", pv.Rule, pv.Unreached)
	}
	in.Context["hub"] = json.RawMessage(`{"ok": true, "n": 2, "missing": 1}`)
	pv, _ = PreviewRun(context.Background(), in)
	if !pv.Runs || pv.Instruction.Subject != "org.x.done" {
		t.Fatalf("runs: %+v", pv)
	}
	p := pv.Instruction.Payload.(map[string]any)
	if p["key"] != "***" || p["other"] != "${env:NOT_GIVEN}" || !slices.Equal(pv.Unresolved, []string{"NOT_GIVEN"}) {
		t.Errorf("payload %v, unresolved %v", p, pv.Unresolved)
	}
	if _, err := PreviewRun(context.Background(), PreviewInput{}); err == nil {
		t.Error("no definition must be an error")
	}
}
