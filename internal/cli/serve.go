package cli

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/store/storeopen"
)

// ServeCmd runs roles against the operator's engines.
type ServeCmd struct {
	Roles string `env:"ACTIVITY_ROLES" default:"api,worker,router,detector" help:"Roles to run: api, worker, router, detector (comma-separated)."`
	config.Engines
	config.Sync
	config.HTTP
	config.Secrets
	config.Containment
	config.Transport
	config.Alerting
	LogLevel string `name:"log-level" env:"ACTIVITY_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level."`
	OpsAddr  string `name:"ops-addr" env:"ACTIVITY_OPS_ADDR" help:"Without the api role: serve /healthz, /readyz and /metrics on this host:port (off when empty). With it, they are on the API address." placeholder:"HOST:PORT"`
}

// Help is shown by "activity-core serve --help".
func (c *ServeCmd) Help() string {
	return `Each role scales horizontally: run as many processes of each as you like;
Temporal shares the work among workers and JetStream among routers, and syncs
are serialized through the database.

  api     HTTP API (sync, definitions, runs, pause/resume, /metrics)
          and the dashboard at /ui/
  worker  runs RunActivityWorkflow; syncs definitions+schedules at start
  router  turns NATS events into runs
  detector  finds missed, stale, late and failing definitions and sends
          notifications; with several replicas one leads, by a store
          lease (docs/alerting.md#detector)

A process without the api role serves no HTTP unless --ops-addr is set;
then it serves /healthz, /readyz and /metrics there (run metrics live in
the workers, router metrics in the routers).

Every flag has an ACTIVITY_* twin (flags win). A missing or malformed
setting stops startup with one line naming it.

Secure by default: serve refuses a Temporal address or NATS URL that is not
loopback (127.0.0.0/8, ::1, localhost) unless the connection uses TLS:
--temporal-tls-ca (plus --temporal-tls-cert/--temporal-tls-key for mTLS),
--temporal-tls or --temporal-api-key for Temporal; a tls:// URL or
--nats-ca for NATS. --allow-plaintext (ACTIVITY_ALLOW_PLAINTEXT=1) lifts
this on a network you trust. The temporal CLI's TEMPORAL_TLS_* and
TEMPORAL_API_KEY variables are read too. Client certificates are re-read
when their files change. See docs/deployment.md#secure-connections.

Examples:
  ACTIVITY_DATABASE_URL=postgres://activity@db:5432/activity \
  ACTIVITY_TEMPORAL_ADDRESS=temporal:7233 ACTIVITY_TEMPORAL_TLS_CA=/etc/activity/temporal-ca.pem \
  ACTIVITY_TEMPORAL_TLS_CERT=/etc/activity/client.pem ACTIVITY_TEMPORAL_TLS_KEY=/etc/activity/client-key.pem \
  ACTIVITY_NATS_URL=tls://nats:4222 ACTIVITY_NATS_CA=/etc/activity/nats-ca.pem \
  ACTIVITY_DEFINITIONS=/srv/defs ACTIVITY_ADMIN_TOKEN=$(cat /etc/activity/token) \
    activity-core serve --roles api,worker
  # Temporal Cloud
  ACTIVITY_TEMPORAL_ADDRESS=my-ns.a1b2c.tmprl.cloud:7233 ACTIVITY_TEMPORAL_NAMESPACE=my-ns.a1b2c \
  ACTIVITY_TEMPORAL_API_KEY=$(cat /etc/activity/temporal-api-key) activity-core serve --roles worker
  # a trusted network, on purpose
  activity-core serve --roles router --nats-url nats://nats:4222 --allow-plaintext`
}

// Run serves until interrupted.
func (c *ServeCmd) Run(env *cmdEnv) error {
	roles, err := app.ParseRoles(c.Roles)
	if err != nil {
		return err
	}
	if c.OpsAddr != "" {
		if _, _, err := net.SplitHostPort(c.OpsAddr); err != nil {
			return &config.Error{Setting: "ACTIVITY_OPS_ADDR", Msg: fmt.Sprintf("%q is not host:port (e.g. 127.0.0.1:9090)", c.OpsAddr)}
		}
	}
	if err := c.Transport.CheckPlaintext(&c.Engines); err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	if c.AllowPlaintext {
		logger.Warn("serve: ACTIVITY_ALLOW_PLAINTEXT is set: connections to a non-loopback Temporal or NATS may be unencrypted")
	}
	for _, line := range append(config.Redacted(c.Engines, c.Sync, c.HTTP), c.Alerting.Redacted()...) {
		logger.Debug("serve: setting " + line)
	}
	return app.Run(env.Ctx, app.Options{
		Roles: roles, Engines: c.Engines, Sync: c.Sync, HTTP: c.HTTP, Secrets: c.Secrets, Containment: c.Containment, Logger: logger, TemporalLogLevel: slog.LevelWarn,
		OpsAddr: c.OpsAddr, Alerting: c.Alerting, Transport: c.Transport,
	})
}

// migrateCmd applies the database migrations.
type migrateCmd struct {
	DatabaseURL string `name:"database-url" env:"ACTIVITY_DATABASE_URL" required:"" help:"postgres://… or sqlite:///path." placeholder:"URL"`
}

// Help is shown by "activity-core migrate --help".
func (c *migrateCmd) Help() string {
	return `Migrations are embedded in the binary and also applied at every start;
applying them twice, or from two processes at once, is safe.

Examples:
  ACTIVITY_DATABASE_URL=postgres://activity@db:5432/activity activity-core migrate
  activity-core migrate --database-url sqlite:///var/lib/activity-core/activity.db`
}

// Run migrates.
func (c *migrateCmd) Run(env *cmdEnv) error {
	st, err := storeopen.Open(env.Ctx, c.DatabaseURL, env.Logger)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(env.Ctx); err != nil {
		return fmt.Errorf("%s: %w", storeopen.Setting, err)
	}
	fmt.Fprintln(env.Stdout, "migrations applied")
	return nil
}
