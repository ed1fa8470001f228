package topology

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// TestTopology9RunControl is run control (docs/run-control.md) across
// processes: live output followed on an api replica that neither started
// the run nor runs its command, a dashboard session used on both api
// replicas, a cancel through the other replica than the start that ends
// the worker's whole process tree, and a run placed on a pool no worker
// serves that waits visibly until a worker for it starts.
func TestTopology9RunControl(t *testing.T) {
	c := getCluster(t)
	d := c.scenarioDefs(t, "s9")
	marker := "300." + strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 10) // unique sleep length: finds the processes
	d.write("ticker.yaml", "id: s9.ticker\ntrigger: {trigger_type: cron, cron_expression: \"0 0 1 1 *\"}\n"+
		"instruction: {kind: shell, cmd: 'i=0; while [ $i -lt 30 ]; do echo tick-$i; i=$((i+1)); sleep 0.1; done'}\n")
	d.write("sleeper.yaml", "id: s9.sleeper\ntrigger: {trigger_type: cron, cron_expression: \"0 0 1 1 *\"}\n"+
		fmt.Sprintf("instruction: {kind: shell, cmd: \"sh -c 'sleep %s & sleep %s'\"}\n", marker, marker))
	d.write("late.yaml", "id: s9.late\nrun_on: s9-late\ntrigger: {trigger_type: cron, cron_expression: \"0 0 1 1 *\"}\n"+
		"instruction: {kind: shell, cmd: 'echo ran on the late pool'}\n")
	res := c.sync(t, "api-1", "")
	if res.Definitions.Upserted != 3 {
		t.Fatalf("sync: %+v %+v %+v", res.Definitions, res.Schedules, res.Errors)
	}
	// Sync warns about the pool no worker polls, and only about it.
	var warned []string
	for _, w := range res.Warnings {
		if strings.HasPrefix(w.DefinitionID, "s9.") {
			warned = append(warned, w.DefinitionID+" "+w.Field+": "+w.Message)
		}
	}
	if len(warned) != 1 || !strings.HasPrefix(warned[0], "s9.late run_on: no worker polls pool s9-late") {
		t.Errorf("sync warnings about s9: %q, want one about s9.late's pool", warned)
	}
	before := c.pids("activity-core")

	t.Run("LiveOutput", func(t *testing.T) { c.runctlLiveOutput(t) })
	t.Run("SessionAcrossReplicas", func(t *testing.T) { c.runctlSessions(t) })
	t.Run("CancelAcrossProcesses", func(t *testing.T) { c.runctlCancel(t, marker) })
	t.Run("WaitingForPool", func(t *testing.T) { c.runctlWaiting(t) })

	if after := c.pids("activity-core"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("an activity-core process restarted: before %v, after %v", before, after)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name, data string
	at         time.Time
}

// readSSE sends each event of an event stream on out until the stream
// ends; comment lines (keepalives) are dropped.
func readSSE(body io.Reader, out chan<- sseEvent) error {
	defer close(out)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				ev.at = time.Now()
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
	return sc.Err()
}

// runctlLiveOutput: a run started through api-1 and followed through
// api-2's GET /api/v1/runs/{id}/output; the command runs on a worker, a
// third process. Lines arrive in order, none missing or repeated, the
// first while the store still has the run running, then the end.
func (c *cluster) runctlLiveOutput(t *testing.T) {
	var started struct {
		RunID string `json:"run_id"`
	}
	t0 := time.Now()
	c.mustCall(t, "api-1", "POST", "/api/v1/definitions/s9.ticker/run", `{"note":"topology live output"}`, &started)
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL["api-2"]+"/api/v1/runs/"+started.RunID+"/output", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := (&http.Client{}).Do(req) // no client timeout: the stream lasts as long as the run
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("api-2 output stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	events := make(chan sseEvent, 256)
	go func() { _ = readSSE(resp.Body, events) }()

	var stdout strings.Builder
	var outputs int
	var firstAt time.Time
	var statusAtFirst store.RunStatus
	var end map[string]string
	for ev := range events {
		switch ev.name {
		case "output":
			var o struct{ Stream, Text string }
			if err := json.Unmarshal([]byte(ev.data), &o); err != nil {
				t.Fatalf("output event %q: %v", ev.data, err)
			}
			if outputs == 0 {
				firstAt = ev.at
				// The store says whether the command was still running
				// when its first line reached the viewer.
				if err := c.db.QueryRow(c.ctx, `SELECT status FROM runs WHERE id = $1`, started.RunID).Scan(&statusAtFirst); err != nil {
					t.Fatal(err)
				}
			}
			outputs++
			if o.Stream == "stdout" {
				stdout.WriteString(o.Text)
			}
		case "skipped":
			t.Errorf("api-2 skipped output: %s", ev.data)
		case "end":
			if err := json.Unmarshal([]byte(ev.data), &end); err != nil {
				t.Fatalf("end event %q: %v", ev.data, err)
			}
			cancel() // the server ends the stream after end; do not wait on it
		}
		if end != nil {
			break
		}
	}
	endAt := time.Now()
	go func() { // the reader may still be sending what followed the end
		for range events {
		}
	}()
	if end == nil {
		t.Fatalf("the stream ended without an end event after %d output events; stdout so far %q", outputs, stdout.String())
	}
	if end["status"] != string(store.RunSucceeded) {
		t.Errorf("end event %v, want status succeeded", end)
	}
	if outputs == 0 || statusAtFirst.Terminal() {
		t.Errorf("%d output events; the run was %q in the store when the first arrived: want live output while it runs", outputs, statusAtFirst)
	}
	var want strings.Builder
	for i := range 30 {
		fmt.Fprintf(&want, "tick-%d\n", i)
	}
	if stdout.String() != want.String() {
		t.Errorf("api-2 streamed stdout\n%q\nwant every line once, in order:\n%q", stdout.String(), want.String())
	}
	run := c.waitRun(t, "api-1", started.RunID)
	if run.Status != store.RunSucceeded || run.Stdout != want.String() {
		t.Errorf("stored run: %s %q %s", run.Status, run.Stdout, run.Error)
	}
	t.Logf("run %s on %s: %d output events on api-2; first %s after the start call, end %s after (run status then: %s)",
		started.RunID, c.whoRan(started.RunID), outputs, firstAt.Sub(t0).Round(time.Millisecond), endAt.Sub(t0).Round(time.Millisecond), statusAtFirst)
}

// whoRan names the worker whose log mentions the run (for the log only).
func (c *cluster) whoRan(runID string) string {
	var who []string
	for _, w := range []string{"worker-1", "worker-2"} {
		if c.procs[w].logContains(runID) {
			who = append(who, w)
		}
	}
	if len(who) == 0 {
		return "a worker (its log does not name the run)"
	}
	return strings.Join(who, "+")
}

// uiClient is a browser-like client of one dashboard session: it follows
// no redirect and sends the cookies it is given, to whichever replica.
type uiClient struct {
	c       *cluster
	t       testing.TB
	http    *http.Client
	cookies map[string]string
}

func (c *cluster) newUIClient(t testing.TB) *uiClient {
	return &uiClient{c: c, t: t, cookies: map[string]string{}, http: &http.Client{
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request to api (a form post when form is not nil, with the
// replica's own Origin, as a browser sends it) and returns the status,
// the Location and the body; Set-Cookie updates the client's cookies.
func (u *uiClient) do(api, method, path string, form url.Values) (int, string, string) {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(u.c.ctx, method, u.c.apiURL[api]+path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", u.c.apiURL[api])
	}
	for k, v := range u.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := u.http.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(u.cookies, ck.Name)
		} else {
			u.cookies[ck.Name] = ck.Value
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var (
	nonceField = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	csrfField  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func field(t testing.TB, re *regexp.Regexp, page, what string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s field in the page:\n%.2000s", what, page)
	}
	return m[1]
}

// runctlSessions: signed in on api-1, the session works on api-2 for a
// page and a CSRF-checked action (a pause; the resume back on api-1);
// signed out on api-2, api-1 no longer knows the cookie.
func (c *cluster) runctlSessions(t *testing.T) {
	u := c.newUIClient(t)
	const def = "s9.sleeper"
	st, _, page := u.do("api-1", "GET", "/ui/login", nil)
	if st != 200 {
		t.Fatalf("api-1 GET /ui/login: %d", st)
	}
	nonce := field(t, nonceField, page, "nonce")
	st, loc, page := u.do("api-1", "POST", "/ui/login", url.Values{"nonce": {nonce}, "token": {adminToken}, "next": {"/ui/definitions/" + def}})
	if st != http.StatusSeeOther || u.cookies["activity_ui_session"] == "" {
		t.Fatalf("api-1 sign-in: %d to %q, cookies %v:\n%.1000s", st, loc, u.cookies, page)
	}
	session := u.cookies["activity_ui_session"]

	// api-2 serves the page to the session api-1 signed in.
	st, loc, page = u.do("api-2", "GET", "/ui/definitions/"+def, nil)
	if st != 200 || !strings.Contains(page, def) {
		t.Fatalf("api-2 definition page with api-1's session: %d to %q:\n%.1000s", st, loc, page)
	}
	csrf := field(t, csrfField, page, "csrf")
	// The action is checked on api-2 too: without the form token, refused.
	if st, _, _ = u.do("api-2", "POST", "/ui/definitions/"+def+"/pause", url.Values{"note": {"no token"}}); st != http.StatusForbidden {
		t.Errorf("api-2 pause without the CSRF value: %d, want 403", st)
	}
	st, loc, page = u.do("api-2", "POST", "/ui/definitions/"+def+"/pause", url.Values{"csrf": {csrf}, "note": {"topology s9"}})
	if st != http.StatusSeeOther {
		t.Fatalf("api-2 pause with the session: %d to %q:\n%.1000s", st, loc, page)
	}
	var view struct {
		Schedule *struct {
			Paused   bool   `json:"paused"`
			Note     string `json:"note"`
			PausedBy string `json:"paused_by"`
		} `json:"schedule"`
	}
	c.mustCall(t, "api-1", "GET", "/api/v1/definitions/"+def, "", &view)
	if view.Schedule == nil || !view.Schedule.Paused {
		t.Errorf("after the dashboard pause on api-2, api-1 shows schedule %+v", view.Schedule)
	} else {
		t.Logf("schedule after the pause: paused_by %q, note %q", view.Schedule.PausedBy, view.Schedule.Note)
	}
	// api-1 shows the flash api-2 left in the session, and resumes.
	st, _, page = u.do("api-1", "GET", "/ui/definitions/"+def, nil)
	if st != 200 || !strings.Contains(page, "Paused "+def) {
		t.Errorf("api-1 page after api-2's pause: %d; want api-2's flash %q in it", st, "Paused "+def)
	}
	if st, loc, _ = u.do("api-1", "POST", "/ui/definitions/"+def+"/resume", url.Values{"csrf": {csrf}}); st != http.StatusSeeOther {
		t.Errorf("api-1 resume with the same session and CSRF value: %d to %q", st, loc)
	}
	c.mustCall(t, "api-2", "GET", "/api/v1/definitions/"+def, "", &view)
	if view.Schedule == nil || view.Schedule.Paused {
		t.Errorf("after the resume on api-1, api-2 shows schedule %+v", view.Schedule)
	}
	c.checkUIAudit(t, def)
	c.checkPausedBy(t, def)

	// Sign out on api-2; api-1 refuses the cookie.
	st, loc, _ = u.do("api-2", "POST", "/ui/logout", url.Values{"csrf": {csrf}})
	if st != http.StatusSeeOther || loc != "/ui/login" {
		t.Errorf("api-2 sign-out: %d to %q", st, loc)
	}
	u.cookies["activity_ui_session"] = session // a copy kept from before
	st, loc, _ = u.do("api-1", "GET", "/ui/definitions/"+def, nil)
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/login") {
		t.Errorf("api-1 with the signed-out cookie: %d to %q, want a redirect to sign in", st, loc)
	}
	if st, _, _ = u.do("api-1", "POST", "/ui/definitions/"+def+"/pause", url.Values{"csrf": {csrf}}); st != http.StatusUnauthorized {
		t.Errorf("api-1 action with the signed-out cookie: %d, want 401", st)
	}
	// One sign-in (api-1) and one sign-out (api-2) in the shared audit.
	for _, action := range []string{store.AuditSignIn, store.AuditSignOut} {
		var page struct {
			Records []store.AuditRecord `json:"records"`
		}
		c.mustCall(t, "api-2", "GET", "/api/v1/audit?action="+action, "", &page)
		if len(page.Records) != 1 || page.Records[0].Actor != "admin" || page.Records[0].Outcome != store.AuditOK {
			t.Errorf("%s audit records: %+v, want one ok by admin", action, page.Records)
		}
	}
}

// checkUIAudit: the dashboard pause and resume each left one audit record
// naming the token's principal, from the ui surface.
func (c *cluster) checkUIAudit(t testing.TB, def string) {
	t.Helper()
	var page struct {
		Records []store.AuditRecord `json:"records"`
	}
	c.mustCall(t, "api-1", "GET", "/api/v1/audit?definition_id="+url.QueryEscape(def), "", &page)
	by := map[string]int{}
	for _, r := range page.Records {
		if r.Surface == "ui" && r.Actor == "admin" && r.Outcome == store.AuditOK {
			by[r.Action]++
		}
	}
	if by[store.AuditPause] != 1 || by[store.AuditResume] != 1 {
		t.Errorf("audit of %s from the dashboard: %v, want one pause and one resume by admin (records %+v)", def, by, page.Records)
	}
}

// checkPausedBy: the timeline names who paused through the dashboard.
func (c *cluster) checkPausedBy(t testing.TB, def string) {
	t.Helper()
	var story struct {
		Items []struct {
			Kind, Actor, Summary string
		} `json:"items"`
	}
	c.mustCall(t, "api-2", "GET", "/api/v1/definitions/"+url.PathEscape(def)+"/timeline", "", &story)
	var paused []string
	for _, it := range story.Items {
		if it.Kind == store.TimelinePaused {
			paused = append(paused, it.Actor+": "+it.Summary)
		}
	}
	if len(paused) != 1 || !strings.HasPrefix(paused[0], "admin: ") {
		t.Errorf("paused items on %s's timeline: %q, want one by admin", def, paused)
	}
}

// runctlCancel: a run started through api-2 is cancelled through api-1;
// it ends canceled with who and why, and the worker's process tree for it
// (a shell, its child shell and two sleeps) is gone.
func (c *cluster) runctlCancel(t *testing.T, marker string) {
	var started struct {
		RunID string `json:"run_id"`
	}
	c.mustCall(t, "api-2", "POST", "/api/v1/definitions/s9.sleeper/run", "", &started)
	var tree []int
	if err := testsupport.Poll(2*time.Minute, func() error {
		tree = processesWith(marker)
		if len(tree) < 4 { // sh -c (the instruction), sh -c, sleep, sleep
			return fmt.Errorf("%d processes carry %s: %v", len(tree), marker, tree)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	worker := c.ancestorWorker(tree[0])
	if worker == "" {
		t.Errorf("process %d of the run has no activity-core worker among its ancestors", tree[0])
	}
	t0 := time.Now()
	const note = "topology s9: stop it"
	var canceled struct {
		store.Run
	}
	c.mustCall(t, "api-1", "POST", "/api/v1/runs/"+started.RunID+"/cancel", fmt.Sprintf(`{"note":%q}`, note), &canceled)
	run := c.waitRun(t, "api-2", started.RunID)
	recorded := time.Since(t0)
	if run.Status != store.RunCanceled || run.CanceledBy != "admin" || run.CancelNote != note {
		t.Errorf("run after the cancel: status %s, canceled_by %q, cancel_note %q, error %q", run.Status, run.CanceledBy, run.CancelNote, run.Error)
	}
	if err := testsupport.Poll(30*time.Second, func() error {
		if left := processesWith(marker); len(left) > 0 {
			return fmt.Errorf("processes of the canceled run still alive: %v", left)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	t.Logf("run %s on %s (tree %v): recorded canceled %s after the cancel call, processes gone %s after",
		started.RunID, worker, tree, recorded.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}

// processesWith lists the processes whose command line contains s.
func processesWith(s string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !strings.Contains(string(b), s) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil && pid != os.Getpid() && !zombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// statFields is /proc/pid/stat after the command name: state, ppid, ….
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func zombie(pid int) bool {
	f := statFields(pid)
	return len(f) > 0 && f[0] == "Z"
}

// ancestorWorker names the worker replica among pid's ancestors.
func (c *cluster) ancestorWorker(pid int) string {
	workers := map[int]string{}
	for name, p := range c.pids("activity-core") {
		if strings.HasPrefix(name, "worker-") {
			workers[p] = name
		}
	}
	for range 64 {
		if name, ok := workers[pid]; ok {
			return name
		}
		f := statFields(pid)
		if len(f) < 2 {
			return ""
		}
		ppid, _ := strconv.Atoi(f[1])
		if ppid <= 1 {
			return ""
		}
		pid = ppid
	}
	return ""
}

// runctlWaiting: a run on a pool no worker serves is pending and says it
// waits for a worker in that pool; once a worker for the pool starts (a
// third worker process, started here), it runs there.
func (c *cluster) runctlWaiting(t *testing.T) {
	var started struct {
		RunID string `json:"run_id"`
	}
	c.mustCall(t, "api-1", "POST", "/api/v1/definitions/s9.late/run", "", &started)
	var view struct {
		store.Run
		Waiting string `json:"waiting"`
	}
	c.mustCall(t, "api-2", "GET", "/api/v1/runs/"+started.RunID, "", &view)
	const want = "waiting for a worker in pool s9-late"
	if view.Status != store.RunPending || view.Waiting != want || view.Pool != "s9-late" {
		t.Errorf("api-2 shows the run %s, pool %q, waiting %q; want pending, pool s9-late, %q", view.Status, view.Pool, view.Waiting, want)
	}
	type item struct {
		Kind  string `json:"kind"`
		RunID string `json:"run_id"`
	}
	var timeline struct {
		Items []item `json:"items"`
	}
	if _, err := c.call("api-2", "GET", "/api/v1/definitions/s9.late/timeline", "", &timeline); err != nil {
		t.Error(err)
	} else if !slices.Contains(timeline.Items, item{store.TimelineWaiting, started.RunID}) {
		t.Errorf("no waiting item for run %s on the timeline: %+v", started.RunID, timeline.Items)
	}

	// api-1 sees it pending too: no worker of the other pools took it.
	c.mustCall(t, "api-1", "GET", "/api/v1/runs/"+started.RunID, "", &view)
	if view.Status != store.RunPending {
		t.Errorf("before a worker for the pool starts, the run is %s", view.Status)
	}
	t0 := time.Now()
	late := c.startPoolWorker(t, "worker-s9-late", "s9-late")
	polling := time.Since(t0)
	run := c.waitRun(t, "api-2", started.RunID)
	if run.Status != store.RunSucceeded || strings.TrimSpace(run.Stdout) != "ran on the late pool" || run.Pool != "s9-late" {
		t.Errorf("run on the late pool: %s %q pool %q %s", run.Status, run.Stdout, run.Pool, run.Error)
	}
	ranOn := c.whoRan(started.RunID)
	if late.logContains(started.RunID) {
		ranOn = late.name
	}
	t.Logf("run %s: %s polling %s after its start, run finished %s after (ran on %s)",
		started.RunID, late.name, polling.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), ranOn)
}

// startPoolWorker starts one more worker process, as worker-1 is started
// but serving only pool, and stops it when the test ends.
func (c *cluster) startPoolWorker(t testing.TB, name, pool string) *proc {
	t.Helper()
	base := c.procs["worker-1"]
	p := &proc{name: name, path: c.bins.activity, dir: c.dir, env: append([]string(nil), base.env...),
		logPath: filepath.Join(c.dir, "logs", name+".log"), args: []string{"serve", "--roles", "worker", "--pools", pool}}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			t.Logf("==== %s last 30 lines:\n%s", name, p.tail(30))
		}
	})
	if err := testsupport.Poll(90*time.Second, func() error {
		if !p.running() {
			return fmt.Errorf("%w: %s exited:\n%s", testsupport.ErrGaveUp, name, p.tail(20))
		}
		if !p.logContains(`msg="app: worker polling"`) {
			return fmt.Errorf("%s: not polling yet", name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return p
}
