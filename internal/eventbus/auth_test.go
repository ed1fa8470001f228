package eventbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/coulomb/activity-core/internal/eventbus"
	"github.com/coulomb/activity-core/internal/testsupport"
	"github.com/coulomb/activity-core/internal/testsupport/natstest"
)

// logBuf collects a connection's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// pki is a test CA, the server's certificate for 127.0.0.1 and a client
// certificate, as PEM files in dir.
type pki struct {
	ca                    *testsupport.CA
	dir                   string
	caFile                string
	serverCert, serverKey string
	clientCert, clientKey string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{ca: testsupport.NewCA(t, "natstest CA"), dir: t.TempDir()}
	p.caFile = p.ca.WriteCA(t, p.dir, "ca.pem")
	p.serverCert, p.serverKey = p.ca.IssueFiles(t, p.dir, "server", testsupport.Leaf{
		CommonName: "nats", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	p.clientCert, p.clientKey = p.ca.IssueFiles(t, p.dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	return p
}

// tlsBlock is the server's tls { } block; verify asks for client
// certificates (mTLS).
func (p *pki) tlsBlock(verify bool) string {
	return fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: %t\n  timeout: 5\n}\n", p.serverCert, p.serverKey, p.caFile, verify)
}

// roundTrip connects with o, publishes through the Publisher into a
// stream it creates, and reads the message back through JetStream.
func roundTrip(t *testing.T, url string, o eventbus.Options) {
	t.Helper()
	var logs logBuf
	nc, err := eventbus.Connect(url, "eventbus-test", o, logs.logger())
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	testsupport.Eventually(t, 10*time.Second, "connected", func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("status %v, last error %v; log:\n%s", nc.Status(), nc.LastError(), logs.String())
		}
		return nil
	})
	js, err := eventbus.JetStream(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SECURE", Subjects: []string{"secure.>"}})
	if err != nil {
		t.Fatalf("creating the stream: %v", err)
	}
	if err := eventbus.NewPublisher(nc, js).Publish(ctx, "secure.hello", []byte(`{"n":1}`), "m-1"); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	if m.Subject() != "secure.hello" || string(m.Data()) != `{"n":1}` || m.Headers().Get(jetstream.MsgIDHeader) != "m-1" {
		t.Errorf("read back %s %s %v", m.Subject(), m.Data(), m.Headers())
	}
}

func TestConnectSecured(t *testing.T) {
	p := newPKI(t)
	op := natstest.NewOperator(t)
	creds := op.UserCreds(t, t.TempDir(), "activity-core")
	seed, nkeyPub := natstest.UserNKey(t, t.TempDir(), "activity-core")
	for _, tc := range []struct {
		name string
		cfg  natstest.Config
		opts eventbus.Options
	}{
		{"tls+token", natstest.Config{Body: p.tlsBlock(false) + `authorization { token: "t0ken-secret-value" }`},
			eventbus.Options{CA: p.caFile, Token: "t0ken-secret-value"}},
		{"mtls+creds", natstest.Config{Body: p.tlsBlock(true) + op.ServerConfig()},
			eventbus.Options{CA: p.caFile, Cert: p.clientCert, Key: p.clientKey, Creds: creds}},
		{"creds+domain", natstest.Config{Domain: "hub", Body: op.ServerConfig()},
			eventbus.Options{Creds: creds, JSDomain: "hub"}},
		{"nkey", natstest.Config{Body: fmt.Sprintf("authorization { users: [ { nkey: %s } ] }", nkeyPub)},
			eventbus.Options{NKey: seed}},
		{"user+password", natstest.Config{Body: p.tlsBlock(false) + `authorization { users: [ { user: alice, password: "pa55-secret-value" } ] }`},
			eventbus.Options{CA: p.caFile, User: "alice", Password: "pa55-secret-value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Start(t, tc.cfg)
			roundTrip(t, srv.URL, tc.opts)
		})
		t.Run(tc.name+" on the nats-server executable", func(t *testing.T) {
			bin := systemNATSServer(t)
			roundTrip(t, natstest.StartBinary(t, bin, tc.cfg).URL, tc.opts)
		})
	}
}

// refused connects with o to a server that must refuse it, and checks
// the log names setting, says want, and never shows a secret.
func refused(t *testing.T, url string, o eventbus.Options, setting, want string) {
	t.Helper()
	var logs logBuf
	nc, err := eventbus.Connect(url, "eventbus-test", o, logs.logger())
	if err != nil {
		t.Fatalf("Connect returned %v; want a connection retrying in the background", err)
	}
	t.Cleanup(nc.Close)
	testsupport.Eventually(t, 15*time.Second, "refusal logged naming "+setting, func() error {
		if l := logs.String(); !strings.Contains(l, "setting="+setting) || !strings.Contains(l, want) {
			return fmt.Errorf("log:\n%s", l)
		}
		return nil
	})
	if nc.IsConnected() {
		t.Errorf("connected although the server should refuse")
	}
	for _, s := range []string{o.Password, o.Token} {
		if s != "" && strings.Contains(logs.String(), s) {
			t.Errorf("secret in log:\n%s", logs.String())
		}
	}
	t.Logf("%s", logs.String())
}

func TestConnectRefusals(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t) // another CA: its certificates are not trusted
	op := natstest.NewOperator(t)
	strangerCreds := natstest.NewOperator(t).UserCreds(t, t.TempDir(), "stranger")

	mtls := natstest.Start(t, natstest.Config{Body: p.tlsBlock(true) + op.ServerConfig()})
	t.Run("wrong CA", func(t *testing.T) {
		refused(t, mtls.URL, eventbus.Options{CA: other.caFile, Cert: p.clientCert, Key: p.clientKey},
			"ACTIVITY_NATS_CA", "not signed by a trusted CA")
	})
	t.Run("no CA, system roots", func(t *testing.T) {
		refused(t, mtls.URL, eventbus.Options{}, "ACTIVITY_NATS_CA", "not signed by a trusted CA")
	})
	t.Run("missing client certificate", func(t *testing.T) {
		refused(t, mtls.URL, eventbus.Options{CA: p.caFile}, "ACTIVITY_NATS_CERT", "client certificate")
	})
	t.Run("untrusted client certificate", func(t *testing.T) {
		refused(t, mtls.URL, eventbus.Options{CA: p.caFile, Cert: other.clientCert, Key: other.clientKey},
			"ACTIVITY_NATS_CERT", "client certificate")
	})
	t.Run("expired client certificate", func(t *testing.T) {
		cert, key := p.ca.IssueFiles(t, t.TempDir(), "expired", testsupport.Leaf{CommonName: "old", Client: true,
			NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		refused(t, mtls.URL, eventbus.Options{CA: p.caFile, Cert: cert, Key: key}, "ACTIVITY_NATS_CERT", "client certificate")
	})
	t.Run("creds of another operator", func(t *testing.T) {
		refused(t, mtls.URL, eventbus.Options{CA: p.caFile, Cert: p.clientCert, Key: p.clientKey, Creds: strangerCreds},
			"ACTIVITY_NATS_CREDS", "refused the credentials")
	})
	t.Run("no credentials", func(t *testing.T) {
		refused(t, mtls.URL, eventbus.Options{CA: p.caFile, Cert: p.clientCert, Key: p.clientKey},
			"ACTIVITY_NATS_CREDS", "wants credentials")
	})
	pw := natstest.Start(t, natstest.Config{Body: `authorization { users: [ { user: alice, password: "right-password-1" } ] }`})
	t.Run("wrong password", func(t *testing.T) {
		refused(t, pw.URL, eventbus.Options{User: "alice", Password: "wrong-password-1"}, "ACTIVITY_NATS_USER", "refused the credentials")
	})
	tok := natstest.Start(t, natstest.Config{Body: `authorization { token: "right-token-1" }`})
	t.Run("wrong token", func(t *testing.T) {
		refused(t, tok.URL, eventbus.Options{Token: "wrong-token-1"}, "ACTIVITY_NATS_TOKEN", "refused the credentials")
	})
	plain := natstest.Start(t, natstest.Config{})
	t.Run("TLS wanted, server plaintext", func(t *testing.T) {
		refused(t, plain.URL, eventbus.Options{CA: p.caFile}, "ACTIVITY_NATS_CA", "does not offer it")
	})
}

func TestConnectRefusesBadSettings(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	testsupport.WriteFile(t, garbage, []byte("not a key\n"))
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name    string
		url     string
		opts    eventbus.Options
		setting string
	}{
		{"two credentials", "", eventbus.Options{Creds: garbage, Token: "secret-token-1"}, "ACTIVITY_NATS_CREDS"},
		{"url user and token", "nats://bob:secret-pass-1@127.0.0.1:1", eventbus.Options{Token: "secret-token-1"}, "ACTIVITY_NATS_TOKEN"},
		{"user without password", "", eventbus.Options{User: "bob"}, "ACTIVITY_NATS_USER"},
		{"cert without key", "", eventbus.Options{Cert: p.clientCert}, "ACTIVITY_NATS_CERT"},
		{"domain and prefix", "", eventbus.Options{JSDomain: "hub", JSAPIPrefix: "$JS.x.API"}, "ACTIVITY_NATS_JS_DOMAIN"},
		{"creds missing", "", eventbus.Options{Creds: missing}, "ACTIVITY_NATS_CREDS"},
		{"creds garbage", "", eventbus.Options{Creds: garbage}, "ACTIVITY_NATS_CREDS"},
		{"nkey missing", "", eventbus.Options{NKey: missing}, "ACTIVITY_NATS_NKEY"},
		{"nkey garbage", "", eventbus.Options{NKey: garbage}, "ACTIVITY_NATS_NKEY"},
		{"ca missing", "", eventbus.Options{CA: missing}, "ACTIVITY_NATS_CA"},
		{"ca garbage", "", eventbus.Options{CA: garbage}, "ACTIVITY_NATS_CA"},
		{"cert garbage", "", eventbus.Options{Cert: garbage, Key: p.clientKey}, "ACTIVITY_NATS_CERT"},
		{"key of another cert", "", eventbus.Options{Cert: p.clientCert, Key: p.serverKey}, "ACTIVITY_NATS_CERT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if url == "" {
				url = "nats://127.0.0.1:1"
			}
			nc, err := eventbus.Connect(url, "eventbus-test", tc.opts, slog.New(slog.DiscardHandler))
			if err == nil {
				nc.Close()
				t.Fatal("accepted")
			}
			var be *eventbus.Error
			if !errors.As(err, &be) || be.Setting != tc.setting {
				t.Errorf("got %v (%T), want an *eventbus.Error naming %s", err, err, tc.setting)
			}
			if strings.Contains(err.Error(), "secret-") {
				t.Errorf("secret in %q", err)
			}
			t.Log(err)
		})
	}
}

// TestRotatedClientCertificate replaces the client certificate files:
// the next connection uses the new ones, with no new Connect.
func TestRotatedClientCertificate(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	srv := natstest.Start(t, natstest.Config{Body: p.tlsBlock(true)})
	dir := t.TempDir()
	cert, key := p.ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "first", Client: true})
	var logs logBuf
	nc, err := eventbus.Connect(srv.URL, "rotation-test", eventbus.Options{CA: p.caFile, Cert: cert, Key: key}, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	connected := func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("status %v", nc.Status())
		}
		return nil
	}
	testsupport.Eventually(t, 10*time.Second, "connected", connected)

	// A certificate the server does not trust replaces it: the next
	// connection is refused, and says so.
	other.ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "untrusted", Client: true})
	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, 15*time.Second, "refusal of the rotated certificate logged", func() error {
		if l := logs.String(); !strings.Contains(l, "setting=ACTIVITY_NATS_CERT") {
			return fmt.Errorf("status %v, log:\n%s", nc.Status(), l)
		}
		return nil
	})
	// A good one: it reconnects by itself.
	p.ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "second", Client: true})
	testsupport.Eventually(t, 15*time.Second, "reconnected with the new certificate", connected)
}

// systemNATSServer is the machine's nats-server executable (2.9 on CI),
// used where ACTIVITY_TEST_NATS_URL says the machine runs one.
func systemNATSServer(t *testing.T) string {
	t.Helper()
	if os.Getenv("ACTIVITY_TEST_NATS_URL") == "" {
		t.Skip("set ACTIVITY_TEST_NATS_URL to also run against the machine's nats-server executable")
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	t.Skip("no nats-server executable on PATH or in /usr/sbin")
	return ""
}

// TestSecretsInTheURLNeverLogged: a token or password in ACTIVITY_NATS_URL
// is a credential; neither the connection log nor Connect's error shows it.
func TestSecretsInTheURLNeverLogged(t *testing.T) {
	srv := natstest.Start(t, natstest.Config{Body: `authorization { token: "t0ken-in-the-url" }`})
	var logs logBuf
	url := strings.Replace(srv.URL, "nats://", "nats://t0ken-in-the-url@", 1)
	nc, err := eventbus.Connect(url, "eventbus-test", eventbus.Options{}, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	testsupport.Eventually(t, 10*time.Second, "connection logged", func() error {
		if !strings.Contains(logs.String(), "connected to NATS") {
			return fmt.Errorf("log:\n%s", logs.String())
		}
		return nil
	})
	if strings.Contains(logs.String(), "t0ken-in-the-url") {
		t.Errorf("token in log:\n%s", logs.String())
	}

	for _, bad := range []string{"nats://alice:pa55-in-the-url@127.0.0.1:42x2", "nats://127.0.0.1:4222,nats://t0ken-in-the-url@h:bad"} {
		_, err := eventbus.Connect(bad, "eventbus-test", eventbus.Options{}, logs.logger())
		if err == nil || strings.Contains(err.Error(), "-in-the-url") {
			t.Errorf("Connect(%s): want an error without the secret, got %v", bad, err)
		}
	}
}

// TestWorldReadableSecretFileIsWarned: a seed any local user can read is
// logged naming its setting.
func TestWorldReadableSecretFileIsWarned(t *testing.T) {
	seed, nkeyPub := natstest.UserNKey(t, t.TempDir(), "activity-core")
	if err := os.Chmod(seed, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, natstest.Config{Body: fmt.Sprintf("authorization { users: [ { nkey: %s } ] }", nkeyPub)})
	var logs logBuf
	nc, err := eventbus.Connect(srv.URL, "eventbus-test", eventbus.Options{NKey: seed}, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if l := logs.String(); !strings.Contains(l, "setting=ACTIVITY_NATS_NKEY") || !strings.Contains(l, "readable by every user") {
		t.Errorf("no warning naming ACTIVITY_NATS_NKEY:\n%s", l)
	}
}

// TestPlaintextLoopbackStaysOnLoopback: serve lets a plaintext nats:// URL
// through only for a loopback server. The cluster that server belongs
// to advertises its other members' client URLs; following one would send
// the credentials and events across the network in clear.
func TestPlaintextLoopbackStaysOnLoopback(t *testing.T) {
	routeA, routeB := testsupport.FreeAddr(t), testsupport.FreeAddr(t)
	a := natstest.Start(t, natstest.Config{NoJetStream: true, Body: fmt.Sprintf("cluster { name: c, listen: %q, routes: [\"nats-route://%s\"] }", routeA, routeB)})
	b := natstest.Start(t, natstest.Config{NoJetStream: true, Body: fmt.Sprintf("client_advertise: \"10.255.255.1:4222\"\ncluster { name: c, listen: %q, routes: [\"nats-route://%s\"] }", routeB, routeA)})
	testsupport.Eventually(t, 10*time.Second, "cluster routed", func() error {
		if a.NumRoutes() == 0 || b.NumRoutes() == 0 {
			return fmt.Errorf("routes: %d, %d", a.NumRoutes(), b.NumRoutes())
		}
		return nil
	})
	nc, err := eventbus.Connect(a.URL, "eventbus-test", eventbus.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	testsupport.Eventually(t, 10*time.Second, "connected", func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("status %v", nc.Status())
		}
		return nil
	})
	if d := nc.DiscoveredServers(); len(d) != 0 {
		t.Errorf("a plaintext loopback connection took up the cluster's other servers: %v", d)
	}

}
