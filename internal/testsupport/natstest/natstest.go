// Package natstest starts real nats-servers (the v2 server package, in
// this process) from configuration text, as an operator writes it, and
// makes the operator-mode credentials a secured deployment uses: an
// operator, an account with JetStream and a user's .creds file, made with
// the nats JWT library. It is imported only from _test.go files.
package natstest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// Config is a server's configuration: its JetStream domain and the
// blocks an operator adds for TLS and authentication, in nats-server's
// configuration syntax.
type Config struct {
	// Domain is the JetStream domain ("" for none).
	Domain string
	// NoJetStream runs the server without JetStream (a leaf node that
	// reaches a hub's JetStream through its domain).
	NoJetStream bool
	// Body is more configuration (tls { }, authorization { }, operator
	// mode...).
	Body string
}

// Server is a running nats-server.
type Server struct {
	*server.Server
	// URL is nats://127.0.0.1:PORT.
	URL string
}

// writeConfig writes the configuration file of a server listening on
// addr and returns its path and text.
func writeConfig(t testing.TB, addr string, cfg Config) (path, conf string) {
	t.Helper()
	dir := t.TempDir()
	js := fmt.Sprintf("store_dir: %q", filepath.Join(dir, "js"))
	if cfg.Domain != "" {
		js += fmt.Sprintf("\n  domain: %q", cfg.Domain)
	}
	jsBlock := fmt.Sprintf("jetstream {\n  %s\n}\n", js)
	if cfg.NoJetStream {
		jsBlock = ""
	}
	conf = fmt.Sprintf("listen: %q\nserver_name: natstest-%s\n%s%s\n", addr, filepath.Base(dir), jsBlock, cfg.Body)
	path = filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, conf
}

// Start runs a nats-server (the v2 server package, in this process) with
// JetStream on a random loopback port, and stops it when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	path, conf := writeConfig(t, "127.0.0.1:-1", cfg)
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server config:\n%s\n%v", conf, err)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready after 10s")
	}
	return &Server{Server: srv, URL: fmt.Sprintf("nats://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)}
}

// StartBinary runs the nats-server executable bin with the same
// configuration (Server.Server is nil), and stops it when the test ends.
func StartBinary(t testing.TB, bin string, cfg Config) *Server {
	t.Helper()
	addr := testsupport.FreeAddr(t)
	path, conf := writeConfig(t, addr, cfg)
	var out bytes.Buffer
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	err := testsupport.Poll(10*time.Second, func() error {
		select {
		case <-exited:
			return errExited
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	if errors.Is(err, errExited) {
		t.Fatalf("%s exited: %s\nconfig:\n%s", bin, out.String(), conf)
	} else if err != nil {
		t.Fatalf("%s not listening on %s: %v\nconfig:\n%s", bin, addr, err, conf)
	}
	return &Server{URL: "nats://" + addr}
}

var errExited = errors.New("nats-server exited")

// Operator is an operator with a system account and one account, APP,
// whose JWT enables JetStream.
type Operator struct {
	operator, app  nkeys.KeyPair
	jwt, sysPub    string
	sysJWT, appJWT string
	// AppPub is APP's public key.
	AppPub string
}

// NewOperator makes the keys and JWTs.
func NewOperator(t testing.TB) *Operator {
	t.Helper()
	o := &Operator{operator: mustKey(t, nkeys.CreateOperator), app: mustKey(t, nkeys.CreateAccount)}
	opub := pub(t, o.operator)
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "natstest"
	o.jwt = encode(t, oc, o.operator)

	sys := mustKey(t, nkeys.CreateAccount)
	o.sysPub = pub(t, sys)
	sc := jwt.NewAccountClaims(o.sysPub)
	sc.Name = "SYS"
	o.sysJWT = encode(t, sc, o.operator)

	o.AppPub = pub(t, o.app)
	ac := jwt.NewAccountClaims(o.AppPub)
	ac.Name = "APP"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	o.appJWT = encode(t, ac, o.operator)
	return o
}

// ServerConfig is the operator-mode configuration: the operator JWT, the
// system account, and a memory resolver preloaded with both accounts.
func (o *Operator) ServerConfig() string {
	return fmt.Sprintf("operator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %s\n  %s: %s\n}\n",
		o.jwt, o.sysPub, o.sysPub, o.sysJWT, o.AppPub, o.appJWT)
}

// UserCreds makes a user of APP and writes its .creds file (JWT and
// seed, as nsc writes it) to dir/name.creds.
func (o *Operator) UserCreds(t testing.TB, dir, name string) string {
	t.Helper()
	u := mustKey(t, nkeys.CreateUser)
	uc := jwt.NewUserClaims(pub(t, u))
	uc.Name = name
	ujwt := encode(t, uc, o.app)
	seed, err := u.Seed()
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".creds")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// UserNKey makes a user NKey and writes its seed to dir/name.nk,
// returning the path and the public key for the server's users list.
func UserNKey(t testing.TB, dir, name string) (seedFile, public string) {
	t.Helper()
	u := mustKey(t, nkeys.CreateUser)
	seed, err := u.Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile = filepath.Join(dir, name+".nk")
	if err := os.WriteFile(seedFile, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, pub(t, u)
}

func mustKey(t testing.TB, create func() (nkeys.KeyPair, error)) nkeys.KeyPair {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func pub(t testing.TB, kp nkeys.KeyPair) string {
	t.Helper()
	p, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encode(t testing.TB, c interface {
	Encode(nkeys.KeyPair) (string, error)
}, kp nkeys.KeyPair) string {
	t.Helper()
	s, err := c.Encode(kp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
