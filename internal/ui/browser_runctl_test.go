package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport/browsertest"
)

// signIn signs the tab in with token from the sign-in form.
func signIn(b *browsertest.Tab, token string) {
	b.Open("/ui/login")
	b.Do(chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin")))
	b.Do(chromedp.WaitVisible(chromedp.CSS("#who")))
}

// TestInputsFormInBrowser: the run form generated from the declaration,
// filled in Chromium: a bad duration is refused beside its field with
// what was typed kept, then a corrected form starts a run whose page
// shows the inputs.
func TestInputsFormInBrowser(t *testing.T) {
	browsertest.Chromium(t)
	e := newEnv(t, adminToken, readToken, Config{})
	putDefinitions(t, e.st, e.dir, inputsDef)
	b := browsertest.New(t, e.srv.URL, "inputs-")
	signIn(b, adminToken)

	b.Open("/ui/definitions/t.sweep")
	b.Do(chromedp.WaitVisible(chromedp.CSS("#run-form")))
	if v := b.JS(`document.getElementById("in-depth").value + "|" + document.getElementById("in-mode").value + "|" + document.getElementById("in-wait").value`); v != "3|fast|5m0s" {
		t.Errorf("defaults %q, want 3|fast|5m0s", v)
	}
	b.Do(chromedp.SendKeys(chromedp.CSS("#in-repo"), "org/x"),
		chromedp.SetValue(chromedp.CSS("#in-wait"), "5 parsecs"),
		chromedp.Click(chromedp.CSS("#run-now")))
	b.WaitJS(`document.getElementById("error-wait") ? "refused" : ""`, "refused", 10*time.Second)
	msg := b.Text("#error-wait")
	if !strings.Contains(msg, "parsecs") && !strings.Contains(msg, "duration") {
		t.Errorf("the wait field's error %q does not say what is wrong", msg)
	}
	if v := b.JS(`document.getElementById("in-wait").value + "|" + document.getElementById("in-repo").value`); v != "5 parsecs|org/x" {
		t.Errorf("posted values not kept: %q", v)
	}
	if n := len(e.run.requests()); n != 0 {
		t.Fatalf("a refused form started %d runs", n)
	}
	b.Shot("refused")

	b.Do(chromedp.SetValue(chromedp.CSS("#in-wait"), "90s"),
		chromedp.SetValue(chromedp.CSS("#in-depth"), "7"),
		chromedp.SetValue(chromedp.CSS("#in-mode"), "full"),
		chromedp.Click(chromedp.CSS("#in-dry_run")),
		chromedp.Click(chromedp.CSS("#run-now")))
	b.WaitText("#flash", "started", 10*time.Second)
	rows := b.JS(`Array.from(document.querySelectorAll("#inputs tbody tr")).map(r => r.cells[0].textContent + "=" + r.cells[1].textContent).join(" ")`)
	if rows != "depth=7 dry_run=true mode=full repo=org/x wait=1m30s" {
		t.Errorf("run page inputs %q", rows)
	}
	b.Shot("started")
}

// TestLiveOutputInBrowser: a running run's page appends output as it is
// printed, without a reload, through live.js and the dashboard's
// /ui/runs/{id}/output, then shows the outcome when the stream ends.
func TestLiveOutputInBrowser(t *testing.T) {
	browsertest.Chromium(t)
	e := newEnv(t, adminToken, readToken, Config{})
	putDefinitions(t, e.st, e.dir, "id: t.job\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'tick'}\n")
	src := newLiveSource(t, e, "r-live")
	b := browsertest.New(t, e.srv.URL, "live-")
	signIn(b, readToken)
	b.Open("/ui/runs/r-live")
	b.WaitText("#live-state", "streaming", 10*time.Second)
	b.JS(`window.marker = "same page"; ""`)
	for i := range 5 {
		line := "line " + string(rune('a'+i))
		printed := time.Now()
		src.print(line + "\n")
		b.WaitText("#stdout", line, 10*time.Second)
		t.Logf("%s shown %s after printing", line, time.Since(printed).Round(time.Millisecond))
	}
	if m := b.JS(`String(window.marker)`); m != "same page" {
		t.Fatal("the page reloaded to show output")
	}
	b.Shot("streaming")
	src.end(context.Background())
	b.WaitText("#run-status", "succeeded", 10*time.Second)
	if out := b.Text("#stdout"); !strings.Contains(out, "line a") || !strings.Contains(out, "line e") {
		t.Errorf("the finished page's stdout %q", out)
	}
	b.Shot("ended")
}

// liveSource stands in for the run's output stream (the API's
// ServeRunOutput over NATS is tested by internal/adminapi and the
// topology test): the env's server answers /ui/runs/{id}/output with
// the events the test prints. It writes the run as running, and as
// succeeded at the end.
type liveSource struct {
	t     *testing.T
	e     *env
	runID string
	lines chan string
	out   strings.Builder
}

func newLiveSource(t *testing.T, e *env, runID string) *liveSource {
	t.Helper()
	now := e.clock()
	if _, err := e.st.CreateRun(context.Background(), store.Run{ID: runID, DefinitionID: "t.job", Trigger: store.RunTriggerManual,
		Status: store.RunRunning, StartedAt: &now}); err != nil {
		t.Fatal(err)
	}
	src := &liveSource{t: t, e: e, runID: runID, lines: make(chan string)}
	inner := e.srv.Config.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ui/runs/"+runID+"/output" {
			inner.ServeHTTP(w, r)
			return
		}
		src.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	e.srv = srv
	return src
}

func (s *liveSource) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case line, ok := <-s.lines:
			if !ok {
				fmt.Fprintf(w, "event: end\ndata: {\"status\":\"succeeded\"}\n\n")
				http.NewResponseController(w).Flush()
				return
			}
			data, _ := json.Marshal(map[string]string{"stream": "stdout", "text": line})
			fmt.Fprintf(w, "event: output\ndata: %s\n\n", data)
			http.NewResponseController(w).Flush()
		}
	}
}

// print sends one chunk to the page's stream.
func (s *liveSource) print(text string) {
	s.out.WriteString(text)
	select {
	case s.lines <- text:
	case <-time.After(10 * time.Second): // a bound on a hung test, not a wait for an event
		s.t.Fatal("the page is not reading its output stream")
	}
}

// end records the run succeeded with what was printed, then ends the
// stream.
func (s *liveSource) end(ctx context.Context) {
	run, err := s.e.st.GetRun(ctx, s.runID)
	if err != nil {
		s.t.Fatal(err)
	}
	now := s.e.clock()
	code := 0
	run.Status, run.FinishedAt, run.ExitCode, run.Stdout = store.RunSucceeded, &now, &code, s.out.String()
	if _, err := s.e.st.UpdateRun(ctx, run); err != nil {
		s.t.Fatal(err)
	}
	close(s.lines)
}
