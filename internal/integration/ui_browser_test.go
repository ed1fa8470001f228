package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is the browser the dashboard tests drive: Debian's chromium
// (ACTIVITY_TEST_CHROMIUM overrides). Without it the tests skip, unless
// ACTIVITY_TEST_BROWSER=1 (CI) makes a missing browser a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("ACTIVITY_TEST_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("ACTIVITY_TEST_BROWSER") == "1" {
			t.Fatalf("ACTIVITY_TEST_BROWSER=1 but there is no browser at %s (apt-get install -y chromium): %v", path, err)
		}
		t.Skipf("no browser at %s: install it with apt-get install -y chromium (or set ACTIVITY_TEST_CHROMIUM) to run the dashboard's browser tests", path)
	}
	return path
}

// artifactsDir is where screenshots go: $ACTIVITY_TEST_ARTIFACTS, else a
// new temporary directory that outlives the test so the pictures can be
// looked at.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ACTIVITY_TEST_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "activity-core-ui-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else {
		dir = filepath.Join(dir, "ui-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshots: %s", dir)
	return dir
}

// uiBrowser is one headless Chromium tab on an instance's dashboard.
type uiBrowser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	n     int
}

func newUIBrowser(t *testing.T, base string) *uiBrowser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); acancel() })
	b := &uiBrowser{t: t, ctx: ctx, base: base, shots: artifactsDir(t)}
	// The first run starts the browser; it must not carry a timeout (that
	// would stop the browser), later steps do.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath(t), err)
	}
	return b
}

// do runs steps with a deadline.
func (b *uiBrowser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *uiBrowser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (b *uiBrowser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// js evaluates an expression and returns its value as a string ("" when it
// fails, as it does while a page is loading).
func (b *uiBrowser) js(expr string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](expr))
}

// text returns the text content of the first element matching a CSS
// selector, "" when there is none.
func (b *uiBrowser) text(sel string) string {
	b.t.Helper()
	s, err := b.js(fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// waitText polls until the element matching sel holds want in its text,
// through page loads and the run page's own reloads.
func (b *uiBrowser) waitText(sel, want string, timeout time.Duration) string {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	var lastErr error
	for {
		last, lastErr = b.js(fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel))
		if lastErr == nil && strings.Contains(last, want) {
			return last
		}
		if time.Now().After(deadline) {
			body, _ := b.js(`document.body ? document.body.innerText : ""`)
			b.t.Fatalf("%s never showed %q (last %q, %v) at %s; page:\n%s", sel, want, last, lastErr, b.location(), body)
		}
		time.Sleep(100 * time.Millisecond) // polling the DOM with a deadline
	}
}

// shot saves a full-page PNG screenshot.
func (b *uiBrowser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.n++
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestDashboardInBrowser drives the dashboard of a whole process (every
// role, embedded Temporal and NATS, as `dev` runs) in headless Chromium:
// sign in, every page, run now, pause with a note, a plan's counts, and a
// definition whose output holds <script> shown as text.
func TestDashboardInBrowser(t *testing.T) {
	chromiumPath(t) // skip before starting an instance
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

	b := newUIBrowser(t, in.base)

	// Sign in: any page sends an anonymous browser to the login form.
	b.open("/ui/runs")
	b.waitText("h1", "Sign in", 10*time.Second)
	b.shot("login")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin")),
	)
	b.waitText("h1", "Runs", 10*time.Second)
	if loc := b.location(); strings.Contains(loc, token) {
		t.Fatalf("the token is in a URL: %s", loc)
	}
	if role := b.text("#role"); role != "admin" {
		t.Errorf("role %q", role)
	}

	// Definitions: every definition, its schedule state and next fires.
	b.open("/ui/definitions")
	b.waitText("#definitions", "ui.hello", 10*time.Second)
	row := b.text(`tr[id="def-ui.hello"]`)
	for _, want := range []string{"active", "0 7 * * 1-5", "Europe/Berlin", " 07:00 CE", ":00:00Z"} {
		if !strings.Contains(row, want) {
			t.Errorf("definitions row lacks %q: %s", want, row)
		}
	}
	if n, _ := b.js(`String(document.querySelectorAll('tr[id="def-ui.hello"] ol.fires li').length)`); n != "5" {
		t.Errorf("%s next fires shown, want 5", n)
	}
	b.shot("definitions")

	// A definition: its spec as YAML; run now shows the run and its output.
	b.open("/ui/definitions/ui.hello")
	b.waitText("#spec", "cron_expression: 0 7 * * 1-5", 10*time.Second)
	b.shot("definition")
	b.do(chromedp.Click(chromedp.CSS("#run-now")))
	b.waitText("#stdout", "hello from the dashboard", 60*time.Second)
	b.waitText("#run-status", "succeeded", 30*time.Second)
	if wf := b.text("#workflow-id"); !strings.HasPrefix(wf, "activity-core:manual:ui.hello:") {
		t.Errorf("workflow id %q", wf)
	}
	if code := b.text("#exit-code"); code != "0" {
		t.Errorf("exit code %q", code)
	}
	b.shot("run")

	// Runs: the run is listed.
	b.open("/ui/runs?definition=ui.hello")
	b.waitText("#runs", "succeeded", 10*time.Second)
	b.shot("runs")

	// Pause with a note and an until: the note shows on the page and in
	// the list, and Temporal's schedule is paused.
	b.open("/ui/definitions/ui.hello")
	b.waitText("#state", "active", 10*time.Second)
	b.do(
		chromedp.SendKeys(chromedp.CSS("#pause-note-input"), "disk migration, back at 06:00"),
		chromedp.SendKeys(chromedp.CSS("#pause-until"), "3h"),
		chromedp.Click(chromedp.CSS("#pause")),
	)
	b.waitText("#pause-note", "disk migration, back at 06:00", 20*time.Second)
	b.waitText("#flash", "Paused ui.hello", 5*time.Second)
	b.shot("definition-paused")
	got := in.waitSchedules(map[string]bool{"ui.hello": true, "ui.xss": false})
	if !strings.Contains(got["ui.hello"].Note, "disk migration") {
		t.Errorf("Temporal's note: %q", got["ui.hello"].Note)
	}
	b.open("/ui/definitions?trigger_type=cron")
	b.waitText(`tr[id="def-ui.hello"]`, "disk migration, back at 06:00", 10*time.Second)
	b.open("/ui/definitions/ui.hello")
	b.do(chromedp.Click(chromedp.CSS("#resume")))
	b.waitText("#flash", "Resumed ui.hello", 20*time.Second)
	in.waitSchedules(map[string]bool{"ui.hello": false, "ui.xss": false})

	// Sync: a plan shows what a sync would do, and changes nothing.
	in.write("new.yaml", `id: ui.new
trigger: {trigger_type: cron, cron_expression: "15 3 * * *"}
instruction: {kind: shell, cmd: 'true'}
`)
	b.open("/ui/sync")
	b.waitText("#sync-status", "Last success", 10*time.Second)
	b.do(chromedp.Click(chromedp.CSS("#plan")))
	b.waitText("#plan-result h2", "Plan (nothing was changed)", 30*time.Second)
	if up := b.text("#plan-result tr.c-definitions td.n-upserted"); up != "1" {
		t.Errorf("plan: definitions upserted %q, want 1", up)
	}
	if up := b.text("#plan-result tr.c-schedules td.n-upserted"); up != "1" {
		t.Errorf("plan: schedules upserted %q, want 1", up)
	}
	if sc := b.text("#plan-result tr.c-definitions td.n-scanned"); sc != "4" {
		t.Errorf("plan: definitions scanned %q, want 4", sc)
	}
	b.shot("sync-plan")
	in.waitSchedules(map[string]bool{"ui.hello": false, "ui.xss": false}) // the plan created nothing
	b.do(chromedp.Click(chromedp.CSS("#sync-now")))
	b.waitText("#flash", "done: definitions 1 upserted", 30*time.Second)
	in.waitSchedules(map[string]bool{"ui.hello": false, "ui.xss": false, "ui.new": false})

	// Events: explain says which definition would run.
	b.open("/ui/events")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#subject"), "it."+name+".repo.pushed"),
		chromedp.SetValue(chromedp.CSS("#payload"), `{"repo_slug": "coulomb/state-hub", "sha": "abc1234"}`),
		chromedp.Click(chromedp.CSS("#explain")),
	)
	b.waitText("#explain-result h2", "1 of 1 event definition would run", 20*time.Second)
	if v := b.text(`tr[id="ex-ui.on-push"] .verdict`); v != "matched" {
		t.Errorf("explain verdict %q", v)
	}
	b.shot("events")

	// <script> in a run's output, and in the definition's text, is text.
	b.open("/ui/definitions/ui.xss")
	b.waitText("#spec", `<script>window.__pwned = 1;`, 10*time.Second)
	b.do(chromedp.Click(chromedp.CSS("#run-now")))
	out := b.waitText("#stdout", "</script>", 60*time.Second)
	if want := `<script>window.__pwned = 1; document.title = "pwned"</script>` + "\n"; out != want {
		t.Errorf("stdout as text %q, want %q", out, want)
	}
	b.waitText("#run-status", "succeeded", 30*time.Second)
	for expr, want := range map[string]string{
		`String(document.querySelectorAll("script").length)`:        "0",
		`String(typeof window.__pwned)`:                             "undefined",
		`String(document.title.indexOf("pwned"))`:                   "-1",
		`String(document.querySelector("#stdout").children.length)`: "0",
	} {
		if got, err := b.js(expr); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", expr, got, err, want)
		}
	}
	b.shot("run-script-as-text")

	// Sign out: the next page asks to sign in again.
	b.do(chromedp.Click(chromedp.CSS("header .who button")))
	b.waitText("h1", "Sign in", 10*time.Second)
	b.open("/ui/sync")
	b.waitText("h1", "Sign in", 10*time.Second)
}
