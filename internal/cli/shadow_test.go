package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// TestShadowRunShown: runs show prints a shadow run's plan (argv exactly,
// dir, env names, inputs), runs list's WHY names the command, and run
// --wait exits 0 for it (docs/cutover.md#shadow-runs).
func TestShadowRunShown(t *testing.T) {
	plan, _ := json.Marshal(store.ShadowPlan{
		Argv: []string{"/bin/sh", "-c", "cd /srv/hub && rsync -a . 'backup:/hub' >/dev/null"}, EnvNames: []string{"PATH", "TOKEN (${env:HUB_TOKEN})", "ACTIVITY_INPUT_REPO"},
		Dir: "/srv/hub", Inputs: json.RawMessage(`{"repo":"org/app"}`),
	})
	r := store.Run{ID: "r-1", Status: store.RunShadow, ShadowPlan: plan, RuleOutcome: json.RawMessage(`{"passed":true}`)}
	var b bytes.Buffer
	printRunBody(&b, r)
	want := `rule:     {"passed":true}
shadow:   nothing was executed; this is what would have run
  argv:   ["/bin/sh","-c","cd /srv/hub && rsync -a . 'backup:/hub' >/dev/null"]
  dir:    /srv/hub
  env:    PATH, TOKEN (${env:HUB_TOKEN}), ACTIVITY_INPUT_REPO
  inputs: {"repo":"org/app"}
`
	if b.String() != want {
		t.Errorf("runs show body:\n%s\nwant:\n%s", b.String(), want)
	}
	if got, want := whyText(runView{Run: r}), `shadow: would have run /bin/sh -c "cd /srv/hub && rsync -a . 'backup:/hub' >/dev/null"`; got != want {
		t.Errorf("WHY %q, want %q", got, want)
	}
	if got := whyText(runView{Run: store.Run{Status: store.RunShadow}}); !strings.Contains(got, "no plan recorded") {
		t.Errorf("WHY without a plan: %q", got)
	}
	b.Reset()
	printRunBody(&b, store.Run{Status: store.RunSucceeded, ShadowPlan: plan})
	if strings.Contains(b.String(), "shadow") {
		t.Errorf("a succeeded run shows a plan:\n%s", b.String())
	}
	if runExitCode(store.RunShadow) != ExitOK || runExitCode(store.RunFailed) == ExitOK {
		t.Error("run --wait: a shadow run does not exit 0, or a failed one does")
	}
}

// TestValidateShadow: validate names the definitions in shadow mode, and
// points at the line of a mode it does not know, naming both modes.
func TestValidateShadow(t *testing.T) {
	dir := t.TempDir()
	head := "trigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n"
	for name, src := range map[string]string{"a.yaml": "id: t.a\nmode: shadow\n" + head, "b.yaml": "id: t.b\nmode: active\n" + head} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := run(t, "validate", dir)
	if code != ExitOK || lastLine(out) != "ok: 2 valid definitions (1 in shadow mode: t.a), 0 event types, 0 invalid files, 0 errors" {
		t.Errorf("exit %d, summary %q", code, lastLine(out))
	}
	_, out, _ = run(t, "validate", "--format", "json", dir)
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !slices.Equal(rep.Shadow, []string{"t.a"}) {
		t.Errorf("json report: %v %s", err, out)
	}
	bad := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(bad, []byte("id: t.c\nmode: dry\n"+head), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "validate", bad)
	if want := bad + `:2:7: mode: "dry" is not one of active, shadow`; code != ExitFailure || !strings.HasPrefix(out, want) {
		t.Errorf("exit %d, output %q, want it to start %q", code, out, want)
	}
}

// TestRunsShowShadow: runs show and runs list read a shadow run through
// the API and the store: the plan survives the round trip.
func TestRunsShowShadow(t *testing.T) {
	a := newRunctlAPI(t)
	plan, _ := json.Marshal(store.ShadowPlan{Argv: []string{"/bin/sh", "-c", "sweep --all"}, EnvNames: []string{"PATH", "ACTIVITY_RUN_ID"},
		Dir: "/srv/hub", Inputs: json.RawMessage(`{"repo":"org/hub"}`)})
	if _, err := a.st.CreateRun(t.Context(), store.Run{ID: "sh-1", DefinitionID: "team.sweep", DefinitionVersion: 1, Trigger: store.RunTriggerCron,
		Status: store.RunShadow, StartedAt: &runctlNow, FinishedAt: &runctlNow, ShadowPlan: plan}); err != nil {
		t.Fatal(err)
	}
	_, out, _ := a.as(t, a.read, "runs", "show", "sh-1")
	for _, want := range []string{"status:   shadow\n", "shadow:   nothing was executed; this is what would have run\n", `  argv:   ["/bin/sh","-c","sweep --all"]` + "\n",
		"  dir:    /srv/hub\n", "  env:    PATH, ACTIVITY_RUN_ID\n", `  inputs: {"repo":"org/hub"}` + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("runs show lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = a.as(t, a.read, "runs", "list", "--status", "shadow")
	if !strings.Contains(out, `sh-1`) || !strings.Contains(out, `shadow: would have run /bin/sh -c "sweep --all"`) {
		t.Errorf("runs list --status shadow:\n%s", out)
	}
}
