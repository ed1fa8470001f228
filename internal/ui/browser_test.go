package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coulomb/activity-core/internal/testsupport/browsertest"
)

// The dashboard's alerting pages in headless Chromium, against the real
// handlers and a SQLite store (the whole process, on Temporal, is driven
// by internal/integration's TestDashboardInBrowser). Without a browser
// the test skips, unless ACTIVITY_TEST_BROWSER=1 (CI) makes that a
// failure; ACTIVITY_TEST_CHROMIUM points at another binary (see
// internal/testsupport/browsertest).

// TestAlertingPagesInBrowser: sign in, the Problems page oldest first,
// the health filter chosen with the form, a definition's timeline and
// notifications, and a missed run, with no script on any page.
func TestAlertingPagesInBrowser(t *testing.T) {
	browsertest.Chromium(t)
	e := newEnv(t, adminToken, readToken, Config{})
	seedTrouble(t, e)
	b := browsertest.New(t, e.srv.URL, "alerting-")

	b.Open("/ui/problems")
	b.Do(chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), readToken), chromedp.Click(chromedp.CSS("#signin")))
	b.Do(chromedp.WaitVisible(chromedp.CSS("#problems")))
	b.Do(chromedp.Navigate(e.srv.URL+"/ui/problems"), chromedp.WaitVisible(chromedp.CSS("#problems")))
	rows := b.JS(`Array.from(document.querySelectorAll("#problems tbody tr")).map(r => r.id).join(",")`)
	if rows != "p-t.db,p-t.web" {
		t.Errorf("problems rows %q, want oldest problem first", rows)
	}
	if got := b.Text(`tr[id="p-t.db"]`); !strings.Contains(got, "failing since 2026-03-28 03:00:41Z") || !strings.Contains(got, "failing") {
		t.Errorf("t.db row: %q", got)
	}
	b.Shot("problems")

	// The health filter, used as a person would: choose, then submit.
	b.Open("/ui/definitions")
	b.Do(chromedp.WaitVisible(chromedp.CSS("#health-filter")), chromedp.SetValue(chromedp.CSS("#health-filter"), "missed"),
		chromedp.Click(chromedp.CSS("form.filters button")))
	b.WaitJS(`location.search`, "health=missed", 10*time.Second)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`tr[id="def-t.web"]`)))
	if n := b.JS(`String(document.querySelectorAll("#definitions tbody tr[id]").length)`); n != "1" {
		t.Errorf("health=missed shows %s rows, want 1", n)
	}
	if h := b.Text(`tr[id="def-t.web"] td.health`); !strings.Contains(h, "missed") || !strings.Contains(h, "paused by operator: cert rotation") {
		t.Errorf("health cell %q", h)
	}
	b.Shot("definitions-health")

	// The definition page: its timeline, oldest first, and the outbox.
	b.Open("/ui/definitions/t.db")
	b.Do(chromedp.WaitVisible(chromedp.CSS("#timeline")))
	kinds := b.JS(`Array.from(document.querySelectorAll("#timeline tbody tr .kind")).map(k => k.textContent).join(",")`)
	if kinds != "version,version,fired,failed,problem" {
		t.Errorf("timeline kinds %q", kinds)
	}
	if v := b.Text("#timeline ul.changes"); !strings.Contains(v, `trigger.cron_expression: "0 3 * * *" → "0 5 * * *"`) {
		t.Errorf("version diff %q", v)
	}
	if n := b.Text("#notifications"); !strings.Contains(n, "email:ops@example.com") || !strings.Contains(n, "pending") || !strings.Contains(n, "connection <refused>") {
		t.Errorf("notifications %q", n)
	}
	b.Shot("definition-timeline")

	b.Open("/ui/runs/missed-t.web-1")
	b.Do(chromedp.WaitVisible(chromedp.CSS("#missed-fires")))
	if m := b.Text("#missed-fires"); !strings.HasPrefix(m, "2: 2026-03-28 10:00:00Z to 2026-03-28 10:30:00Z") {
		t.Errorf("missed fires %q", m)
	}
	b.Shot("missed-run")
	if n := b.JS(`String(document.querySelectorAll("script").length)`); n != "0" {
		t.Errorf("%s scripts on a page", n)
	}
}
