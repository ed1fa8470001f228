package devserver

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	// defaultNamespace is the namespace a dev server creates when the config
	// names none: the temporal CLI and UI open it without flags.
	defaultNamespace = "default"

	// defaultReadyTimeout bounds StartTemporal when the caller's context has
	// no deadline; a healthy start takes about a second.
	defaultReadyTimeout = 60 * time.Second

	// historyCacheEntriesDefault bounds the history service's cache of
	// workflow states (docs/benchmarks.md#memory-of-dev). The server's own
	// default, 128,000 entries kept up to an hour, is sized for a cluster
	// node: in dev every finished run stayed cached for an hour, and the
	// process grew with the number of runs. A dev's working set is its
	// running workflows (runs, schedules, locks); a state that falls out
	// is read back from SQLite when its workflow next moves.
	historyCacheEntriesDefault = 2000

	// historyCacheTTL drops a cached workflow state nobody touched for this
	// long, so an idle dev gives its memory back (the server's default is
	// an hour).
	historyCacheTTL = 10 * time.Minute

	clusterName    = "active"
	storeName      = "sqlite"
	temporalSubdir = "temporal"
	dbFileName     = "temporal.db"
	clusterIDFile  = "cluster-id"
)

// DefaultSearchAttributes returns the custom search attributes activity-core
// relies on when listing and reconciling its schedules: the hash of the
// desired schedule (to detect drift without describing every schedule) and
// the definition it came from. The names are repeated here only as a
// default for `dev`; the code that sets them on schedules owns them and
// should pass them in TemporalConfig.SearchAttributes explicitly.
func DefaultSearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		"ActivityCoreSpecHash":     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"ActivityCoreDefinitionID": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// TemporalConfig describes an embedded Temporal server. The zero value is a
// usable test server: in memory, on free loopback ports, namespace
// "default", activity-core's search attributes, logs discarded.
type TemporalConfig struct {
	// DataDir keeps the server's state (DataDir/temporal/temporal.db and its
	// cluster ID) across restarts, so `dev` keeps schedules and run history.
	// Empty means in memory: state vanishes with the server, which is what
	// tests want.
	DataDir string

	// FrontendAddr is the frontend gRPC listen address (host:port). A fixed
	// port lets the temporal CLI and UI find the dev server (`dev`
	// uses 127.0.0.1:7233). Empty or port 0 picks a free loopback port, so
	// parallel test binaries never collide. The other services always bind
	// free loopback ports.
	FrontendAddr string

	// Namespace is created before the server starts (the server cannot create
	// it faster itself). Empty means defaultNamespace.
	Namespace string

	// SearchAttributes are registered on the namespace: at creation for a new
	// database, through the operator API for an existing one. Nil means
	// DefaultSearchAttributes; an empty non-nil map registers none.
	SearchAttributes map[string]enumspb.IndexedValueType

	// HistoryCacheEntries bounds the history service's cache of workflow
	// states; 0 means historyCacheEntriesDefault.
	HistoryCacheEntries int

	// Logger receives the server's own logs at Warn and above (at Info the
	// server writes hundreds of lines per minute that say nothing useful to
	// an activity-core user). Nil discards them.
	Logger *slog.Logger

	// TLS, when set, serves the frontend over TLS through the server's own
	// global.tls settings, for tests of secure connections. Nil is
	// plaintext, as `dev` uses.
	TLS *TemporalTLS

	// FrontendInterceptors run on every frontend gRPC call after the
	// server's own, so a test can see what clients send.
	FrontendInterceptors []grpc.UnaryServerInterceptor
}

// TemporalTLS is the frontend's TLS. The server's own system worker (which
// runs schedules) presents CertFile to the frontend as its client
// certificate, so CertFile must be good for client authentication too,
// and ServerName must be one of its names.
type TemporalTLS struct {
	CertFile, KeyFile string
	// CAFile signed CertFile and the client certificates the frontend
	// accepts.
	CAFile            string
	ServerName        string
	RequireClientAuth bool
}

// rootTLS is the server's global.tls for t.
func (t *TemporalTLS) rootTLS() config.RootTLS {
	client := config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.CAFile}}
	return config.RootTLS{
		Frontend: config.GroupTLS{
			Server: config.ServerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFiles: []string{t.CAFile}, RequireClientAuth: t.RequireClientAuth},
			Client: client,
		},
		SystemWorker: config.WorkerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile, Client: client},
	}
}

// dialOption is how waitReady reaches a TLS frontend: as the system
// worker does.
func (t *TemporalTLS) dialOption() (grpc.DialOption, error) {
	if t == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no PEM certificate", t.CAFile)
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: t.ServerName, MinVersion: tls.VersionTLS12,
	})), nil
}

// Temporal is a running embedded Temporal server. It exists so `dev` and
// integration tests get the real server behaviour (schedules, visibility
// queries, retries, timeouts) with nothing installed; production code must
// only ever see its Address.
type Temporal struct {
	srv       temporal.Server
	addr      string
	namespace string
	level     *slog.LevelVar
	dial      grpc.DialOption

	stopOnce sync.Once
	stopErr  error
}

// Address is the frontend gRPC address (host:port) for SDK clients and the
// temporal CLI, i.e. what production reads from ACTIVITY_TEMPORAL_ADDRESS.
func (t *Temporal) Address() string { return t.addr }

// Namespace is the namespace that was created and checked at start; clients
// must use it, since no other namespace exists on a fresh server.
func (t *Temporal) Namespace() string { return t.namespace }

// Stop shuts the server down and releases all of its listeners, so the
// same ports can be bound again in this process (tests restart on the same
// data directory; `dev` restarts after a crash). It silences the server's
// warnings first: shutdown always logs failed long polls that mean nothing.
// Stop is idempotent.
func (t *Temporal) Stop() error {
	t.stopOnce.Do(func() {
		t.level.Set(slog.LevelError + 1)
		t.stopErr = t.srv.Stop()
	})
	return t.stopErr
}

// StartTemporal starts an in-process Temporal server and returns once it is
// ready: a client can connect, the namespace can be described and the
// search attributes are registered. It gives up when ctx is done (or after
// a minute if ctx has no deadline) and leaves nothing running on error.
func StartTemporal(ctx context.Context, cfg TemporalConfig) (*Temporal, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultReadyTimeout)
		defer cancel()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	addrs, err := pickAddrs(cfg.FrontendAddr)
	if err != nil {
		return nil, err
	}
	sqlCfg, newDB, clusterID, err := prepareStore(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}

	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	logger := newSlogLogger(cfg.Logger, level)

	scfg := serverConfig(sqlCfg, clusterID, addrs)
	if cfg.TLS != nil {
		scfg.Global.TLS = cfg.TLS.rootTLS()
	}
	dialOpt, err := cfg.TLS.dialOption()
	if err != nil {
		return nil, fmt.Errorf("devserver: TLS: %w", err)
	}
	if err := createNamespace(sqlCfg, newDB, cfg); err != nil {
		return nil, err
	}
	srv, err := newServer(scfg, addrs, logger, cfg)
	if err != nil {
		return nil, err
	}
	t := &Temporal{srv: srv, addr: addrs.frontendDial, namespace: cfg.Namespace, level: level, dial: dialOpt}
	if err := srv.Start(); err != nil {
		_ = t.Stop()
		return nil, fmt.Errorf("devserver: start Temporal server: %w", err)
	}
	if err := t.waitReady(ctx, cfg.SearchAttributes); err != nil {
		_ = t.Stop()
		return nil, fmt.Errorf("devserver: Temporal server on %s not ready: %w", addrs.frontendDial, err)
	}
	return t, nil
}

// withDefaults checks cfg and fills in the defaults of what it leaves zero.
func (cfg TemporalConfig) withDefaults() (TemporalConfig, error) {
	cfg.Namespace = cmp.Or(cfg.Namespace, defaultNamespace)
	if cfg.SearchAttributes == nil {
		cfg.SearchAttributes = DefaultSearchAttributes()
	}
	if cfg.HistoryCacheEntries < 0 {
		return cfg, fmt.Errorf("devserver: HistoryCacheEntries is %d; give a positive number or 0 for the default (%d)", cfg.HistoryCacheEntries, historyCacheEntriesDefault)
	}
	cfg.HistoryCacheEntries = cmp.Or(cfg.HistoryCacheEntries, historyCacheEntriesDefault)
	for name, typ := range cfg.SearchAttributes {
		if name == "" || typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED || enumspb.IndexedValueType_name[int32(typ)] == "" {
			return cfg, fmt.Errorf("devserver: search attribute %q: invalid name or type %v", name, typ)
		}
	}
	return cfg, nil
}

// hostPort is where one of the server's services listens.
type hostPort struct {
	ip   string
	port int
}

// serverAddrs are the addresses the server's services listen on.
type serverAddrs struct {
	services map[primitives.ServiceName]hostPort
	// httpPort is the frontend's HTTP API port, on the frontend's IP.
	httpPort int
	// frontendDial and frontendHTTP are the frontend's gRPC and HTTP
	// addresses as a client dials them.
	frontendDial, frontendHTTP string
}

// pickAddrs chooses the services' addresses: the frontend's from
// frontendAddr (a free port when it names none), the others free ports
// on loopback.
func pickAddrs(frontendAddr string) (serverAddrs, error) {
	frontIP, frontPort, err := splitAddr(frontendAddr, net.JoinHostPort(loopback, "0"))
	if err != nil {
		return serverAddrs{}, fmt.Errorf("devserver: frontend: %w", err)
	}
	ports, err := freePorts(loopback, 3)
	if err != nil {
		return serverAddrs{}, fmt.Errorf("devserver: %w", err)
	}
	// The frontend's HTTP API (Nexus, the HTTP flavour of the API) always
	// gets a free port beside the gRPC one: the server warns on every start
	// without it, and nobody needs it at a fixed address.
	frontPorts, err := freePorts(frontIP, 2)
	if err != nil {
		return serverAddrs{}, fmt.Errorf("devserver: frontend: %w", err)
	}
	httpPort := frontPorts[1]
	if frontPort == 0 {
		frontPort = frontPorts[0]
	} else if err := checkFree(net.JoinHostPort(frontIP, strconv.Itoa(frontPort))); err != nil {
		return serverAddrs{}, fmt.Errorf("devserver: frontend: %w", err)
	}
	return serverAddrs{
		services: map[primitives.ServiceName]hostPort{
			primitives.FrontendService: {frontIP, frontPort},
			primitives.HistoryService:  {loopback, ports[0]},
			primitives.MatchingService: {loopback, ports[1]},
			primitives.WorkerService:   {loopback, ports[2]},
		},
		httpPort:     httpPort,
		frontendDial: net.JoinHostPort(dialHost(frontIP), strconv.Itoa(frontPort)),
		frontendHTTP: net.JoinHostPort(dialHost(frontIP), strconv.Itoa(httpPort)),
	}, nil
}

// serverConfig is the server's configuration: one cluster of one shard on
// the SQLite store sqlCfg, no archival, the services at addrs.
func serverConfig(sqlCfg *config.SQL, clusterID string, addrs serverAddrs) *config.Config {
	scfg := &config.Config{
		Global: config.Global{
			Membership: config.Membership{
				MaxJoinDuration:  30 * time.Second,
				BroadcastAddress: loopback,
			},
		},
		Persistence: config.Persistence{
			DefaultStore:     storeName,
			VisibilityStore:  storeName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{storeName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             addrs.frontendDial,
					HTTPAddress:            addrs.frontendHTTP,
					ClusterID:              clusterID,
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            map[string]config.Service{},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The worker service (which runs schedules) dials the frontend
		// through this; without it the server panics at start.
		PublicClient: config.PublicClient{HostPort: addrs.frontendDial},
	}
	for svc, hp := range addrs.services {
		rpc := config.RPC{GRPCPort: hp.port, BindOnIP: hp.ip}
		if svc == primitives.FrontendService {
			rpc.HTTPPort = addrs.httpPort
		}
		scfg.Services[string(svc)] = config.Service{RPC: rpc}
	}
	return scfg
}

// createNamespace creates the schema in a new database, and the namespace
// with its search attributes.
func createNamespace(sqlCfg *config.SQL, newDB bool, cfg TemporalConfig) error {
	if newDB {
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			removeDB(sqlCfg.DatabaseName)
			return fmt.Errorf("devserver: create SQLite schema: %w", err)
		}
	}
	nsCfg, err := sqliteschema.NewNamespaceConfig(clusterName, cfg.Namespace, false, cfg.SearchAttributes)
	if err != nil {
		return fmt.Errorf("devserver: namespace %q: %w", cfg.Namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, nsCfg); err != nil {
		return fmt.Errorf("devserver: create namespace %q: %w", cfg.Namespace, err)
	}
	return nil
}

// newServer makes the server of all services, each on its own address.
func newServer(scfg *config.Config, addrs serverAddrs, logger *slogLogger, cfg TemporalConfig) (temporal.Server, error) {
	hosts := make(map[primitives.ServiceName]static.Hosts, len(addrs.services))
	for svc, hp := range addrs.services {
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(dialHost(hp.ip), strconv.Itoa(hp.port)))
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&scfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&scfg.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: claim mapper: %w", err)
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(scfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(devDynamicConfig(cfg.HistoryCacheEntries)),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithChainedFrontendGrpcInterceptors(cfg.FrontendInterceptors...),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: create Temporal server: %w", err)
	}
	return srv, nil
}

// devDynamicConfig adapts a server built for shared production clusters to
// one developer's process.
//
// Limits: visibility (List*) is limited to 10 requests/s per namespace by
// default, which a reconcile loop listing schedules, the UI and a test's
// polling exceed together.
//
// System workers: the server starts SDK workers for the task-queue and
// history scanners (daily garbage collection of task and history tables)
// and for the parent-close-policy processor, and never stops them (a TODO
// in the server's scanner): after Stop they keep retrying against the dead
// frontend, ~100 goroutines per stopped server, until the process exits.
// A dev database does not need the garbage collection, and with the
// parent-close-policy worker disabled history applies parent close policies
// inline instead (same outcome), so all three are turned off.
//
// Memory: the history cache holds at most historyEntries workflow states,
// for at most historyCacheTTL (see historyCacheEntriesDefault).
func devDynamicConfig(historyEntries int) dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key():        5000,
		dynamicconfig.FrontendMaxNamespaceVisibilityBurstRatioPerInstance.Key(): 2.0,
		dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key():                  10000,
		dynamicconfig.FrontendRPS.Key():                                         10000,

		dynamicconfig.TaskQueueScannerEnabled.Key():       false,
		dynamicconfig.HistoryScannerEnabled.Key():         false,
		dynamicconfig.EnableParentClosePolicyWorker.Key(): false,

		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): historyEntries,
		dynamicconfig.HistoryCacheTTL.Key():              historyCacheTTL,
	}
}

// prepareStore builds the SQLite persistence config and reports whether the
// schema must be created (a new database file). For a data directory it
// also loads or creates the cluster ID, which must stay the same for the
// life of the database and must be a UUID (otherwise the server replaces it
// and warns on every start).
func prepareStore(dataDir string) (sql *config.SQL, newDB bool, clusterID string, err error) {
	sql = &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{},
	}
	if dataDir == "" {
		// A unique name: the plugin pools connections per DSN process-wide,
		// so two in-memory servers with one name would share a database.
		sql.DatabaseName = "devserver-" + uuid.NewString()
		sql.ConnectAttributes["mode"] = "memory"
		sql.ConnectAttributes["cache"] = "shared"
		// The plugin creates the schema itself when it opens an in-memory
		// database; running SetupSchema as well fails on existing tables.
		return sql, false, uuid.NewString(), nil
	}

	dir := filepath.Join(dataDir, temporalSubdir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, "", fmt.Errorf("data dir: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, false, "", fmt.Errorf("data dir: %w", err)
	}
	dbPath := filepath.Join(dir, dbFileName)
	switch _, err := os.Stat(dbPath); {
	case errors.Is(err, os.ErrNotExist):
		newDB = true
	case err != nil:
		return nil, false, "", fmt.Errorf("data dir: %w", err)
	}

	idPath := filepath.Join(dir, clusterIDFile)
	b, err := os.ReadFile(idPath)
	switch {
	case err == nil && uuid.Validate(strings.TrimSpace(string(b))) == nil:
		clusterID = strings.TrimSpace(string(b))
	case err == nil || errors.Is(err, os.ErrNotExist):
		// Missing or damaged: the database (if any) keeps the ID it was
		// created with, so a new one only matters for a new database.
		clusterID = uuid.NewString()
		if err := os.WriteFile(idPath, []byte(clusterID+"\n"), 0o600); err != nil {
			return nil, false, "", fmt.Errorf("data dir: %w", err)
		}
	default:
		return nil, false, "", fmt.Errorf("data dir: %w", err)
	}

	sql.DatabaseName = dbPath
	sql.ConnectAttributes["mode"] = "rwc"
	// WAL with synchronous=normal survives a crash of the process (`dev`
	// being killed) and avoids several fsyncs per workflow task.
	sql.ConnectAttributes["journal_mode"] = "wal"
	sql.ConnectAttributes["synchronous"] = "normal"
	return sql, newDB, clusterID, nil
}

// removeDB deletes a half-created database file so the next start creates
// the schema again instead of finding a file without tables.
func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(path + suffix)
	}
}

// waitReady polls until a client can describe the namespace, then makes
// sure every configured search attribute exists (adding those an existing
// database lacks) and is visible to clients.
func (t *Temporal) waitReady(ctx context.Context, want map[string]enumspb.IndexedValueType) error {
	conn, err := grpc.NewClient(t.addr, t.dial)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	wf := workflowservice.NewWorkflowServiceClient(conn)
	op := operatorservice.NewOperatorServiceClient(conn)

	if err := poll(ctx, func(ctx context.Context) error {
		_, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: t.namespace})
		return err
	}); err != nil {
		return fmt.Errorf("describe namespace %q: %w", t.namespace, err)
	}

	var missing map[string]enumspb.IndexedValueType
	if err := poll(ctx, func(ctx context.Context) error {
		resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: t.namespace})
		if err != nil {
			return err
		}
		missing, err = missingAttributes(want, resp)
		return err
	}); err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	if len(missing) == 0 {
		return nil
	}
	if err := poll(ctx, func(ctx context.Context) error {
		_, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace:        t.namespace,
			SearchAttributes: missing,
		})
		return err
	}); err != nil {
		return fmt.Errorf("add search attributes %v: %w", slices.Sorted(maps.Keys(missing)), err)
	}
	// The frontend reads search attributes through its namespace cache;
	// wait until it serves the new ones so the first caller is not refused.
	return poll(ctx, func(ctx context.Context) error {
		resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: t.namespace})
		if err != nil {
			return err
		}
		m, err := missingAttributes(want, resp)
		if err == nil && len(m) > 0 {
			err = fmt.Errorf("search attributes %v not visible yet", slices.Sorted(maps.Keys(m)))
		}
		return err
	})
}

// errPermanent marks a poll failure that waiting cannot fix.
type errPermanent struct{ error }

func missingAttributes(want map[string]enumspb.IndexedValueType, resp *operatorservice.ListSearchAttributesResponse) (map[string]enumspb.IndexedValueType, error) {
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := resp.GetCustomAttributes()[name]
		if !ok {
			if _, system := resp.GetSystemAttributes()[name]; system {
				return nil, errPermanent{fmt.Errorf("search attribute %q is a system attribute", name)}
			}
			missing[name] = typ
			continue
		}
		if got != typ {
			return nil, errPermanent{fmt.Errorf("search attribute %q exists as %v, want %v (remove the data directory's temporal/ folder to recreate it)", name, got, typ)}
		}
	}
	return missing, nil
}

// poll runs try until it succeeds, returns a permanent error, or ctx ends,
// backing off from 20 ms to 500 ms between attempts. Each attempt gets its
// own short deadline so one hung call cannot use up the whole budget.
func poll(ctx context.Context, try func(context.Context) error) error {
	wait := 20 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := try(actx)
		cancel()
		if err == nil {
			return nil
		}
		var perm errPermanent
		if errors.As(err, &perm) {
			return perm.error
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-timer.C:
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}
