package ui

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

// The dashboard's alerting pages in headless Chromium, against the real
// handlers and a SQLite store (the whole process, on Temporal, is driven
// by internal/integration's TestDashboardInBrowser). Without a browser
// the test skips, unless ACTIVITY_TEST_BROWSER=1 (CI) makes that a
// failure; ACTIVITY_TEST_CHROMIUM points at another binary.

func chromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("ACTIVITY_TEST_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("ACTIVITY_TEST_BROWSER") == "1" {
			t.Fatalf("ACTIVITY_TEST_BROWSER=1 but there is no browser at %s (apt-get install -y chromium): %v", path, err)
		}
		t.Skipf("no browser at %s: install it with apt-get install -y chromium to run the dashboard's browser tests", path)
	}
	return path
}

// tab is one headless Chromium tab.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	n     int
}

func newTab(t *testing.T, base string) *tab {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); acancel() })
	shots := os.Getenv("ACTIVITY_TEST_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots = filepath.Join(shots, "ui-screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx); err != nil { // starts the browser: no deadline here
		t.Fatalf("starting the browser: %v", err)
	}
	return &tab{t: t, ctx: ctx, base: base, shots: shots}
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *tab) js(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return s
}

// text is the text of the first element matching sel once the page has
// loaded ("" when there is none).
func (b *tab) text(sel string) string {
	b.t.Helper()
	b.do(chromedp.WaitReady(chromedp.CSS("body")))
	return b.js(fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel))
}

// waitJS polls an expression until its value holds want: a form's
// submission has navigated when the location says so.
func (b *tab) waitJS(expr, want string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		cancel()
		if err == nil && strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never held %q (last %q, %v)", expr, want, got, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the page with a deadline
	}
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

func (b *tab) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.n++
	if err := os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("alerting-%02d-%s.png", b.n, name)), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestAlertingPagesInBrowser: sign in, the Problems page oldest first,
// the health filter chosen with the form, a definition's timeline and
// notifications, and a missed run, with no script on any page.
func TestAlertingPagesInBrowser(t *testing.T) {
	chromium(t)
	e := newEnv(t, adminToken, readToken, Config{})
	seedTrouble(t, e)
	b := newTab(t, e.srv.URL)

	b.open("/ui/problems")
	b.do(chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), readToken), chromedp.Click(chromedp.CSS("#signin")))
	b.do(chromedp.WaitVisible(chromedp.CSS("#problems")))
	b.do(chromedp.Navigate(b.base+"/ui/problems"), chromedp.WaitVisible(chromedp.CSS("#problems")))
	rows := b.js(`Array.from(document.querySelectorAll("#problems tbody tr")).map(r => r.id).join(",")`)
	if rows != "p-t.db,p-t.web" {
		t.Errorf("problems rows %q, want oldest problem first", rows)
	}
	if got := b.text(`tr[id="p-t.db"]`); !strings.Contains(got, "failing since 2026-03-28 03:00:41Z") || !strings.Contains(got, "failing") {
		t.Errorf("t.db row: %q", got)
	}
	b.shot("problems")

	// The health filter, used as a person would: choose, then submit.
	b.open("/ui/definitions")
	b.do(chromedp.WaitVisible(chromedp.CSS("#health-filter")), chromedp.SetValue(chromedp.CSS("#health-filter"), "missed"),
		chromedp.Click(chromedp.CSS("form.filters button")))
	b.waitJS(`location.search`, "health=missed")
	b.do(chromedp.WaitVisible(chromedp.CSS(`tr[id="def-t.web"]`)))
	if n := b.js(`String(document.querySelectorAll("#definitions tbody tr[id]").length)`); n != "1" {
		t.Errorf("health=missed shows %s rows, want 1", n)
	}
	if h := b.text(`tr[id="def-t.web"] td.health`); !strings.Contains(h, "missed") || !strings.Contains(h, "paused by operator: cert rotation") {
		t.Errorf("health cell %q", h)
	}
	b.shot("definitions-health")

	// The definition page: its timeline, oldest first, and the outbox.
	b.open("/ui/definitions/t.db")
	b.do(chromedp.WaitVisible(chromedp.CSS("#timeline")))
	kinds := b.js(`Array.from(document.querySelectorAll("#timeline tbody tr .kind")).map(k => k.textContent).join(",")`)
	if kinds != "version,version,fired,failed,problem" {
		t.Errorf("timeline kinds %q", kinds)
	}
	if v := b.text("#timeline ul.changes"); !strings.Contains(v, `trigger.cron_expression: "0 3 * * *" → "0 5 * * *"`) {
		t.Errorf("version diff %q", v)
	}
	if n := b.text("#notifications"); !strings.Contains(n, "email:ops@example.com") || !strings.Contains(n, "pending") || !strings.Contains(n, "connection <refused>") {
		t.Errorf("notifications %q", n)
	}
	b.shot("definition-timeline")

	b.open("/ui/runs/missed-t.web-1")
	b.do(chromedp.WaitVisible(chromedp.CSS("#missed-fires")))
	if m := b.text("#missed-fires"); !strings.HasPrefix(m, "2: 2026-03-28 10:00:00Z to 2026-03-28 10:30:00Z") {
		t.Errorf("missed fires %q", m)
	}
	b.shot("missed-run")
	if n := b.js(`String(document.querySelectorAll("script").length)`); n != "0" {
		t.Errorf("%s scripts on a page", n)
	}
}
