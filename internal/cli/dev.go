//go:build !nodev

package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/tlsconf"
)

// devCmd runs everything in one process on embedded engines.
type devCmd struct {
	Definitions   []string `env:"ACTIVITY_DEFINITIONS,ACTIVITY_DEFINITION_PATHS" help:"Definition sources: folders and git remotes ([NAME=]DIR or [NAME=]git+https://host/org/repo.git//path?ref=main), repeat the flag (docs/git-sources.md)." placeholder:"SOURCE"`
	AlertDefaults string   `name:"alert-defaults" env:"ACTIVITY_ALERT_DEFAULTS" help:"File of deployment-wide alerting defaults (docs/alerting.md#defaults)." placeholder:"FILE"`
	DataDir       string   `name:"data-dir" env:"ACTIVITY_DATA_DIR" default:".activity-core" help:"Where the SQLite store, Temporal's database, NATS streams and the token live."`
	HTTP          string   `name:"http" env:"ACTIVITY_HTTP_ADDR" default:"127.0.0.1:8080" help:"HTTP API address."`
	TemporalAddr  string   `name:"temporal-addr" env:"ACTIVITY_TEMPORAL_ADDRESS" default:"127.0.0.1:7233" help:"Embedded Temporal frontend address (the temporal CLI and UI can connect)."`
	NATSAddr      string   `name:"nats-addr" env:"ACTIVITY_NATS_ADDR" default:"127.0.0.1:4223" help:"Embedded NATS address (4222 is often a system NATS)."`
	Watch         bool     `help:"Sync when a definition file changes."`
	Pools         []string `name:"pools" env:"ACTIVITY_WORKER_POOLS" default:"default" help:"Worker pools the dev worker serves (run_on), comma-separated: add the pools your definitions name, or their runs wait (docs/run-control.md#placement)." placeholder:"POOL,..."`
	AdminToken    string   `name:"admin-token" env:"ACTIVITY_ADMIN_TOKEN" help:"Admin token (default: generated once and kept in the data dir)." placeholder:"TOKEN"`
	ReadToken     string   `name:"read-token" env:"ACTIVITY_READ_TOKEN" help:"Read-only token." placeholder:"TOKEN"`
	TokensFile    string   `name:"tokens-file" env:"ACTIVITY_TOKENS_FILE" help:"File of named tokens with roles (docs/run-control.md#who-did-what)." placeholder:"FILE"`
	SyncInterval  int      `name:"sync-interval" env:"ACTIVITY_SYNC_INTERVAL_SECONDS" default:"0" help:"Also sync every N seconds (0 = off)."`
	LogLevel      string   `name:"log-level" env:"ACTIVITY_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level."`
	StateHubURL   string   `name:"state-hub-url" env:"ACTIVITY_STATE_HUB_URL" help:"Base URL of the state hub, for state_hub.* context." placeholder:"URL"`
	config.Secrets
	config.Containment
	config.Transport
	config.Alerting
}

// Help is shown by "activity-core dev --help".
func (c *devCmd) Help() string {
	return `Starts the real Temporal server and nats-server in-process (nothing to
install), a SQLite store, and every role: API, worker, router, detector
(docs/alerting.md). It syncs the
definition folders at start (and on every change with --watch), then runs
them for real. State lives in --data-dir, so a restart keeps schedules and
history. Ctrl-C stops everything cleanly.

Examples:
  activity-core dev --definitions examples/definitions
  activity-core dev --definitions ~/repo/activity-definitions --watch
  activity-core dev --definitions ops=git+https://git.example.com/ops/automations.git//definitions?ref=main
  # in another terminal:
  activity-core sync --dry-run
  activity-core runs list`
}

// Run starts the engines and the roles and blocks until interrupted.
func (c *devCmd) Run(env *cmdEnv) error {
	if len(c.Definitions) == 0 {
		return usageError("give at least one --definitions DIR (try --definitions examples/definitions)")
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	dataDir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return &config.Error{Setting: "ACTIVITY_DATA_DIR", Msg: err.Error()}
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	token, generated, err := devToken(dataDir, c.AdminToken)
	if err != nil {
		return err
	}
	natsHost, natsPortStr, err := net.SplitHostPort(c.NATSAddr)
	natsPort, perr := strconv.Atoi(natsPortStr)
	if err != nil || perr != nil {
		return usageError("--nats-addr %q is not host:port", c.NATSAddr)
	}
	if err := c.checkBind(); err != nil {
		return err
	}

	start := time.Now()
	tmp, nsrv, err := c.startEngines(env, dataDir, natsHost, natsPort, logger)
	if err != nil {
		return err
	}
	// dev is exiting: a failed stop of the embedded Temporal leaves nothing
	// for it to do.
	defer func() { _ = tmp.Stop() }()
	defer nsrv.Stop()
	logger.Info("dev: engines ready", "took", time.Since(start).Round(time.Millisecond))

	opts := c.appOptions(dataDir, token, tmp, nsrv, logger)
	banner := devBanner{
		start: start, dataDir: dataDir, token: token, generated: generated,
		temporal: tmp, natsURL: nsrv.ClientURL(), storeURL: opts.Engines.DatabaseURL, sources: opts.Sync.RedactedSources(),
	}
	opts.Ready = func(addr string) { c.printReady(env.Stdout, banner, addr) }
	firstSyncUnderBanner(&opts, env.Stdout)
	err = app.Run(env.Ctx, opts)
	fmt.Fprintln(env.Stderr, "stopping embedded engines ...")
	return err
}

// startEngines starts the embedded Temporal and NATS servers in dataDir.
func (c *devCmd) startEngines(env *cmdEnv, dataDir, natsHost string, natsPort int, logger *slog.Logger) (*devserver.Temporal, *devserver.NATS, error) {
	// A soft memory limit for the one process that holds every engine
	// (docs/benchmarks.md#memory-of-dev); GOMEMLIMIT overrides it.
	logger.Debug("dev: Go memory limit", "bytes", devserver.LimitMemory())
	fmt.Fprintf(env.Stderr, "starting embedded Temporal (%s) and NATS (%s) in %s ...\n", c.TemporalAddr, c.NATSAddr, dataDir)
	sctx, cancel := context.WithTimeout(env.Ctx, 2*time.Minute)
	defer cancel()
	tmp, err := devserver.StartTemporal(sctx, devserver.TemporalConfig{DataDir: dataDir, FrontendAddr: c.TemporalAddr, Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("embedded Temporal: %w", err)
	}
	nsrv, err := devserver.StartNATS(devserver.NATSConfig{DataDir: dataDir, Host: natsHost, Port: natsPort})
	if err != nil {
		_ = tmp.Stop()
		return nil, nil, fmt.Errorf("embedded NATS: %w", err)
	}
	return tmp, nsrv, nil
}

// appOptions runs every role on the embedded engines, with the store and
// git fetches in dataDir.
func (c *devCmd) appOptions(dataDir, token string, tmp *devserver.Temporal, nsrv *devserver.NATS, logger *slog.Logger) app.Options {
	sync := config.Sync{
		DefinitionPaths: c.Definitions, SyncIntervalSeconds: c.SyncInterval,
		SchedulePrefix: config.SchedulePrefixDefault, SyncMaxErrors: config.SyncMaxErrorsDefault,
		AlertDefaults: c.AlertDefaults,
		// Git sources are fetched under the dev data dir, beside the rest.
		DataDir: dataDir,
	}
	engines := config.Engines{
		DatabaseURL:       "sqlite://" + filepath.Join(dataDir, "activity-core.db"),
		TemporalAddress:   tmp.Address(),
		TemporalNamespace: tmp.Namespace(),
		TaskQueue:         config.TaskQueueDefault,
		Pools:             c.Pools,
		NATSURL:           nsrv.ClientURL(),
		NATSStream:        config.NATSStreamDefault,
		NATSSubjects:      config.NATSSubjectsDefault,
		LifecyclePrefix:   config.LifecyclePrefixDefault,
		StateHubURL:       c.StateHubURL,
	}
	return app.Options{
		Roles: app.AllRoles, Engines: engines, Sync: sync, Logger: logger, TemporalLogLevel: slog.LevelWarn,
		HTTP:                  config.HTTP{HTTPAddr: c.HTTP, AdminToken: token, ReadToken: c.ReadToken, TokensFile: c.TokensFile},
		Secrets:               c.Secrets,
		Containment:           c.Containment,
		Alerting:              c.devAlerting(),
		Transport:             c.Transport,
		StartupSyncEventTypes: true,
		Watch:                 c.Watch,
	}
}

// devBanner is what the ready banner shows besides the options.
type devBanner struct {
	start          time.Time
	dataDir, token string
	generated      bool // the token was generated and kept in the data dir
	temporal       *devserver.Temporal
	natsURL        string
	storeURL       string
	sources        []string // redacted
}

// printReady prints where everything is once the API listens on addr.
func (c *devCmd) printReady(w io.Writer, b devBanner, addr string) {
	fmt.Fprintf(w, "\nactivity-core dev is ready (%s)\n", time.Since(b.start).Round(time.Millisecond))
	fmt.Fprintf(w, "  HTTP API     http://%s\n", addr)
	fmt.Fprintf(w, "  dashboard    http://%s/ui/   (sign in with the admin token)\n", addr)
	if b.generated {
		fmt.Fprintf(w, "  admin token  %s   (generated; kept in %s)\n", b.token, filepath.Join(b.dataDir, tokenFileName))
	} else if c.AdminToken == "" {
		fmt.Fprintf(w, "  admin token  in %s\n", filepath.Join(b.dataDir, tokenFileName))
	} else {
		fmt.Fprintf(w, "  admin token  from ACTIVITY_ADMIN_TOKEN\n")
	}
	tmp := b.temporal
	fmt.Fprintf(w, "  Temporal     %s  namespace %s  (temporal --address %s schedule list)\n", tmp.Address(), tmp.Namespace(), tmp.Address())
	fmt.Fprintf(w, "  NATS         %s\n", b.natsURL)
	fmt.Fprintf(w, "  store        %s\n", b.storeURL)
	fmt.Fprintf(w, "  definitions  %s%s\n", strings.Join(b.sources, ", "), map[bool]string{true: "  (watched)"}[c.Watch])
	fmt.Fprintf(w, "\nTry: activity-core definitions list | activity-core runs list | activity-core sync --dry-run\nCtrl-C stops everything.\n")
}

// firstSyncUnderBanner prints how the first sync went under the banner
// (printFirstSync), whichever of the two ends first.
func firstSyncUnderBanner(opts *app.Options, w io.Writer) {
	var (
		mu        stdsync.Mutex
		bannerOut bool
		firstSync func()
	)
	ready := opts.Ready
	opts.Ready = func(addr string) {
		mu.Lock()
		defer mu.Unlock()
		ready(addr)
		bannerOut = true
		if firstSync != nil {
			firstSync()
		}
	}
	opts.OnStartupSync = func(res *syncer.Result, err error) {
		mu.Lock()
		defer mu.Unlock()
		firstSync = func() { printFirstSync(w, res, err) }
		if bannerOut {
			firstSync()
		}
	}
}

// printFirstSync says under dev's banner how the first sync went, so
// definitions it refused are not only in a log line.
func printFirstSync(w io.Writer, res *syncer.Result, err error) {
	switch {
	case err != nil:
		fmt.Fprintf(w, "first sync failed: %v (activity-core sync --dry-run tries again)\n", err)
	case !res.OK() && len(res.Errors) > 0:
		fmt.Fprintf(w, "first sync: %d definitions, %d error(s); first: %s\n  (activity-core sync --dry-run lists them all; fix the files and sync)\n",
			res.Definitions.Scanned, len(res.Errors)+res.ErrorsDropped, formatSyncError(res.Errors[0]))
	default:
		fmt.Fprintf(w, "first sync: %d definitions, no errors%s\n", res.Definitions.Scanned, map[bool]string{true: fmt.Sprintf(", %d warning(s) (activity-core sync --dry-run)", len(res.Warnings))}[len(res.Warnings) > 0])
	}
}

// devToken returns the admin token: the given one, the one kept in the
// data dir, or a new one (written with mode 0600).
func devToken(dataDir, given string) (token string, generated bool, err error) {
	if given != "" {
		return given, false, nil
	}
	path := filepath.Join(dataDir, tokenFileName)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), false, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("reading %s: %w", path, err)
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", false, err
	}
	token = hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("writing %s: %w", path, err)
	}
	return token, true, nil
}

// lockDataDir keeps a second dev off the same data dir: two embedded
// Temporal servers on one SQLite file would corrupt each other. The kernel
// drops the lock if this process dies.
func lockDataDir(dataDir string) (func(), error) {
	path := filepath.Join(dataDir, "dev.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, &config.Error{Setting: "ACTIVITY_DATA_DIR", Msg: fmt.Sprintf("%s is in use by another `activity-core dev`: stop it, or give this one another --data-dir", dataDir)}
	}
	return func() { f.Close() }, nil
}

// checkBind keeps dev's engines, which have no TLS and no authentication,
// on loopback unless the operator sets ACTIVITY_ALLOW_PLAINTEXT
// (docs/deployment.md#secure-connections).
func (c *devCmd) checkBind() error {
	if c.AllowPlaintext {
		return nil
	}
	for _, b := range []struct{ setting, addr string }{
		{"ACTIVITY_TEMPORAL_ADDRESS", c.TemporalAddr},
		{"ACTIVITY_NATS_ADDR", c.NATSAddr},
	} {
		if host, _, err := net.SplitHostPort(b.addr); err == nil && !tlsconf.IsLoopback(host) {
			return &config.Error{Setting: b.setting, Msg: fmt.Sprintf("%s is not a loopback address: dev's embedded engines have no TLS and no authentication, so anyone who can reach it could start workflows and read run history; use 127.0.0.1, or set ACTIVITY_ALLOW_PLAINTEXT=1 if this network is trusted", b.addr)}
		}
	}
	return nil
}

// devAlerting is the operator's alerting settings, with notification links
// to this dev's own dashboard unless ACTIVITY_PUBLIC_URL says otherwise.
func (c *devCmd) devAlerting() config.Alerting {
	a := c.Alerting
	a.PublicURL = cmp.Or(a.PublicURL, "http://"+c.HTTP)
	return a
}
