package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coulomb/activity-core/internal/testsupport/browsertest"
)

// TestDashboardInBrowser drives the dashboard of a whole process (every
// role, embedded Temporal and NATS, as `dev` runs) in headless Chromium:
// sign in, every page, run now, pause with a note, a plan's counts, and a
// definition whose output holds <script> shown as text.
func TestDashboardInBrowser(t *testing.T) {
	browsertest.Chromium(t) // skip before starting an instance
	in := start(t)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	in.write("hello.yaml", `id: ui.hello
description: Says hello every morning (Berlin time).
trigger: {trigger_type: cron, cron_expression: "0 7 * * 1-5", timezone: Europe/Berlin}
instruction: {kind: shell, cmd: 'echo hello from the dashboard'}
`)
	in.write("xss.yaml", `id: ui.xss
description: Prints markup that must stay text.
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
instruction:
  kind: shell
  cmd: |
    echo '<script>window.__pwned = 1; document.title = "pwned"</script>'
`)
	in.write("on-push.yaml", fmt.Sprintf(`id: ui.on-push
trigger:
  trigger_type: event
  event_type: it.%s.repo.*
  filters: {repo_slug: "coulomb/*"}
rule: {when: ["event.payload.sha != ''"]}
instruction: {kind: shell, cmd: 'true'}
`, name))
	if res := in.sync(""); !res.OK() || res.Definitions.Upserted != 3 {
		t.Fatalf("sync: %+v %+v", res.Definitions, res.Errors)
	}
	in.waitSchedules(map[string]bool{"ui.hello": false, "ui.xss": false})

	b := browsertest.New(t, in.base, "")

	// Sign in: any page sends an anonymous browser to the login form.
	b.Open("/ui/runs")
	b.WaitText("h1", "Sign in", 10*time.Second)
	b.Shot("login")
	b.Do(
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin")),
	)
	b.WaitText("h1", "Runs", 10*time.Second)
	if loc := b.Location(); strings.Contains(loc, token) {
		t.Fatalf("the token is in a URL: %s", loc)
	}
	if role := b.Text("#role"); role != "admin" {
		t.Errorf("role %q", role)
	}

	// Definitions: every definition, its schedule state and next fires.
	b.Open("/ui/definitions")
	b.WaitText("#definitions", "ui.hello", 10*time.Second)
	row := b.Text(`tr[id="def-ui.hello"]`)
	for _, want := range []string{"active", "0 7 * * 1-5", "Europe/Berlin", " 07:00 CE", ":00:00Z"} {
		if !strings.Contains(row, want) {
			t.Errorf("definitions row lacks %q: %s", want, row)
		}
	}
	if n, _ := b.Eval(`String(document.querySelectorAll('tr[id="def-ui.hello"] ol.fires li').length)`); n != "5" {
		t.Errorf("%s next fires shown, want 5", n)
	}
	b.Shot("definitions")

	// A definition: its spec as YAML; run now shows the run and its output.
	b.Open("/ui/definitions/ui.hello")
	b.WaitText("#spec", "cron_expression: 0 7 * * 1-5", 10*time.Second)
	b.Shot("definition")
	b.Do(chromedp.Click(chromedp.CSS("#run-now")))
	b.WaitText("#stdout", "hello from the dashboard", 60*time.Second)
	b.WaitText("#run-status", "succeeded", 30*time.Second)
	if wf := b.Text("#workflow-id"); !strings.HasPrefix(wf, "activity-core:manual:ui.hello:") {
		t.Errorf("workflow id %q", wf)
	}
	if code := b.Text("#exit-code"); code != "0" {
		t.Errorf("exit code %q", code)
	}
	b.Shot("run")

	// Runs: the run is listed.
	b.Open("/ui/runs?definition=ui.hello")
	b.WaitText("#runs", "succeeded", 10*time.Second)
	b.Shot("runs")

	// Pause with a note and an until: the note shows on the page and in
	// the list, and Temporal's schedule is paused.
	b.Open("/ui/definitions/ui.hello")
	b.WaitText("#state", "active", 10*time.Second)
	b.Do(
		chromedp.SendKeys(chromedp.CSS("#pause-note-input"), "disk migration, back at 06:00"),
		chromedp.SendKeys(chromedp.CSS("#pause-until"), "3h"),
		chromedp.Click(chromedp.CSS("#pause")),
	)
	b.WaitText("#pause-note", "disk migration, back at 06:00", 20*time.Second)
	b.WaitText("#flash", "Paused ui.hello", 5*time.Second)
	b.Shot("definition-paused")
	got := in.waitSchedules(map[string]bool{"ui.hello": true, "ui.xss": false})
	if !strings.Contains(got["ui.hello"].Note, "disk migration") {
		t.Errorf("Temporal's note: %q", got["ui.hello"].Note)
	}
	b.Open("/ui/definitions?trigger_type=cron")
	b.WaitText(`tr[id="def-ui.hello"]`, "disk migration, back at 06:00", 10*time.Second)
	b.Open("/ui/definitions/ui.hello")
	b.Do(chromedp.Click(chromedp.CSS("#resume")))
	b.WaitText("#flash", "Resumed ui.hello", 20*time.Second)
	in.waitSchedules(map[string]bool{"ui.hello": false, "ui.xss": false})

	// Sync: a plan shows what a sync would do, and changes nothing.
	in.write("new.yaml", `id: ui.new
trigger: {trigger_type: cron, cron_expression: "15 3 * * *"}
instruction: {kind: shell, cmd: 'true'}
`)
	b.Open("/ui/sync")
	b.WaitText("#sync-status", "Last success", 10*time.Second)
	b.Do(chromedp.Click(chromedp.CSS("#plan")))
	b.WaitText("#plan-result h2", "Plan (nothing was changed)", 30*time.Second)
	if up := b.Text("#plan-result tr.c-definitions td.n-upserted"); up != "1" {
		t.Errorf("plan: definitions upserted %q, want 1", up)
	}
	if up := b.Text("#plan-result tr.c-schedules td.n-upserted"); up != "1" {
		t.Errorf("plan: schedules upserted %q, want 1", up)
	}
	if sc := b.Text("#plan-result tr.c-definitions td.n-scanned"); sc != "4" {
		t.Errorf("plan: definitions scanned %q, want 4", sc)
	}
	b.Shot("sync-plan")
	in.waitSchedules(map[string]bool{"ui.hello": false, "ui.xss": false}) // the plan created nothing
	b.Do(chromedp.Click(chromedp.CSS("#sync-now")))
	b.WaitText("#flash", "done: definitions 1 upserted", 30*time.Second)
	in.waitSchedules(map[string]bool{"ui.hello": false, "ui.xss": false, "ui.new": false})

	// Events: explain says which definition would run.
	b.Open("/ui/events")
	b.Do(
		chromedp.SendKeys(chromedp.CSS("#subject"), "it."+name+".repo.pushed"),
		chromedp.SetValue(chromedp.CSS("#payload"), `{"repo_slug": "coulomb/state-hub", "sha": "abc1234"}`),
		chromedp.Click(chromedp.CSS("#explain")),
	)
	b.WaitText("#explain-result h2", "1 of 1 event definition would run", 20*time.Second)
	if v := b.Text(`tr[id="ex-ui.on-push"] .verdict`); v != "matched" {
		t.Errorf("explain verdict %q", v)
	}
	b.Shot("events")

	// <script> in a run's output, and in the definition's text, is text.
	b.Open("/ui/definitions/ui.xss")
	b.WaitText("#spec", `<script>window.__pwned = 1;`, 10*time.Second)
	b.Do(chromedp.Click(chromedp.CSS("#run-now")))
	out := b.WaitText("#stdout", "</script>", 60*time.Second)
	if want := `<script>window.__pwned = 1; document.title = "pwned"</script>` + "\n"; out != want {
		t.Errorf("stdout as text %q, want %q", out, want)
	}
	b.WaitText("#run-status", "succeeded", 30*time.Second)
	for expr, want := range map[string]string{
		`String(document.querySelectorAll("script").length)`:        "0",
		`String(typeof window.__pwned)`:                             "undefined",
		`String(document.title.indexOf("pwned"))`:                   "-1",
		`String(document.querySelector("#stdout").children.length)`: "0",
	} {
		if got, err := b.Eval(expr); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", expr, got, err, want)
		}
	}
	b.Shot("run-script-as-text")

	// Sign out: the next page asks to sign in again.
	b.Do(chromedp.Click(chromedp.CSS("header .who button")))
	b.WaitText("h1", "Sign in", 10*time.Second)
	b.Open("/ui/sync")
	b.WaitText("h1", "Sign in", 10*time.Second)
}
