// Package app assembles activity-core's roles — api, worker, router,
// detector — from
// its parts and runs them until the context ends. `serve` calls it with the
// operator's engines; `dev` calls it with the embedded ones.
package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/eventbus"
	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/payloadcodec"
	"github.com/coulomb/activity-core/internal/router"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/storeopen"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/ui"
)

// Roles.
const (
	roleAPI    = "api"
	RoleWorker = "worker"
	roleRouter = "router"
	// roleDetector finds missed, stale, late and failing definitions and
	// sends notifications (docs/alerting.md#detector).
	roleDetector = "detector"
)

// AllRoles is every role, as dev runs them.
var AllRoles = []string{roleAPI, RoleWorker, roleRouter, roleDetector}

// Options configure a process.
type Options struct {
	Roles   []string
	Engines config.Engines
	Sync    config.Sync
	HTTP    config.HTTP
	// Secrets is the allow-list of what definitions' ${env:NAME} may read
	// (docs/security.md#secrets).
	Secrets config.Secrets
	// Alerting configures the detector role and its notifications.
	Alerting config.Alerting
	// Transport says whether clear-text connections off loopback are
	// allowed (SMTP, for the detector role).
	Transport config.Transport
	Logger    *slog.Logger
	// TemporalLogLevel is the level of the Temporal SDK's own logs
	// (slog.LevelWarn keeps them quiet).
	TemporalLogLevel slog.Level
	// StartupSyncEventTypes makes the worker's startup sync, best-effort,
	// include event types (dev); otherwise it syncs definitions and
	// schedules only (docs/architecture.md#syncer-internalsyncer).
	StartupSyncEventTypes bool
	// Watch syncs whenever a file under the definition paths changes
	// (dev --watch), debounced.
	Watch bool
	// OnStartupSync, when set, is told how the worker's startup sync
	// ended (dev prints it under its banner).
	OnStartupSync func(*syncer.Result, error)
	// Ready is called once the HTTP listener is up, with its address.
	Ready func(httpAddr string)
	// ShellGrace overrides the SIGTERM-to-SIGKILL grace of shell commands.
	ShellGrace time.Duration
	// Containment says how shell commands are contained (a cgroup per run
	// by default) and where the fallback keeps its records.
	Containment config.Containment
	// OpsAddr, when set on a process without the api role, serves
	// /healthz, /readyz and /metrics there (ACTIVITY_OPS_ADDR), so that
	// workers and routers can be probed and scraped.
	OpsAddr string
}

// ParseRoles splits and checks a --roles value.
func ParseRoles(s string) ([]string, error) {
	var roles []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(AllRoles, r) {
			return nil, &config.Error{Setting: "ACTIVITY_ROLES", Msg: fmt.Sprintf("unknown role %q: use api, worker, router and/or detector", r)}
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return nil, &config.Error{Setting: "ACTIVITY_ROLES", Msg: "no role given: use api, worker, router and/or detector"}
	}
	return roles, nil
}

// Validate checks the options before anything starts, so a bad setting
// stops startup with one line.
func (o *Options) Validate() error {
	has := func(r string) bool { return slices.Contains(o.Roles, r) }
	errs := []error{o.Engines.Validate(true, true, has(roleRouter)), o.Sync.Validate()}
	if has(roleAPI) {
		errs = append(errs, o.HTTP.Validate())
	}
	if has(roleDetector) {
		errs = append(errs, o.Alerting.Validate(o.Transport))
	}
	return errors.Join(errs...)
}

// Run starts the roles and blocks until ctx ends, then stops them cleanly.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := cmp.Or(o.Logger, slog.Default())
	// The commands a worker runs share its user: they must not read its
	// environment or memory (tokens, database URL).
	if err := makeUndumpable(); err != nil {
		log.Warn("app: commands of this user could read this process's environment", "error", err)
	}
	secrets, codec, err := openSecrets(o.Secrets)
	if err != nil {
		return err
	}

	st, err := storeopen.Open(ctx, o.Engines.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := migrate(ctx, st, log); err != nil {
		return err
	}

	tc, err := dialTemporal(ctx, o, codec, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	nc, js, pub, err := connectNATS(o.Engines, log)
	if err != nil {
		return err
	}
	if nc != nil {
		// Shutdown: Drain fails only on a connection already closed or
		// reconnecting (which it then closes), with nothing left to do.
		defer func() { _ = nc.Drain() }()
	}

	p := &parts{store: st, temporal: tc, nats: nc, js: js, pub: pub, secrets: secrets, metrics: adminapi.NewMetrics(), log: log}
	if err := p.assemble(ctx, o); err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	routerErr := make(chan error, 1)
	closeRoles, err := p.startRoles(ctx, runCtx, &wg, o, routerErr)
	if err != nil {
		return err
	}
	defer closeRoles()
	httpErr := make(chan error, 1)
	readyAddr, err := p.serveHTTP(runCtx, &wg, o, httpErr)
	if err != nil {
		return err
	}
	if o.Ready != nil {
		o.Ready(readyAddr)
	}
	log.Info("app: running", "roles", strings.Join(o.Roles, ","))
	select {
	case <-ctx.Done():
		log.Info("app: stopping")
		return nil
	case err := <-httpErr:
		return fmt.Errorf("HTTP server: %w", err)
	case err := <-routerErr:
		return fmt.Errorf("router: %w", err)
	}
}

// openSecrets reads the secrets allow-list and, when a key file is set,
// the payload codec. The allow-list is the only way a definition reads a
// secret; a bad setting stops the process, naming it
// (docs/definitions.md#secrets-envname).
func openSecrets(s config.Secrets) (*secret.AllowList, *payloadcodec.Codec, error) {
	secrets, err := secret.New(secret.Config{Dir: s.SecretsDir, Env: s.SecretEnv})
	if err != nil {
		// The message names the setting: "ACTIVITY_SECRET_ENV: ...".
		setting, msg, _ := strings.Cut(err.Error(), ": ")
		return nil, nil, &config.Error{Setting: setting, Msg: msg}
	}
	var codec *payloadcodec.Codec
	if s.PayloadKeyFile != "" {
		if codec, err = payloadcodec.LoadFile(s.PayloadKeyFile); err != nil {
			return nil, nil, err
		}
	}
	return secrets, codec, nil
}

// parts are what a process's roles share: the connections Run opens, and
// what assemble builds on them.
type parts struct {
	store    store.Store
	temporal client.Client
	nats     *nats.Conn          // nil without NATS
	js       jetstream.JetStream // nil without NATS
	pub      *eventbus.Publisher // nil without NATS
	secrets  *secret.AllowList
	metrics  *adminapi.Metrics

	sink   engine.OutputSink     // nil without NATS
	viewer adminapi.OutputViewer // nil without NATS
	proj   *schedule.Projector
	router *router.Router // nil without the router role
	sync   *syncer.Syncer
	pools  []string // the pools this process's worker serves
	log    *slog.Logger
}

// assemble builds the live output, the schedule projector, the router
// (with the router role) and the syncer on p's connections.
func (p *parts) assemble(ctx context.Context, o Options) error {
	var err error
	if p.sink, p.viewer, err = liveOutput(p.nats, o.HTTP.OutputViewersMax, p.log); err != nil {
		return err
	}
	p.proj, err = schedule.New(schedule.Config{
		Client: p.temporal, Store: p.store, Prefix: o.Sync.SchedulePrefix, TaskQueue: o.Engines.TaskQueue, Logger: p.log,
	})
	if err != nil {
		return err
	}
	if slices.Contains(o.Roles, roleRouter) {
		p.router, err = router.New(router.Config{
			Conn: p.nats, JS: p.js, Temporal: p.temporal, Store: p.store, TaskQueue: o.Engines.TaskQueue,
			Stream: o.Engines.NATSStream, Subjects: o.Engines.Subjects(), LifecyclePrefix: o.Engines.LifecyclePrefix,
			StreamReplicas: o.Engines.NATSStreamReplicas, SchemaMode: o.Engines.EventSchemaMode,
			Logger: p.log, Metrics: p.metrics.Registry(),
		})
		if err != nil {
			return err
		}
	}
	if slices.Contains(o.Roles, RoleWorker) {
		p.pools, _ = o.Engines.WorkerPools() // checked by Validate
	}
	fetcher, err := newFetcher(o.Sync, p.log)
	if err != nil {
		return err
	}
	rt, log := p.router, p.log
	p.sync, err = syncer.New(syncer.Config{
		Store: p.store, Sources: o.Sync.DefinitionPaths, Fetcher: fetcher, Schedules: schedulesStage(p.proj),
		PoolWorkers: poolWorkers(p.temporal, o.Engines.TaskQueue, p.pools),
		MaxErrors:   o.Sync.SyncMaxErrors, Secrets: p.secrets, AlertDefaults: o.Sync.AlertDefaults, Logger: log,
		OnDefinitionsChanged: func() {
			if rt != nil {
				if err := rt.Refresh(context.WithoutCancel(ctx)); err != nil {
					log.Warn("app: refreshing the router after a sync failed; it reloads on the next event", "error", err)
				}
			}
		},
	})
	return err
}

// startRoles starts the worker, detector and router roles this process
// has, and the watch and interval syncs, on wg until runCtx ends. The
// router's failure goes to routerErr. The returned func closes the
// workers' shell once wg is done.
func (p *parts) startRoles(ctx, runCtx context.Context, wg *sync.WaitGroup, o Options, routerErr chan<- error) (func(), error) {
	has := func(r string) bool { return slices.Contains(o.Roles, r) }
	closeShell := func() {}
	if has(RoleWorker) {
		var err error
		closeShell, err = startWorkers(ctx, runCtx, wg, o, workerParts{
			store: p.store, temporal: p.temporal, sync: p.sync, pub: p.pub, sink: p.sink, secrets: p.secrets, metrics: p.metrics, pools: p.pools, log: p.log,
		})
		if err != nil {
			return nil, err
		}
	}
	if has(roleDetector) {
		det, err := newDetector(o, detectorParts{store: p.store, temporal: p.temporal, proj: p.proj, nats: p.nats, secrets: p.secrets, metrics: p.metrics, log: p.log})
		if err != nil {
			closeShell()
			return nil, err
		}
		wg.Go(func() { runDetector(runCtx, det, p.log) })
	}
	if rt := p.router; rt != nil {
		wg.Go(func() {
			if err := rt.Run(runCtx); err != nil && runCtx.Err() == nil {
				routerErr <- err
			}
		})
	}
	if o.Watch {
		// Only folders: git sources change by fetching (webhooks, polling,
		// the sync interval), not on this disk.
		wg.Go(func() { watch(runCtx, p.sync.FolderSources(), time.Second, p.sync, p.metrics, p.log) })
	}
	if iv := o.Sync.SyncInterval(); iv > 0 {
		wg.Go(func() { syncLoop(runCtx, p.sync, iv, p.metrics, p.log) })
	}
	return closeShell, nil
}

// serveHTTP serves the API with the api role, or else /healthz, /readyz
// and /metrics on ACTIVITY_OPS_ADDR when set, until runCtx ends. It returns
// the API's address ("" without the api role); a failure of the server
// goes to httpErr.
func (p *parts) serveHTTP(runCtx context.Context, wg *sync.WaitGroup, o Options, httpErr chan<- error) (string, error) {
	switch {
	case slices.Contains(o.Roles, roleAPI):
		if o.OpsAddr != "" {
			p.log.Info("app: ACTIVITY_OPS_ADDR is ignored with the api role: /healthz, /readyz and /metrics are on the API address")
		}
		api, err := p.api(runCtx, wg, o)
		if err != nil {
			return "", err
		}
		// Keep the per-schedule overlap-skipped and missed catch-up gauges
		// fresh: Temporal reports them only in Describe, one call per
		// schedule (~6 ms), so this runs in the background, spaced out.
		wg.Go(func() { scheduleCountsLoop(runCtx, p.store, scheduleControl{p.proj, p.metrics}, 5*time.Minute, p.log) })
		return p.listen(runCtx, wg, o.HTTP.HTTPAddr, "ACTIVITY_HTTP_ADDR", "HTTP API", api, httpErr)
	case o.OpsAddr != "":
		all := append([]adminapi.Check{{Name: "store", Check: p.store.Ping}}, p.readyChecks()...)
		if _, err := p.listen(runCtx, wg, o.OpsAddr, "ACTIVITY_OPS_ADDR", "health and metrics", adminapi.OpsHandler(p.metrics, all), httpErr); err != nil {
			return "", err
		}
	}
	return "", nil
}

// api builds the admin API, with the git hooks when a git source has them.
func (p *parts) api(runCtx context.Context, wg *sync.WaitGroup, o Options) (http.Handler, error) {
	st := p.store
	acfg := adminapi.Config{
		Store: st, Syncer: p.sync, Schedules: scheduleControl{p.proj, p.metrics}, Runner: runner{p.temporal, o.Engines.TaskQueue, st},
		Explain: func(ctx context.Context, subject string, payload json.RawMessage) (any, error) {
			return explain(ctx, st, router.IndexOptions{LifecyclePrefix: o.Engines.LifecyclePrefix, SchemaMode: o.Engines.EventSchemaMode}, subject, payload)
		},
		AdminToken: o.HTTP.AdminToken, ReadToken: o.HTTP.ReadToken, Ready: p.readyChecks(), Metrics: p.metrics, Logger: p.log,
		TokensFile: o.HTTP.TokensFile, Canceler: runCanceler{p.temporal}, Backfiller: p.proj, Pools: newPools(p.temporal, o.Engines),
		UI: ui.NewHandler(ui.Config{Store: st, Logger: p.log, TrustForwardedProto: o.HTTP.TrustForwardedProto}),
	}
	if p.viewer != nil { // a nil *Viewer in the interface would not be nil
		acfg.Output = p.viewer
	}
	return newAPIWithHooks(runCtx, wg, acfg, o.Sync.DefinitionPaths, p.secrets, p.metrics, p.log)
}

// readyChecks are the /readyz checks of the engines: Temporal, and NATS
// when configured.
func (p *parts) readyChecks() []adminapi.Check {
	tc, nc := p.temporal, p.nats
	checks := []adminapi.Check{{Name: "temporal", Check: func(ctx context.Context) error {
		_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}}
	if nc != nil {
		checks = append(checks, adminapi.Check{Name: "nats", Check: func(context.Context) error {
			if !nc.IsConnected() {
				return fmt.Errorf("not connected (%s)", nc.Status())
			}
			return nil
		}})
	}
	return checks
}

// listen serves h on addr until runCtx ends, then shuts it down. setting
// names addr in the error when it cannot be listened on; what names the
// server in the log.
func (p *parts) listen(runCtx context.Context, wg *sync.WaitGroup, addr, setting, what string, h http.Handler, httpErr chan<- error) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", &config.Error{Setting: setting, Msg: fmt.Sprintf("cannot listen on %s: %v", addr, err)}
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      10 * time.Minute, // a sync of thousands of schedules takes a while
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	})
	wg.Go(func() {
		<-runCtx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	})
	p.log.Info("app: "+what+" listening", "addr", ln.Addr().String())
	return ln.Addr().String(), nil
}

// migrate applies migrations, retrying while the database is unavailable
// (it may be starting alongside us).
func migrate(ctx context.Context, st store.Store, log *slog.Logger) error {
	delay := time.Second
	for {
		err := st.Migrate(ctx)
		if err == nil || !store.IsRetryable(err) {
			if err != nil {
				return fmt.Errorf("%s: migrating: %w", storeopen.Setting, err)
			}
			return nil
		}
		log.Warn("app: database unavailable, retrying migration", "in", delay, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// runWorker starts the Temporal worker, retrying with backoff while
// Temporal is unreachable, and stops it when ctx ends.
func runWorker(ctx context.Context, w worker.Worker, log *slog.Logger) {
	delay := time.Second
	for {
		err := w.Start()
		if err == nil {
			break
		}
		log.Warn("app: worker cannot start yet (is Temporal up?), retrying", "in", delay, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
	log.Info("app: worker polling")
	<-ctx.Done()
	w.Stop()
}

func syncLoop(ctx context.Context, sy *syncer.Syncer, every time.Duration, m *adminapi.Metrics, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// backgroundSync logs and counts the outcome; the loop goes on.
			_, _ = backgroundSync(ctx, sy, syncer.Options{Definitions: true, EventTypes: true, Schedules: true}, m, log, "interval")
		}
	}
}

// newFetcher makes the git sources' fetcher under the data dir
// (docs/git-sources.md#where-fetches-go); nil when no git source is
// configured, so folder-only deployments need no data dir.
func newFetcher(s config.Sync, log *slog.Logger) (*gitsource.Fetcher, error) {
	if !s.HasGitSource() {
		return nil, nil
	}
	dir, err := s.GitDir()
	if err != nil {
		return nil, err
	}
	return gitsource.NewFetcher(gitsource.FetcherConfig{Dir: dir, Logger: log})
}

// schedulesStage adapts the projector to the syncer's schedules stage.
func schedulesStage(p *schedule.Projector) syncer.SchedulesFunc {
	return func(ctx context.Context, dryRun bool, planned []store.Definition) (syncer.ScheduleCounts, []syncer.Action, []syncer.Error, error) {
		res, err := p.SyncPlanned(ctx, dryRun, planned)
		if err != nil {
			return syncer.ScheduleCounts{}, nil, nil, err
		}
		counts := syncer.ScheduleCounts{Upserted: res.Counts.Upserted, Unchanged: res.Counts.Unchanged, Paused: res.Counts.Paused, Deleted: res.Counts.Deleted}
		actions := make([]syncer.Action, len(res.Actions))
		for i, a := range res.Actions {
			actions[i] = syncer.Action{Stage: syncer.StageSchedules, ID: a.ID, Action: a.Action, Reason: a.Reason}
		}
		errs := make([]syncer.Error, len(res.Errors))
		for i, e := range res.Errors {
			errs[i] = syncer.Error{Stage: syncer.StageSchedules, DefinitionID: e.ID, Message: e.Message}
		}
		return counts, actions, errs, nil
	}
}

// runner starts manual runs on Temporal, on the definition's pool.
type runner struct {
	c         client.Client
	taskQueue string
	st        store.Store
}

func (r runner) StartRun(ctx context.Context, req adminapi.RunRequest) (adminapi.RunStarted, error) {
	if req.Pool == "" {
		pool, err := definitionPool(ctx, r.st, req.DefinitionID)
		if err != nil {
			return adminapi.RunStarted{}, err
		}
		req.Pool = pool
	}
	runID := cmp.Or(req.RunID, engine.NewRunID())
	wid := manualWorkflowID(req.DefinitionID, runID)
	run, err := r.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: engine.TaskQueueFor(r.taskQueue, req.Pool)}, engine.RunWorkflowName,
		engine.RunInput{RunID: runID, DefinitionID: req.DefinitionID, Trigger: store.RunTriggerManual, Inputs: req.Inputs})
	if err != nil {
		return adminapi.RunStarted{}, fmt.Errorf("starting workflow: %w: %v", store.ErrUnavailable, err)
	}
	return adminapi.RunStarted{RunID: runID, WorkflowID: run.GetID(), WorkflowRunID: run.GetRunID()}, nil
}

// levelFilter drops records below min (Temporal's SDK logs a lot at info).
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (l levelFilter) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= l.min && l.Handler.Enabled(ctx, level)
}

// WithAttrs keeps the filter on derived loggers (the SDK derives many).
func (l levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{Handler: l.Handler.WithAttrs(attrs), min: l.min}
}

// WithGroup keeps the filter on derived loggers.
func (l levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{Handler: l.Handler.WithGroup(name), min: l.min}
}

// explain loads the event definitions as the last sync stored them and
// asks the router's index what it would do with the event. Loading per
// request keeps explain right in a process that runs no router.
func explain(ctx context.Context, st store.Store, opts router.IndexOptions, subject string, payload json.RawMessage) (any, error) {
	p, err := router.DecodePayload(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", store.ErrInvalid, err)
	}
	ix, err := router.LoadIndex(ctx, st, opts)
	if err != nil {
		return nil, err
	}
	out := ix.Explain(ctx, subject, p)
	if err := ctx.Err(); err != nil {
		return nil, err // the client left: the answer is incomplete
	}
	return out, nil
}

// backgroundSync runs a sync nobody waits for (worker startup, the
// interval loop, dev --watch): its outcome goes to the metrics and the log
// only, and a failure never stops the process.
func backgroundSync(ctx context.Context, sy *syncer.Syncer, opts syncer.Options, m *adminapi.Metrics, log *slog.Logger, why string) (*syncer.Result, error) {
	res, err := sy.Run(ctx, opts)
	m.SyncDone(res, err, time.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("app: "+why+" sync failed; processing goes on, sync again with POST /admin/sync", "error", err)
	case err == nil:
		log.Info("app: "+why+" sync done", "sync_id", res.SyncID, "errors", len(res.Errors))
	}
	return res, err
}

// scheduleCountsLoop describes every schedule once per period so /metrics
// shows each one's overlap-skipped and missed catch-up counts.
func scheduleCountsLoop(ctx context.Context, st store.Store, sc scheduleControl, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		// Wait first: describing every schedule is not start-up work.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, tt := range []store.TriggerType{store.TriggerCron, store.TriggerOnce} {
			defs, err := st.ListDefinitions(ctx, store.DefinitionFilter{TriggerType: tt})
			if err != nil {
				break
			}
			for _, d := range defs {
				if ctx.Err() != nil {
					return
				}
				if _, err := sc.Describe(ctx, d.ID); err != nil && ctx.Err() == nil {
					log.Debug("app: describing schedule for metrics failed", "definition", d.ID, "error", err)
				}
			}
		}
	}
}

// natsOptions maps the NATS settings to the event bus's options.
func natsOptions(a config.NATSAuth) eventbus.Options {
	return eventbus.Options{
		Creds: a.NATSCreds, NKey: a.NATSNKey, User: a.NATSUser, Password: a.NATSPassword, Token: a.NATSToken,
		CA: a.NATSCA, Cert: a.NATSCert, Key: a.NATSKey, JSDomain: a.NATSJSDomain, JSAPIPrefix: a.NATSJSAPIPrefix,
	}
}

// dialTemporal makes the Temporal client every role shares: lazy, so a role
// starts while Temporal is down, with TLS, the API key and the payload
// codec as configured (docs/deployment.md#secure-connections).
func dialTemporal(ctx context.Context, o Options, codec *payloadcodec.Codec, log *slog.Logger) (client.Client, error) {
	tlog := slog.New(levelFilter{Handler: log.Handler(), min: o.TemporalLogLevel})
	copts := client.Options{
		HostPort:  o.Engines.TemporalAddress,
		Namespace: o.Engines.TemporalNamespace,
		Logger:    sdklog.NewStructuredLogger(tlog),
	}
	if codec != nil {
		copts.DataConverter, copts.FailureConverter = payloadcodec.DataConverter(codec), payloadcodec.FailureConverter(codec)
	}
	if err := withTemporalTLS(&copts, o.Engines, log); err != nil {
		return nil, err
	}
	tc, err := client.NewLazyClient(copts)
	if err != nil {
		return nil, &config.Error{Setting: "ACTIVITY_TEMPORAL_ADDRESS", Msg: err.Error()}
	}
	if err := probeTemporal(ctx, tc, o.Engines, log); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// connectNATS connects to NATS when ACTIVITY_NATS_URL is set (all nil
// otherwise), with the configured credentials, TLS and JetStream domain or
// API prefix. The caller drains the connection.
func connectNATS(e config.Engines, log *slog.Logger) (*nats.Conn, jetstream.JetStream, *eventbus.Publisher, error) {
	if e.NATSURL == "" {
		return nil, nil, nil, nil
	}
	nopts := natsOptions(e.NATSAuth)
	nc, err := eventbus.Connect(e.NATSURL, "activity-core", nopts, log)
	if se := (*eventbus.Error)(nil); errors.As(err, &se) {
		return nil, nil, nil, &config.Error{Setting: se.Setting, Msg: se.Msg}
	} else if err != nil {
		return nil, nil, nil, &config.Error{Setting: "ACTIVITY_NATS_URL", Msg: err.Error()}
	}
	js, err := eventbus.JetStream(nc, nopts)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return nc, js, eventbus.NewPublisher(nc, js), nil
}
