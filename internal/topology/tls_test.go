package topology

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/testsupport"
	"github.com/coulomb/activity-core/internal/testsupport/natstest"
)

// The TLS mode of the topology (docs/topology.md#tls-mode): every
// connection to Temporal is mTLS, configured through Temporal's own
// global.tls; every connection to NATS is TLS with a client certificate
// and a .creds file of a user in an operator-mode account; every
// connection to PostgreSQL is TLS, verified (sslmode=verify-full).

// tlsMode reports whether ACTIVITY_TEST_TOPOLOGY_TLS=1 asks for the TLS
// mode.
func tlsMode() bool { return os.Getenv("ACTIVITY_TEST_TOPOLOGY_TLS") == "1" }

// Names the certificates are issued for. The Temporal frontend's
// certificate carries only frontendName (no IP address), so a client that
// connects to 127.0.0.1 verifies it only if it sends that server name
// (ACTIVITY_TEMPORAL_TLS_SERVER_NAME).
const (
	frontendName  = "frontend.activity-topology.test"
	internodeName = "internode.activity-topology.test"
)

// pki is the test CA and the certificates and NATS credentials issued
// from it, as files under dir.
type pki struct {
	ca string // CA certificate (PEM)

	// Temporal: the frontend's server certificate, the internode
	// certificate (server and client of history, matching and the
	// frontend), the system worker's client certificate, and the client
	// certificates of activity-core and of the harness.
	frontend, internode, sysWorker, temporalClient, harnessClient keyPair
	// NATS: the nodes' certificate (clients and routes) and the client
	// certificate every NATS client presents.
	natsServer, natsClient keyPair
	// PostgreSQL's server certificate.
	postgres keyPair

	// NATS operator mode: the operator, the system account and the
	// application account (JetStream enabled), and the .creds file of a
	// user of the application account.
	operator *natstest.Operator
	creds    string
}

type keyPair struct{ cert, key string }

// newPKI creates the CA (testsupport.CA, Go's crypto), every certificate
// and the NATS credentials (natstest.Operator, the nats JWT library) in
// dir.
func newPKI(t testing.TB, dir string) *pki {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca := testsupport.NewCA(t, "activity-core topology test CA")
	p := &pki{ca: ca.WriteCA(t, dir, "ca.pem")}
	ip := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, l := range []struct {
		kp   *keyPair
		leaf testsupport.Leaf
	}{
		{&p.frontend, testsupport.Leaf{CommonName: "temporal-frontend", DNSNames: []string{frontendName}, Server: true}},
		{&p.internode, testsupport.Leaf{CommonName: "temporal-internode", DNSNames: []string{internodeName}, IPs: ip}},
		{&p.sysWorker, testsupport.Leaf{CommonName: "temporal-system-worker", Client: true}},
		{&p.temporalClient, testsupport.Leaf{CommonName: "activity-core", Client: true}},
		{&p.harnessClient, testsupport.Leaf{CommonName: "topology-harness", Client: true}},
		{&p.natsServer, testsupport.Leaf{CommonName: "nats", DNSNames: []string{"localhost"}, IPs: ip}},
		{&p.natsClient, testsupport.Leaf{CommonName: "activity-core-nats", Client: true}},
		{&p.postgres, testsupport.Leaf{CommonName: "postgres", DNSNames: []string{"localhost"}, IPs: ip, Server: true}},
	} {
		l.kp.cert, l.kp.key = ca.IssueFiles(t, dir, l.leaf.CommonName, l.leaf)
	}
	p.operator = natstest.NewOperator(t)
	p.creds = p.operator.UserCreds(t, dir, "activity-core")
	return p
}

// temporalServerTLS is the global.tls block of Temporal's config: mTLS on
// the frontend (clients must present a certificate from the CA) and
// between the services; the internal frontend clients (system worker,
// history's and matching's calls to the frontend) present certificates
// too.
func (p *pki) temporalServerTLS() string {
	return fmt.Sprintf(`  tls:
    internode:
      server:
        certFile: %[2]q
        keyFile: %[3]q
        requireClientAuth: true
        clientCaFiles: [%[1]q]
      client:
        serverName: %[4]q
        rootCaFiles: [%[1]q]
    frontend:
      server:
        certFile: %[5]q
        keyFile: %[6]q
        requireClientAuth: true
        clientCaFiles: [%[1]q]
      client:
        serverName: %[7]q
        rootCaFiles: [%[1]q]
    systemWorker:
      certFile: %[8]q
      keyFile: %[9]q
      client:
        serverName: %[7]q
        rootCaFiles: [%[1]q]
`, p.ca, p.internode.cert, p.internode.key, internodeName,
		p.frontend.cert, p.frontend.key, frontendName, p.sysWorker.cert, p.sysWorker.key)
}

// natsServerConf is the part of a NATS node's config that secures it:
// operator mode with the memory resolver preloaded with the system and
// application accounts, TLS with client certificates.
func (p *pki) natsServerConf() string {
	return p.operator.ServerConfig() + p.natsTLS("")
}

// natsTLS is a NATS node's TLS block (indented by indent), for clients
// and for routes: its certificate, the CA, and a certificate required of
// the other side.
func (p *pki) natsTLS(indent string) string {
	var b strings.Builder
	for _, l := range []string{"tls {",
		fmt.Sprintf("  cert_file: %q", p.natsServer.cert), fmt.Sprintf("  key_file: %q", p.natsServer.key),
		fmt.Sprintf("  ca_file: %q", p.ca), "  verify: true", "  timeout: 5", "}"} {
		b.WriteString(indent + l + "\n")
	}
	return b.String()
}

// natsRouteTLS is the TLS block of a node's cluster section: routes are
// TLS with certificates both ways, like client connections.
func (p *pki) natsRouteTLS() string { return p.natsTLS("  ") }

// clientTLS is a tls.Config trusting the CA and presenting kp (if set).
func (p *pki) clientTLS(kp *keyPair, serverName string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(p.ca)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: no certificate", p.ca)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if kp != nil {
		cert, err := tls.LoadX509KeyPair(kp.cert, kp.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// temporalOptions are the harness's Temporal client options: in TLS mode
// it connects with its own client certificate.
func (c *cluster) temporalOptions(ns string) (client.Options, error) {
	o := client.Options{HostPort: c.frontendAddr, Namespace: ns, Logger: quietLogger{}}
	if c.pki == nil {
		return o, nil
	}
	cfg, err := c.pki.clientTLS(&c.pki.harnessClient, frontendName)
	if err != nil {
		return o, err
	}
	o.ConnectionOptions.TLS = cfg
	return o, nil
}

// natsOptions are the harness's NATS client options: in TLS mode the CA,
// the client certificate and the application user's .creds file.
func (c *cluster) natsOptions() []nats.Option {
	if c.pki == nil {
		return nil
	}
	return []nats.Option{
		nats.RootCAs(c.pki.ca),
		nats.ClientCert(c.pki.natsClient.cert, c.pki.natsClient.key),
		nats.UserCredentials(c.pki.creds),
	}
}

// activityCoreTLSEnv is the environment that points a role at the secured
// engines (docs/deployment.md#secure-connections).
func (c *cluster) activityCoreTLSEnv() []string {
	if c.pki == nil {
		return nil
	}
	p := c.pki
	return []string{
		"ACTIVITY_TEMPORAL_TLS_CA=" + p.ca,
		"ACTIVITY_TEMPORAL_TLS_CERT=" + p.temporalClient.cert,
		"ACTIVITY_TEMPORAL_TLS_KEY=" + p.temporalClient.key,
		"ACTIVITY_TEMPORAL_TLS_SERVER_NAME=" + frontendName,
		"ACTIVITY_NATS_CA=" + p.ca,
		"ACTIVITY_NATS_CERT=" + p.natsClient.cert,
		"ACTIVITY_NATS_KEY=" + p.natsClient.key,
		"ACTIVITY_NATS_CREDS=" + p.creds,
	}
}

// TestTopologyTLSRefusals (TLS mode): the engines really are secured, so
// the roles being up proves they connect with TLS, their client
// certificates and the .creds file. The Temporal frontend refuses a
// plaintext client and a TLS client without a certificate; NATS refuses
// plaintext, a client without a certificate and one without credentials;
// PostgreSQL refuses a connection without TLS.
func TestTopologyTLSRefusals(t *testing.T) {
	if !tlsMode() {
		t.Skip("set ACTIVITY_TEST_TOPOLOGY_TLS=1 for the TLS mode")
	}
	c := getCluster(t)
	noCert, err := c.pki.clientTLS(nil, frontendName)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{{"plaintext", nil}, {"no client certificate", noCert}} {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		tcl, err := client.DialContext(ctx, client.Options{HostPort: c.frontendAddr, Namespace: namespace, Logger: quietLogger{},
			ConnectionOptions: client.ConnectionOptions{TLS: tc.tls}})
		cancel()
		if err == nil {
			tcl.Close()
			t.Errorf("Temporal frontend accepted a client with %s", tc.name)
		} else {
			t.Logf("Temporal frontend, %s: refused: %v", tc.name, err)
		}
	}
	// The harness's own client, with its certificate, is served.
	if _, err := c.tc.CheckHealth(c.ctx, &client.CheckHealthRequest{}); err != nil {
		t.Errorf("Temporal frontend with the harness's certificate: %v", err)
	}

	if err := natsRefusesPlaintext(strings.TrimPrefix(c.natsURLs[0], "tls://")); err != nil {
		t.Error(err)
	}
	p := c.pki
	for _, tc := range []struct {
		name string
		opts []nats.Option
	}{
		{"a CA it does not trust (system roots)", []nats.Option{nats.Secure(), nats.ClientCert(p.natsClient.cert, p.natsClient.key), nats.UserCredentials(p.creds)}},
		{"no client certificate", []nats.Option{nats.RootCAs(p.ca), nats.UserCredentials(p.creds)}},
		{"no credentials", []nats.Option{nats.RootCAs(p.ca), nats.ClientCert(p.natsClient.cert, p.natsClient.key)}},
	} {
		nc, err := nats.Connect(c.natsURLs[0], append(tc.opts, nats.Timeout(5*time.Second))...)
		if err == nil {
			nc.Close()
			t.Errorf("NATS accepted a client with %s", tc.name)
		} else {
			t.Logf("NATS, %s: refused: %v", tc.name, err)
		}
	}

	plainPG := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/activity?sslmode=disable", c.pgPort)
	if conn, err := pgx.Connect(c.ctx, plainPG); err == nil {
		conn.Close(c.ctx)
		t.Error("PostgreSQL accepted a connection without TLS")
	} else {
		t.Logf("PostgreSQL, plaintext: refused: %v", err)
	}
}

// natsRefusesPlaintext speaks the NATS protocol in plaintext to addr: the
// server must announce tls_required and not answer a plaintext CONNECT
// and PING with PONG.
func natsRefusesPlaintext(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("NATS INFO: %w", err)
	}
	if !strings.Contains(info, `"tls_required":true`) {
		return fmt.Errorf("NATS does not require TLS: %s", info)
	}
	if _, err := conn.Write([]byte("CONNECT {\"verbose\":false}\r\nPING\r\n")); err != nil {
		return nil // closed on us: refused
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil // closed or silent: refused
		}
		if strings.HasPrefix(line, "PONG") {
			return fmt.Errorf("NATS answered a plaintext client")
		}
	}
}

// temporalSQLTLS is the tls block of a Temporal SQL datastore: TLS to
// PostgreSQL, verifying its certificate (sslmode=verify-full).
func (p *pki) temporalSQLTLS() string {
	return fmt.Sprintf("        tls:\n          enabled: true\n          caFile: %q\n          enableHostVerification: true\n", p.ca)
}

// postgresTLS gives the private PostgreSQL its certificate (copied into
// pgDir, owned by the server's user, as PostgreSQL requires of its key)
// and a pg_hba.conf that accepts TCP connections only over TLS. It
// returns the server's ssl arguments.
func (p *pki) postgresTLS(pgDir, data string, cred *syscall.Credential) ([]string, error) {
	dst := keyPair{cert: filepath.Join(pgDir, "server.crt"), key: filepath.Join(pgDir, "server.key")}
	for _, f := range [][2]string{{p.postgres.cert, dst.cert}, {p.postgres.key, dst.key}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			return nil, err
		}
		if cred != nil {
			if err := os.Chown(f[1], int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	hba := "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, err
	}
	return []string{"-c", "ssl=on", "-c", "ssl_cert_file=" + dst.cert, "-c", "ssl_key_file=" + dst.key}, nil
}
