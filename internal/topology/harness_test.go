package topology

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// TemporalVersion is the Temporal server the harness builds: the version
// go.mod pins (the SDK and the embedded dev server use the same).
const temporalVersion = "v1.32.1"

const (
	adminToken = "topology-admin-token-0123456789"
	namespace  = "default"
	taskQueue  = "activity-core"
	streamName = "ACTIVITY"
)

// searchAttributes are the custom search attributes activity-core needs
// (devserver.DefaultSearchAttributes; repeated here because importing
// devserver would pull the Temporal server into this test binary).
var searchAttributes = map[string]enumspb.IndexedValueType{
	"ActivityCoreSpecHash":     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"ActivityCoreDefinitionID": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}

// cluster is a running topology.
type cluster struct {
	dir    string // removed at teardown
	pgDir  string // owned by the postgres user when we are root
	bins   binaries
	defs   string // ACTIVITY_DEFINITION_PATHS of every replica
	procs  map[string]*proc
	order  []string // start order (Layout)
	pgPort int

	frontendAddr string
	natsURLs     []string
	pki          *pki              // TLS mode only (docs/topology.md#tls-mode)
	apiURL       map[string]string // api-1, api-2 -> http://host:port
	dbURL        string

	tc   client.Client
	db   *pgxpool.Pool // the activity-core store, for assertions
	nc   *nats.Conn
	js   jetstream.JetStream
	ctx  context.Context
	stop context.CancelFunc

	// streamCreatedReplicas is the replica count of the stream as the
	// router created it (before the harness scales it up, if it had to).
	streamCreatedReplicas int
	bringUp               time.Duration
}

type binaries struct {
	temporal, sqlTool, activity, nats, pgBin string
}

var (
	shared     *cluster
	sharedErr  error
	sharedOnce sync.Once
	teardownMu sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	teardownShared()
	os.Exit(code)
}

// teardownShared stops the shared topology, if one was brought up.
func teardownShared() {
	teardownMu.Lock()
	defer teardownMu.Unlock()
	if shared != nil {
		shared.teardown()
		shared = nil
	}
}

// topologyEnabled skips t unless the topology tests are asked for.
func topologyEnabled(t testing.TB) {
	t.Helper()
	if os.Getenv("ACTIVITY_TEST_TOPOLOGY") != "1" {
		t.Skip("set ACTIVITY_TEST_TOPOLOGY=1 to bring up the production topology (Temporal cluster on a private PostgreSQL, 3 NATS nodes, 6 activity-core processes; a few minutes)")
	}
	if _, err := pgBinDir(); err != nil {
		t.Skipf("topology needs PostgreSQL server binaries: %v", err)
	}
	if _, err := natsServerPath(); err != nil {
		t.Skipf("topology needs nats-server: %v", err)
	}
}

// getCluster returns the shared topology, bringing it up on first use.
func getCluster(t testing.TB) *cluster {
	t.Helper()
	topologyEnabled(t)
	sharedOnce.Do(func() {
		start := time.Now()
		c, err := bringUp(t, func(format string, args ...any) { fmt.Fprintf(os.Stderr, "topology: "+format+"\n", args...) })
		teardownMu.Lock()
		shared, sharedErr = c, err
		teardownMu.Unlock()
		if err == nil {
			c.bringUp = time.Since(start)
			fmt.Fprintf(os.Stderr, "topology: up in %s\n", c.bringUp.Round(time.Millisecond))
		}
		// A ^C or SIGTERM (go test's own timeout kills with SIGQUIT, which
		// Pdeathsig covers) still tears everything down.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			s := <-sig
			fmt.Fprintf(os.Stderr, "topology: %v: tearing down\n", s)
			teardownShared()
			os.Exit(2)
		}()
	})
	if sharedErr != nil {
		t.Fatalf("topology bring-up: %v", sharedErr)
	}
	if shared == nil {
		t.Fatal("topology bring-up stopped in the first test (see its failure)")
	}
	t.Cleanup(func() {
		if t.Failed() {
			shared.dumpLogs(t, 40)
		}
	})
	return shared
}

// binCacheDir is where the Temporal binaries are kept between runs.
func binCacheDir() (string, error) {
	if d := os.Getenv("ACTIVITY_TOPOLOGY_BIN_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "activity-core-topology-bin", temporalVersion), nil
}

// buildTemporal installs the Temporal server and its SQL tool at
// temporalVersion into the cache with `go install pkg@version`, which
// builds them with their own go.mod (our go.mod is not touched and need
// not list their dependencies) and reuses the module and build caches.
func buildTemporal() (server, sqlTool string, err error) {
	dir, err := binCacheDir()
	if err != nil {
		return "", "", err
	}
	server, sqlTool = filepath.Join(dir, "server"), filepath.Join(dir, "sql")
	if fileExists(server) && fileExists(sqlTool) {
		return server, sqlTool, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	env := append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if err := run(env, os.TempDir(), "go", "install",
		"go.temporal.io/server/cmd/server@"+temporalVersion,
		"go.temporal.io/server/cmd/tools/sql@"+temporalVersion); err != nil {
		return "", "", fmt.Errorf("building Temporal %s (needs the Go module proxy or a warm module cache): %w", temporalVersion, err)
	}
	return server, sqlTool, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// pgBinDir finds initdb and postgres: ACTIVITY_TOPOLOGY_PG_BIN, else the
// newest /usr/lib/postgresql/*/bin.
func pgBinDir() (string, error) {
	if d := os.Getenv("ACTIVITY_TOPOLOGY_PG_BIN"); d != "" {
		if !fileExists(filepath.Join(d, "initdb")) {
			return "", fmt.Errorf("ACTIVITY_TOPOLOGY_PG_BIN=%s has no initdb", d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if fileExists(filepath.Join(dirs[i], "initdb")) && fileExists(filepath.Join(dirs[i], "postgres")) {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no /usr/lib/postgresql/*/bin/initdb; install postgresql or set ACTIVITY_TOPOLOGY_PG_BIN")
}

// natsServerPath finds nats-server: ACTIVITY_TOPOLOGY_NATS_SERVER, else
// PATH, else /usr/sbin.
func natsServerPath() (string, error) {
	if p := os.Getenv("ACTIVITY_TOPOLOGY_NATS_SERVER"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if fileExists("/usr/sbin/nats-server") {
		return "/usr/sbin/nats-server", nil
	}
	return "", fmt.Errorf("nats-server not found; install it or set ACTIVITY_TOPOLOGY_NATS_SERVER")
}

// moduleRoot is the activity-core module directory (tests run in the
// package directory).
func moduleRoot() (string, error) {
	return filepath.Abs(filepath.Join("..", ".."))
}

// baseEnv is the environment of child processes: ours without any
// ACTIVITY_* setting or an alias of one (TEMPORAL_*, NATS_*), so the
// harness decides every one.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ACTIVITY_") && !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "SQL_") && !strings.HasPrefix(kv, "NATS_") {
			out = append(out, kv)
		}
	}
	return out
}

// bringUp starts every process of Layout and waits until each is ready.
// On error everything started so far is torn down. t is the first test,
// which fails if the TLS mode's certificates cannot be made.
func bringUp(t testing.TB, logf func(string, ...any)) (c *cluster, err error) {
	c = &cluster{procs: map[string]*proc{}, apiURL: map[string]string{}}
	c.ctx, c.stop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			c.dumpLogs(nil, 30)
			c.teardown()
			c = nil
		}
	}()
	if c.dir, err = os.MkdirTemp("", "activity-topology-"); err != nil {
		return c, err
	}
	c.defs = filepath.Join(c.dir, "definitions")
	for _, d := range []string{c.defs, filepath.Join(c.dir, "logs"), filepath.Join(c.dir, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
	}

	// Binaries: Temporal (cached by version) and activity-core built in
	// parallel; activity-core is the production build (-tags nodev).
	logf("building binaries (Temporal %s is cached after the first run)", temporalVersion)
	if c.bins.pgBin, err = pgBinDir(); err != nil {
		return c, err
	}
	if c.bins.nats, err = natsServerPath(); err != nil {
		return c, err
	}
	root, err := moduleRoot()
	if err != nil {
		return c, err
	}
	c.bins.activity = filepath.Join(c.dir, "bin", "activity-core")
	var wg sync.WaitGroup
	var terr, aerr error
	wg.Go(func() { c.bins.temporal, c.bins.sqlTool, terr = buildTemporal() })
	wg.Go(func() {
		aerr = run(os.Environ(), root, "go", "build", "-tags", "nodev", "-o", c.bins.activity, "./cmd/activity-core")
	})
	wg.Wait()
	if terr != nil {
		return c, terr
	}
	if aerr != nil {
		return c, aerr
	}

	// 1 postgres, 9 Temporal (frontend grpc+membership+http, 3 more
	// services x grpc+membership), 6 NATS (client+cluster), 2 api.
	ports, err := freePorts(18)
	if err != nil {
		return c, err
	}
	next := func() int { p := ports[0]; ports = ports[1:]; return p }
	c.pgPort = next()
	tports := map[string][3]int{}
	for _, svc := range []string{"frontend", "history", "matching", "worker"} {
		tports[svc] = [3]int{next(), next(), 0}
	}
	fe := tports["frontend"]
	fe[2] = next()
	tports["frontend"] = fe
	c.frontendAddr = fmt.Sprintf("127.0.0.1:%d", fe[0])
	scheme := "nats"
	if tlsMode() {
		scheme = "tls"
		logf("TLS mode: test CA, Temporal mTLS, NATS TLS with operator-mode credentials, PostgreSQL verify-full")
		c.pki = newPKI(t, filepath.Join(c.dir, "tls"))
	}
	var natsPorts [][2]int
	for range 3 {
		natsPorts = append(natsPorts, [2]int{next(), next()})
		c.natsURLs = append(c.natsURLs, fmt.Sprintf("%s://127.0.0.1:%d", scheme, natsPorts[len(natsPorts)-1][0]))
	}
	apiPorts := []int{next(), next()}

	for _, p := range Layout {
		switch p.Kind {
		case "postgres":
			if err := c.startPostgres(logf); err != nil {
				return c, err
			}
		case "temporal":
			if p.Role == "frontend" {
				if err := c.writeTemporalConfig(tports); err != nil {
					return c, err
				}
			}
			if err := c.startTemporal(p, logf); err != nil {
				return c, err
			}
		case "nats":
			if err := c.startNATS(p, natsPorts); err != nil {
				return c, err
			}
		case "activity-core":
			if p.Name == "api-1" { // first activity-core process
				if err := c.waitNATS(logf); err != nil {
					return c, err
				}
			}
			if err := c.startActivityCore(p, apiPorts); err != nil {
				return c, err
			}
		default:
			return c, fmt.Errorf("layout: unknown kind %q of %s", p.Kind, p.Name)
		}
		c.order = append(c.order, p.Name)
	}
	logf("waiting for activity-core")
	for _, p := range Layout {
		if p.Kind == "activity-core" {
			if err := c.waitActivityCore(p.Name, 90*time.Second); err != nil {
				return c, err
			}
		}
	}
	if err := c.ensureStreamReplicated(logf); err != nil {
		return c, err
	}
	return c, nil
}

// startPostgres initialises and starts a private PostgreSQL cluster (so
// scenario 7 can restart it without touching anyone else's database) and
// creates activity-core's database.
func (c *cluster) startPostgres(logf func(string, ...any)) error {
	var cred *syscall.Credential
	var err error
	if c.pgDir, err = os.MkdirTemp("", "activity-topology-pg-"); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run PostgreSQL as "postgres".
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(c.pgDir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(c.pgDir, "data")
	logf("initdb + postgres on 127.0.0.1:%d", c.pgPort)
	initdb := exec.Command(filepath.Join(c.bins.pgBin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.Env = append(baseEnv(), "LC_ALL=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	var sslArgs []string
	if c.pki != nil {
		if sslArgs, err = c.pki.postgresTLS(c.pgDir, data, cred); err != nil {
			return err
		}
	}
	p := &proc{
		name: "postgres", path: filepath.Join(c.bins.pgBin, "postgres"), dir: c.pgDir, cred: cred,
		logPath: filepath.Join(c.dir, "logs", "postgres.log"), env: append(baseEnv(), "LC_ALL=C"),
		args: []string{"-D", data, "-p", strconv.Itoa(c.pgPort), "-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories=", "-c", "max_connections=400", "-c", "fsync=off",
			"-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "shared_buffers=64MB"},
	}
	p.args = append(p.args, sslArgs...)
	c.procs[p.name] = p
	if err := p.start(); err != nil {
		return err
	}
	if err := c.waitPostgres(30 * time.Second); err != nil {
		return err
	}
	conn, err := pgx.Connect(c.ctx, c.pgURL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(c.ctx)
	if _, err := conn.Exec(c.ctx, "CREATE DATABASE activity"); err != nil {
		return err
	}
	c.dbURL = c.pgURL("activity")
	c.db, err = pgxpool.New(c.ctx, c.dbURL)
	return err
}

// pgURL is the URL of database db; in TLS mode it verifies the server's
// certificate against the test CA (sslmode=verify-full).
func (c *cluster) pgURL(db string) string {
	if c.pki != nil {
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=verify-full&sslrootcert=%s", c.pgPort, db, url.QueryEscape(c.pki.ca))
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.pgPort, db)
}

// waitPostgres polls until PostgreSQL accepts queries.
func (c *cluster) waitPostgres(timeout time.Duration) error {
	return testsupport.Poll(timeout, func() error {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.pgURL("postgres"))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	})
}

// writeTemporalConfig creates Temporal's databases with its SQL tool and
// writes the server config: the module's development-postgres12.yaml
// with our ports and database, dynamic config from development-sql.yaml.
func (c *cluster) writeTemporalConfig(ports map[string][3]int) error {
	env := append(baseEnv(), "SQL_PLUGIN=postgres12", "SQL_HOST=127.0.0.1", "SQL_PORT="+strconv.Itoa(c.pgPort), "SQL_USER=postgres", "SQL_PASSWORD=")
	if c.pki != nil {
		env = append(env, "SQL_TLS=true", "SQL_TLS_CA_FILE="+c.pki.ca)
	}
	for _, db := range []struct{ name, schema string }{{"temporal", "postgresql/v12/temporal"}, {"temporal_visibility", "postgresql/v12/visibility"}} {
		dbEnv := append(env, "SQL_DATABASE="+db.name)
		for _, args := range [][]string{
			{"create-database"},
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "--schema-name", db.schema},
		} {
			if err := run(dbEnv, c.dir, c.bins.sqlTool, args...); err != nil {
				return err
			}
		}
	}
	cfgDir := filepath.Join(c.dir, "temporal")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return err
	}
	dyn := filepath.Join(cfgDir, "dynamicconfig.yaml")
	if err := os.WriteFile(dyn, []byte(fmt.Sprintf(dynamicConfig, ports["frontend"][2])), 0o644); err != nil {
		return err
	}
	svc := func(name string) string {
		p := ports[name]
		s := fmt.Sprintf("  %s:\n    rpc:\n      grpcPort: %d\n      membershipPort: %d\n      bindOnLocalHost: true\n", name, p[0], p[1])
		if p[2] != 0 {
			s += fmt.Sprintf("      httpPort: %d\n", p[2])
		}
		return s
	}
	var tlsBlock, sqlTLS string
	if c.pki != nil {
		tlsBlock, sqlTLS = c.pki.temporalServerTLS(), c.pki.temporalSQLTLS()
	}
	cfg := fmt.Sprintf(serverConfig, c.pgPort, sqlTLS, c.pgPort, sqlTLS, tlsBlock,
		svc("frontend")+svc("history")+svc("matching")+svc("worker"), c.frontendAddr, dyn)
	return os.WriteFile(filepath.Join(cfgDir, "topology.yaml"), []byte(cfg), 0o644)
}

// serverConfig is development-postgres12.yaml with the ports, database
// and user of the harness; metrics and pprof are off (four processes
// would fight over one port) and archival is left at its default (off).
// In TLS mode global.tls is filled in (pki.temporalServerTLS).
const serverConfig = `log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
      sql:
        pluginName: "postgres12"
        databaseName: "temporal"
        connectAddr: "127.0.0.1:%d"
        connectProtocol: "tcp"
        user: "postgres"
        password: ""
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: "1h"
%s    postgres-visibility:
      sql:
        pluginName: "postgres12"
        databaseName: "temporal_visibility"
        connectAddr: "127.0.0.1:%d"
        connectProtocol: "tcp"
        user: "postgres"
        password: ""
        maxConns: 5
        maxIdleConns: 5
        maxConnLifetime: "1h"
%s
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
%s
services:
%s
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "%s"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: "%s"
  pollInterval: "10s"
`

// dynamicConfig is development-sql.yaml's settings, plus a 1s namespace
// cache refresh so a namespace registered at bring-up is usable at once
// on every service.
const dynamicConfig = `limit.maxIDLength:
  - value: 255
    constraints: {}
system.namespaceCacheRefreshInterval:
  - value: 1s
frontend.workerVersioningDataAPIs:
  - value: true
frontend.workerVersioningWorkflowAPIs:
  - value: true
frontend.workerVersioningRuleAPIs:
  - value: true
system.enableDeploymentVersions:
  - value: true
system.enableDeployments:
  - value: true
component.nexusoperations.callback.endpoint.template:
  - value: http://127.0.0.1:%d/namespaces/{{.NamespaceName}}/nexus/callback
callback.allowedAddresses:
  - value:
      - Pattern: "*"
        AllowInsecure: true
history.hostLevelCacheMaxSize:
  - value: 8192
`

// startTemporal starts one Temporal service as its own process; after the
// last one it registers the namespace and search attributes.
func (c *cluster) startTemporal(p Process, logf func(string, ...any)) error {
	pr := &proc{
		name: p.Name, path: c.bins.temporal, dir: c.dir, env: baseEnv(),
		logPath: filepath.Join(c.dir, "logs", p.Name+".log"),
		args: []string{"--config-file", filepath.Join(c.dir, "temporal", "topology.yaml"),
			"--allow-no-auth", "start", "--service", p.Role},
	}
	c.procs[p.Name] = pr
	if err := pr.start(); err != nil {
		return err
	}
	if p.Role != "worker" { // the last Temporal service in Layout
		return nil
	}
	logf("waiting for the Temporal cluster at %s", c.frontendAddr)
	return c.setupNamespace(2 * time.Minute)
}

// setupNamespace registers the namespace and the search attributes, then
// waits until a workflow can be started (history and matching see the
// namespace).
func (c *cluster) setupNamespace(timeout time.Duration) error {
	var err error
	if err = testsupport.Poll(timeout, func() error {
		// Services started together on fresh databases sometimes race to
		// initialise the cluster metadata and one exits at start; restart
		// it, as a process supervisor would (compose: restart on-failure).
		for _, p := range Layout {
			pr := c.procs[p.Name]
			if p.Kind != "temporal" || pr.running() {
				continue
			}
			if pr.startCount() >= 4 {
				return fmt.Errorf("%w: %s exited %d times:\n%s", testsupport.ErrGaveUp, p.Name, pr.startCount(), pr.tail(5))
			}
			if err := pr.start(); err != nil {
				return fmt.Errorf("%w: %v", testsupport.ErrGaveUp, err)
			}
			fmt.Fprintf(os.Stderr, "topology: %s exited during bring-up; restarted it\n", p.Name)
		}
		if c.tc == nil {
			opts, err := c.temporalOptions(namespace)
			if err != nil {
				return fmt.Errorf("%w: %v", testsupport.ErrGaveUp, err)
			}
			c.tc, err = client.Dial(opts)
			if err != nil {
				return err
			}
		}
		_, err := c.tc.CheckHealth(c.ctx, &client.CheckHealthRequest{})
		return err
	}); err != nil {
		return fmt.Errorf("temporal frontend health: %w", err)
	}
	opts, err := c.temporalOptions("")
	if err != nil {
		return err
	}
	nsc, err := client.NewNamespaceClient(opts)
	if err != nil {
		return err
	}
	defer nsc.Close()
	if err := testsupport.Poll(timeout, func() error {
		err := nsc.Register(c.ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
		})
		if err != nil && !strings.Contains(err.Error(), "already") {
			return err
		}
		return nil
	}); err != nil {
		return fmt.Errorf("register namespace: %w", err)
	}
	if err := testsupport.Poll(timeout, func() error {
		_, err := c.tc.OperatorService().AddSearchAttributes(c.ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: namespace, SearchAttributes: searchAttributes,
		})
		if err != nil && !strings.Contains(err.Error(), "already") {
			return err
		}
		resp, err := c.tc.OperatorService().ListSearchAttributes(c.ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err != nil {
			return err
		}
		for name := range searchAttributes {
			if _, ok := resp.CustomAttributes[name]; !ok {
				return fmt.Errorf("search attribute %s not listed yet", name)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("search attributes: %w", err)
	}
	return testsupport.Poll(timeout, func() error {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		id := "topology-probe-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		run, err := c.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "topology-probe"}, "TopologyProbe")
		if err != nil {
			return err
		}
		return c.tc.TerminateWorkflow(ctx, id, run.GetRunID(), "probe")
	})
}

// startNATS starts one node of the three-node JetStream cluster.
func (c *cluster) startNATS(p Process, ports [][2]int) error {
	i, _ := strconv.Atoi(strings.TrimPrefix(p.Name, "nats-"))
	i--
	var routes []string
	for j, pp := range ports {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", pp[1]))
		}
	}
	store := filepath.Join(c.dir, "nats", p.Name)
	if err := os.MkdirAll(store, 0o755); err != nil {
		return err
	}
	// In TLS mode: operator mode, TLS for clients and routes
	// (docs/topology.md#tls-mode).
	var routeTLS, secure string
	if c.pki != nil {
		routeTLS, secure = c.pki.natsRouteTLS(), c.pki.natsServerConf()
	}
	conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 2GB
}
cluster {
  name: activity-topology
  listen: 127.0.0.1:%d
  routes: [%s]
%s}
%s`, p.Name, ports[i][0], store, ports[i][1], strings.Join(routes, ", "), routeTLS, secure)
	confPath := filepath.Join(c.dir, "nats", p.Name+".conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	pr := &proc{name: p.Name, path: c.bins.nats, dir: c.dir, env: baseEnv(),
		logPath: filepath.Join(c.dir, "logs", p.Name+".log"), args: []string{"-c", confPath}}
	c.procs[p.Name] = pr
	return pr.start()
}

// waitNATS connects the harness's client and waits until JetStream has a
// meta leader (the cluster formed).
func (c *cluster) waitNATS(logf func(string, ...any)) error {
	logf("waiting for the NATS cluster")
	var err error
	opts := append([]nats.Option{nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(200 * time.Millisecond)}, c.natsOptions()...)
	c.nc, err = nats.Connect(strings.Join(c.natsURLs, ","), opts...)
	if err != nil {
		return err
	}
	if c.js, err = jetstream.New(c.nc); err != nil {
		return err
	}
	return testsupport.Poll(60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		defer cancel()
		_, err := c.js.AccountInfo(ctx)
		return err
	})
}

// startActivityCore starts one activity-core replica: `serve --roles X`
// of the production build.
func (c *cluster) startActivityCore(p Process, apiPorts []int) error {
	env := append(baseEnv(),
		"ACTIVITY_DATABASE_URL="+c.dbURL,
		"ACTIVITY_TEMPORAL_ADDRESS="+c.frontendAddr,
		"ACTIVITY_TEMPORAL_NAMESPACE="+namespace,
		"ACTIVITY_TASK_QUEUE="+taskQueue,
		"ACTIVITY_NATS_URL="+strings.Join(c.natsURLs, ","),
		"ACTIVITY_NATS_STREAM="+streamName,
		"ACTIVITY_NATS_STREAM_REPLICAS="+strconv.Itoa(StreamReplicas),
		"ACTIVITY_DEFINITION_PATHS="+c.defs,
		"ACTIVITY_ADMIN_TOKEN="+adminToken,
		// The webhook signing secret of the detector scenario, allow-listed.
		"ACTIVITY_SECRET_ENV="+hookSecretName, hookSecretName+"="+hookSecret,
		"ACTIVITY_LOG_LEVEL="+cmp.Or(os.Getenv("ACTIVITY_TOPOLOGY_LOG_LEVEL"), "info"),
	)
	env = append(env, c.activityCoreTLSEnv()...)
	if p.Role == "detector" {
		// A short lease, so the failover scenario waits seconds, not the
		// production 30 s (docs/alerting.md#detector).
		env = append(env, "ACTIVITY_DETECTOR_INTERVAL="+detectorInterval.String(), "ACTIVITY_DETECTOR_LEASE_TTL="+detectorLeaseTTL.String())
	}
	if p.Role == "api" {
		i, _ := strconv.Atoi(strings.TrimPrefix(p.Name, "api-"))
		addr := fmt.Sprintf("127.0.0.1:%d", apiPorts[i-1])
		env = append(env, "ACTIVITY_HTTP_ADDR="+addr)
		c.apiURL[p.Name] = "http://" + addr
	}
	pr := &proc{name: p.Name, path: c.bins.activity, dir: c.dir, env: env,
		logPath: filepath.Join(c.dir, "logs", p.Name+".log"), args: []string{"serve", "--roles", p.Role}}
	c.procs[p.Name] = pr
	return pr.start()
}

// waitActivityCore waits until a replica says it is running (and, for an
// api replica, answers /readyz).
func (c *cluster) waitActivityCore(name string, timeout time.Duration) error {
	p := c.procs[name]
	err := testsupport.Poll(timeout, func() error {
		if !p.running() {
			return fmt.Errorf("%s exited:\n%s", name, p.tail(20))
		}
		if !p.logContains(`msg="app: running"`) {
			return fmt.Errorf("%s: %w", name, errNotReady)
		}
		if u, ok := c.apiURL[name]; ok {
			resp, err := http.Get(u + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s /readyz: %d", name, resp.StatusCode)
			}
		}
		if strings.HasPrefix(name, "worker-") && !p.logContains(`msg="app: worker polling"`) {
			return fmt.Errorf("%s: not polling yet", name)
		}
		// The startup sync runs in the background: a scenario's first sync
		// must not race it for the files it has just written.
		if strings.HasPrefix(name, "worker-") && !p.logContains(`msg="app: worker startup sync done"`) && !p.logContains(`msg="app: worker startup sync failed`) {
			return fmt.Errorf("%s: startup sync not finished", name)
		}
		return nil
	})
	if err != nil && !strings.Contains(err.Error(), "exited") {
		err = fmt.Errorf("%w\n%s", err, p.tail(20))
	}
	return err
}

// ensureStreamReplicated waits for the routers to create the stream and
// records its replica count. If a router created it with fewer replicas
// than StreamReplicas (ACTIVITY_NATS_STREAM_REPLICAS not wired through),
// the harness scales it up so the other scenarios still run on a
// replicated stream; TestTopologyStreamReplicas reports the gap.
func (c *cluster) ensureStreamReplicated(logf func(string, ...any)) error {
	var info *jetstream.StreamInfo
	if err := testsupport.Poll(60*time.Second, func() error {
		s, err := c.js.Stream(c.ctx, streamName)
		if err != nil {
			return err
		}
		info = s.CachedInfo()
		return nil
	}); err != nil {
		return fmt.Errorf("stream %s: %w", streamName, err)
	}
	c.streamCreatedReplicas = info.Config.Replicas
	if info.Config.Replicas < StreamReplicas {
		logf("the router created stream %s with %d replica(s), want %d: scaling it up for the scenarios", streamName, info.Config.Replicas, StreamReplicas)
		cfg := info.Config
		cfg.Replicas = StreamReplicas
		if _, err := c.js.UpdateStream(c.ctx, cfg); err != nil {
			return fmt.Errorf("scaling stream: %w", err)
		}
	}
	return testsupport.Poll(60*time.Second, c.streamHealthy)
}

// streamHealthy checks that the stream has a leader and every replica is
// current.
func (c *cluster) streamHealthy() error {
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, streamName)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	ci := info.Cluster
	if ci == nil || ci.Leader == "" {
		return fmt.Errorf("stream %s has no leader", streamName)
	}
	if len(ci.Replicas) != StreamReplicas-1 {
		return fmt.Errorf("stream %s: %d followers, want %d", streamName, len(ci.Replicas), StreamReplicas-1)
	}
	for _, r := range ci.Replicas {
		if !r.Current || r.Offline {
			return fmt.Errorf("stream %s: replica %s current=%v offline=%v lag=%d", streamName, r.Name, r.Current, r.Offline, r.Lag)
		}
	}
	return nil
}

// teardown stops every process (activity-core first, PostgreSQL last) and
// removes the temporary directories.
func (c *cluster) teardown() {
	if c.stop != nil {
		defer c.stop()
	}
	if c.tc != nil {
		c.tc.Close()
	}
	if c.nc != nil {
		c.nc.Close()
	}
	if c.db != nil {
		c.db.Close()
	}
	names := make([]string, 0, len(c.procs))
	for n := range c.procs {
		names = append(names, n)
	}
	rank := map[string]int{}
	for i, p := range Layout {
		rank[p.Name] = i
	}
	sort.Slice(names, func(i, j int) bool { return rank[names[i]] > rank[names[j]] })
	var wg sync.WaitGroup
	for _, n := range names {
		if n == "postgres" {
			continue
		}
		wg.Go(func() { c.procs[n].stop(syscall.SIGTERM, 10*time.Second) })
	}
	wg.Wait()
	if p := c.procs["postgres"]; p != nil {
		p.stop(syscall.SIGINT, 20*time.Second) // fast shutdown
	}
	for _, d := range []string{c.dir, c.pgDir} {
		if d != "" {
			if err := os.RemoveAll(d); err != nil {
				fmt.Fprintf(os.Stderr, "topology: removing %s: %v\n", d, err)
			}
		}
	}
}

// dumpLogs writes the tail of every process log (to t, or stderr).
func (c *cluster) dumpLogs(t testing.TB, n int) {
	var w io.Writer = os.Stderr
	for _, p := range Layout {
		pr := c.procs[p.Name]
		if pr == nil {
			continue
		}
		msg := fmt.Sprintf("==== %s (running=%v, starts=%d) last %d lines:\n%s", p.Name, pr.running(), pr.startCount(), n, pr.tail(n))
		if t != nil {
			t.Log(msg)
		} else {
			fmt.Fprintln(w, msg)
		}
	}
}

// restartActivityCore starts a stopped replica again and waits for it.
func (c *cluster) restartActivityCore(t testing.TB, name string) {
	t.Helper()
	if err := c.procs[name].start(); err != nil {
		t.Fatal(err)
	}
	if err := c.waitActivityCore(name, 90*time.Second); err != nil {
		t.Fatal(err)
	}
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
