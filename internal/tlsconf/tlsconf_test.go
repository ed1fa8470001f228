package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
)

func files(dir string) Files {
	return Files{
		CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "client.pem"), Key: filepath.Join(dir, "client-key.pem"),
		CASetting: "X_CA", CertSetting: "X_CERT", KeySetting: "X_KEY",
	}
}

func TestCheckNamesTheSetting(t *testing.T) {
	ca := testsupport.NewCA(t, "test CA")
	dir := t.TempDir()
	f := files(dir)
	ca.WriteCA(t, dir, "ca.pem")
	ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	if err := Check(f, time.Now()); err != nil {
		t.Fatalf("good files refused: %v", err)
	}
	_, otherKey := ca.Issue(t, testsupport.Leaf{CommonName: "other"})
	testsupport.WriteFile(t, filepath.Join(dir, "other-key.pem"), otherKey)
	testsupport.WriteFile(t, filepath.Join(dir, "junk.pem"), []byte("not pem\n"))
	expiredCert, expiredKey := ca.IssueFiles(t, dir, "expired", testsupport.Leaf{CommonName: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	for _, tc := range []struct {
		name   string
		mutate func(*Files)
		want   string
	}{
		{"missing CA file", func(f *Files) { f.CA = filepath.Join(dir, "nope.pem") }, "X_CA: cannot read the CA file: " + filepath.Join(dir, "nope.pem")},
		{"CA not PEM", func(f *Files) { f.CA = filepath.Join(dir, "junk.pem") }, "X_CA: " + filepath.Join(dir, "junk.pem") + " holds no PEM certificate"},
		{"CA is a key", func(f *Files) { f.CA = f.Key }, "X_CA: "},
		{"cert without key", func(f *Files) { f.Key = "" }, "X_KEY: not set, but X_CERT is"},
		{"key without cert", func(f *Files) { f.Cert = "" }, "X_CERT: not set, but X_KEY is"},
		{"missing cert file", func(f *Files) { f.Cert = filepath.Join(dir, "gone.pem") }, "X_CERT: cannot read the client certificate"},
		{"cert not PEM", func(f *Files) { f.Cert = filepath.Join(dir, "junk.pem") }, "X_CERT: " + filepath.Join(dir, "junk.pem") + " is not a PEM certificate"},
		{"key of another cert", func(f *Files) { f.Key = filepath.Join(dir, "other-key.pem") }, "X_KEY: " + filepath.Join(dir, "other-key.pem") + " is not the private key of the certificate in X_CERT"},
		{"expired cert", func(f *Files) { f.Cert, f.Key = expiredCert, expiredKey }, "X_CERT: the client certificate in " + expiredCert + " expired on "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := f
			tc.mutate(&g)
			err := Check(g, time.Now())
			var te *Error
			if err == nil || !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

// server is a TLS listener that requires a client certificate signed by
// clientCA and answers every connection with "ok" once the handshake is
// done.
func server(t *testing.T, serverCA, clientCA *testsupport.CA) string {
	t.Helper()
	certPEM, keyPEM := serverCA.Issue(t, testsupport.Leaf{CommonName: "server", DNSNames: []string{"engine.test"}, Server: true})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte("ok"))
				}
			})
		}
	})
	return ln.Addr().String()
}

// dial makes a new connection with cfg and reads the server's "ok" (with
// TLS 1.3 a refused client certificate shows only on the first read).
func dial(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil {
		return err
	}
	return nil
}

func TestRotatedClientCertificateIsUsedByTheNextConnection(t *testing.T) {
	ca, stranger := testsupport.NewCA(t, "test CA"), testsupport.NewCA(t, "stranger CA")
	addr := server(t, ca, ca)
	dir := t.TempDir()
	f := files(dir)
	ca.WriteCA(t, dir, "ca.pem")
	// The process starts with a certificate the server does not trust.
	stranger.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	var logs testsupport.SyncBuffer
	cfg, err := New(f, "engine.test", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, cfg); err == nil {
		t.Fatal("a certificate from an untrusted CA was accepted")
	}

	// cert-manager writes the new pair: the same config now gets in.
	ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	if err := dial(addr, cfg); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if !strings.Contains(logs.String(), "client certificate reloaded") {
		t.Errorf("no reload logged:\n%s", logs.String())
	}

	// A broken rotation (a key that does not match) keeps the last good pair.
	_, otherKey := ca.Issue(t, testsupport.Leaf{CommonName: "other"})
	testsupport.WriteFile(t, f.Key, otherKey)
	if err := dial(addr, cfg); err != nil {
		t.Fatalf("after a bad rotation the last good certificate should stay: %v", err)
	}
	if !strings.Contains(logs.String(), "X_KEY: ") || !strings.Contains(logs.String(), "keeping the previous one") {
		t.Errorf("bad rotation not logged with its setting:\n%s", logs.String())
	}

	// An expired file rotated in is refused the same way.
	ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	if err := dial(addr, cfg); err != nil {
		t.Fatalf("an expired rotation should keep the last good certificate: %v", err)
	}
	if !strings.Contains(logs.String(), "X_CERT: the client certificate in "+f.Cert+" expired") {
		t.Errorf("expired rotation not logged with its setting:\n%s", logs.String())
	}
}

func TestRotatedCAIsUsedByTheNextConnection(t *testing.T) {
	oldCA, newCA := testsupport.NewCA(t, "old CA"), testsupport.NewCA(t, "new CA")
	addr := server(t, newCA, oldCA) // the server moved to a certificate from the new CA
	dir := t.TempDir()
	f := files(dir)
	oldCA.WriteCA(t, dir, "ca.pem")
	oldCA.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	cfg, err := New(f, "engine.test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = dial(addr, cfg)
	if err == nil || !strings.Contains(err.Error(), "X_CA is "+f.CA) {
		t.Fatalf("want a verification error naming X_CA, got %v", err)
	}
	// The bundle gains the new CA (both, as during a CA rollover).
	testsupport.WriteFile(t, f.CA, append(append([]byte{}, oldCA.PEM...), newCA.PEM...))
	if err := dial(addr, cfg); err != nil {
		t.Fatalf("after the CA rotation: %v", err)
	}
}

// trustedClient starts a server of one test CA and writes that CA and a
// client certificate it signed into the files f names.
func trustedClient(t *testing.T) (addr string, f Files) {
	t.Helper()
	ca := testsupport.NewCA(t, "test CA")
	dir := t.TempDir()
	ca.WriteCA(t, dir, "ca.pem")
	ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	return server(t, ca, ca), files(dir)
}

func TestServerNameIsVerified(t *testing.T) {
	addr, f := trustedClient(t)
	cfg, err := New(f, "wrong.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, cfg); err == nil || !strings.Contains(err.Error(), "certificate is valid for engine.test, not wrong.test") {
		t.Fatalf("want a name mismatch, got %v", err)
	}
}

func TestNewWithoutFiles(t *testing.T) {
	cfg, err := New(Files{}, "temporal.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InsecureSkipVerify || cfg.GetClientCertificate != nil || cfg.ServerName != "temporal.example" {
		t.Errorf("system roots config: %+v", cfg)
	}
	if _, err := New(Files{Cert: "/nonexistent/c.pem", Key: "/nonexistent/k.pem", CertSetting: "X_CERT"}, "", nil); err == nil || !strings.HasPrefix(err.Error(), "X_CERT: ") {
		t.Errorf("missing file: %v", err)
	}
}

// TestNoServerNameIsRefused: crypto/tls refuses to verify a server without
// a name to check it against; the CA-file path must too, or any
// certificate the CA ever signed (another service's) would be accepted.
func TestNoServerNameIsRefused(t *testing.T) {
	addr, f := trustedClient(t)
	cfg, err := New(f, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, cfg) // no ServerName filled in from the address
	if err := c.Handshake(); err == nil || !strings.Contains(err.Error(), "server name") {
		t.Fatalf("want a refusal for want of a server name, got %v", err)
	}
}

// TestServerCertificateMustBeForServers: a certificate the CA issued for
// client authentication only does not authenticate a server.
func TestServerCertificateMustBeForServers(t *testing.T) {
	ca := testsupport.NewCA(t, "test CA")
	certPEM, keyPEM := ca.Issue(t, testsupport.Leaf{CommonName: "impostor", DNSNames: []string{"engine.test"}, Client: true})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	dir := t.TempDir()
	f := files(dir)
	f.Cert, f.Key = "", ""
	ca.WriteCA(t, dir, "ca.pem")
	cfg, err := New(f, "engine.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(ln.Addr().String(), cfg); err == nil || !strings.Contains(err.Error(), "incompatible key usage") {
		t.Fatalf("want a key usage refusal, got %v", err)
	}
}

// TestWorldReadableKeyIsWarned: a private key any local user can read is
// logged naming its setting; one only its owner (and group) reads is not.
func TestWorldReadableKeyIsWarned(t *testing.T) {
	ca := testsupport.NewCA(t, "test CA")
	dir := t.TempDir()
	f := files(dir)
	ca.WriteCA(t, dir, "ca.pem")
	ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, false}, {0o644, true}} {
		if err := os.Chmod(f.Key, tc.mode); err != nil {
			t.Fatal(err)
		}
		var logs testsupport.SyncBuffer
		if _, err := New(f, "engine.test", slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), "setting=X_KEY") && strings.Contains(logs.String(), "readable by every user"); got != tc.warn {
			t.Errorf("mode %o: warned %t, want %t; log:\n%s", tc.mode, got, tc.warn, logs.String())
		}
	}
}
