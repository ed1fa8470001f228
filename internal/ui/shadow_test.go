package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// TestShadowRunPage: a shadow run's page shows its status styled as such
// and the plan: argv exactly, directory, env names, inputs
// (docs/cutover.md#shadow-runs); the runs page filters on it.
func TestShadowRunPage(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{RunsPageSize: 20})
	putDefinitions(t, e.st, e.dir, "id: t.a\nmode: shadow\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	plan, _ := json.Marshal(store.ShadowPlan{Argv: []string{"/bin/sh", "-c", "echo <b>hi</b>"}, EnvNames: []string{"PATH", "TOKEN (${env:HUB_TOKEN})"},
		Dir: "/srv/hub", Inputs: json.RawMessage(`{"repo":"org/app"}`)})
	ctx := context.Background()
	for _, r := range []store.Run{
		{ID: "r-shadow", DefinitionID: "t.a", Trigger: store.RunTriggerCron, Status: store.RunShadow, ShadowPlan: plan},
		{ID: "r-ok", DefinitionID: "t.a", Trigger: store.RunTriggerCron, Status: store.RunSucceeded},
	} {
		if _, err := e.st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/runs/r-shadow")
	b.expect(http.StatusOK, `class="run st-shadow" id="run-status">shadow<`, `id="shadow-plan"`,
		`<code id="shadow-argv">[&#34;/bin/sh&#34;,&#34;-c&#34;,&#34;echo &lt;b&gt;hi&lt;/b&gt;&#34;]</code>`,
		`<code id="shadow-dir">/srv/hub</code>`, `<code>TOKEN (${env:HUB_TOKEN})</code>`, `<code id="shadow-inputs">{&#34;repo&#34;:&#34;org/app&#34;}</code>`)
	b.get("/ui/runs/r-ok")
	if strings.Contains(b.body, "shadow-plan") {
		t.Error("a succeeded run shows a shadow plan")
	}
	b.get("/ui/runs?status=shadow")
	b.expect(http.StatusOK, `<option value="shadow" selected>`, "r-shadow", `shadow: would have run /bin/sh -c &#34;echo &lt;b&gt;hi&lt;/b&gt;&#34;`)
	if strings.Contains(b.body, "r-ok") {
		t.Error("the shadow filter shows a succeeded run")
	}
}
