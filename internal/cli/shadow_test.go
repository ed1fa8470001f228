package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// TestShadowRunShown: runs show prints a shadow run's plan (argv exactly,
// dir, env names, inputs), runs list's WHY names the command, and run
// --wait exits 0 for it (docs/cutover.md#shadow-runs).
func TestShadowRunShown(t *testing.T) {
	plan, _ := json.Marshal(store.ShadowPlan{
		Argv: []string{"/bin/sh", "-c", "rsync -a /srv/hub 'backup:/hub'"}, EnvNames: []string{"PATH", "TOKEN (${env:HUB_TOKEN})", "ACTIVITY_INPUT_REPO"},
		Dir: "/srv/hub", Inputs: json.RawMessage(`{"repo":"org/app"}`),
	})
	r := store.Run{ID: "r-1", Status: store.RunShadow, ShadowPlan: plan, RuleOutcome: json.RawMessage(`{"passed":true}`)}
	var b bytes.Buffer
	printRunBody(&b, r)
	want := `rule:     {"passed":true}
shadow:   nothing was executed; this is what would have run
  argv:   ["/bin/sh","-c","rsync -a /srv/hub 'backup:/hub'"]
  dir:    /srv/hub
  env:    PATH, TOKEN (${env:HUB_TOKEN}), ACTIVITY_INPUT_REPO
  inputs: {"repo":"org/app"}
`
	if b.String() != want {
		t.Errorf("runs show body:\n%s\nwant:\n%s", b.String(), want)
	}
	if got, want := whyText(runView{Run: r}), `shadow: would have run /bin/sh -c "rsync -a /srv/hub 'backup:/hub'"`; got != want {
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
