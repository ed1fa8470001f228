package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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
