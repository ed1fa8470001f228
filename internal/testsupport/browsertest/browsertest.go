// Package browsertest drives the dashboard in one headless Chromium tab
// (chromedp) for the browser tests of internal/ui and internal/integration.
// It is imported only from _test.go files.
package browsertest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// chromiumDefault is where Debian's chromium package puts the browser.
const chromiumDefault = "/usr/bin/chromium"

// Chromium returns the browser the tests drive: Debian's chromium
// (ACTIVITY_TEST_CHROMIUM overrides). Without it the test skips, unless
// ACTIVITY_TEST_BROWSER=1 (CI) makes a missing browser a failure. Call it
// first to skip before any costly setup.
func Chromium(t testing.TB) string {
	t.Helper()
	path := cmp.Or(os.Getenv("ACTIVITY_TEST_CHROMIUM"), chromiumDefault)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("ACTIVITY_TEST_BROWSER") == "1" {
			t.Fatalf("ACTIVITY_TEST_BROWSER=1 but there is no browser at %s (apt-get install -y chromium): %v", path, err)
		}
		t.Skipf("no browser at %s: install it with apt-get install -y chromium (or set ACTIVITY_TEST_CHROMIUM) to run the dashboard's browser tests", path)
	}
	return path
}

// artifactsDir is where screenshots go: $ACTIVITY_TEST_ARTIFACTS/ui-screenshots,
// else a new temporary directory that outlives the test so the pictures
// can be looked at.
func artifactsDir(t testing.TB) string {
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

// Tab is one headless Chromium tab on a dashboard. Its methods fail the
// test on an error.
type Tab struct {
	t          testing.TB
	ctx        context.Context
	base       string
	shots      string
	shotPrefix string
	n          int
}

// New starts a browser (skipping or failing as Chromium does) with one
// tab whose Open paths are relative to base; it stops when the test ends.
// Screenshots are named shotPrefix, a sequence number and Shot's name.
func New(t testing.TB, base, shotPrefix string) *Tab {
	t.Helper()
	path := Chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
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
	b := &Tab{t: t, ctx: ctx, base: base, shots: artifactsDir(t), shotPrefix: shotPrefix}
	// The first run starts the browser; it must not carry a timeout (that
	// would stop the browser), later steps do.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return b
}

// Do runs steps with a deadline.
func (b *Tab) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.Location())
	}
}

// Location is the tab's URL ("" when it cannot be read).
func (b *Tab) Location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// Open navigates to base+path.
func (b *Tab) Open(path string) {
	b.t.Helper()
	b.Do(chromedp.Navigate(b.base + path))
}

// Eval evaluates an expression and returns its value as a string, or the
// error (as while a page is loading).
func (b *Tab) Eval(expr string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](expr))
}

// JS is Eval that fails the test on an error.
func (b *Tab) JS(expr string) string {
	b.t.Helper()
	s, err := b.Eval(expr)
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return s
}

func textOf(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel)
}

// Text is the text of the first element matching a CSS selector once the
// page has loaded ("" when there is none).
func (b *Tab) Text(sel string) string {
	b.t.Helper()
	b.Do(chromedp.WaitReady(chromedp.CSS("body")))
	s, err := b.Eval(textOf(sel))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// WaitText polls until the element matching sel holds want in its text,
// through page loads and a page's own reloads, and returns that text.
func (b *Tab) WaitText(sel, want string, timeout time.Duration) string {
	b.t.Helper()
	return b.wait(sel, textOf(sel), want, timeout)
}

// WaitJS polls an expression until its value holds want (a form's
// submission has navigated when location.search says so) and returns it.
func (b *Tab) WaitJS(expr, want string, timeout time.Duration) string {
	b.t.Helper()
	return b.wait(expr, expr, want, timeout)
}

var errNotYet = errors.New("not yet")

func (b *Tab) wait(what, expr, want string, timeout time.Duration) string {
	b.t.Helper()
	var last string
	var lastErr error
	err := testsupport.Poll(timeout, func() error {
		last, lastErr = b.Eval(expr)
		if lastErr == nil && strings.Contains(last, want) {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		body, _ := b.Eval(`document.body ? document.body.innerText : ""`)
		b.t.Fatalf("%s never showed %q (last %q, %v) at %s; page:\n%s", what, want, last, lastErr, b.Location(), body)
	}
	return last
}

// Shot saves a full-page PNG screenshot.
func (b *Tab) Shot(name string) {
	b.t.Helper()
	// Chromium refuses a full-page screenshot of a page still being laid
	// out ("Cannot take screenshot with 0 width"): wait until it is loaded
	// and has a width.
	b.WaitJS(`document.readyState === "complete" && document.documentElement.scrollWidth > 0 ? "laid out" : ""`, "laid out", 10*time.Second)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.n++
	path := filepath.Join(b.shots, fmt.Sprintf("%s%02d-%s.png", b.shotPrefix, b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
