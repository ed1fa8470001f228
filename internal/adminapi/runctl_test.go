package adminapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// Named tokens of the run-control tests: one per role, from a tokens
// file, beside the simple admin token.
const (
	aliceToken = "alice-token-0123456789" // operate
	bobToken   = "bob-token-0123456789"   // read
	rootToken  = "root-token-0123456789"  // admin
)

func tokenLine(name, role, token string) string {
	h := sha256.Sum256([]byte(token))
	return name + " " + role + " sha256:" + hex.EncodeToString(h[:]) + "\n"
}

// The Temporal side of run control is faked: the fakes record what they
// were asked; the store is real (SQLite).
type fakeCanceler struct {
	mu  sync.Mutex
	got []store.Run
}

func (f *fakeCanceler) Cancel(_ context.Context, run store.Run) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, run)
	return nil
}

type backfillCall struct {
	id       string
	from, to time.Time
	overlap  string
}

type fakeBackfiller struct {
	mu  sync.Mutex
	got []backfillCall
}

func (f *fakeBackfiller) Backfill(_ context.Context, id string, from, to time.Time, overlap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, backfillCall{id, from, to, overlap})
	return nil
}

// fakePools has workers polling every pool but "b".
type fakePools struct {
	mu    sync.Mutex
	calls int
}

func (f *fakePools) Describe(_ context.Context, pools []string) ([]PoolStatus, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	out := make([]PoolStatus, len(pools))
	for i, p := range pools {
		out[i] = PoolStatus{Pool: p, TaskQueue: "activity-core." + p, Backlog: -1}
		if p != "b" {
			out[i].Workers = []Poller{{Identity: "1@host-" + p, Host: "host-" + p, LastSeen: time.Unix(0, 0).UTC()}}
		}
	}
	return out, nil
}

// recordingRunner remembers the requests it started.
type recordingRunner struct {
	mu  sync.Mutex
	got []RunRequest
}

func (f *recordingRunner) StartRun(_ context.Context, req RunRequest) (RunStarted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, req)
	return RunStarted{RunID: req.RunID, WorkflowID: "activity-core:manual:" + req.DefinitionID + ":" + req.RunID}, nil
}

// pausingSchedules records who paused in the store, as the projector does.
type pausingSchedules struct {
	fakeSchedules
	st store.Store
}

func (p *pausingSchedules) PauseBy(ctx context.Context, id, note, by string, until *time.Time) error {
	_, err := p.st.SetOperatorPause(ctx, store.OperatorPause{DefinitionID: id, Note: note, Until: until, By: by})
	return err
}

type rcEnv struct {
	*env
	api      *Server
	tokens   string
	now      time.Time
	canceler *fakeCanceler
	backfill *fakeBackfiller
	pools    *fakePools
	runner   *recordingRunner
}

// rcNow is the run-control tests' clock: backfill windows end before it.
var rcNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// rcDefinitions are the definitions the run-control tests sync.
var rcDefinitions = map[string]string{
	"a.yaml": "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '*/15 * * * *', timezone: Europe/Berlin}\ninstruction: {kind: shell, cmd: 'true'}\n",
	"in.yaml": `id: t.in
trigger: {trigger_type: cron, cron_expression: '@daily', inputs: {repo: org/app}}
instruction: {kind: shell, cmd: 'true'}
inputs:
  repo: {type: string, required: true}
  depth: {type: int, default: 3}
  mode: {type: enum, values: [fast, full], default: fast}
`,
	"b.yaml":  "id: t.b\nrun_on: b\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n",
	"ev.yaml": "id: t.ev\ntrigger: {trigger_type: event, event_type: org.x}\ninstruction: {kind: shell, cmd: 'true'}\n",
}

func newRCEnv(t *testing.T) *rcEnv {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "api.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range rcDefinitions {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sy, err := syncer.New(syncer.Config{Store: st, Sources: []string{dir}, Logger: logger,
		Schedules: func(context.Context, bool, []store.Definition) (syncer.ScheduleCounts, []syncer.Action, []syncer.Error, error) {
			return syncer.ScheduleCounts{}, nil, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := sy.Run(ctx, syncer.DefaultOptions()); err != nil || len(res.Errors) > 0 {
		t.Fatalf("sync: %v %+v", err, res)
	}
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(tokenLine("alice", "operate", aliceToken)+tokenLine("bob", "read", bobToken)+tokenLine("root", "admin", rootToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &rcEnv{tokens: tokens, now: rcNow, canceler: &fakeCanceler{}, backfill: &fakeBackfiller{}, pools: &fakePools{}, runner: &recordingRunner{}}
	sched := &pausingSchedules{fakeSchedules: fakeSchedules{paused: map[string]string{}}, st: st}
	api, err := New(Config{Store: st, Syncer: sy, Schedules: sched, Runner: e.runner, AdminToken: adminToken, TokensFile: tokens,
		Canceler: e.canceler, Backfiller: e.backfill, Pools: e.pools, Logger: logger, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e.env = &env{t: t, srv: srv, store: st, dir: dir, sched: &sched.fakeSchedules}
	e.api = api
	return e
}

// audit returns every audit record, oldest first.
func (e *rcEnv) audit() []store.AuditRecord {
	e.t.Helper()
	recs, err := e.store.ListAudit(context.Background(), store.AuditFilter{Limit: store.AuditLimitMax})
	if err != nil {
		e.t.Fatal(err)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

func (e *rcEnv) createRun(id, def string, status store.RunStatus, inputs string) {
	e.t.Helper()
	r := store.Run{ID: id, DefinitionID: def, Trigger: store.RunTriggerManual, Status: status, WorkflowID: "wf-" + id}
	if inputs != "" {
		r.Inputs = json.RawMessage(inputs)
	}
	if _, err := e.store.CreateRun(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
}

func TestRolesRefused(t *testing.T) {
	e := newRCEnv(t)
	e.createRun("r-run", "t.a", store.RunRunning, "")
	backfill := `{"from":"2026-05-01T00:00:00Z","to":"2026-05-01T02:00:00Z","dry_run":true}`
	for _, tc := range []struct {
		method, path, body, token string
		want                      int
		msg                       string
	}{
		{"POST", "/admin/sync", "", aliceToken, 403, "this endpoint needs the admin role; token alice has operate"},
		{"POST", "/admin/sync", "", bobToken, 403, "this endpoint needs the admin role; token bob has read"},
		{"GET", "/admin/sync/status", "", aliceToken, 403, "needs the admin role"},
		{"POST", "/api/v1/definitions/t.a/run", "", bobToken, 403, "this endpoint needs the operate role; token bob has read"},
		{"POST", "/api/v1/definitions/t.a/pause", "", bobToken, 403, "needs the operate role; token bob has read"},
		{"POST", "/api/v1/definitions/t.a/resume", "", bobToken, 403, "needs the operate role"},
		{"POST", "/api/v1/definitions/t.a/backfill", backfill, bobToken, 403, "needs the operate role"},
		{"POST", "/api/v1/runs/r-run/rerun", "", bobToken, 403, "needs the operate role"},
		{"POST", "/api/v1/runs/r-run/cancel", "", bobToken, 403, "needs the operate role"},
		{"GET", "/api/v1/audit", "", "nobody-0123456789", 401, "invalid bearer token"},
		// What each role may do.
		{"GET", "/api/v1/audit", "", bobToken, 200, ""},
		{"GET", "/api/v1/workers", "", bobToken, 200, ""},
		{"POST", "/api/v1/definitions/t.a/backfill", backfill, aliceToken, 200, ""},
		{"POST", "/api/v1/definitions/t.a/pause", "", aliceToken, 200, ""},
		{"POST", "/admin/sync", "", rootToken, 200, ""},
		{"POST", "/admin/sync", "", adminToken, 200, ""},
	} {
		code, body := e.do(tc.method, tc.path, tc.token, tc.body)
		if code != tc.want || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s %s as %s: %d %s, want %d %q", tc.method, tc.path, tc.token[:4], code, body, tc.want, tc.msg)
		}
	}
}

// TestEveryMutatingCallAuditsOnce makes each mutating call, allowed and
// refused, and checks that each left exactly one audit record saying who,
// what and how it ended.
func TestEveryMutatingCallAuditsOnce(t *testing.T) {
	e := newRCEnv(t)
	e.createRun("r-run", "t.a", store.RunRunning, "")
	e.createRun("r-done", "t.in", store.RunSucceeded, `{"repo":"org/app","depth":3,"mode":"fast"}`)
	win := `"from":"2026-05-01T00:00:00Z","to":"2026-05-01T02:00:00Z"`
	type want struct{ actor, action, def, run, outcome string }
	for _, tc := range []struct {
		method, path, token, body string
		want                      want
	}{
		{"POST", "/admin/sync?dry_run=true", rootToken, "", want{"root", "sync", "", "", "ok"}},
		{"POST", "/admin/sync?dry_run=maybe", rootToken, "", want{"root", "sync", "", "", "refused"}},
		{"POST", "/admin/sync", aliceToken, "", want{"alice", "sync", "", "", "refused"}},
		{"POST", "/api/v1/definitions/t.a/run", aliceToken, `{"note":"by hand"}`, want{"alice", "run", "t.a", "*", "ok"}},
		{"POST", "/api/v1/definitions/t.a/run", bobToken, "", want{"bob", "run", "t.a", "", "refused"}},
		{"POST", "/api/v1/definitions/t.a/run", aliceToken, `{"nope":1}`, want{"alice", "run", "t.a", "", "refused"}},
		{"POST", "/api/v1/definitions/t.in/run", aliceToken, `{"inputs":{"depth":"x"}}`, want{"alice", "run", "t.in", "", "refused"}},
		{"POST", "/api/v1/definitions/t.none/run", aliceToken, "", want{"alice", "run", "t.none", "", "refused"}},
		{"POST", "/api/v1/runs/r-done/rerun", aliceToken, "", want{"alice", "run", "t.in", "*", "ok"}},
		{"POST", "/api/v1/runs/r-run/cancel", aliceToken, `{"note":"stuck"}`, want{"alice", "cancel", "t.a", "r-run", "ok"}},
		{"POST", "/api/v1/runs/r-done/cancel", aliceToken, "", want{"alice", "cancel", "t.in", "r-done", "refused"}},
		{"POST", "/api/v1/definitions/t.a/pause", aliceToken, `{"note":"disk"}`, want{"alice", "pause", "t.a", "", "ok"}},
		{"POST", "/api/v1/definitions/t.a/resume", adminToken, "", want{"admin", "resume", "t.a", "", "ok"}},
		{"POST", "/api/v1/definitions/t.a/backfill", aliceToken, `{` + win + `,"dry_run":true}`, want{"alice", "backfill", "t.a", "", "ok"}},
		{"POST", "/api/v1/definitions/t.a/backfill", aliceToken, `{` + win + `}`, want{"alice", "backfill", "t.a", "", "ok"}},
		{"POST", "/api/v1/definitions/t.ev/backfill", aliceToken, `{` + win + `}`, want{"alice", "backfill", "t.ev", "", "refused"}},
	} {
		before := len(e.audit())
		code, body := e.do(tc.method, tc.path, tc.token, tc.body)
		recs := e.audit()
		if len(recs) != before+1 {
			t.Errorf("%s %s (%d %s): %d audit records, want exactly 1", tc.method, tc.path, code, body, len(recs)-before)
			continue
		}
		r := recs[len(recs)-1]
		got := want{r.Actor, r.Action, r.DefinitionID, r.RunID, r.Outcome}
		if tc.want.run == "*" && r.RunID != "" {
			got.run = "*"
		}
		if got != tc.want || r.Surface != "api" || (r.Outcome != store.AuditOK) != (r.Message != "") {
			t.Errorf("%s %s (%d): audit %+v, want %+v", tc.method, tc.path, code, r, tc.want)
		}
	}
	// The dashboard's sign-in and sign-out.
	req := httptest.NewRequest(http.MethodPost, "/ui/login", nil)
	p, err := e.api.SignIn(req, bobToken)
	if err != nil || p != (Principal{Name: "bob", Role: RoleRead, Surface: "ui"}) {
		t.Fatalf("sign-in: %+v %v", p, err)
	}
	e.api.SignOut(WithPrincipal(context.Background(), p))
	if _, err := e.api.SignIn(req, "wrong-0123456789"); err == nil {
		t.Error("a wrong token signed in")
	}
	recs := e.audit()
	last := recs[len(recs)-2:]
	if last[0].Action != store.AuditSignIn || last[1].Action != store.AuditSignOut || last[0].Actor != "bob" || last[1].Surface != "ui" {
		t.Errorf("sign-in/out audit: %+v", last)
	}
}

func TestAuditOnTimelineAndPausedBy(t *testing.T) {
	e := newRCEnv(t)
	ctx := context.Background()
	if code, body := e.do("POST", "/api/v1/definitions/t.a/pause", aliceToken, `{"note":"disk full"}`); code != 200 {
		t.Fatalf("pause: %d %s", code, body)
	}
	if op, err := e.store.GetOperatorPause(ctx, "t.a"); err != nil || op.By != "alice" {
		t.Errorf("paused by %q (%v), want alice", op.By, err)
	}
	if code, body := e.do("POST", "/api/v1/definitions/t.a/run", aliceToken, `{"note":"try it"}`); code != 202 {
		t.Fatalf("run: %d %s", code, body)
	}
	es, err := e.store.ListTimeline(ctx, store.TimelineFilter{DefinitionID: "t.a"})
	if err != nil {
		t.Fatal(err)
	}
	var audits []store.TimelineEntry
	for _, en := range es {
		if en.Kind == store.TimelineAudit {
			audits = append(audits, en)
		}
	}
	if len(audits) != 1 || audits[0].Actor != "alice" || !strings.Contains(audits[0].Summary, "alice (operate) run — try it") {
		t.Errorf("audit timeline entries: %+v", audits)
	}
	code, body := e.do("GET", "/api/v1/audit?actor=alice&action=run", bobToken, "")
	var page struct {
		Records []store.AuditRecord `json:"records"`
	}
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Records) != 1 || page.Records[0].Note != "try it" {
		t.Errorf("audit list: %d %s", code, body)
	}
	for _, bad := range []string{"?before=x", "?limit=0", "?who=alice"} {
		if code, body := e.do("GET", "/api/v1/audit"+bad, bobToken, ""); code != 400 {
			t.Errorf("audit%s: %d %s", bad, code, body)
		}
	}
}

func TestRunInputsRefusedWithFields(t *testing.T) {
	e := newRCEnv(t)
	code, body := e.do("POST", "/api/v1/definitions/t.in/run", aliceToken, `{"inputs":{"depth":"x","mode":"slow"}}`)
	var resp struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	if code != 400 || json.Unmarshal(body, &resp) != nil {
		t.Fatalf("%d %s", code, body)
	}
	want := map[string]string{"repo": "is required and has no default", "depth": `want an integer, got "x"`, "mode": `want one of fast, full, got "slow"`}
	if fmt.Sprint(resp.Error.Fields) != fmt.Sprint(want) || !strings.Contains(resp.Error.Message, `input depth: want an integer, got "x"`) {
		t.Errorf("fields %v message %q", resp.Error.Fields, resp.Error.Message)
	}
	if len(e.runner.got) != 0 {
		t.Errorf("a refused run started: %+v", e.runner.got)
	}
	if code, body := e.do("POST", "/api/v1/definitions/t.a/run", aliceToken, `{"inputs":{"x":1}}`); code != 400 || !strings.Contains(string(body), `"x":"is not declared`) {
		t.Errorf("input of a definition declaring none: %d %s", code, body)
	}
	// Good values start a run whose pending record holds them, typed.
	code, body = e.do("POST", "/api/v1/definitions/t.in/run", aliceToken, `{"inputs":{"repo":"org/x","depth":"7"}}`)
	var started RunStarted
	if code != 202 || json.Unmarshal(body, &started) != nil {
		t.Fatalf("run: %d %s", code, body)
	}
	run, err := e.store.GetRun(context.Background(), started.RunID)
	if err != nil || run.Status != store.RunPending || run.Trigger != store.RunTriggerManual || run.Pool != "default" ||
		string(run.Inputs) != `{"depth":7,"mode":"fast","repo":"org/x"}` {
		t.Errorf("pending record: %+v %v (inputs %s)", run, err, run.Inputs)
	}
	if got := e.runner.got[0]; got.RunID != started.RunID || got.Pool != "default" || got.Inputs["depth"] != int64(7) {
		t.Errorf("runner asked %+v", got)
	}
}

func TestRerunRepeatsInputs(t *testing.T) {
	e := newRCEnv(t)
	e.createRun("r-old", "t.in", store.RunFailed, `{"repo":"org/app","depth":9007199254740993,"mode":"full"}`)
	code, body := e.do("POST", "/api/v1/runs/r-old/rerun", aliceToken, `{"note":"again"}`)
	var started RunStarted
	if code != 202 || json.Unmarshal(body, &started) != nil || started.RunID == "r-old" {
		t.Fatalf("rerun: %d %s", code, body)
	}
	req := e.runner.got[0]
	if req.RerunOf != "r-old" || req.Inputs["depth"] != int64(9007199254740993) || req.Inputs["mode"] != "full" {
		t.Errorf("rerun request %+v", req)
	}
	recs := e.audit()
	if d := string(recs[len(recs)-1].Detail); !strings.Contains(d, `"rerun_of":"r-old"`) {
		t.Errorf("audit detail %s", d)
	}
	// Inputs the declaration no longer takes are refused, named.
	e.createRun("r-stale", "t.in", store.RunFailed, `{"repo":"org/app","colour":"red"}`)
	if code, body := e.do("POST", "/api/v1/runs/r-stale/rerun", aliceToken, ""); code != 400 || !strings.Contains(string(body), `"colour"`) {
		t.Errorf("stale inputs: %d %s", code, body)
	}
	if code, _ := e.do("POST", "/api/v1/runs/r-none/rerun", aliceToken, ""); code != 404 {
		t.Errorf("rerun of a missing run: %d", code)
	}
}

func TestCancelRun(t *testing.T) {
	e := newRCEnv(t)
	e.createRun("r-run", "t.a", store.RunRunning, "")
	e.createRun("r-done", "t.a", store.RunSucceeded, "")
	code, body := e.do("POST", "/api/v1/runs/r-run/cancel", aliceToken, `{"note":"stuck on the lock"}`)
	var run runView
	if code != 202 || json.Unmarshal(body, &run) != nil || run.CanceledBy != "alice" || run.CancelNote != "stuck on the lock" {
		t.Fatalf("cancel: %d %s", code, body)
	}
	if len(e.canceler.got) != 1 || e.canceler.got[0].WorkflowID != "wf-r-run" {
		t.Errorf("canceler asked %+v", e.canceler.got)
	}
	// A second cancel while the first is under way asks Temporal again
	// but does not take the first one's name off the run.
	code, body = e.do("POST", "/api/v1/runs/r-run/cancel", rootToken, `{"note":"me too"}`)
	if code != 202 || json.Unmarshal(body, &run) != nil || run.CanceledBy != "alice" || run.CancelNote != "stuck on the lock" {
		t.Fatalf("second cancel: %d %s", code, body)
	}
	e.canceler.got = e.canceler.got[:1]
	if code, body := e.do("POST", "/api/v1/runs/r-done/cancel", aliceToken, ""); code != 409 || !strings.Contains(string(body), "run r-done already succeeded") {
		t.Errorf("cancel of a finished run: %d %s", code, body)
	}
	if code, _ := e.do("POST", "/api/v1/runs/r-none/cancel", aliceToken, ""); code != 404 {
		t.Errorf("cancel of a missing run: %d", code)
	}
	long := `{"note":"` + strings.Repeat("x", noteMax+1) + `"}`
	if code, body := e.do("POST", "/api/v1/runs/r-run/cancel", aliceToken, long); code != 400 || !strings.Contains(string(body), "note is") {
		t.Errorf("long note: %d %s", code, body)
	}
	if len(e.canceler.got) != 1 {
		t.Errorf("refused cancels reached Temporal: %+v", e.canceler.got)
	}
}

func TestBackfillFiresAcrossDST(t *testing.T) {
	// Europe/Berlin moves from +01:00 to +02:00 at 2026-03-29 01:00 UTC.
	from, to := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC)
	fires, err := backfillFires("*/15 * * * *", "Europe/Berlin", from, to)
	if err != nil {
		t.Fatal(err)
	}
	var local, utc []string
	for _, f := range fires {
		local, utc = append(local, f.Local), append(utc, f.UTC.Format("15:04"))
	}
	wantLocal := []string{"2026-03-29T01:00:00+01:00", "2026-03-29T01:15:00+01:00", "2026-03-29T01:30:00+01:00", "2026-03-29T01:45:00+01:00",
		"2026-03-29T03:00:00+02:00", "2026-03-29T03:15:00+02:00", "2026-03-29T03:30:00+02:00", "2026-03-29T03:45:00+02:00"}
	if strings.Join(local, " ") != strings.Join(wantLocal, " ") || strings.Join(utc, " ") != "00:00 00:15 00:30 00:45 01:00 01:15 01:30 01:45" {
		t.Errorf("fires\n local %v\n utc   %v", local, utc)
	}
	// [from, to): a fire at to is out, one at from in, even off the second.
	fires, _ = backfillFires("*/15 * * * *", "UTC", from.Add(time.Millisecond), to.Add(time.Second))
	if len(fires) != 8 || !fires[0].UTC.Equal(from.Add(15*time.Minute)) || !fires[7].UTC.Equal(to) {
		t.Errorf("shifted window: %v", fires)
	}
}

func TestBackfillEndpoint(t *testing.T) {
	e := newRCEnv(t)
	win := `"from":"2026-05-01T00:00:00Z","to":"2026-05-01T02:00:00Z"`
	code, body := e.do("POST", "/api/v1/definitions/t.a/backfill", aliceToken, `{`+win+`,"dry_run":true}`)
	var plan BackfillPlan
	if code != 200 || json.Unmarshal(body, &plan) != nil || len(plan.Fires) != 8 || plan.Started || plan.Timezone != "Europe/Berlin" ||
		plan.Fires[0].Local != "2026-05-01T02:00:00+02:00" || plan.Overlap != "buffer_all" {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if len(e.backfill.got) != 0 {
		t.Errorf("a dry run reached Temporal")
	}
	code, body = e.do("POST", "/api/v1/definitions/t.a/backfill", aliceToken, `{`+win+`,"overlap":"allow_all","note":"outage"}`)
	if code != 202 || json.Unmarshal(body, &plan) != nil || !plan.Started || len(plan.Fires) != 8 {
		t.Fatalf("backfill: %d %s", code, body)
	}
	from := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if len(e.backfill.got) != 1 || e.backfill.got[0] != (backfillCall{"t.a", from, from.Add(2 * time.Hour), "allow_all"}) {
		t.Errorf("backfiller asked %+v", e.backfill.got)
	}
	// Recorded first, so the runs it makes find it.
	b, err := e.store.FindBackfill(context.Background(), "t.a", from.Add(time.Hour), rcNow)
	if err != nil || b.Actor != "alice" || b.Overlap != "allow_all" {
		t.Errorf("recorded backfill: %+v %v", b, err)
	}
	for _, tc := range []struct{ id, body, want string }{
		{"t.ev", `{` + win + `}`, "t.ev is event-triggered: only cron definitions can be backfilled"},
		{"t.a", `{"from":"2026-05-01T02:00:00Z","to":"2026-05-01T02:00:00Z"}`, "is not before to"},
		{"t.a", `{"from":"2026-06-01T00:00:00Z","to":"2026-06-02T00:00:00Z"}`, "is in the future"},
		{"t.a", `{"to":"2026-05-01T02:00:00Z"}`, "from and to are both required"},
		{"t.a", `{"from":"2026-04-01T00:00:00Z","to":"2026-05-01T00:00:00Z","dry_run":true}`, "holds more than 1000 fires: narrow the window"},
		{"t.a", `{` + win + `,"overlap":"sometimes"}`, `overlap \"sometimes\" is not one of skip, buffer_all, allow_all`},
		{"t.a", `{` + win + `,"extra":1}`, "body must be JSON like"},
	} {
		if code, body := e.do("POST", "/api/v1/definitions/"+tc.id+"/backfill", aliceToken, tc.body); code != 400 || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s: %d %s, want 400 %q", tc.id, tc.body, code, body, tc.want)
		}
	}
	if code, _ := e.do("POST", "/api/v1/definitions/t.none/backfill", aliceToken, `{`+win+`}`); code != 404 {
		t.Errorf("missing definition: %d", code)
	}
	if len(e.backfill.got) != 1 {
		t.Errorf("refused backfills reached Temporal: %+v", e.backfill.got)
	}
}

func TestWaitingRunsAndWorkers(t *testing.T) {
	e := newRCEnv(t)
	ctx := context.Background()
	code, body := e.do("POST", "/api/v1/definitions/t.b/run", aliceToken, "")
	var started RunStarted
	if code != 202 || json.Unmarshal(body, &started) != nil {
		t.Fatalf("run: %d %s", code, body)
	}
	code, body = e.do("GET", "/api/v1/runs/"+started.RunID, bobToken, "")
	var run runView
	if code != 200 || json.Unmarshal(body, &run) != nil || run.Waiting != "waiting for a worker in pool b" || run.Pool != "b" {
		t.Errorf("run: %d %s", code, body)
	}
	es, err := e.store.ListTimeline(ctx, store.TimelineFilter{DefinitionID: "t.b"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range es {
		found = found || (en.Kind == store.TimelineWaiting && en.RunID == started.RunID && strings.Contains(en.Summary, "waiting for a worker in pool b"))
	}
	if !found {
		t.Errorf("no waiting timeline entry: %+v", es)
	}
	// A run on a pool with a worker does not wait; the list says so too,
	// and asks Temporal at most once per pool within the cache time.
	e.do("POST", "/api/v1/definitions/t.a/run", aliceToken, "")
	e.pools.calls = 0
	for range 3 {
		code, body = e.do("GET", "/api/v1/runs", bobToken, "")
	}
	var page struct {
		Runs []runView `json:"runs"`
	}
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Runs) != 2 || page.Runs[0].Waiting != "" || page.Runs[1].Waiting == "" {
		t.Errorf("runs: %d %s", code, body)
	}
	if e.pools.calls != 0 {
		t.Errorf("%d Describe calls for cached pools, want 0", e.pools.calls)
	}
	e.now = e.now.Add(waitingFor)
	e.do("GET", "/api/v1/runs", bobToken, "")
	if e.pools.calls != 2 {
		t.Errorf("%d Describe calls after the cache time, want one per pool (2)", e.pools.calls)
	}

	code, body = e.do("GET", "/api/v1/workers", bobToken, "")
	var workers struct {
		Pools []PoolStatus `json:"pools"`
	}
	if code != 200 || json.Unmarshal(body, &workers) != nil || len(workers.Pools) != 2 {
		t.Fatalf("workers: %d %s", code, body)
	}
	if p := workers.Pools[0]; p.Pool != "b" || p.Definitions != 1 || len(p.Workers) != 0 {
		t.Errorf("pool b: %+v", p)
	}
	if p := workers.Pools[1]; p.Pool != "default" || p.Definitions != 3 || len(p.Workers) != 1 || p.Workers[0].Host != "host-default" {
		t.Errorf("pool default: %+v", p)
	}
}

func TestTokensFileReload(t *testing.T) {
	e := newRCEnv(t)
	if code, _ := e.do("GET", "/api/v1/audit", "carol-token-0123456789", ""); code != 401 {
		t.Fatalf("carol before she is added: %d", code)
	}
	rewrite := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(e.tokens, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(e.tokens, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(tokenLine("carol", "read", "carol-token-0123456789"), time.Now().Add(time.Hour))
	if code, _ := e.do("GET", "/api/v1/audit", "carol-token-0123456789", ""); code != 401 {
		t.Errorf("the file was re-read before tokensRecheckEvery: %d", code)
	}
	e.now = e.now.Add(tokensRecheckEvery)
	if code, body := e.do("GET", "/api/v1/audit", "carol-token-0123456789", ""); code != 200 {
		t.Errorf("carol after the re-read: %d %s", code, body)
	}
	if code, _ := e.do("GET", "/api/v1/audit", aliceToken, ""); code != 401 {
		t.Errorf("alice was removed from the file but still works: %d", code)
	}
	// A bad file keeps the last good tokens it still lists, and adds none.
	rewrite(tokenLine("carol", "read", "carol-token-0123456789")+tokenLine("dave", "read", "dave-token-0123456789")+"erin read sha256:nope\n", time.Now().Add(2*time.Hour))
	e.now = e.now.Add(tokensRecheckEvery)
	if code, _ := e.do("GET", "/api/v1/audit", "carol-token-0123456789", ""); code != 200 {
		t.Errorf("a bad re-read dropped the good tokens: %d", code)
	}
	if code, _ := e.do("GET", "/api/v1/audit", "dave-token-0123456789", ""); code != 401 {
		t.Errorf("a bad re-read added a token: %d", code)
	}
	// ... but a removal applies even when the rest of the file is bad: a
	// revocation does not wait for a valid file.
	rewrite("# carol left\nerin read sha256:nope\n", time.Now().Add(3*time.Hour))
	e.now = e.now.Add(tokensRecheckEvery)
	if code, _ := e.do("GET", "/api/v1/audit", "carol-token-0123456789", ""); code != 401 {
		t.Errorf("carol, removed from a bad file, still works: %d", code)
	}
	// Taking the file away revokes every token it held.
	rewrite(tokenLine("carol", "read", "carol-token-0123456789"), time.Now().Add(4*time.Hour))
	e.now = e.now.Add(tokensRecheckEvery)
	if code, _ := e.do("GET", "/api/v1/audit", "carol-token-0123456789", ""); code != 200 {
		t.Errorf("carol back in a good file: %d", code)
	}
	if err := os.Remove(e.tokens); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(tokensRecheckEvery)
	if code, _ := e.do("GET", "/api/v1/audit", "carol-token-0123456789", ""); code != 401 {
		t.Errorf("carol still works with the tokens file gone: %d", code)
	}
	if code, _ := e.do("GET", "/api/v1/audit", adminToken, ""); code != 200 {
		t.Errorf("the simple admin token stopped working: %d", code)
	}
	// A bad file at start stops the server from starting, naming the line.
	bad := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(bad, []byte("# ok\nalice boss sha256:00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Store: e.store, TokensFile: bad})
	if err == nil || !strings.Contains(err.Error(), bad+`:2: role "boss"`) {
		t.Errorf("bad tokens file at start: %v", err)
	}
	// A line may not pass for a simple token's principal.
	if err := os.WriteFile(bad, []byte(tokenLine("admin", "read", "other-token-0123456789")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Store: e.store, AdminToken: adminToken, TokensFile: bad})
	if err == nil || !strings.Contains(err.Error(), "the name or token of the simple admin token (ACTIVITY_ADMIN_TOKEN)") {
		t.Errorf("a file line named admin: %v", err)
	}
}

func TestMethodsNeedAPrincipal(t *testing.T) {
	e := newRCEnv(t)
	_, err := e.api.RunDefinition(context.Background(), "t.a", nil, "")
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != 403 {
		t.Errorf("run with no principal: %v", err)
	}
	ctx := WithPrincipal(context.Background(), Principal{Name: "bob", Role: RoleRead, Surface: "ui"})
	if _, err := e.api.CancelRun(ctx, "r-x", ""); err == nil || !strings.Contains(err.Error(), "needs the operate role; token bob has read") {
		t.Errorf("cancel as read: %v", err)
	}
	if recs := e.audit(); len(recs) != 1 || recs[0].Outcome != store.AuditRefused || recs[0].Surface != "ui" {
		t.Errorf("audit: %+v", recs)
	}
}

// TestOpenAPIRunControl checks the run-control endpoints' answers against
// the schemas openapi.json documents for them.
func TestOpenAPIRunControl(t *testing.T) {
	schemaFor := openAPISchemas(t)
	e := newRCEnv(t)
	e.createRun("r-run", "t.a", store.RunRunning, "")
	e.createRun("r-done", "t.in", store.RunSucceeded, `{"repo":"org/app"}`)
	win := `"from":"2026-05-01T00:00:00Z","to":"2026-05-01T02:00:00Z"`
	for _, tc := range []struct {
		method, docPath, path, token, body string
		want                               int
	}{
		{"POST", "/api/v1/definitions/{id}/run", "/api/v1/definitions/t.b/run", aliceToken, `{"note":"n"}`, 202},
		{"POST", "/api/v1/definitions/{id}/run", "/api/v1/definitions/t.in/run", aliceToken, `{"inputs":{"depth":"x"}}`, 400},
		{"POST", "/api/v1/definitions/{id}/run", "/api/v1/definitions/t.a/run", bobToken, "", 403},
		{"GET", "/api/v1/runs", "/api/v1/runs", bobToken, "", 200},
		{"GET", "/api/v1/runs/{id}", "/api/v1/runs/r-done", bobToken, "", 200},
		{"POST", "/api/v1/runs/{id}/rerun", "/api/v1/runs/r-done/rerun", aliceToken, "", 202},
		{"POST", "/api/v1/runs/{id}/rerun", "/api/v1/runs/nope/rerun", aliceToken, "", 404},
		{"POST", "/api/v1/runs/{id}/cancel", "/api/v1/runs/r-run/cancel", aliceToken, `{"note":"n"}`, 202},
		{"POST", "/api/v1/runs/{id}/cancel", "/api/v1/runs/r-done/cancel", aliceToken, "", 409},
		{"POST", "/api/v1/runs/{id}/cancel", "/api/v1/runs/r-run/cancel", bobToken, "", 403},
		{"POST", "/api/v1/definitions/{id}/backfill", "/api/v1/definitions/t.a/backfill", aliceToken, `{` + win + `,"dry_run":true}`, 200},
		{"POST", "/api/v1/definitions/{id}/backfill", "/api/v1/definitions/t.a/backfill", aliceToken, `{` + win + `}`, 202},
		{"POST", "/api/v1/definitions/{id}/backfill", "/api/v1/definitions/t.ev/backfill", aliceToken, `{` + win + `}`, 400},
		{"GET", "/api/v1/audit", "/api/v1/audit?limit=2", bobToken, "", 200},
		{"GET", "/api/v1/audit", "/api/v1/audit?before=x", bobToken, "", 400},
		{"GET", "/api/v1/audit", "/api/v1/audit", "", "", 401},
		{"GET", "/api/v1/workers", "/api/v1/workers", bobToken, "", 200},
	} {
		code, body := e.do(tc.method, tc.path, tc.token, tc.body)
		if code != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
			continue
		}
		sch, err := schemaFor(tc.docPath, tc.method, code)
		if err != nil {
			t.Errorf("%s %s answered %d, which is not documented: %v", tc.method, tc.path, code, err)
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			t.Errorf("%s %s: body is not JSON: %s", tc.method, tc.path, body)
			continue
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s %s (%d) does not match the document: %v\n%s", tc.method, tc.path, code, err, body)
		}
	}
}

// TestRefusedCallsBoundTheAudit: a token that may not act cannot grow the
// audit and the timelines without bound: past a burst its refusals are
// logged, not stored, and an id from the path is kept clipped.
func TestRefusedCallsBoundTheAudit(t *testing.T) {
	e := newRCEnv(t)
	long := strings.Repeat("z", 60000)
	for i := range 3 * refusedAuditBurst {
		if code, body := e.do("POST", fmt.Sprintf("/api/v1/definitions/%s%d/run", long, i), bobToken, ""); code != 403 {
			t.Fatalf("refused call %d: %d %s", i, code, body)
		}
	}
	recs := e.audit()
	if len(recs) != refusedAuditBurst {
		t.Errorf("%d refused calls left %d audit records, want the burst %d", 3*refusedAuditBurst, len(recs), refusedAuditBurst)
	}
	for _, r := range recs {
		if len(r.DefinitionID) > auditIDMax+len("…") {
			t.Fatalf("an audit record keeps a %d-byte definition id", len(r.DefinitionID))
		}
	}
	// Allowed calls are never held back, and refusals resume with time.
	if code, body := e.do("POST", "/api/v1/definitions/t.a/pause", aliceToken, ""); code != 200 {
		t.Fatalf("pause: %d %s", code, body)
	}
	e.now = e.now.Add(time.Minute)
	e.do("POST", "/api/v1/definitions/t.a/run", bobToken, "")
	if got := len(e.audit()); got != refusedAuditBurst+2 {
		t.Errorf("after a minute: %d audit records, want %d", got, refusedAuditBurst+2)
	}
}
