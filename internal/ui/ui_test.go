package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/router"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
	"github.com/coulomb/activity-core/internal/syncer"
)

const (
	adminToken = "admin-token-0123456789"
	readToken  = "read-token-0123456789"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeSchedules stands in for the Temporal projection (tested against the
// real server in internal/schedule and internal/integration). Like the
// projector, it records operator pauses in the store.
type fakeSchedules struct {
	st store.Store
	mu sync.Mutex
	// paused maps definition id to note.
	paused map[string]string
}

func (f *fakeSchedules) Pause(ctx context.Context, id, note string, until *time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.st.SetOperatorPause(ctx, store.OperatorPause{DefinitionID: id, Note: note, Until: until}); err != nil {
		return err
	}
	f.paused[id] = note
	return nil
}

func (f *fakeSchedules) Resume(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.paused, id)
	if err := f.st.ClearOperatorPause(ctx, id); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

func isNotFound(err error) bool { _, code, _ := adminapi.ErrorStatus(err); return code == "not_found" }

func (f *fakeSchedules) Describe(_ context.Context, id string) (*adminapi.ScheduleInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	note, paused := f.paused[id]
	info := &adminapi.ScheduleInfo{ScheduleID: "activity-core:" + id, Exists: true, Paused: paused, Note: note, NextFires: []time.Time{}}
	if paused {
		info.PausedBy = "operator"
	}
	return info, nil
}

// fakeRunner records the run in the store, as the workflow would: under
// the id the API chose (it writes a pending record first) or its own, with
// status (succeeded when empty) and the inputs it was given.
type fakeRunner struct {
	st     store.Store
	stdout string
	mu     sync.Mutex
	status store.RunStatus
	reqs   []adminapi.RunRequest
}

func (f *fakeRunner) StartRun(ctx context.Context, req adminapi.RunRequest) (adminapi.RunStarted, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	status := cmp.Or(f.status, store.RunSucceeded)
	f.mu.Unlock()
	id := req.DefinitionID
	runID := cmp.Or(req.RunID, fmt.Sprintf("run-%d", time.Now().UnixNano()))
	now := time.Now()
	run := store.Run{ID: runID, DefinitionID: id, Trigger: store.RunTriggerManual, Status: status,
		WorkflowID: "activity-core:manual:" + id + ":" + runID, StartedAt: &now, Stdout: f.stdout, Pool: req.Pool}
	if req.Inputs != nil {
		run.Inputs, _ = json.Marshal(req.Inputs)
	}
	if status.Terminal() {
		code := 0
		run.FinishedAt, run.ExitCode = &now, &code
	}
	var err error
	if old, gerr := f.st.GetRun(ctx, runID); gerr == nil {
		run.CreatedAt = old.CreatedAt
		if len(old.Inputs) > 0 {
			run.Inputs = old.Inputs
		}
		_, err = f.st.UpdateRun(ctx, run)
	} else {
		_, err = f.st.CreateRun(ctx, run)
	}
	if err != nil {
		return adminapi.RunStarted{}, err
	}
	return adminapi.RunStarted{RunID: runID, WorkflowID: run.WorkflowID}, nil
}

func (f *fakeRunner) requests() []adminapi.RunRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// fakePools stands in for Temporal's DescribeTaskQueue (internal/app):
// the workers polling each pool, and its backlog (-1 when unset).
type fakePools struct {
	mu      sync.Mutex
	workers map[string][]adminapi.Poller
	backlog map[string]int64
}

func (f *fakePools) Describe(_ context.Context, pools []string) ([]adminapi.PoolStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]adminapi.PoolStatus, len(pools))
	for i, p := range pools {
		bl, ok := f.backlog[p]
		if !ok {
			bl = -1
		}
		out[i] = adminapi.PoolStatus{Pool: p, TaskQueue: "activity-core." + p, Workers: f.workers[p], Backlog: bl}
	}
	return out, nil
}

// fakeCanceler stands in for Temporal's CancelWorkflow: the workflow
// ends at once and records the run canceled, as the engine does.
type fakeCanceler struct {
	st store.Store
}

func (f *fakeCanceler) Cancel(ctx context.Context, run store.Run) error {
	run, err := f.st.GetRun(ctx, run.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	run.Status, run.FinishedAt = store.RunCanceled, &now
	_, err = f.st.UpdateRun(ctx, run)
	return err
}

// fakeBackfiller records the backfills Temporal was asked for.
type fakeBackfiller struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeBackfiller) Backfill(_ context.Context, id string, from, to time.Time, overlap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %s %s", id, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), overlap))
	return nil
}

type env struct {
	t     *testing.T
	srv   *httptest.Server
	st    store.Store
	dir   string
	sched *fakeSchedules
	run   *fakeRunner
	pools *fakePools
	bf    *fakeBackfiller
	// apiCfg is the API's configuration without its UI (see replica).
	apiCfg adminapi.Config
	now    time.Time
	nowMu  sync.Mutex
}

func (e *env) clock() time.Time {
	e.nowMu.Lock()
	defer e.nowMu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.nowMu.Lock()
	defer e.nowMu.Unlock()
	e.now = e.now.Add(d)
}

func openStore(t testing.TB) store.Store { return openStoreAt(t, nil) }

// openStoreAt opens a store that stamps records with now (nil: the real
// clock).
func openStoreAt(t testing.TB, now func() time.Time) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.New(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "ui.db"), Logger: quiet, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// explainWith is the api role's explain (internal/app): the router's index
// over what the last sync stored.
func explainWith(st store.Store) func(ctx context.Context, subject string, payload json.RawMessage) (any, error) {
	return func(ctx context.Context, subject string, payload json.RawMessage) (any, error) {
		p, err := router.DecodePayload(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: payload: %v", store.ErrInvalid, err)
		}
		ix, err := router.LoadIndex(ctx, st, router.IndexOptions{})
		if err != nil {
			return nil, err
		}
		return ix.Explain(ctx, subject, p), nil
	}
}

func newEnv(t *testing.T, admin, read string, cfg Config) *env {
	t.Helper()
	return newEnvTokens(t, admin, read, "", cfg)
}

// newEnvTokens is newEnv with a tokens file (docs/run-control.md#who-did-what).
func newEnvTokens(t *testing.T, admin, read, tokensFile string, cfg Config) *env {
	t.Helper()
	return newEnvOn(t, func(now func() time.Time) store.Store { return openStoreAt(t, now) }, admin, read, tokensFile, cfg)
}

// newEnvOn is newEnv on the store open gives, stamped with the env's clock.
func newEnvOn(t *testing.T, open func(now func() time.Time) store.Store, admin, read, tokensFile string, cfg Config) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), now: time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)}
	st := open(e.clock)
	e.st = st
	sy, err := syncer.New(syncer.Config{Store: st, Sources: []string{e.dir}, Logger: quiet,
		Schedules: func(_ context.Context, _ bool, planned []store.Definition) (syncer.ScheduleCounts, []syncer.Action, []syncer.Error, error) {
			return syncer.ScheduleCounts{Upserted: len(planned)}, nil, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.sched = &fakeSchedules{st: st, paused: map[string]string{}}
	e.run = &fakeRunner{st: st, stdout: "hello\n"}
	e.pools = &fakePools{workers: map[string][]adminapi.Poller{}, backlog: map[string]int64{}}
	e.bf = &fakeBackfiller{}
	e.apiCfg = adminapi.Config{Store: st, Syncer: sy, Schedules: e.sched, Runner: e.run, Explain: explainWith(st),
		Canceler: &fakeCanceler{st: st}, Backfiller: e.bf, Pools: e.pools,
		AdminToken: admin, ReadToken: read, TokensFile: tokensFile, Logger: quiet, Now: e.clock}
	e.srv = e.replica(cfg)
	return e
}

// replica starts another api process's server on the env's store, with
// the same tokens and fakes: an api replica behind a balancer.
func (e *env) replica(cfg Config) *httptest.Server { return e.replicaOn(e.st, cfg) }

// replicaOn is replica with its own connection to the env's database.
func (e *env) replicaOn(st store.Store, cfg Config) *httptest.Server {
	e.t.Helper()
	cfg.Store = st
	cfg.Logger = quiet
	cfg.Now = e.clock
	acfg := e.apiCfg
	acfg.Store = st
	acfg.UI = NewHandler(cfg)
	api, err := adminapi.New(acfg)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	e.t.Cleanup(srv.Close)
	return srv
}

func (e *env) write(name, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// putDefinitions stores definitions parsed from YAML, as a sync would.
func putDefinitions(t testing.TB, st store.Store, sourceDir string, docs ...string) {
	t.Helper()
	var defs []store.Definition
	for i, doc := range docs {
		d, err := definition.Parse(fmt.Sprintf("d%d.yaml", i), []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, storeDefinition(d, sourceDir, fmt.Sprintf("d%d.yaml", i)))
	}
	if _, err := st.UpsertDefinitions(context.Background(), defs...); err != nil {
		t.Fatal(err)
	}
}

func storeDefinition(d *definition.Definition, dir, file string) store.Definition {
	sd := store.Definition{ID: d.ID, ContentHash: d.ContentHash(), Spec: d.CanonicalJSON(), SourceDir: dir, SourceFile: filepath.Join(dir, file),
		Enabled: d.Enabled, TriggerType: store.TriggerType(d.Trigger.Type)}
	if d.Trigger.Type == "event" {
		sd.EventType = d.Trigger.EventType
	}
	return sd
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	e *env
	// base is the server it talks to (default the env's).
	base   string
	c      *http.Client
	status int
	body   string
	loc    string
	header http.Header
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) url() string { return cmp.Or(b.base, b.e.srv.URL) }

func (b *browser) do(req *http.Request) *browser {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.status, b.body, b.loc, b.header = resp.StatusCode, string(body), resp.Header.Get("Location"), resp.Header
	return b
}

func (b *browser) get(path string) *browser {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url()+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) *browser {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.url()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var (
	nonceRe = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	csrfRe  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func (b *browser) login(token string) *browser {
	b.e.t.Helper()
	b.get("/ui/login?next=/ui/runs")
	m := nonceRe.FindStringSubmatch(b.body)
	if m == nil {
		b.e.t.Fatalf("login form without nonce: %d %s", b.status, b.body)
	}
	return b.post("/ui/login", url.Values{"nonce": {m[1]}, "token": {token}, "next": {"/ui/runs"}})
}

// csrf reads the session's form token from a page.
func (b *browser) csrf() string {
	b.e.t.Helper()
	b.get("/ui/sync")
	m := csrfRe.FindStringSubmatch(b.body)
	if m == nil {
		b.e.t.Fatalf("no csrf field: %d %s", b.status, b.body)
	}
	return m[1]
}

func (b *browser) expect(status int, contains ...string) {
	b.e.t.Helper()
	if b.status != status {
		b.e.t.Fatalf("status %d, want %d; body:\n%s", b.status, status, b.body)
	}
	for _, c := range contains {
		if !strings.Contains(b.body, c) {
			b.e.t.Fatalf("page lacks %q:\n%s", c, b.body)
		}
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, adminToken, readToken, Config{})
	b := e.browser()
	b.get("/ui/definitions?trigger_type=cron")
	if b.status != http.StatusSeeOther || b.loc != "/ui/login?next="+url.QueryEscape("/ui/definitions?trigger_type=cron") {
		t.Fatalf("anonymous page: %d %q", b.status, b.loc)
	}
	b.get("/ui/")
	if b.status != http.StatusSeeOther || b.loc != "/ui/definitions" {
		t.Fatalf("/ui/: %d %q", b.status, b.loc)
	}

	// A wrong token, an empty one, and a form without its nonce.
	b.get("/ui/login")
	nonce := nonceRe.FindStringSubmatch(b.body)[1]
	b.post("/ui/login", url.Values{"nonce": {nonce}, "token": {"wrong-token-0000000000"}})
	b.expect(http.StatusUnauthorized, "not one of this server&#39;s tokens")
	b.get("/ui/login")
	nonce = nonceRe.FindStringSubmatch(b.body)[1]
	b.post("/ui/login", url.Values{"nonce": {nonce}, "token": {"  "}})
	b.expect(http.StatusBadRequest, "enter your token")
	other := e.browser()
	other.post("/ui/login", url.Values{"token": {adminToken}})
	other.expect(http.StatusForbidden, "came from another site")

	// The read token signs in; the cookie holds a session id, not the token.
	b.login(readToken)
	if b.status != http.StatusSeeOther || b.loc != "/ui/runs" {
		t.Fatalf("login: %d %q %s", b.status, b.loc, b.body)
	}
	var sc *http.Cookie
	for _, c := range b.c.Jar.Cookies(mustURL(e.srv.URL + "/ui/")) {
		if c.Name == sessionCookie {
			sc = c
		}
	}
	if sc == nil || strings.Contains(sc.Value, readToken) {
		t.Fatalf("session cookie %+v", sc)
	}
	setCookie := strings.Join(b.header.Values("Set-Cookie"), "\n")
	if !strings.Contains(setCookie, "HttpOnly") || !strings.Contains(setCookie, "SameSite=Strict") || strings.Contains(setCookie, "Secure") || strings.Contains(setCookie, readToken) {
		t.Errorf("Set-Cookie: %s", setCookie)
	}
	if strings.Contains(b.loc, readToken) {
		t.Errorf("token in a URL: %s", b.loc)
	}
	b.get("/ui/definitions")
	b.expect(http.StatusOK, `<span id="who">read</span> <span class="meta">(<span id="role">read</span>)</span>`, "Definitions")
	if csp := b.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// A post-login redirect stays on the dashboard.
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/api/v1/runs", `/ui/\evil`} {
		if got := safeNext(next); got != "/ui/definitions" {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	}

	// Sign out ends the session on the server.
	csrf := b.csrf()
	b.post("/ui/logout", url.Values{"csrf": {csrf}})
	if b.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", b.status)
	}
	b.get("/ui/definitions")
	if b.status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", b.status)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestNoTokenConfigured(t *testing.T) {
	e := newEnv(t, "", "", Config{})
	b := e.browser()
	b.get("/ui/login")
	b.expect(http.StatusForbidden, "set ACTIVITY_ADMIN_TOKEN")
	if strings.Contains(b.body, `name="token"`) {
		t.Error("a login form with no token configured")
	}
}

func TestActionsNeedAdminAndCSRF(t *testing.T) {
	e := newEnv(t, adminToken, readToken, Config{})
	putDefinitions(t, e.st, e.dir, "id: t.job\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'echo hi'}\n")

	reader := e.browser()
	reader.login(readToken)
	reader.get("/ui/definitions/t.job")
	reader.expect(http.StatusOK, "need the operate role")
	if strings.Contains(reader.body, `id="run-now"`) {
		t.Error("read session sees the run button")
	}
	csrf := reader.csrf()
	reader.post("/ui/definitions/t.job/run", url.Values{"csrf": {csrf}})
	reader.expect(http.StatusForbidden, "this endpoint needs the operate role; token read has read")
	// Sync status is admin-only, as GET /admin/sync/status is.
	reader.get("/ui/sync")
	reader.expect(http.StatusForbidden, "this needs the admin role")

	admin := e.browser()
	admin.login(adminToken)
	admin.post("/ui/definitions/t.job/run", url.Values{})
	admin.expect(http.StatusForbidden, "CSRF")
	admin.post("/ui/definitions/t.job/run", url.Values{"csrf": {csrf}}) // another session's token
	admin.expect(http.StatusForbidden, "CSRF")
	mine := admin.csrf()
	admin.post("/ui/definitions/t.job/run", url.Values{"csrf": {mine}}, "Origin", "https://evil.example")
	admin.expect(http.StatusForbidden, "cross-origin")
	page, _ := e.st.ListRuns(context.Background(), store.RunFilter{})
	if len(page.Runs) != 0 {
		t.Fatalf("a refused post started %d runs", len(page.Runs))
	}
	admin.post("/ui/definitions/t.job/run", url.Values{"csrf": {mine}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	admin.expect(http.StatusForbidden, "cross-origin")
	// Behind a proxy that rewrites Host, the browser's Origin names the
	// public host; its Sec-Fetch-Site still says same-origin.
	admin.post("/ui/definitions/t.job/run", url.Values{"csrf": {mine}}, "Origin", "https://activity.example.org", "Sec-Fetch-Site", "same-origin")
	if admin.status != http.StatusSeeOther || !strings.HasPrefix(admin.loc, "/ui/runs/") {
		t.Fatalf("run now behind a proxy: %d %q %s", admin.status, admin.loc, admin.body)
	}
	admin.get(admin.loc)
	admin.expect(http.StatusOK, "started (workflow activity-core:manual:t.job:", `<pre id="stdout">hello`+"\n</pre>", "succeeded")
	// The flash shows once.
	admin.get("/ui/runs")
	if strings.Contains(admin.body, `id="flash"`) {
		t.Error("flash shown twice")
	}
	admin.get("/ui/runs")
	admin.expect(http.StatusOK, "t.job")
}

func TestEscaping(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{})
	const evil = `<script>document.title="pwned"</script>`
	putDefinitions(t, e.st, e.dir, fmt.Sprintf("id: t.xss\ndescription: '%s'\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'echo \"%s\"'}\n", evil, strings.ReplaceAll(evil, `"`, `\"`)))
	ctx := context.Background()
	code := 0
	_, err := e.st.CreateRun(ctx, store.Run{ID: "r-xss", DefinitionID: "t.xss", Trigger: store.RunTriggerEvent, Status: store.RunFailed,
		TriggerDetail: json.RawMessage(`{"event":{"payload":{"x":"<img src=x onerror=alert(1)>"}}}`), ContextSnapshot: json.RawMessage(`{"hub":"</pre><script>1</script>"}`),
		RuleOutcome: json.RawMessage(`{"passed":false,"failed_index":0,"failed_expression":"a == '<b>'","expressions":[{"expression":"a == '<b>'","result":false}]}`),
		ExitCode:    &code, Stdout: evil + "\x00\xff", Stderr: "<b>bold</b>", Error: "<i>x</i>"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login(adminToken)
	for _, path := range []string{"/ui/runs/r-xss", "/ui/definitions/t.xss", "/ui/definitions", "/ui/runs"} {
		b.get(path)
		b.expect(http.StatusOK)
		for _, raw := range []string{"<script>document", "<img src=x", "<b>bold", "<i>x", "</pre><script>"} {
			if strings.Contains(b.body, raw) {
				t.Errorf("%s renders %q unescaped", path, raw)
			}
		}
	}
	b.get("/ui/runs/r-xss")
	b.expect(http.StatusOK, html.EscapeString(evil)+"\uFFFD\uFFFD", "&lt;b&gt;bold&lt;/b&gt;", "&lt;img src=x onerror=alert(1)&gt;", "a == &#39;&lt;b&gt;&#39;")
	b.get("/ui/definitions/t.xss")
	b.expect(http.StatusOK, "&lt;script&gt;document.title=")
}

func TestDefinitionsFiltersAndPagination(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{DefinitionsPageSize: 10})
	var a, b []string
	for i := range 23 {
		a = append(a, fmt.Sprintf("id: t.cron-%02d\nenabled: %v\ntrigger: {trigger_type: cron, cron_expression: '0 9 * * *', timezone: Europe/Berlin}\ninstruction: {kind: shell, cmd: 'true'}\n", i, i%2 == 0))
	}
	for i := range 4 {
		b = append(b, fmt.Sprintf("id: t.event-%02d\ntrigger: {trigger_type: event, event_type: org.x.%d}\ninstruction: {kind: shell, cmd: 'true'}\n", i, i))
	}
	b = append(b, "id: t.once\ntrigger: {trigger_type: once, run_at: '2026-04-01T10:00:00Z'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	putDefinitions(t, e.st, "/defs/a", a...)
	putDefinitions(t, e.st, "/defs/b", b...)
	ctx := context.Background()
	if _, err := e.st.SetOperatorPause(ctx, store.OperatorPause{DefinitionID: "t.cron-00", Note: "disk <migration>", Until: ptr(e.now.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	code := 1
	if _, err := e.st.CreateRun(ctx, store.Run{ID: "r-1", DefinitionID: "t.cron-02", Trigger: store.RunTriggerCron, Status: store.RunFailed, ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	br := e.browser()
	br.login(adminToken)

	rows := func() []string {
		var ids []string
		for _, m := range regexp.MustCompile(`<tr id="def-([^"]+)">`).FindAllStringSubmatch(br.body, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	br.get("/ui/definitions")
	br.expect(http.StatusOK, "10 definitions on this page", `rel="next"`,
		"paused by operator", "disk &lt;migration&gt;", "until 2026-03-28 13:00:00Z",
		"paused by sync", `class="run st-failed" href="/ui/runs/r-1"`)
	if got := rows(); len(got) != 10 || got[0] != "t.cron-00" || strings.Contains(br.body, `rel="prev"`) {
		t.Fatalf("page 1 rows %v (the first page has no previous)", got)
	}
	// Next fires of an enabled, unpaused Berlin cron: in CET, then CEST
	// after the change on 2026-03-29, with the UTC times beside them.
	row := br.body[strings.Index(br.body, `<tr id="def-t.cron-02">`):]
	row = row[:strings.Index(row, "</tr>")]
	for _, want := range []string{
		"Sun 2026-03-29 09:00 CEST <span class=\"utc\">· 2026-03-29 07:00:00Z",
		"Thu 2026-04-02 09:00 CEST <span class=\"utc\">· 2026-04-02 07:00:00Z",
	} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q:\n%s", want, row)
		}
	}
	if n := strings.Count(row, "<li>"); n != 5 {
		t.Errorf("%d fires, want 5", n)
	}
	// Next, next, then previous: pages by cursor, in id order.
	br.get(br.link("next"))
	page2 := rows()
	br.expect(http.StatusOK, `rel="prev"`, `rel="first"`, `rel="next"`)
	if len(page2) != 10 || page2[0] != "t.cron-10" {
		t.Fatalf("page 2 rows %v", page2)
	}
	br.get(br.link("next"))
	br.expect(http.StatusOK, "8 definitions on this page", `rel="prev"`)
	if got := rows(); len(got) != 8 || got[7] != "t.once" || strings.Contains(br.body, `rel="next"`) {
		t.Fatalf("page 3 rows %v (the last page has no next)", got)
	}
	br.get(br.link("prev"))
	if got := rows(); !slices.Equal(got, page2) {
		t.Fatalf("back from page 3: %v, want %v", got, page2)
	}

	br.get("/ui/definitions?trigger_type=event")
	br.expect(http.StatusOK, "4 definitions on this page")
	br.get("/ui/definitions?trigger_type=cron&enabled=false")
	br.expect(http.StatusOK, "10 definitions on this page")
	if next := br.link("next"); !strings.Contains(next, "enabled=false") || !strings.Contains(next, "trigger_type=cron") {
		t.Fatalf("next link %q drops the filters", next)
	}
	br.get(br.link("next"))
	br.expect(http.StatusOK, "1 definition on this page")
	br.get("/ui/definitions?source=%2Fdefs%2Fb")
	br.expect(http.StatusOK, "5 definitions on this page", `<option value="/defs/b" selected>`, `<option value="/defs/a">`)
	br.get("/ui/definitions?trigger_type=once")
	br.expect(http.StatusOK, "1 definition on this page", "Wed 2026-04-01 10:00 UTC")

	for q, msg := range map[string]string{
		"trigger_type=hourly": "trigger_type=&#34;hourly&#34; is not one of cron, event, once",
		"enabled=maybe":       "enabled=&#34;maybe&#34; is not a boolean",
		"after=garbage":       "this page&#39;s cursor (after=&#34;garbage&#34;",
		"before=x&after=y":    "after and before are both set",
	} {
		br.get("/ui/definitions?" + q)
		br.expect(http.StatusBadRequest, msg)
	}
}

// link returns the href of the page's link with the given rel.
func (b *browser) link(rel string) string {
	b.e.t.Helper()
	m := regexp.MustCompile(`<a href="([^"]+)" rel="` + rel + `">`).FindStringSubmatch(b.body)
	if m == nil {
		b.e.t.Fatalf("no %s link:\n%s", rel, b.body)
	}
	return html.UnescapeString(m[1])
}

func ptr[T any](v T) *T { return &v }

func TestDefinitionPagePauseResume(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{})
	putDefinitions(t, e.st, e.dir,
		"id: t.job\ndescription: nightly\ntrigger: {trigger_type: cron, cron_expression: '30 2 * * *', timezone: America/New_York}\ninstruction: {kind: shell, cmd: 'echo hi', env: {A: 'x: y'}}\n",
		"id: t.ev\ntrigger: {trigger_type: event, event_type: org.x}\ninstruction: {kind: shell, cmd: 'true'}\n")
	// A second version.
	putDefinitions(t, e.st, e.dir, "id: t.job\ndescription: nightly v2\ntrigger: {trigger_type: cron, cron_expression: '30 2 * * *', timezone: America/New_York}\ninstruction: {kind: shell, cmd: 'echo hi', env: {A: 'x: y'}}\n")
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/definitions/t.job")
	b.expect(http.StatusOK, "version 2", "id: t.job\ndescription: nightly v2\nenabled: true\ntrigger:\n  trigger_type: cron\n  cron_expression: 30 2 * * *\n  timezone: America/New_York",
		"A: &#39;x: y&#39;", `href="/ui/definitions/t.job?version=1">v1</a>`, "Next fires (America/New_York)", "Sun 2026-03-29 02:30 EDT", "2026-03-29 06:30:00Z", `id="run-now"`)
	b.get("/ui/definitions/t.job?version=1")
	b.expect(http.StatusOK, "version 1 (current is 2)", "description: nightly\n")
	b.get("/ui/definitions/t.job?version=3")
	b.expect(http.StatusBadRequest, "version=&#34;3&#34; must be a number from 1 to 2")

	csrf := b.csrf()
	b.post("/ui/definitions/t.job/pause", url.Values{"csrf": {csrf}, "note": {"disk migration"}, "until": {"yesterday"}})
	b.expect(http.StatusBadRequest, "until &#34;yesterday&#34; is not a time")
	b.post("/ui/definitions/t.job/pause", url.Values{"csrf": {csrf}, "note": {"disk migration"}, "until": {"2026-03-01T00:00"}})
	b.expect(http.StatusBadRequest, "is not in the future")
	b.post("/ui/definitions/t.job/pause", url.Values{"csrf": {csrf}, "note": {"disk migration"}, "until": {"2h"}})
	if b.status != http.StatusSeeOther || b.loc != "/ui/definitions/t.job" {
		t.Fatalf("pause: %d %q %s", b.status, b.loc, b.body)
	}
	b.get(b.loc)
	b.expect(http.StatusOK, "Paused t.job: disk migration (until 2026-03-28 14:00:00Z).", `<span class="note" id="pause-note">disk migration</span>`,
		"paused by operator", "Paused: these fires will not run")
	if e.sched.paused["t.job"] != "disk migration" {
		t.Errorf("schedules got %v", e.sched.paused)
	}
	b.get("/ui/definitions?trigger_type=cron")
	b.expect(http.StatusOK, `<div class="note">disk migration</div>`)
	b.post("/ui/definitions/t.job/resume", url.Values{"csrf": {csrf}})
	b.get("/ui/definitions/t.job")
	b.expect(http.StatusOK, "Resumed t.job.", ">active</span>")

	b.post("/ui/definitions/t.ev/pause", url.Values{"csrf": {csrf}, "note": {"x"}})
	b.expect(http.StatusBadRequest, "event-triggered")
	b.post("/ui/definitions/nope/run", url.Values{"csrf": {csrf}})
	b.expect(http.StatusNotFound)
}

func TestParseUntil(t *testing.T) {
	now := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"":                          "",
		"90m":                       "2026-03-28T13:30:00Z",
		"2026-12-01T06:00":          "2026-12-01T06:00:00Z",
		"2026-12-01 06:00":          "2026-12-01T06:00:00Z",
		"2026-12-01T06:00:00+01:00": "2026-12-01T05:00:00Z",
		"2026-12-01":                "2026-12-01T00:00:00Z",
	} {
		got, err := parseUntil(in, now)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got != nil {
			if s := got.UTC().Format(time.RFC3339); s != want {
				t.Errorf("%q = %s, want %s", in, s, want)
			}
		} else if want != "" {
			t.Errorf("%q = nil, want %s", in, want)
		}
	}
	for _, bad := range []string{"-1h", "tomorrow", "2026-13-01"} {
		if _, err := parseUntil(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRunsPage(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{RunsPageSize: 20})
	putDefinitions(t, e.st, e.dir, "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n",
		"id: t.b\ntrigger: {trigger_type: cron, cron_expression: '0 4 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	ctx := context.Background()
	for i := range 30 {
		st, def := store.RunSucceeded, "t.a"
		if i%3 == 0 {
			st, def = store.RunSkipped, "t.b"
		}
		if _, err := e.st.CreateRun(ctx, store.Run{ID: fmt.Sprintf("r-%02d", i), DefinitionID: def, Trigger: store.RunTriggerCron, Status: st, SkipReason: "rule false: x == 1"}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.login(adminToken)
	runIDs := func() []string {
		var ids []string
		for _, m := range regexp.MustCompile(`<td><a href="/ui/runs/([^"]+)">`).FindAllStringSubmatch(b.body, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	b.get("/ui/runs")
	b.expect(http.StatusOK, `rel="next"`)
	if ids := runIDs(); len(ids) != 20 || ids[0] != "r-29" {
		t.Fatalf("first page %v", ids)
	}
	next := html.UnescapeString(regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(b.body)[1])
	b.get(next)
	b.expect(http.StatusOK, "← newest")
	if ids := runIDs(); len(ids) != 10 || ids[9] != "r-00" {
		t.Fatalf("second page %v", ids)
	}
	b.get("/ui/runs?status=skipped")
	if ids := runIDs(); len(ids) != 10 {
		t.Fatalf("skipped: %v", ids)
	}
	b.expect(http.StatusOK, "rule false: x == 1", `<option value="skipped" selected>`)
	b.get("/ui/runs?definition=t.a&status=skipped")
	if ids := runIDs(); len(ids) != 0 {
		t.Fatalf("t.a skipped: %v", ids)
	}
	b.get("/ui/runs?status=exploded")
	b.expect(http.StatusBadRequest, "is not one of pending")
	b.get("/ui/runs?before=garbage")
	b.expect(http.StatusBadRequest)
	b.get("/ui/runs/r-nope")
	b.expect(http.StatusNotFound, "not found")
	started := "/ui/runs/r-nope?started=" + strconv.FormatInt(e.clock().Unix(), 10)
	b.get(started)
	b.expect(http.StatusOK, "Starting…", `http-equiv="refresh"`)
	// A run that is never recorded stops reloading after a minute.
	e.advance(2 * time.Minute)
	b.get(started)
	b.expect(http.StatusNotFound, "not found")
	b.get("/ui/runs/r-01")
	b.expect(http.StatusOK, "succeeded")
	if strings.Contains(b.body, `http-equiv="refresh"`) {
		t.Error("a finished run's page reloads itself")
	}
	b.get("/ui/nope")
	b.expect(http.StatusNotFound, "no page GET /ui/nope")
}

func TestSyncPlanAndSyncNow(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{})
	e.write("a.yaml", "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("b.yaml", "id: t.b\ntrigger: {trigger_type: cron, cron_expression: '0 4 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("bad.yaml", "id: t.bad\ntrigger: {trigger_type: cron, cron_expression: '0 4 * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/sync")
	b.expect(http.StatusOK, "No sync has run yet.", `id="plan"`, `id="sync-now"`)
	csrf := b.csrf()
	b.post("/ui/sync", url.Values{"csrf": {csrf}, "mode": {"plan"}, "definitions": {"1"}, "schedules": {"1"}})
	b.expect(http.StatusOK, "Plan (nothing was changed)", `<tr class="c-definitions"><th>definitions</th><td class="n-scanned">3</td><td class="n-upserted">2</td>`,
		`<td class="n-invalid">1</td>`, "bad.yaml", "No sync has run yet.")
	if defs, _ := e.st.ListDefinitions(context.Background(), store.DefinitionFilter{}); len(defs) != 0 {
		t.Fatalf("a plan stored %d definitions", len(defs))
	}
	b.post("/ui/sync", url.Values{"csrf": {csrf}, "mode": {"sync"}, "definitions": {"1"}, "schedules": {"1"}})
	if b.status != http.StatusSeeOther {
		t.Fatalf("sync now: %d %s", b.status, b.body)
	}
	b.get("/ui/sync")
	b.expect(http.StatusOK, "Sync ", " done: 1 error(s)", `id="last-result"`, `<td class="n-upserted">2</td>`, "cron_expression")
	b.post("/ui/sync", url.Values{"csrf": {csrf}, "mode": {"plan"}})
	b.expect(http.StatusBadRequest, "choose at least one stage")
	b.post("/ui/sync", url.Values{"csrf": {csrf}, "mode": {"explode"}, "definitions": {"1"}})
	b.expect(http.StatusBadRequest, "use the Plan or Sync now button")
}

func TestExplainPage(t *testing.T) {
	e := newEnv(t, adminToken, readToken, Config{})
	e.write("on-push.yaml", "id: t.on-push\ntrigger: {trigger_type: event, event_type: org.repo.*, filters: {repo_slug: 'coulomb/*'}}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("other.yaml", "id: t.other\ntrigger: {trigger_type: event, event_type: org.repo.*, filters: {repo_slug: 'elsewhere/*'}}\ninstruction: {kind: shell, cmd: 'true'}\n")
	b := e.browser()
	b.login(adminToken)
	csrf := b.csrf()
	b.post("/ui/sync", url.Values{"csrf": {csrf}, "mode": {"sync"}, "definitions": {"1"}})

	r := e.browser()
	r.login(readToken) // explain only reads
	csrf = r.csrf()
	r.get("/ui/events")
	r.expect(http.StatusOK, `id="explain"`)
	r.post("/ui/events", url.Values{"csrf": {csrf}, "subject": {"org.repo.pushed"}, "payload": {`{"repo_slug":"coulomb/<x>"}`}})
	r.expect(http.StatusOK, "1 of 2 event definitions would run", `<tr id="ex-t.on-push">`, "matched", "coulomb/&lt;x&gt;", "(filter)")
	r.post("/ui/events", url.Values{"csrf": {csrf}, "subject": {"org.repo.pushed"}, "payload": {`[1]`}})
	r.expect(http.StatusBadRequest, `id="explain-error"`, "payload")
	r.post("/ui/events", url.Values{"csrf": {csrf}, "subject": {""}, "payload": {`{}`}})
	r.expect(http.StatusBadRequest, "subject is required")
}

// TestLoginOverSessionEndsIt: signing in again in the same browser ends
// the session the old cookie held, so it cannot be replayed.
func TestLoginOverSessionEndsIt(t *testing.T) {
	e := newEnv(t, adminToken, readToken, Config{})
	b := e.browser()
	b.login(adminToken)
	u := mustURL(e.srv.URL + "/ui/")
	var old *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			old = c
		}
	}
	if old == nil {
		t.Fatal("no session cookie after sign-in")
	}
	b.login(readToken)
	replay := e.browser()
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: old.Value, Path: "/ui/"}})
	replay.get("/ui/runs")
	if replay.status != http.StatusSeeOther || !strings.HasPrefix(replay.loc, "/ui/login") {
		t.Fatalf("the replaced session still works: %d %q", replay.status, replay.loc)
	}
	b.get("/ui/runs")
	b.expect(http.StatusOK)
}
