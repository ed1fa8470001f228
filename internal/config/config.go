// Package config is the one place that knows activity-core's settings
// (docs/deployment.md): their ACTIVITY_* names, defaults and checks. Command structs embed
// these structs; the CLI library reads each flag from its environment twin
// (flags win), and Validate turns a bad value into one line that names the
// setting and says what to do.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/secret"
)

// Defaults.
const (
	TemporalAddressDefault   = "127.0.0.1:7233"
	temporalNamespaceDefault = "default"
	TaskQueueDefault         = "activity-core"
	httpAddrDefault          = "127.0.0.1:8080"
	SchedulePrefixDefault    = "activity-core:"
	NATSStreamDefault        = "ACTIVITY"
	NATSSubjectsDefault      = "org.>,activity.>"
	LifecyclePrefixDefault   = "activity"
	SyncMaxErrorsDefault     = 50
)

// Engines says where the store, Temporal and NATS are.
type Engines struct {
	DatabaseURL       string `name:"database-url" env:"ACTIVITY_DATABASE_URL" help:"Store: postgres://user@host:5432/db or sqlite:///path/to/file.db." placeholder:"URL"`
	TemporalAddress   string `name:"temporal-address" env:"ACTIVITY_TEMPORAL_ADDRESS" default:"127.0.0.1:7233" help:"Temporal frontend host:port."`
	TemporalNamespace string `name:"temporal-namespace" env:"ACTIVITY_TEMPORAL_NAMESPACE" default:"default" help:"Temporal namespace."`
	TaskQueue         string `name:"task-queue" env:"ACTIVITY_TASK_QUEUE" default:"activity-core" help:"Base Temporal task queue: the default pool's; pool P polls <base>.P (docs/run-control.md#placement)."`
	// Pools are the worker pools a worker serves (run_on); empty means
	// the default pool only.
	Pools        []string `name:"pools" env:"ACTIVITY_WORKER_POOLS" default:"default" help:"Worker pools this worker serves (run_on), comma-separated; 'default' is the pool of definitions without run_on (docs/run-control.md#placement)." placeholder:"POOL,..."`
	NATSURL      string   `name:"nats-url" env:"ACTIVITY_NATS_URL" help:"NATS server URL (events in and out); empty disables events." placeholder:"URL"`
	NATSStream   string   `name:"nats-stream" env:"ACTIVITY_NATS_STREAM" default:"ACTIVITY" help:"JetStream stream the router reads."`
	NATSSubjects string   `name:"nats-subjects" env:"ACTIVITY_NATS_SUBJECTS" default:"org.>,activity.>" help:"Subjects of the stream, comma-separated."`
	// NATSStreamReplicas is the replica count of the stream when the
	// router creates it; an existing stream keeps its own. 0 means 1.
	NATSStreamReplicas int    `name:"nats-stream-replicas" env:"ACTIVITY_NATS_STREAM_REPLICAS" default:"1" help:"Replicas of the JetStream stream when the router creates it (1-5; 3 on a three-node cluster). An existing stream keeps its own."`
	LifecyclePrefix    string `name:"lifecycle-prefix" env:"ACTIVITY_LIFECYCLE_PREFIX" default:"activity" help:"Run lifecycle events are published on <prefix>.run.<status>."`
	// EventSchemaMode is what the router does with a payload that does not
	// conform to its event type's JSON Schema; "" means enforce.
	EventSchemaMode string `name:"event-schema-mode" env:"ACTIVITY_EVENT_SCHEMA_MODE" default:"enforce" enum:"enforce,warn" help:"enforce: an event whose payload fails its event type's schema is not routed; warn: it is routed and counted."`
	StateHubURL     string `name:"state-hub-url" env:"ACTIVITY_STATE_HUB_URL" help:"Base URL of the state hub, for state_hub.* context." placeholder:"URL"`

	TemporalTLS `embed:""`
	NATSAuth    `embed:""`
}

// Sync holds the sync settings.
type Sync struct {
	DefinitionPaths []string `name:"definitions" env:"ACTIVITY_DEFINITIONS,ACTIVITY_DEFINITION_PATHS" help:"Definition sources: folders and git remotes ([NAME=]DIR or [NAME=]git+https://host/org/repo.git//path?ref=main), repeat the flag or comma-separate in the variable (docs/git-sources.md)." placeholder:"SOURCE"`
	// DataDir holds what activity-core fetches (git sources); empty is
	// $STATE_DIRECTORY (systemd) or ~/.local/state/activity-core
	// (docs/git-sources.md#where-fetches-go).
	DataDir             string `name:"data-dir" env:"ACTIVITY_DATA_DIR" help:"Folder for fetched git sources (default: $STATE_DIRECTORY, else ~/.local/state/activity-core)." placeholder:"DIR"`
	SyncIntervalSeconds int    `name:"sync-interval" env:"ACTIVITY_SYNC_INTERVAL_SECONDS" default:"0" help:"Sync in the background every N seconds (0 = only on request and at worker start)."`
	SchedulePrefix      string `name:"schedule-prefix" env:"ACTIVITY_SCHEDULE_PREFIX" default:"activity-core:" help:"Prefix of the Temporal schedules activity-core manages."`
	SyncMaxErrors       int    `name:"sync-max-errors" env:"ACTIVITY_SYNC_MAX_ERRORS" default:"50" help:"Most errors a sync result lists; the rest are counted."`
	// AlertDefaults names the deployment-wide alerting defaults file
	// (docs/definitions.md#alerting-defaults).
	AlertDefaults string `name:"alert-defaults" env:"ACTIVITY_ALERT_DEFAULTS" help:"File of deployment-wide alerting defaults (expect, notify, pause_after_failures) for every definition; folders' _defaults.yaml and definitions override it field by field. Read at every sync." placeholder:"FILE"`
}

// HTTP holds the API settings.
type HTTP struct {
	HTTPAddr   string `name:"http" env:"ACTIVITY_HTTP_ADDR" default:"127.0.0.1:8080" help:"Address the HTTP API listens on."`
	AdminToken string `name:"admin-token" env:"ACTIVITY_ADMIN_TOKEN" help:"Bearer token for admin endpoints (sync, run, pause)." placeholder:"TOKEN"`
	ReadToken  string `name:"read-token" env:"ACTIVITY_READ_TOKEN" help:"Bearer token for read endpoints (the admin token works too)." placeholder:"TOKEN"`
	// TokensFile holds named tokens with roles
	// (docs/run-control.md#who-did-what).
	TokensFile string `name:"tokens-file" env:"ACTIVITY_TOKENS_FILE" help:"File of named tokens, one per line: NAME ROLE sha256:HEX (roles read, operate, admin); 'activity-core tokens new' makes a line." placeholder:"FILE"`
	// TrustForwardedProto marks dashboard cookies Secure when a
	// TLS-terminating proxy sends X-Forwarded-Proto: https.
	TrustForwardedProto bool `name:"trust-forwarded-proto" env:"ACTIVITY_TRUST_FORWARDED_PROTO" help:"Trust X-Forwarded-Proto from the proxy in front of the api: with https, dashboard cookies are marked Secure."`
	// OutputViewersMax bounds the live-output streams one api process
	// serves at once.
	OutputViewersMax int `name:"output-viewers-max" env:"ACTIVITY_OUTPUT_VIEWERS_MAX" default:"64" help:"Most live-output streams (runs logs -f, run pages) one api process serves at once; more are refused with 503."`
}

// Secrets is the operator's allow-list of what ${env:NAME} may resolve
// (docs/security.md#secrets). Nothing else of the worker's environment is
// reachable from a definition.
type Secrets struct {
	SecretsDir string `name:"secrets-dir" env:"ACTIVITY_SECRETS_DIR" help:"Directory with one file per secret (as Docker secrets, Kubernetes secret volumes and systemd LoadCredential= mount them); ${env:NAME} may read the file NAME." placeholder:"DIR"`
	SecretEnv  string `name:"secret-env" env:"ACTIVITY_SECRET_ENV" help:"Worker environment variables ${env:NAME} may read: comma-separated names or PREFIX_* patterns. ACTIVITY_*, TEMPORAL_* and NATS_* are never allowed." placeholder:"NAMES"`
	// PayloadKeyFile turns on encryption of every Temporal payload
	// (docs/deployment.md#payload-encryption).
	PayloadKeyFile string `name:"payload-key-file" env:"ACTIVITY_PAYLOAD_KEY_FILE" help:"File of AES-256 keys (one a line, base64; the first encrypts) for encrypting every Temporal payload; every process of a deployment needs the same file." placeholder:"FILE"`
}

// Containment says how a worker contains the shell commands it runs
// (docs/definitions.md#timeouts).
type Containment struct {
	CgroupRoot string `name:"cgroup-root" env:"ACTIVITY_CGROUP_ROOT" default:"auto" help:"cgroup v2 directory under which each run gets its own cgroup: auto (<the worker's cgroup>/activity-core), off (process groups only), or an absolute path on the cgroup2 mount."`
	RuntimeDir string `name:"runtime-dir" env:"ACTIVITY_RUNTIME_DIR" help:"Directory where the worker records the process groups of running commands when it has no cgroups, so that the next worker ends what a dead one left (default $XDG_RUNTIME_DIR/activity-core, else the temp dir)." placeholder:"DIR"`
}

// Error is a bad setting.
type Error struct {
	Setting string
	Msg     string
}

func (e *Error) Error() string { return e.Setting + ": " + e.Msg }

func bad(setting, format string, args ...any) error {
	return &Error{Setting: setting, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the engine settings a role needs.
func (e *Engines) Validate(needStore, needTemporal, needNATS bool) error {
	var errs []error
	if needStore {
		if e.DatabaseURL == "" {
			errs = append(errs, bad("ACTIVITY_DATABASE_URL", "not set; set it to postgres://user@host:5432/db or sqlite:///path/to/activity-core.db"))
		} else if !strings.HasPrefix(e.DatabaseURL, "postgres://") && !strings.HasPrefix(e.DatabaseURL, "postgresql://") && !strings.HasPrefix(e.DatabaseURL, "sqlite:") {
			errs = append(errs, bad("ACTIVITY_DATABASE_URL", "unsupported scheme in %q; want postgres://… or sqlite:///path", secret.RedactURL(e.DatabaseURL)))
		}
	}
	if needTemporal {
		if _, _, err := net.SplitHostPort(e.TemporalAddress); err != nil {
			errs = append(errs, bad("ACTIVITY_TEMPORAL_ADDRESS", "%q is not host:port (e.g. 127.0.0.1:7233)", e.TemporalAddress))
		}
		if e.TemporalNamespace == "" {
			errs = append(errs, bad("ACTIVITY_TEMPORAL_NAMESPACE", "is empty"))
		}
		if e.TaskQueue == "" {
			errs = append(errs, bad("ACTIVITY_TASK_QUEUE", "is empty"))
		}
		errs = append(errs, e.TemporalTLS.validate(time.Now())...)
		if e.TemporalTLS.Enabled() && e.TemporalTLS.TemporalServerNameFor(e.TemporalAddress) == "" {
			errs = append(errs, bad("ACTIVITY_TEMPORAL_TLS_SERVER_NAME", "not set, and ACTIVITY_TEMPORAL_ADDRESS %q has no host to verify the frontend's certificate against; set it to the name the certificate carries", e.TemporalAddress))
		}
	}
	if _, err := e.WorkerPools(); err != nil {
		errs = append(errs, err)
	}
	if needNATS {
		if e.NATSURL == "" {
			errs = append(errs, bad("ACTIVITY_NATS_URL", "not set; the router needs NATS (e.g. nats://127.0.0.1:4222)"))
		} else if u, err := url.Parse(e.NATSURL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
			errs = append(errs, bad("ACTIVITY_NATS_URL", "%q is not a nats:// URL", secret.RedactURL(e.NATSURL)))
		}
	}
	if e.StateHubURL != "" {
		if u, err := url.Parse(e.StateHubURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, bad("ACTIVITY_STATE_HUB_URL", "%q is not an http(s) URL", e.StateHubURL))
		}
	}
	if e.NATSStreamReplicas < 0 || e.NATSStreamReplicas > 5 { // 0: unset (Go callers), means 1
		errs = append(errs, bad("ACTIVITY_NATS_STREAM_REPLICAS", "must be 1 to 5 (JetStream's limit), got %d; use 3 on a three-node cluster, 1 on a single server", e.NATSStreamReplicas))
	}
	if m := e.EventSchemaMode; m != "" && m != "enforce" && m != "warn" {
		errs = append(errs, bad("ACTIVITY_EVENT_SCHEMA_MODE", "must be enforce or warn, got %q", m))
	}
	for _, s := range e.Subjects() {
		if s == "" {
			errs = append(errs, bad("ACTIVITY_NATS_SUBJECTS", "has an empty subject in %q", e.NATSSubjects))
		}
	}
	if needNATS || e.NATSURL != "" { // unused NATS settings (an operator's nats CLI environment) are not checked
		errs = append(errs, e.NATSAuth.Validate(e.NATSURL))
	}
	return errors.Join(errs...)
}

// WorkerPools returns the pools a worker serves (ACTIVITY_WORKER_POOLS,
// docs/run-control.md#placement): names trimmed and checked, in the order
// given; the default pool alone when none is given. A bad name or a pool
// given twice is an error naming the setting.
func (e *Engines) WorkerPools() ([]string, error) {
	var pools []string
	for _, p := range e.Pools {
		p = strings.TrimSpace(p)
		if err := definition.CheckPoolName(p); err != nil {
			return nil, bad(poolsSetting, "%v (in %q)", err, strings.Join(e.Pools, ","))
		}
		if slices.Contains(pools, p) {
			return nil, bad(poolsSetting, "pool %s is given twice (in %q)", p, strings.Join(e.Pools, ","))
		}
		pools = append(pools, p)
	}
	if len(pools) == 0 {
		return []string{definition.PoolDefault}, nil
	}
	return pools, nil
}

// PoolsSetting is the environment name of Engines.Pools.
const poolsSetting = "ACTIVITY_WORKER_POOLS"

// Subjects splits NATSSubjects.
func (e *Engines) Subjects() []string {
	var out []string
	for _, s := range strings.Split(e.NATSSubjects, ",") {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// Validate checks the sync settings.
func (s *Sync) Validate() error {
	var errs []error
	if s.SyncIntervalSeconds < 0 {
		errs = append(errs, bad("ACTIVITY_SYNC_INTERVAL_SECONDS", "must be 0 (off) or a number of seconds, got %d", s.SyncIntervalSeconds))
	}
	if s.SyncMaxErrors < 1 {
		errs = append(errs, bad("ACTIVITY_SYNC_MAX_ERRORS", "must be at least 1, got %d", s.SyncMaxErrors))
	}
	if s.SchedulePrefix == "" {
		errs = append(errs, bad("ACTIVITY_SCHEDULE_PREFIX", "must not be empty: it marks the schedules activity-core manages"))
	}
	if _, err := gitsource.ParseSpecs(s.DefinitionPaths); err != nil && len(s.DefinitionPaths) > 0 {
		errs = append(errs, bad("ACTIVITY_DEFINITIONS", "%v (docs/git-sources.md#sources)", err))
	}
	if s.AlertDefaults != "" {
		if info, err := os.Stat(s.AlertDefaults); err != nil {
			errs = append(errs, bad("ACTIVITY_ALERT_DEFAULTS", "cannot read %s: %v; point it at a defaults file (docs/definitions.md#alerting-defaults) or unset it", s.AlertDefaults, errors.Unwrap(err)))
		} else if !info.Mode().IsRegular() {
			errs = append(errs, bad("ACTIVITY_ALERT_DEFAULTS", "%s is not a regular file; point it at a defaults file or unset it", s.AlertDefaults))
		}
	}
	return errors.Join(errs...)
}

// GitDir returns the folder git sources are fetched into, DataDir/git
// (docs/git-sources.md#where-fetches-go), creating DataDir with mode 0700
// when it is missing. An empty DataDir is $STATE_DIRECTORY (set by
// systemd's StateDirectory=), else ~/.local/state/activity-core.
func (s *Sync) GitDir() (string, error) {
	dir := cmp.Or(s.DataDir, dataDirDefault())
	if dir == "" {
		return "", bad("ACTIVITY_DATA_DIR", "not set, and neither $STATE_DIRECTORY nor a home folder is known: set it to a folder activity-core may write")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", bad("ACTIVITY_DATA_DIR", "cannot create %s: %v; point it at a folder activity-core may write", dir, errors.Unwrap(err))
	}
	return filepath.Join(dir, "git"), nil
}

// DataDirDefault is where fetched sources go when ACTIVITY_DATA_DIR is
// unset: $STATE_DIRECTORY (its first entry), else
// ~/.local/state/activity-core; "" when neither is known.
func dataDirDefault() string {
	if sd := os.Getenv("STATE_DIRECTORY"); sd != "" {
		first, _, _ := strings.Cut(sd, ":")
		return first
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "state", "activity-core")
}

// HasGitSource reports whether a git source is configured (so a Fetcher,
// and a data dir, are needed).
func (s *Sync) HasGitSource() bool {
	specs, err := gitsource.ParseSpecs(s.DefinitionPaths)
	if err != nil {
		return false
	}
	for _, sp := range specs {
		if sp.Kind == gitsource.KindGit {
			return true
		}
	}
	return false
}

// RedactedSources are the configured sources for logs: git URLs with
// their credentials redacted.
func (s *Sync) RedactedSources() []string {
	out := make([]string, len(s.DefinitionPaths))
	for i, raw := range s.DefinitionPaths {
		out[i] = raw
		if sp, err := gitsource.ParseSpec(raw); err == nil && sp.Kind == gitsource.KindGit {
			out[i] = sp.String()
		} else if strings.Contains(raw, "://") {
			name, rest, ok := strings.Cut(raw, "=")
			if ok && !strings.Contains(name, "/") {
				out[i] = name + "=" + secret.RedactURL(rest)
			} else {
				out[i] = secret.RedactURL(raw)
			}
		}
	}
	return out
}

// SyncInterval is the background sync period (0 = off).
func (s *Sync) SyncInterval() time.Duration {
	return time.Duration(s.SyncIntervalSeconds) * time.Second
}

// Validate checks the HTTP settings.
func (h *HTTP) Validate() error {
	if _, _, err := net.SplitHostPort(h.HTTPAddr); err != nil {
		return bad("ACTIVITY_HTTP_ADDR", "%q is not host:port (e.g. 127.0.0.1:8080)", h.HTTPAddr)
	}
	return errors.Join(checkToken("ACTIVITY_ADMIN_TOKEN", h.AdminToken), checkToken("ACTIVITY_READ_TOKEN", h.ReadToken))
}

// TokenMinLength is the shortest token serve accepts.
const TokenMinLength = 16

// checkToken refuses a set token that is short, only whitespace, or
// wrapped in whitespace (the dashboard and the CLI's token file trim what
// they read, so such a token could not be typed back). Unset is fine: its
// endpoints answer 403. The message never shows the token.
func checkToken(setting, token string) error {
	if token == "" {
		return nil
	}
	trimmed := strings.TrimSpace(token)
	switch {
	case trimmed == "":
		return bad(setting, "is only whitespace; use at least %d characters (e.g. openssl rand -hex 24), or unset it", TokenMinLength)
	case trimmed != token:
		return bad(setting, "begins or ends with whitespace; remove it (the dashboard and the token file trim what they read)")
	case utf8.RuneCountInString(token) < TokenMinLength:
		return bad(setting, "is %d characters; use at least %d (e.g. openssl rand -hex 24)", utf8.RuneCountInString(token), TokenMinLength)
	}
	return nil
}

// Redacted returns the settings as name=value lines for logs, secrets
// masked.
func Redacted(e Engines, s Sync, h HTTP) []string {
	mask := func(v string) string {
		if v == "" {
			return ""
		}
		return "***"
	}
	return append([]string{
		"ACTIVITY_DATABASE_URL=" + secret.RedactURL(e.DatabaseURL),
		"ACTIVITY_TEMPORAL_ADDRESS=" + e.TemporalAddress,
		"ACTIVITY_TEMPORAL_NAMESPACE=" + e.TemporalNamespace,
		"ACTIVITY_TASK_QUEUE=" + e.TaskQueue,
		poolsSetting + "=" + strings.Join(e.Pools, ","),
		fmt.Sprintf("ACTIVITY_TEMPORAL_TLS=%t", e.TemporalTLS.Enabled()),
		"ACTIVITY_TEMPORAL_TLS_CA=" + e.TemporalTLSCA,
		"ACTIVITY_TEMPORAL_TLS_CERT=" + e.TemporalTLSCert,
		"ACTIVITY_TEMPORAL_TLS_KEY=" + e.TemporalTLSKey,
		"ACTIVITY_TEMPORAL_TLS_SERVER_NAME=" + e.TemporalServerName,
		"ACTIVITY_TEMPORAL_API_KEY=" + mask(e.TemporalAPIKey),
		"ACTIVITY_NATS_URL=" + secret.RedactURL(e.NATSURL),
		fmt.Sprintf("ACTIVITY_NATS_STREAM_REPLICAS=%d", e.NATSStreamReplicas),
		"ACTIVITY_EVENT_SCHEMA_MODE=" + e.EventSchemaMode,
		"ACTIVITY_DEFINITIONS=" + strings.Join(s.RedactedSources(), ","),
		"ACTIVITY_DATA_DIR=" + s.DataDir,
		"ACTIVITY_HTTP_ADDR=" + h.HTTPAddr,
		"ACTIVITY_ADMIN_TOKEN=" + mask(h.AdminToken),
		"ACTIVITY_READ_TOKEN=" + mask(h.ReadToken),
		fmt.Sprintf("ACTIVITY_SYNC_INTERVAL_SECONDS=%d", s.SyncIntervalSeconds),
		"ACTIVITY_SCHEDULE_PREFIX=" + s.SchedulePrefix,
		"ACTIVITY_ALERT_DEFAULTS=" + s.AlertDefaults,
	}, e.NATSAuth.redacted()...)
}
