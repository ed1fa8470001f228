package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
	"github.com/coulomb/activity-core/internal/syncer"
)

const (
	adminToken = "admin-token-0123456789"
	readToken  = "read-token-0123456789"
)

// fakeSchedules stands in for the Temporal projection (tested on the real
// server in internal/schedule); here only the handlers' logic is under test.
type fakeSchedules struct {
	mu     sync.Mutex
	paused map[string]string
}

func (f *fakeSchedules) Pause(_ context.Context, id, note string, _ *time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused[id] = note
	return nil
}

func (f *fakeSchedules) Resume(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.paused, id)
	return nil
}

func (f *fakeSchedules) Describe(_ context.Context, id string) (*ScheduleInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	note, paused := f.paused[id]
	info := &ScheduleInfo{ScheduleID: "activity-core:" + id, Exists: true, Paused: paused, Note: note, NextFires: []time.Time{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if paused {
		info.PausedBy = "operator"
	}
	return info, nil
}

type fakeRunner struct{}

func (fakeRunner) StartRun(_ context.Context, req RunRequest) (RunStarted, error) {
	return RunStarted{RunID: req.RunID, WorkflowID: "activity-core:manual:" + req.DefinitionID + ":" + req.RunID, WorkflowRunID: "wr-1"}, nil
}

type env struct {
	t     *testing.T
	srv   *httptest.Server
	store store.Store
	dir   string
	sched *fakeSchedules
}

func newEnv(t *testing.T, admin, read string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "api.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sy, err := syncer.New(syncer.Config{Store: st, Sources: []string{dir}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Schedules: func(context.Context, bool, []store.Definition) (syncer.ScheduleCounts, []syncer.Action, []syncer.Error, error) {
			return syncer.ScheduleCounts{Upserted: 1}, nil, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	sched := &fakeSchedules{paused: map[string]string{}}
	explain := func(_ context.Context, subject string, payload json.RawMessage) (any, error) {
		return []map[string]any{{"definition_id": "t.ev", "matched": subject == "org.x", "payload_bytes": len(payload)}}, nil
	}
	api, err := New(Config{Store: st, Syncer: sy, Schedules: sched, Runner: fakeRunner{}, Explain: explain, AdminToken: admin, ReadToken: read,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st, dir: dir, sched: sched}
}

func (e *env) write(name, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) do(method, path, token, body string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAuth(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/api/v1/definitions", "", 401},
		{"GET", "/api/v1/definitions", "wrong", 401},
		{"GET", "/api/v1/definitions", readToken, 200},
		{"GET", "/api/v1/definitions", adminToken, 200},
		{"POST", "/admin/sync", readToken, 403},
		{"POST", "/admin/sync", "", 401},
		{"POST", "/admin/sync", adminToken, 200},
		{"GET", "/nope", adminToken, 404},
	} {
		if got, body := e.do(tc.method, tc.path, tc.token, ""); got != tc.want {
			t.Errorf("%s %s token %q: %d, want %d (%s)", tc.method, tc.path, tc.token, got, tc.want, body)
		}
	}
	// No admin token configured: 403 that says how to set one.
	e2 := newEnv(t, "", "")
	code, body := e2.do("POST", "/admin/sync", "anything", "")
	if code != 403 || !strings.Contains(string(body), "ACTIVITY_ADMIN_TOKEN") {
		t.Errorf("no token configured: %d %s", code, body)
	}
}

func TestSyncEndpoint(t *testing.T) {
	e := newEnv(t, adminToken, "")
	e.write("a.yaml", "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("bad.yaml", "id: t.bad\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell}\n")
	code, body := e.do("POST", "/admin/sync?dry_run=true", adminToken, "")
	var res syncer.Result
	if code != 200 || json.Unmarshal(body, &res) != nil || !res.DryRun || res.Definitions.Upserted != 1 || res.Definitions.Invalid != 1 {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if res.Errors[0].File == "" || res.Errors[0].Line != 3 {
		t.Errorf("error lacks position: %+v", res.Errors[0])
	}
	code, body = e.do("POST", "/admin/sync", adminToken, "")
	if code != 200 || json.Unmarshal(body, &res) != nil || res.DryRun || res.Definitions.Upserted != 1 || res.Schedules.Upserted != 1 {
		t.Fatalf("sync: %d %s", code, body)
	}
	for _, bad := range []string{"?dry_run=maybe", "?definitions=2", "?unknown=true"} {
		if code, body := e.do("POST", "/admin/sync"+bad, adminToken, ""); code != 400 || !strings.Contains(string(body), `"bad_request"`) {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
	code, body = e.do("GET", "/admin/sync/status", adminToken, "")
	var st struct {
		Running       bool            `json:"running"`
		LastResult    json.RawMessage `json:"last_result"`
		LastSuccessAt *time.Time      `json:"last_success_at"`
		LastError     map[string]any  `json:"last_error"`
	}
	if code != 200 || json.Unmarshal(body, &st) != nil || st.Running || st.LastError == nil || !strings.Contains(fmt.Sprint(st.LastError["message"]), "bad.yaml") {
		t.Errorf("status: %d %s", code, body)
	}
}

func TestDefinitionsRunsPause(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	e.write("a.yaml", "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("ev.yaml", "id: t.ev\ntrigger: {trigger_type: event, event_type: org.x}\ninstruction: {kind: shell, cmd: 'true'}\n")
	if code, body := e.do("POST", "/admin/sync", adminToken, ""); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	code, body := e.do("GET", "/api/v1/definitions?trigger_type=cron", readToken, "")
	if code != 200 || !strings.Contains(string(body), `"t.a"`) || strings.Contains(string(body), `"t.ev"`) {
		t.Errorf("list: %d %s", code, body)
	}
	if code, _ := e.do("GET", "/api/v1/definitions?trigger_type=weekly", readToken, ""); code != 400 {
		t.Errorf("bad filter accepted: %d", code)
	}
	if code, _ := e.do("GET", "/api/v1/definitions/t.nope", readToken, ""); code != 404 {
		t.Errorf("missing definition: %d", code)
	}
	code, body = e.do("POST", "/api/v1/definitions/t.a/pause", adminToken, `{"note":"maintenance window","until":"2099-01-01T00:00:00Z"}`)
	if code != 200 || e.sched.paused["t.a"] != "maintenance window" {
		t.Errorf("pause: %d %s", code, body)
	}
	code, body = e.do("GET", "/api/v1/definitions/t.a", readToken, "")
	if code != 200 || !strings.Contains(string(body), `"maintenance window"`) {
		t.Errorf("detail lacks the pause note: %d %s", code, body)
	}
	if code, _ := e.do("POST", "/api/v1/definitions/t.a/pause", adminToken, `{"until":"2001-01-01T00:00:00Z"}`); code != 400 {
		t.Errorf("past until accepted: %d", code)
	}
	if code, _ := e.do("POST", "/api/v1/definitions/t.a/pause", adminToken, `{"nope":1}`); code != 400 {
		t.Errorf("unknown field accepted: %d", code)
	}
	if code, _ := e.do("POST", "/api/v1/definitions/t.ev/pause", adminToken, ""); code != 400 {
		t.Errorf("event definition paused: %d", code)
	}
	if code, body := e.do("POST", "/api/v1/definitions/t.a/resume", adminToken, ""); code != 200 || len(e.sched.paused) != 0 {
		t.Errorf("resume: %d %s", code, body)
	}
	code, body = e.do("POST", "/api/v1/definitions/t.a/run", adminToken, "")
	if code != 202 || !strings.Contains(string(body), `"activity-core:manual:t.a:`) {
		t.Errorf("run: %d %s", code, body)
	}
	// Runs list and pagination.
	ctx := context.Background()
	for i := range 5 {
		if _, err := e.store.CreateRun(ctx, store.Run{ID: fmt.Sprintf("run-%d", i), DefinitionID: "t.a", Trigger: store.RunTriggerCron, Status: store.RunSucceeded, Stdout: "<script>alert(1)</script>"}); err != nil {
			t.Fatal(err)
		}
	}
	code, body = e.do("GET", "/api/v1/runs?definition_id=t.a&limit=2", readToken, "")
	var page store.RunPage
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Runs) != 2 || page.Next == "" {
		t.Fatalf("runs page: %d %s", code, body)
	}
	code, body = e.do("GET", "/api/v1/runs?definition_id=t.a&limit=10&before="+page.Next, readToken, "")
	var page2 store.RunPage // the rest: 3 more, and the manual run's pending record
	if code != 200 || json.Unmarshal(body, &page2) != nil || len(page2.Runs) != 4 {
		t.Errorf("second page: %d %s", code, body)
	}
	for _, bad := range []string{"?limit=0", "?limit=x", "?status=done", "?before=garbage"} {
		if code, _ := e.do("GET", "/api/v1/runs"+bad, readToken, ""); code != 400 {
			t.Errorf("runs%s: %d, want 400", bad, code)
		}
	}
	code, body = e.do("GET", "/api/v1/runs/run-3", readToken, "")
	if code != 200 || !strings.Contains(string(body), `\u003cscript\u003e`) {
		t.Errorf("run detail (JSON must escape markup): %d %s", code, body)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, adminToken, "")
	e.write("a.yaml", "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.do("POST", "/admin/sync", adminToken, "")
	big := `{"note":"` + strings.Repeat("x", MaxBodyBytes+10) + `"}`
	if code, _ := e.do("POST", "/api/v1/definitions/t.a/pause", adminToken, big); code != 400 {
		t.Errorf("oversized body: %d", code)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, adminToken, "")
	e.write("bad.yaml", "id: x\n")
	e.do("POST", "/admin/sync", adminToken, "")
	code, body := e.do("GET", "/metrics", "", "")
	if code != 200 || !bytes.Contains(body, []byte(`activity_core_syncs_total{result="errors"} 1`)) || !bytes.Contains(body, []byte("activity_core_sync_last_error_timestamp_seconds")) {
		t.Errorf("metrics: %d\n%s", code, body)
	}
}

// TestOpenAPIMatchesHandlers checks the document against the real handlers:
// every route is documented, every documented operation exists, and every
// response below matches the schema documented for its status.
func TestOpenAPIMatchesHandlers(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema json.RawMessage `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routes := map[string]bool{"GET /metrics": true}
	for _, rt := range s.table() {
		routes[rt.method+" "+rt.path] = true
		if !documented[rt.method+" "+rt.path] {
			t.Errorf("route %s %s is not documented", rt.method, rt.path)
		}
	}
	for op := range documented {
		if !routes[op] {
			t.Errorf("documented operation %s has no handler", op)
		}
	}

	schemaFor := openAPISchemas(t)
	e := newEnv(t, adminToken, readToken)
	e.write("a.yaml", "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("bad.yaml", "id: t.bad\n")
	e.do("POST", "/admin/sync", adminToken, "")
	if _, err := e.store.CreateRun(context.Background(), store.Run{ID: "r1", DefinitionID: "t.a", Trigger: store.RunTriggerManual, Status: store.RunFailed, Stage: store.StageInstruction, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	seedAlerting(t, e.store)
	checked := 0
	for _, tc := range []struct{ method, docPath, path, token, body string }{
		{"GET", "/api/v1/definitions", "/api/v1/definitions?health=failing", readToken, ""},
		{"GET", "/api/v1/definitions", "/api/v1/definitions?health=bad", readToken, ""},
		{"GET", "/api/v1/definitions/{id}/timeline", "/api/v1/definitions/t.a/timeline?since=30d", readToken, ""},
		{"GET", "/api/v1/definitions/{id}/timeline", "/api/v1/definitions/t.a/timeline?since=nope", readToken, ""},
		{"GET", "/api/v1/definitions/{id}/timeline", "/api/v1/definitions/t.none/timeline", readToken, ""},
		{"GET", "/api/v1/problems", "/api/v1/problems", readToken, ""},
		{"GET", "/api/v1/notifications", "/api/v1/notifications?definition_id=t.a", readToken, ""},
		{"GET", "/api/v1/notifications", "/api/v1/notifications?status=lost", readToken, ""},
		{"GET", "/api/v1/runs", "/api/v1/runs?status=missed", readToken, ""},
		{"GET", "/healthz", "/healthz", "", ""},
		{"GET", "/readyz", "/readyz", "", ""},
		{"POST", "/admin/sync", "/admin/sync", adminToken, ""},
		{"POST", "/admin/sync", "/admin/sync?dry_run=yes", adminToken, ""},
		{"POST", "/admin/sync", "/admin/sync", readToken, ""},
		{"POST", "/admin/sync", "/admin/sync", "", ""},
		{"GET", "/admin/sync/status", "/admin/sync/status", adminToken, ""},
		{"GET", "/api/v1/definitions", "/api/v1/definitions", readToken, ""},
		{"GET", "/api/v1/definitions", "/api/v1/definitions?enabled=perhaps", readToken, ""},
		{"GET", "/api/v1/definitions", "/api/v1/definitions?limit=1", readToken, ""},
		{"GET", "/api/v1/definitions", "/api/v1/definitions?after=garbage", readToken, ""},
		{"GET", "/api/v1/definitions/{id}", "/api/v1/definitions/t.a", readToken, ""},
		{"GET", "/api/v1/definitions/{id}", "/api/v1/definitions/t.none", readToken, ""},
		{"POST", "/api/v1/definitions/{id}/run", "/api/v1/definitions/t.a/run", adminToken, ""},
		{"POST", "/api/v1/definitions/{id}/pause", "/api/v1/definitions/t.a/pause", adminToken, `{"note":"n"}`},
		{"POST", "/api/v1/definitions/{id}/pause", "/api/v1/definitions/t.a/pause", adminToken, `[1]`},
		{"POST", "/api/v1/definitions/{id}/resume", "/api/v1/definitions/t.a/resume", adminToken, ""},
		{"GET", "/api/v1/runs", "/api/v1/runs", readToken, ""},
		{"GET", "/api/v1/runs", "/api/v1/runs?limit=-1", readToken, ""},
		{"GET", "/api/v1/runs/{id}", "/api/v1/runs/r1", readToken, ""},
		{"GET", "/api/v1/runs/{id}", "/api/v1/runs/nope", readToken, ""},
		{"GET", "/api/openapi.json", "/api/openapi.json", "", ""},
		{"POST", "/api/v1/events/explain", "/api/v1/events/explain", readToken, `{"subject":"org.x","payload":{"a":1}}`},
		{"POST", "/api/v1/events/explain", "/api/v1/events/explain", readToken, `{"payload":{}}`},
		{"POST", "/api/v1/events/explain", "/api/v1/events/explain", readToken, `{"subject":"org.x","extra":1}`},
	} {
		code, body := e.do(tc.method, tc.path, tc.token, tc.body)
		op := doc.Paths[tc.docPath][strings.ToLower(tc.method)]
		resp, ok := op.Responses[fmt.Sprint(code)]
		if !ok {
			t.Errorf("%s %s answered %d, which is not documented", tc.method, tc.path, code)
			continue
		}
		if len(resp.Content) == 0 {
			continue
		}
		sch := mustSchema(t, schemaFor, tc.docPath, tc.method, code)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			t.Errorf("%s %s: body is not JSON: %s", tc.method, tc.path, body)
			continue
		}
		if err := sch.Validate(inst); err != nil {
			var ve *jsonschema.ValidationError
			if errors.As(err, &ve) {
				t.Errorf("%s %s (%d) does not match the document: %v\n%s", tc.method, tc.path, code, ve, body)
			} else {
				t.Error(err)
			}
		}
		checked++
	}
	if checked < 15 {
		t.Errorf("only %d responses checked", checked)
	}
}

// openAPISchemas compiles openapi.json and returns a lookup of the schema
// it documents for one answer: path as documented, method in any case.
func openAPISchemas(t *testing.T) func(path, method string, code int) (*jsonschema.Schema, error) {
	t.Helper()
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPI()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("https://activity-core.local/openapi.json", raw); err != nil {
		t.Fatal(err)
	}
	return func(path, method string, code int) (*jsonschema.Schema, error) {
		return c.Compile(fmt.Sprintf("https://activity-core.local/openapi.json#/paths/%s/%s/responses/%d/content/application~1json/schema",
			strings.ReplaceAll(strings.ReplaceAll(path, "~", "~0"), "/", "~1"), strings.ToLower(method), code))
	}
}

// mustSchema is the documented schema of an answer; an undocumented one
// ends the test.
func mustSchema(t *testing.T, schemaFor func(string, string, int) (*jsonschema.Schema, error), path, method string, code int) *jsonschema.Schema {
	t.Helper()
	sch, err := schemaFor(path, method, code)
	if err != nil {
		t.Fatalf("%s %s answered %d, which is not documented: %v", method, path, code, err)
	}
	return sch
}
