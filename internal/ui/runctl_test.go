package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/store"
)

// inputsDef declares one input of each type (docs/definitions.md#inputs).
const inputsDef = `id: t.sweep
run_on: hub
inputs:
  repo: {type: string, required: true, description: "org/name of the repository"}
  depth: {type: int, default: 3}
  dry_run: {type: bool, default: false}
  mode: {type: enum, values: [fast, full], default: fast}
  wait: {type: duration, default: 5m}
trigger: {trigger_type: event, event_type: org.repo.pushed, inputs: {repo: {cel: "event.payload.repo"}}}
instruction: {kind: shell, cmd: 'echo "$ACTIVITY_INPUT_REPO"'}
`

// TestInputsForm: the run form is made from the declaration (types,
// required, defaults); refused values come back beside their fields with
// what was typed, and nothing starts; good values start a run with them.
func TestInputsForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, readToken, Config{})
	putDefinitions(t, e.st, e.dir, inputsDef)
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/definitions/t.sweep")
	b.expect(http.StatusOK,
		`Runs on pool <b>hub</b>`,
		`<input type="text" id="in-repo" name="input.repo" value="" maxlength="4096" required>`,
		`<span class="required" title="required">required</span>`,
		`org/name of the repository`,
		`<input type="number" step="1" id="in-depth" name="input.depth" value="3">`,
		`<input type="hidden" name="input.dry_run" value="false"><input type="checkbox" id="in-dry_run" name="input.dry_run" value="true">`,
		`<option value="fast" selected>fast</option><option value="full">full</option>`,
		`id="in-wait" name="input.wait" value="5m0s"`)
	csrf := csrfRe.FindStringSubmatch(b.body)[1]

	bad := url.Values{"csrf": {csrf}, "input.repo": {"org/x"}, "input.depth": {"x"}, "input.dry_run": {"false"},
		"input.mode": {"full"}, "input.wait": {"5 parsecs"}, "note": {"first try"}}
	b.post("/ui/definitions/t.sweep/run", bad)
	b.expect(http.StatusBadRequest, `id="run-error"`, `<span class="error field-error" id="error-depth">`, `id="error-wait"`,
		`id="in-wait" name="input.wait" value="5 parsecs"`, `value="first try"`, `<option value="full" selected>full</option>`)
	if strings.Contains(b.body, `id="error-repo"`) || strings.Contains(b.body, `id="error-mode"`) {
		t.Error("a good field is marked refused")
	}
	if n := len(e.run.requests()); n != 0 {
		t.Fatalf("refused inputs started %d runs", n)
	}

	good := url.Values{"csrf": {csrf}, "input.repo": {"org/x; rm -rf /"}, "input.depth": {"7"}, "input.dry_run": {"false", "true"},
		"input.mode": {"full"}, "input.wait": {"90s"}}
	b.post("/ui/definitions/t.sweep/run", good)
	if b.status != http.StatusSeeOther || !strings.HasPrefix(b.loc, "/ui/runs/") {
		t.Fatalf("good inputs: %d %q %s", b.status, b.loc, b.body)
	}
	reqs := e.run.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d runs started", len(reqs))
	}
	got, _ := json.Marshal(reqs[0].Inputs)
	want := `{"depth":7,"dry_run":true,"mode":"full","repo":"org/x; rm -rf /","wait":"1m30s"}` // resolved by the API
	if string(got) != want {
		t.Errorf("inputs started with %s, want %s", got, want)
	}
	b.get(b.loc)
	b.expect(http.StatusOK, `<tr id="input-repo"><td><code>repo</code></td><td><code>org/x; rm -rf /</code></td></tr>`,
		`<tr id="input-depth"><td><code>depth</code></td><td><code>7</code></td></tr>`)
}

// TestRoleAwareRunPage: the run page shows pool, inputs and who canceled;
// a running run streams (live.js) and offers Cancel to operate and
// admin, never to read, whose posts are refused.
func TestRoleAwareRunPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, readToken, Config{})
	putDefinitions(t, e.st, e.dir, "id: t.job\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'sleep 300'}\n")
	ctx := context.Background()
	now := e.clock()
	for _, r := range []store.Run{
		{ID: "r-running", DefinitionID: "t.job", Trigger: store.RunTriggerManual, Status: store.RunRunning, StartedAt: &now, Pool: "hub",
			Inputs: json.RawMessage(`{"depth":3,"repo":"org/<b>x</b>"}`), Stdout: "so far\n"},
		{ID: "r-canceled", DefinitionID: "t.job", Trigger: store.RunTriggerManual, Status: store.RunCanceled, StartedAt: &now, FinishedAt: &now,
			CanceledBy: "alice", CancelNote: "wrong branch"},
	} {
		if _, err := e.st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	admin := e.browser()
	admin.login(adminToken)
	admin.get("/ui/runs/r-running")
	admin.expect(http.StatusOK, `<dd id="pool">hub</dd>`, `<code>org/&lt;b&gt;x&lt;/b&gt;</code>`, `<code>3</code>`,
		`<script src="/ui/static/live.js" defer></script>`, `data-output="/ui/runs/r-running/output"`,
		`<pre id="stdout" class="live">so far`, `id="cancel"`, `id="rerun"`)
	if csp := admin.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'; connect-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(admin.body, `<meta http-equiv="refresh" content="2">`+"\n") {
		t.Error("a live page also reloads itself with script on")
	}
	admin.get("/ui/runs/r-canceled")
	admin.expect(http.StatusOK, `<dd id="canceled-by">alice: <span class="note" id="cancel-note">wrong branch</span></dd>`, `id="rerun"`, `<dd id="pool">default</dd>`)
	if strings.Contains(admin.body, `id="cancel"`) || strings.Contains(admin.body, "<script") {
		t.Error("a finished run offers cancel or loads the live script")
	}

	reader := e.browser()
	reader.login(readToken)
	reader.get("/ui/runs/r-running")
	reader.expect(http.StatusOK, "run again and cancel need the operate role")
	if strings.Contains(reader.body, `id="cancel"`) || strings.Contains(reader.body, `id="rerun"`) {
		t.Error("a read session sees cancel or rerun")
	}
	csrf := csrfRe.FindStringSubmatch(reader.body)[1]
	form := url.Values{"csrf": {csrf}, "note": {"x"}, "from": {"2026-03-28 00:00"}, "to": {"2026-03-28 02:00"}, "overlap": {"skip"}, "mode": {"start"}}
	for _, path := range []string{"/ui/runs/r-running/cancel", "/ui/runs/r-canceled/rerun", "/ui/definitions/t.job/backfill", "/ui/definitions/t.job/run"} {
		reader.post(path, form)
		reader.expect(http.StatusForbidden, "this endpoint needs the operate role; token read has read")
	}
	if n := len(e.run.requests()); n != 0 {
		t.Errorf("refused posts started %d runs", n)
	}

	// live.js is served as a script, and there is no other.
	reader.get("/ui/static/live.js")
	if reader.status != http.StatusOK || !strings.Contains(reader.header.Get("Content-Type"), "javascript") || !strings.Contains(reader.body, "EventSource") {
		t.Errorf("live.js: %d %q", reader.status, reader.header.Get("Content-Type"))
	}
}

// TestBackfillFormParsing: the form's times are read in the definition's
// zone unless they carry an offset, and bad ones are named.
func TestBackfillFormParsing(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	for _, tc := range []struct {
		in   string
		want string
		err  string
	}{
		{"2026-12-01 06:00", "2026-12-01T05:00:00Z", ""},
		{"2026-12-01T06:00", "2026-12-01T05:00:00Z", ""},
		{"2026-07-01 06:00:30", "2026-07-01T04:00:30Z", ""},
		{"2026-12-01T06:00:00Z", "2026-12-01T06:00:00Z", ""},
		{"2026-12-01T06:00:00+01:00", "2026-12-01T05:00:00Z", ""},
		{"", "", "from is required"},
		{"yesterday", "", `from "yesterday" is not a time: use 2026-12-01 06:00 (read in Europe/Berlin)`},
	} {
		got, err := parseZoned("from", tc.in, loc)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseZoned(%q) = %v, want error %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("parseZoned(%q) = %s, %v; want %s", tc.in, got.UTC().Format(time.RFC3339), err, tc.want)
		}
	}
}

// operateToken is a named token of the operate role in the tokens file
// tokensFile writes.
const operateToken = "olive-token-0123456789"

func tokensFile(t *testing.T) string {
	t.Helper()
	sum := sha256.Sum256([]byte(operateToken))
	path := filepath.Join(t.TempDir(), "tokens")
	line := "# operators\nolive operate sha256:" + hex.EncodeToString(sum[:]) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// auditLines are the audit records newest first, as "actor action
// outcome run/definition".
func auditLines(t *testing.T, st store.Store, f store.AuditFilter) []string {
	t.Helper()
	recs, err := st.ListAudit(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, strings.TrimSpace(r.Actor+" "+r.Surface+" "+r.Action+" "+r.Outcome+" "+r.RunID+" "+r.DefinitionID))
	}
	return out
}

// TestCancelAndRerun: an operate token cancels a running run with a note
// (who and why show on its page), a finished one is a conflict, and "run
// again" starts the same definition with the recorded inputs; each call
// is one audit record naming the operator, through the dashboard.
func TestCancelAndRerun(t *testing.T) {
	t.Parallel()
	e := newEnvTokens(t, adminToken, readToken, tokensFile(t), Config{})
	putDefinitions(t, e.st, e.dir, inputsDef)
	ctx := context.Background()
	now := e.clock()
	if _, err := e.st.CreateRun(ctx, store.Run{ID: "r-1", DefinitionID: "t.sweep", Trigger: store.RunTriggerManual, Status: store.RunRunning,
		StartedAt: &now, Pool: "hub", Inputs: json.RawMessage(`{"depth":5,"dry_run":false,"mode":"full","repo":"org/a","wait":"5m0s"}`)}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login(operateToken)
	b.get("/ui/runs/r-1")
	b.expect(http.StatusOK, `<span id="who">olive</span>`, `id="cancel"`, `id="rerun"`)
	csrf := csrfRe.FindStringSubmatch(b.body)[1]

	b.post("/ui/runs/r-1/cancel", url.Values{"csrf": {csrf}, "note": {"wrong branch"}})
	if b.status != http.StatusSeeOther || b.loc != "/ui/runs/r-1" {
		t.Fatalf("cancel: %d %q %s", b.status, b.loc, b.body)
	}
	b.get(b.loc)
	b.expect(http.StatusOK, "Cancel of run r-1 requested.", `<span class="run st-canceled" id="run-status">canceled</span>`,
		`<dd id="canceled-by">olive: <span class="note" id="cancel-note">wrong branch</span></dd>`)
	b.post("/ui/runs/r-1/cancel", url.Values{"csrf": {csrf}})
	b.expect(http.StatusConflict, "run r-1 already canceled")

	b.post("/ui/runs/r-1/rerun", url.Values{"csrf": {csrf}, "note": {"again"}})
	if b.status != http.StatusSeeOther || !strings.HasPrefix(b.loc, "/ui/runs/") {
		t.Fatalf("rerun: %d %q %s", b.status, b.loc, b.body)
	}
	reqs := e.run.requests()
	if len(reqs) != 1 || reqs[0].RerunOf != "r-1" || reqs[0].Pool != "hub" || reqs[0].Inputs["repo"] != "org/a" {
		t.Fatalf("rerun started %+v", reqs)
	}
	b.get(b.loc)
	b.expect(http.StatusOK, "started with the inputs of run r-1", `<tr id="input-repo"><td><code>repo</code></td><td><code>org/a</code></td></tr>`)

	got := auditLines(t, e.st, store.AuditFilter{})
	want := []string{"olive ui run ok " + reqs[0].RunID + " t.sweep", "olive ui cancel refused r-1 t.sweep", "olive ui cancel ok r-1 t.sweep", "olive ui sign-in ok"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The operate role does not sync: the page says so, and a crafted
	// post is refused by the API, which audits the refusal.
	b.get("/ui/sync")
	b.expect(http.StatusForbidden, "this needs the admin role; you signed in as olive, which has operate")
	b.post("/ui/sync", url.Values{"csrf": {csrf}, "mode": {"sync"}, "definitions": {"1"}})
	b.expect(http.StatusForbidden, "this endpoint needs the admin role; token olive has operate")
	if got := auditLines(t, e.st, store.AuditFilter{Action: store.AuditSync}); len(got) != 1 || got[0] != "olive ui sync refused" {
		t.Errorf("sync audit %q", got)
	}
}

// TestBackfillForm: a cron definition's backfill form previews the fires
// of [from, to) in its zone and in UTC, then starts exactly that window
// when confirmed; bad times are named, and event definitions have no form.
func TestBackfillForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, readToken, Config{})
	putDefinitions(t, e.st, e.dir,
		"id: t.cron\ntrigger: {trigger_type: cron, cron_expression: '*/15 * * * *', timezone: Europe/Berlin}\ninstruction: {kind: shell, cmd: 'true'}\n",
		inputsDef)
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/definitions/t.cron")
	b.expect(http.StatusOK, `id="backfill-preview"`, "times in Europe/Berlin")
	csrf := csrfRe.FindStringSubmatch(b.body)[1]
	form := url.Values{"csrf": {csrf}, "from": {"2026-03-28 08:00"}, "to": {"2026-03-28 10:00"}, "overlap": {"skip"}, "note": {"outage"}, "mode": {"preview"}}
	b.post("/ui/definitions/t.cron/backfill", form)
	b.expect(http.StatusOK, "8 fires from 2026-03-28 07:00:00Z to 2026-03-28 09:00:00Z (overlap skip)", "Start backfill of 8 fires",
		`<td>2026-03-28 07:00:00Z</td>`, `<td>2026-03-28 08:45:00Z</td>`, `<input type="hidden" name="from" value="2026-03-28 08:00">`)
	if n := strings.Count(b.body, "<tr><td>2026-03-28T"); n != 8 {
		t.Errorf("%d fire rows in the zone, want 8", n)
	}
	if len(e.bf.calls) != 0 {
		t.Fatalf("a preview asked Temporal: %q", e.bf.calls)
	}

	form.Set("mode", "start")
	b.post("/ui/definitions/t.cron/backfill", form)
	if b.status != http.StatusSeeOther {
		t.Fatalf("start: %d %s", b.status, b.body)
	}
	if want := "t.cron 2026-03-28T07:00:00Z 2026-03-28T09:00:00Z skip"; len(e.bf.calls) != 1 || e.bf.calls[0] != want {
		t.Errorf("Temporal asked %q, want %q", e.bf.calls, want)
	}
	b.get(b.loc)
	b.expect(http.StatusOK, "Backfill of t.cron started: 8 fire(s)")

	form.Set("from", "yesterday")
	b.post("/ui/definitions/t.cron/backfill", form)
	b.expect(http.StatusBadRequest, `id="backfill-error"`, `from &#34;yesterday&#34; is not a time`)
	form.Set("from", "2026-03-28 08:00")
	form.Set("overlap", "sometimes")
	b.post("/ui/definitions/t.cron/backfill", form)
	b.expect(http.StatusBadRequest, `overlap &#34;sometimes&#34; is not one of skip, buffer_all, allow_all`)
	form.Set("overlap", "skip")
	form.Set("mode", "now")
	b.post("/ui/definitions/t.cron/backfill", form)
	b.expect(http.StatusBadRequest, `mode=&#34;now&#34;: use the Preview or Start backfill button`)
	form.Set("mode", "preview")
	form.Del("to")
	b.post("/ui/definitions/t.cron/backfill", form)
	b.expect(http.StatusBadRequest, "to is required: a time such as 2026-12-01 06:00 (Europe/Berlin)")
	if len(e.bf.calls) != 1 {
		t.Errorf("refused backfills reached Temporal: %q", e.bf.calls)
	}

	b.get("/ui/definitions/t.sweep")
	if strings.Contains(b.body, `id="backfill"`) {
		t.Error("an event definition shows a backfill form")
	}
	b.post("/ui/definitions/t.sweep/backfill", form)
	b.expect(http.StatusBadRequest, "only cron definitions can be backfilled")
}

// TestWorkersAuditAndWaiting: the Workers page lists each pool in use
// with its pollers and backlog; a pending run on a pool nobody polls says
// it waits; the Audit page lists and filters who did what.
func TestWorkersAuditAndWaiting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, readToken, Config{})
	putDefinitions(t, e.st, e.dir, inputsDef, "id: t.b\nrun_on: b\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	seen := time.Date(2026, 3, 28, 11, 59, 58, 0, time.UTC)
	e.pools.workers["hub"] = []adminapi.Poller{{Identity: "4242@hub-host", Host: "hub-host", LastSeen: seen}}
	e.pools.backlog["hub"] = 2
	ctx := context.Background()
	if _, err := e.st.CreateRun(ctx, store.Run{ID: "r-wait", DefinitionID: "t.b", Trigger: store.RunTriggerManual, Status: store.RunPending, Pool: "b"}); err != nil {
		t.Fatal(err)
	}

	b := e.browser()
	b.login(readToken)
	b.get("/ui/workers")
	b.expect(http.StatusOK, `<tr id="pool-hub">`, `<code>4242@hub-host</code> · hub-host · <span class="meta">2026-03-28 11:59:58Z</span>`,
		`<td class="backlog">2</td>`, `<tr id="pool-b">`, `<tr id="pool-default">`, "no worker polling: runs placed here wait",
		`<td class="backlog"><span class="meta">unknown</span></td>`)
	b.get("/ui/runs/r-wait")
	b.expect(http.StatusOK, `<dd class="error" id="waiting">waiting for a worker in pool b</dd>`, `<dd id="pool">b</dd>`)
	for _, page := range []string{"/ui/runs", "/ui/definitions/t.b"} {
		b.get(page)
		b.expect(http.StatusOK, `<span class="error waiting">waiting for a worker in pool b</span>`)
	}

	admin := e.browser()
	admin.login(adminToken)
	csrf := admin.csrf()
	admin.post("/ui/definitions/t.b/pause", url.Values{"csrf": {csrf}, "note": {"disk <full>"}})
	b.get("/ui/audit")
	b.expect(http.StatusOK, "disk &lt;full&gt;", `<a href="/ui/definitions/t.b">t.b</a>`)
	if got := strings.Count(b.body, `<tr id="audit-`); got != 3 { // read and admin signed in, admin paused
		t.Errorf("%d audit rows, want 3", got)
	}
	b.get("/ui/audit?action=pause")
	if got := strings.Count(b.body, `<tr id="audit-`); got != 1 || !strings.Contains(b.body, `<option value="pause" selected>`) {
		t.Errorf("action=pause: %d rows", got)
	}
	b.get("/ui/audit?actor=nobody")
	b.expect(http.StatusOK, "No audit records match.")
	b.get("/ui/audit?before=x")
	b.expect(http.StatusBadRequest, `before=&#34;x&#34; is not a record id`)
}

// TestLiveOutputRoute: /ui/runs/{id}/output needs a session, then answers
// what the API's own stream answers for the same run: its status, and
// when it streams, the same events.
func TestLiveOutputRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, readToken, Config{})
	putDefinitions(t, e.st, e.dir, "id: t.job\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	now := e.clock()
	code := 0
	if _, err := e.st.CreateRun(context.Background(), store.Run{ID: "r-done", DefinitionID: "t.job", Trigger: store.RunTriggerManual,
		Status: store.RunSucceeded, StartedAt: &now, FinishedAt: &now, ExitCode: &code, Stdout: "hi\n"}); err != nil {
		t.Fatal(err)
	}
	anon := e.browser()
	anon.get("/ui/runs/r-done/output")
	if anon.status != http.StatusSeeOther || !strings.HasPrefix(anon.loc, "/ui/login") {
		t.Fatalf("anonymous stream: %d %q", anon.status, anon.loc)
	}

	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/runs/r-done/output", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	api := e.browser().do(req)
	b := e.browser()
	b.login(readToken)
	b.get("/ui/runs/r-done/output")
	if b.status != api.status {
		t.Fatalf("dashboard stream %d, API stream %d", b.status, api.status)
	}
	if b.status == http.StatusOK && (mediaType(b.header) != "text/event-stream" || b.body != api.body) {
		t.Errorf("dashboard stream %q %q, API stream %q", mediaType(b.header), b.body, api.body)
	}
}

func mediaType(h http.Header) string {
	mt, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.TrimSpace(mt)
}
