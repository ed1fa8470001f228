// Package adminapi is activity-core's HTTP API (docs/api.md): sync,
// definitions, runs, run control, alerting reads, health and metrics, and
// the methods the dashboard calls, so both check the same roles and write
// the same audit. Handlers are plain net/http on Go's pattern mux; every
// error is {"error": {"code", "message"}} with its status chosen in one
// table, and the OpenAPI document it serves is checked against the
// handlers by its tests.
package adminapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
)

// Limits.
const (
	// MaxBodyBytes bounds request bodies: nothing the API takes is large.
	MaxBodyBytes = 1 << 20
	// recentRuns is how many runs a definition's detail shows.
	recentRuns = 10
)

// Syncer runs syncs.
type Syncer interface {
	Run(ctx context.Context, opts syncer.Options) (*syncer.Result, error)
}

// ScheduleInfo is a definition's schedule as Temporal has it.
type ScheduleInfo struct {
	ScheduleID string `json:"schedule_id"`
	Exists     bool   `json:"exists"`
	Paused     bool   `json:"paused"`
	Note       string `json:"note,omitempty"`
	// PausedBy is "operator", "sync" or empty.
	PausedBy       string      `json:"paused_by,omitempty"`
	Until          *time.Time  `json:"until,omitempty"`
	NextFires      []time.Time `json:"next_fires"`
	RecentFires    []time.Time `json:"recent_fires"`
	OverlapSkipped int64       `json:"overlap_skipped"`
	MissedCatchup  int64       `json:"missed_catchup_window"`
	// Pending says how Temporal and the store disagree (an operator
	// pause recorded that Temporal's schedule does not have yet); Paused
	// is Temporal's own state. The next sync repairs it.
	Pending string `json:"pending,omitempty"`
}

// Schedules controls and describes schedules. One that also has
// States(ctx) (map[string]*ScheduleInfo, error), every managed schedule by
// definition id from one list pass, lets GET /api/v1/definitions show what
// Temporal has (see scheduleStates).
type schedules interface {
	Pause(ctx context.Context, definitionID, note string, until *time.Time) error
	Resume(ctx context.Context, definitionID string) error
	Describe(ctx context.Context, definitionID string) (*ScheduleInfo, error)
}

// scheduleStates is the optional list pass of a Schedules.
type scheduleStates interface {
	States(ctx context.Context) (map[string]*ScheduleInfo, error)
}

// RunStarted answers a manual run.
type RunStarted struct {
	RunID         string `json:"run_id"`
	WorkflowID    string `json:"workflow_id"`
	WorkflowRunID string `json:"workflow_run_id"`
}

// Runner starts manual runs on the definition's pool.
type runner interface {
	StartRun(ctx context.Context, req RunRequest) (RunStarted, error)
}

// Check is one dependency /readyz looks at.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Config holds the API's dependencies. Syncer, Schedules and Runner may be
// nil in a process that lacks them; their endpoints then answer 503.
type Config struct {
	Store     store.Store
	Syncer    Syncer
	Schedules schedules
	Runner    runner
	Output    OutputViewer // live output (docs/run-control.md#live-output); nil: stored tails only
	// Explain answers, per event definition, whether an event would match
	// and what said no (the router's index); nil answers 503.
	Explain func(ctx context.Context, subject string, payload json.RawMessage) (any, error)
	// AdminToken and ReadToken are the simple tokens, principals admin
	// (role admin) and read (role read); TokensFile names the file of
	// named tokens (docs/run-control.md#who-did-what), re-read when it
	// changes.
	AdminToken string
	ReadToken  string
	TokensFile string
	// Canceler, Backfiller and Pools are Temporal's side of run control
	// (internal/app); nil answers 503 on their endpoints (Pools nil: runs
	// are never shown waiting).
	Canceler   canceler
	Backfiller backfiller
	Pools      Pools
	// GitHooks answers POST /hooks/git/{source}, the push webhooks of
	// git sources (docs/git-sources.md#webhooks); it checks their
	// signatures itself. Nil answers 404.
	GitHooks http.Handler
	Ready    []Check
	Metrics  *Metrics
	Logger   *slog.Logger
	Now      func() time.Time
	// UI, when set, builds the web dashboard served under /ui/. It is
	// given the server so that the dashboard's actions go through the
	// same checks as the API's (Sync, RunDefinition, PauseDefinition, …).
	UI func(api *Server) (http.Handler, error)
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	authLog *authLog
	refused *refusalLimit
	viewers viewerCounts
	tokens  *tokens
	waiting *waitingCache
	mux     *http.ServeMux
	syncing atomic.Int32
}

// New builds the API. Only /healthz, /readyz and /metrics are open; the rest
// needs a token.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("adminapi: Config.Store is required")
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), mux: http.NewServeMux()}
	s.authLog = newAuthLog(s.log, cfg.Now)
	s.refused = newRefusalLimit()
	var err error
	if s.tokens, err = newTokens(cfg.AdminToken, cfg.ReadToken, cfg.TokensFile, s.log, cfg.Now); err != nil {
		return nil, fmt.Errorf("adminapi: %w", err)
	}
	s.waiting = newWaitingCache(cfg.Pools, cfg.Now)
	s.routes()
	if cfg.UI != nil {
		h, err := cfg.UI(s)
		if err != nil {
			return nil, fmt.Errorf("adminapi: building the dashboard: %w", err)
		}
		s.mux.Handle("/ui/", h)
	}
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Git push webhooks are bounded by Config.GitHooks itself, with a
	// larger bound (docs/git-sources.md#webhooks).
	if !strings.HasPrefix(r.URL.Path, "/hooks/git/") {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	}
	s.mux.ServeHTTP(w, r)
}

// route is one endpoint; the table is also what the OpenAPI test checks.
// need is the role it takes ("" for open endpoints); action, for a
// mutating endpoint, is what its audit records say (a refusal for lack of
// role is audited too).
type route struct {
	method, path string
	need         Role
	action       string
	handler      func(w http.ResponseWriter, r *http.Request) error
}

// open marks the endpoints that take no token.
const open Role = ""

func (s *Server) table() []route {
	return []route{
		{"GET", "/healthz", open, "", s.healthz},
		{"GET", "/readyz", open, "", s.readyz},
		{"GET", "/api/openapi.json", open, "", s.openapi},
		{"POST", "/admin/sync", RoleAdmin, store.AuditSync, s.postSync},
		{"POST", "/hooks/git/{source}", open, "", s.gitHook},
		{"GET", "/admin/sync/status", RoleAdmin, "", s.syncStatus},
		{"GET", "/api/v1/definitions", RoleRead, "", s.listDefinitions},
		{"GET", "/api/v1/definitions/{id}", RoleRead, "", s.getDefinition},
		{"POST", "/api/v1/definitions/{id}/run", RoleOperate, store.AuditRun, s.runDefinition},
		{"POST", "/api/v1/definitions/{id}/pause", RoleOperate, store.AuditPause, s.pauseDefinition},
		{"POST", "/api/v1/definitions/{id}/resume", RoleOperate, store.AuditResume, s.resumeDefinition},
		{"POST", "/api/v1/definitions/{id}/backfill", RoleOperate, store.AuditBackfill, s.backfillDefinition},
		{"GET", "/api/v1/definitions/{id}/timeline", RoleRead, "", s.getTimeline},
		{"GET", "/api/v1/problems", RoleRead, "", s.listProblems},
		{"GET", "/api/v1/notifications", RoleRead, "", s.listNotifications},
		{"GET", "/api/v1/runs", RoleRead, "", s.listRuns},
		{"GET", "/api/v1/runs/{id}", RoleRead, "", s.getRun},
		{"POST", "/api/v1/runs/{id}/rerun", RoleOperate, store.AuditRun, s.rerunRun},
		{"POST", "/api/v1/runs/{id}/cancel", RoleOperate, store.AuditCancel, s.cancelRun},
		{"GET", "/api/v1/runs/{id}/output", RoleRead, "", s.getRunOutput},
		{"GET", "/api/v1/audit", RoleRead, "", s.listAudit},
		{"GET", "/api/v1/workers", RoleRead, "", s.listWorkers},
		{"POST", "/api/v1/events/explain", RoleRead, "", s.explain},
	}
}

func (s *Server) routes() {
	for _, rt := range s.table() {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	s.mux.Handle("GET /metrics", s.cfg.Metrics.Handler())
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %s %s; see GET /api/openapi.json", r.Method, r.URL.Path))
	})
}

func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if rt.need != open {
			p, err := s.authorize(r, rt)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			r = r.WithContext(WithPrincipal(r.Context(), p))
		}
		var mark *atomic.Bool
		if rt.action != "" {
			var ctx context.Context
			ctx, mark = withAuditMark(r.Context())
			r = r.WithContext(ctx)
		}
		err := rt.handler(w, r)
		if mark != nil && !mark.Load() {
			// Refused before it reached its method (a bad body): still
			// one audit record per mutating call.
			s.audit(r.Context(), routeAudit(rt, r), err)
		}
		if err != nil {
			s.fail(w, r, err)
		}
		s.cfg.Metrics.observeHTTP(rt.method+" "+rt.path, time.Since(start))
	})
}

// apiError is an error with its HTTP status and a stable code.
type apiError struct {
	status int
	code   string
	msg    string
	// reason is why a token was refused (see authFailed).
	reason string
}

func (e *apiError) Error() string { return e.msg }

// fieldsError is a 400 that names each bad field of the request, as
// {"error": {…, "fields": {"depth": "want an integer, got \"x\""}}}.
type fieldsError struct {
	apiError
	fields map[string]string
}

func (e *fieldsError) Unwrap() error { return &e.apiError }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...), ""}
}

func unavailable(what string) error {
	return &apiError{http.StatusServiceUnavailable, "unavailable", what + " is not available in this process (check its --roles)", ""}
}

// ErrorStatus is the one table from error kinds to statuses: it returns
// the HTTP status, the stable code and the message the API would answer
// err with, so the dashboard reports errors the same way.
func ErrorStatus(err error) (int, string, string) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.code, ae.msg
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not_found", err.Error()
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest, "bad_request", err.Error()
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "conflict", err.Error()
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable", err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout", err.Error()
	}
	return http.StatusInternalServerError, "internal", err.Error()
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := ErrorStatus(err)
	if status >= 500 {
		s.log.Error("adminapi: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	var fe *fieldsError
	if errors.As(err, &fe) {
		writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "fields": fe.fields}})
		return
	}
	writeError(w, status, code, msg)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// writeJSON answers v as compact JSON. It never indents: stored documents
// (json.RawMessage) go out as stored, so a response's size follows what was
// stored and not its shape (indenting a deeply nested payload multiplies it
// by its depth). See docs/security.md#responses.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeHealthy(w, nil)
	return nil
}

// writeHealthy is liveness: the process serves.
func writeHealthy(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	writeReady(w, r, append([]Check{{Name: "store", Check: s.cfg.Store.Ping}}, s.cfg.Ready...))
	return nil
}

// OpsHandler serves only GET /healthz, /readyz (running checks) and
// /metrics: what a process without the api role (a worker or a router)
// exposes to its supervisor and to Prometheus. It holds no token and
// serves no data beyond metrics.
func OpsHandler(metrics *Metrics, checks []Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", writeHealthy)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { writeReady(w, r, checks) })
	mux.Handle("GET /metrics", metrics.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "this is a worker or router process: it serves only /healthz, /readyz and /metrics; the API is on the api role")
	})
	return mux
}

// writeReady runs the checks (3 s in all) and answers 200 when every one
// passes, else 503, with each check's outcome.
func writeReady(w http.ResponseWriter, r *http.Request, all []Check) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	for _, c := range all {
		if err := c.Check(ctx); err != nil {
			checks[c.Name] = err.Error()
			ok = false
		} else {
			checks[c.Name] = "ok"
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ok, "checks": checks})
}

// parseBool reads an optional boolean query parameter.
func parseBool(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("query parameter %s=%q is not a boolean (true or false)", name, v)
	}
	return b, nil
}

func (s *Server) postSync(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Syncer == nil {
		return unavailable("sync")
	}
	var opts syncer.Options
	var err error
	def := syncer.DefaultOptions()
	for _, p := range []struct {
		name string
		dst  *bool
		def  bool
	}{
		{"definitions", &opts.Definitions, def.Definitions},
		{"schedules", &opts.Schedules, def.Schedules},
		{"event_types", &opts.EventTypes, def.EventTypes},
		{"dry_run", &opts.DryRun, false},
	} {
		if *p.dst, err = parseBool(r, p.name, p.def); err != nil {
			return err
		}
	}
	for k := range r.URL.Query() {
		switch k {
		case "definitions", "schedules", "event_types", "dry_run", "source", "ref":
		default:
			return badRequest("unknown query parameter %q (allowed: definitions, schedules, event_types, dry_run, source, ref)", k)
		}
	}
	// One source, and a pin or "follow" (docs/git-sources.md#syncing-one-source).
	opts.Source, opts.Ref = r.URL.Query().Get("source"), r.URL.Query().Get("ref")
	if opts.Ref != "" && opts.Source == "" {
		return badRequest("ref needs source: pin one source at a time (?source=NAME&ref=SHA, or ref=follow to unpin)")
	}
	res, err := s.Sync(r.Context(), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// Sync runs a sync the way POST /admin/sync does: it counts as running in
// the sync status and its outcome goes to /metrics. The dashboard's "plan"
// and "sync now" buttons call it.
func (s *Server) Sync(ctx context.Context, opts syncer.Options) (res *syncer.Result, err error) {
	a := auditEntry{action: store.AuditSync, detail: syncAuditDetail(opts)}
	if _, err := s.require(ctx, RoleAdmin, a); err != nil {
		return nil, err
	}
	defer func() {
		if res != nil {
			d := syncAuditDetail(opts)
			d["sync_id"], d["definitions"], d["errors"] = res.SyncID, res.Definitions, len(res.Errors)+res.ErrorsDropped
			a.detail = d
		}
		s.audit(ctx, a, err)
	}()
	if s.cfg.Syncer == nil {
		return nil, unavailable("sync")
	}
	s.syncing.Add(1)
	defer s.syncing.Add(-1)
	res, err = s.cfg.Syncer.Run(ctx, opts)
	var oe *syncer.OptionsError
	if errors.As(err, &oe) {
		return nil, badRequest("%s", oe.Msg)
	}
	if err != nil {
		s.cfg.Metrics.syncDone(nil, err, s.cfg.Now())
		return nil, &apiError{http.StatusServiceUnavailable, "sync_failed", err.Error(), ""}
	}
	s.cfg.Metrics.syncDone(res, nil, s.cfg.Now())
	return res, nil
}

// syncAuditDetail is what the audit log keeps of a sync request.
func syncAuditDetail(opts syncer.Options) map[string]any {
	d := map[string]any{"dry_run": opts.DryRun}
	if opts.Source != "" {
		d["source"] = opts.Source
	}
	if opts.Ref != "" {
		d["ref"] = opts.Ref
	}
	return d
}

// SyncStatus is the answer of GET /admin/sync/status.
type SyncStatus struct {
	Running bool `json:"running"`
	// LastResult is the last sync's result document (not dry runs), null
	// before the first.
	LastResult    json.RawMessage `json:"last_result"`
	LastSuccessAt *time.Time      `json:"last_success_at"`
	LastError     *syncFailure    `json:"last_error"`
	// Sources is each source's last sync: its commit, pin, last success
	// and last error (docs/git-sources.md#status).
	Sources []store.SourceState `json:"sources"`
}

// SyncFailure is the last sync when it met errors.
type syncFailure struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
	SyncID  string    `json:"sync_id"`
}

// SyncStatus reports whether a sync is running, the last result, the last
// success time and the last error, as GET /admin/sync/status does.
func (s *Server) SyncStatus(ctx context.Context) (*SyncStatus, error) {
	out := &SyncStatus{Running: s.syncing.Load() > 0}
	last, err := s.cfg.Store.LastSyncResult(ctx)
	switch {
	case err == nil:
		out.LastResult = last.Result
		if !last.OK {
			out.LastError = &syncFailure{At: last.FinishedAt, Message: last.ErrorSummary, SyncID: last.SyncID}
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if ok, err := s.cfg.Store.LastSuccessfulSync(ctx); err == nil {
		out.LastSuccessAt = &ok.FinishedAt
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	out.Sources = []store.SourceState{}
	if ss, ok := s.cfg.Store.(store.SourceStore); ok {
		states, err := ss.ListSourceStates(ctx)
		if err != nil {
			return nil, err
		}
		out.Sources = append(out.Sources, states...)
	}
	return out, nil
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) error {
	out, err := s.SyncStatus(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// definitionView is a definition with its schedule state, health and
// recent runs.
type definitionView struct {
	store.Definition
	Schedule    *ScheduleInfo           `json:"schedule,omitempty"`
	ScheduleErr string                  `json:"schedule_error,omitempty"`
	Health      *store.DefinitionHealth `json:"health,omitempty"`
	RecentRuns  []store.Run             `json:"recent_runs,omitempty"`
}

func (s *Server) listDefinitions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.DefinitionFilter{SourceDir: q.Get("source")}
	if t := q.Get("trigger_type"); t != "" {
		f.TriggerType = store.TriggerType(t)
		if !f.TriggerType.Valid() {
			return badRequest("trigger_type=%q is not one of cron, event, once", t)
		}
	}
	if q.Get("enabled") != "" {
		b, err := parseBool(r, "enabled", true)
		if err != nil {
			return err
		}
		f.Enabled = &b
	}
	var err error
	if f.IncludeRemoved, err = parseBool(r, "include_removed", false); err != nil {
		return err
	}
	pf := store.DefinitionPageFilter{DefinitionFilter: f, After: q.Get("after"), Before: q.Get("before")}
	if pf.Limit, err = parseLimit(r, store.DefinitionListLimitMax); err != nil {
		return err
	}
	if pf.After != "" && pf.Before != "" {
		return badRequest("after and before are both set: pass one, the next or the prev of the page you came from")
	}
	healthFilter, err := ParseHealthFilter(q.Get("health"))
	if err != nil {
		return err
	}
	page, health, err := s.DefinitionsPage(r.Context(), pf, healthFilter)
	if err != nil {
		return cursorError(err, q, "after", "before")
	}
	rows, schedErr, err := s.definitionStates(r.Context(), page.Definitions)
	if err != nil {
		return err
	}
	for i := range rows {
		if h, ok := health[rows[i].ID]; ok {
			rows[i].Health = &h
		}
	}
	out := map[string]any{"definitions": rows}
	if page.Next != "" {
		out["next"] = page.Next
	}
	if page.Prev != "" {
		out["prev"] = page.Prev
	}
	if schedErr != nil {
		out["schedule_error"] = schedErr.Error()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// parseLimit reads the limit query parameter of a list: 0 (the store's
// default) when absent.
func parseLimit(r *http.Request, maxLimit int) (int, error) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest("limit=%q must be a number from 1 to %d", l[:min(len(l), maxEcho)], maxLimit)
	}
	return n, nil
}

// maxEcho is how much of a bad query value an error quotes back.
const maxEcho = 100

// cursorError names the cursor parameter when the store refused a list
// because its cursor does not parse; other errors pass unchanged.
func cursorError(err error, q url.Values, params ...string) error {
	if !errors.Is(err, store.ErrInvalid) {
		return err
	}
	for _, p := range params {
		if v := q.Get(p); v != "" {
			return badRequest("%s=%q is not a cursor of this list: pass the cursor a page of it returned, as is, or leave %s out for the first page", p, v[:min(len(v), maxEcho)], p)
		}
	}
	return err
}

func (s *Server) getDefinition(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	def, err := s.cfg.Store.GetDefinition(r.Context(), id)
	if err != nil {
		return err
	}
	view := definitionView{Definition: def}
	if info, err := s.DescribeSchedule(r.Context(), def); err != nil {
		view.ScheduleErr = err.Error()
	} else {
		view.Schedule = info
	}
	page, err := s.cfg.Store.ListRuns(r.Context(), store.RunFilter{DefinitionID: id, Limit: recentRuns})
	if err != nil {
		return err
	}
	view.RecentRuns = page.Runs
	health, err := s.Health(r.Context(), id)
	if err != nil {
		return err
	}
	if h, ok := health[id]; ok {
		view.Health = &h
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

// DescribeSchedule returns a cron or once definition's schedule as
// Temporal has it; nil (and no error) for an event definition or in a
// process without schedules.
func (s *Server) DescribeSchedule(ctx context.Context, def store.Definition) (*ScheduleInfo, error) {
	if s.cfg.Schedules == nil || (def.TriggerType != store.TriggerCron && def.TriggerType != store.TriggerOnce) {
		return nil, nil
	}
	return s.cfg.Schedules.Describe(ctx, def.ID)
}

type pauseRequest struct {
	Note  string     `json:"note"`
	Until *time.Time `json:"until"`
}

func (s *Server) pauseDefinition(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Schedules == nil {
		return unavailable("schedules")
	}
	var req pauseRequest
	if r.ContentLength != 0 {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return badRequest("body must be JSON like {\"note\": \"why\", \"until\": \"2026-12-01T00:00:00Z\"}: %v", err)
		}
	}
	id := r.PathValue("id")
	info, err := s.PauseDefinition(r.Context(), id, req.Note, req.Until)
	if err != nil {
		return err
	}
	// paused is what Temporal has: the pause is recorded either way, and
	// a schedule that does not show it yet carries schedule.pending.
	writeJSON(w, http.StatusOK, map[string]any{"definition_id": id, "paused": info != nil && info.Paused, "note": req.Note, "until": req.Until, "schedule": info})
	return nil
}

// PauseDefinition makes an operator pause as POST …/pause does (until, when
// set, must be in the future; event definitions have nothing to pause) and
// returns the schedule as it is afterwards (nil if it cannot be described).
func (s *Server) PauseDefinition(ctx context.Context, id, note string, until *time.Time) (info *ScheduleInfo, err error) {
	a := auditEntry{action: store.AuditPause, defID: id, note: note}
	if until != nil {
		a.detail = map[string]any{"until": until}
	}
	p, err := s.require(ctx, RoleOperate, a)
	if err != nil {
		return nil, err
	}
	defer func() { s.audit(ctx, a, err) }()
	if s.cfg.Schedules == nil {
		return nil, unavailable("schedules")
	}
	if until != nil && !until.After(s.cfg.Now()) {
		return nil, badRequest("until %s is not in the future", until.Format(time.RFC3339))
	}
	if len(note) > limits.PauseNote {
		return nil, badRequest("note is %d bytes; at most %d (shorten it: a link to a ticket works)", len(note), limits.PauseNote)
	}
	def, err := s.cfg.Store.GetDefinition(ctx, id)
	if err != nil {
		return nil, err
	}
	if def.TriggerType == store.TriggerEvent {
		return nil, badRequest("%s is event-triggered: it has no schedule to pause (disable it in its file instead)", id)
	}
	if pb, ok := s.cfg.Schedules.(pauserBy); ok {
		err = pb.PauseBy(ctx, id, note, p.Name, until)
	} else {
		err = s.cfg.Schedules.Pause(ctx, id, note, until)
	}
	if err != nil {
		return nil, err
	}
	info, _ = s.cfg.Schedules.Describe(ctx, id)
	return info, nil
}

// pauserBy is a Schedules that records who paused (store.OperatorPause.By):
// the API passes the principal's name, so paused_by names a person.
type pauserBy interface {
	PauseBy(ctx context.Context, definitionID, note, by string, until *time.Time) error
}

func (s *Server) resumeDefinition(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	info, err := s.ResumeDefinition(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"definition_id": id, "paused": info != nil && info.Paused, "schedule": info})
	return nil
}

// ResumeDefinition ends an operator pause as POST …/resume does and
// returns the schedule as it is afterwards (nil if it cannot be described).
func (s *Server) ResumeDefinition(ctx context.Context, id string) (info *ScheduleInfo, err error) {
	a := auditEntry{action: store.AuditResume, defID: id}
	if _, err := s.require(ctx, RoleOperate, a); err != nil {
		return nil, err
	}
	defer func() { s.audit(ctx, a, err) }()
	if s.cfg.Schedules == nil {
		return nil, unavailable("schedules")
	}
	if _, err := s.cfg.Store.GetDefinition(ctx, id); err != nil {
		return nil, err
	}
	if err := s.cfg.Schedules.Resume(ctx, id); err != nil {
		return nil, err
	}
	info, _ = s.cfg.Schedules.Describe(ctx, id)
	return info, nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.RunFilter{DefinitionID: q.Get("definition_id"), Before: q.Get("before")}
	if st := q.Get("status"); st != "" {
		f.Status = store.RunStatus(st)
		if !f.Status.Valid() {
			return badRequest("status=%q is not one of pending, running, succeeded, failed, skipped, timed_out, canceled, missed, shadow", st)
		}
	}
	var err error
	if f.Limit, err = parseLimit(r, store.RunListLimitMax); err != nil {
		return err
	}
	page, err := s.cfg.Store.ListRuns(r.Context(), f)
	if err != nil {
		return cursorError(err, q, "before")
	}
	out := map[string]any{"runs": s.runViews(r.Context(), page.Runs)}
	if page.Next != "" {
		out["next"] = page.Next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.cfg.Store.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.runViews(r.Context(), []store.Run{run})[0])
	return nil
}

type explainRequest struct {
	Subject string          `json:"subject"`
	Payload json.RawMessage `json:"payload"`
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Explain == nil {
		return unavailable("explain")
	}
	var req explainRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if _, tokErr := dec.Token(); err == nil && tokErr != io.EOF {
		err = errors.New("data after the JSON object")
	}
	if err != nil {
		return badRequest("body must be JSON like {\"subject\": \"org.repo.commit.pushed\", \"payload\": {\"repo_slug\": \"a/b\"}}: %v", err)
	}
	out, err := s.Explain(r.Context(), req.Subject, req.Payload)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"subject": req.Subject, "definitions": out})
	return nil
}

// Explain answers, per event definition, whether an event with this
// subject and payload would match and what said no, as POST
// /api/v1/events/explain does; an empty payload is {}.
func (s *Server) Explain(ctx context.Context, subject string, payload json.RawMessage) (any, error) {
	if s.cfg.Explain == nil {
		return nil, unavailable("explain")
	}
	if subject == "" {
		return nil, badRequest("subject is required")
	}
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	return s.cfg.Explain(ctx, subject, payload)
}
