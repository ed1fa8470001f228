// Package tlsconf builds the client *tls.Config activity-core uses towards
// an engine (Temporal) from PEM files named by settings, and
// re-reads the client certificate and the CA when the files change on
// disk, so that cert-manager or Vault can rotate them without a restart
// (docs/deployment.md#secure-connections). Every error names the setting
// whose file is wrong.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Files are the PEM files of one connection and the settings that name
// them, for messages. An empty CA means the system roots; an empty Cert and
// Key mean no client certificate.
type Files struct {
	CA, Cert, Key                      string
	CASetting, CertSetting, KeySetting string
}

// Error is a file that cannot be used; Setting names it.
type Error struct {
	Setting string
	Msg     string
}

func (e *Error) Error() string { return e.Setting + ": " + e.Msg }

func bad(setting, format string, args ...any) error {
	return &Error{Setting: setting, Msg: fmt.Sprintf(format, args...)}
}

// Check loads every file once, as a process does at start: the CA must
// hold certificates, the certificate and key must be given together and
// match, and the certificate must be valid at now.
func Check(f Files, now time.Time) error {
	var errs []error
	if f.CA != "" {
		if _, err := loadCA(f); err != nil {
			errs = append(errs, err)
		}
	}
	if f.Cert != "" || f.Key != "" {
		if _, err := loadPair(f, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadCA reads the CA file into a pool.
func loadCA(f Files) (*x509.CertPool, error) {
	b, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, bad(f.CASetting, "cannot read the CA file: %v", unwrapPath(err))
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, bad(f.CASetting, "%s: a certificate does not parse: %v", f.CA, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, bad(f.CASetting, "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA certificate that signed the server's", f.CA)
	}
	return pool, nil
}

// loadPair reads the client certificate and key and checks that they
// match and that the certificate is valid at now.
func loadPair(f Files, now time.Time) (*tls.Certificate, error) {
	switch {
	case f.Cert == "":
		return nil, bad(f.CertSetting, "not set, but %s is: give both the client certificate and its key", f.KeySetting)
	case f.Key == "":
		return nil, bad(f.KeySetting, "not set, but %s is: give both the client certificate and its key", f.CertSetting)
	}
	certPEM, err := os.ReadFile(f.Cert)
	if err != nil {
		return nil, bad(f.CertSetting, "cannot read the client certificate: %v", unwrapPath(err))
	}
	keyPEM, err := os.ReadFile(f.Key)
	if err != nil {
		return nil, bad(f.KeySetting, "cannot read the client key: %v", unwrapPath(err))
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if blk, _ := pem.Decode(certPEM); blk == nil || blk.Type != "CERTIFICATE" {
			return nil, bad(f.CertSetting, "%s is not a PEM certificate (-----BEGIN CERTIFICATE-----)", f.Cert)
		}
		return nil, bad(f.KeySetting, "%s is not the private key of the certificate in %s (%v); give the key issued with it", f.Key, f.CertSetting, err)
	}
	leaf := pair.Leaf
	switch {
	case now.After(leaf.NotAfter):
		return nil, bad(f.CertSetting, "the client certificate in %s expired on %s; renew it (the file is re-read when it changes)", f.Cert, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, bad(f.CertSetting, "the client certificate in %s is not valid before %s; check the clock or the issuer", f.Cert, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &pair, nil
}

// unwrapPath turns "open /x: no such file" into "/x: no such file".
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// New returns a client TLS config for serverName (the name the server's
// certificate must carry). The files are checked now; afterwards each new
// connection re-reads a file whose size or modification time changed, and
// a changed file that cannot be used is logged, naming its setting, while
// the last good one stays in use.
func New(f Files, serverName string, log *slog.Logger) (*tls.Config, error) {
	r, err := newReloader(f, log, time.Now)
	if err != nil {
		return nil, err
	}
	WarnReadableByAll(f.Key, f.KeySetting, r.log)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.Cert != "" {
		cfg.GetClientCertificate = r.clientCertificate
	}
	if f.CA != "" {
		// The CA is re-read too, so the chain is verified here against the
		// current pool instead of a RootCAs fixed at start. Verification is
		// not skipped: verifyServer does what crypto/tls would.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return r.verifyServer(cs, serverName) }
	}
	return cfg, nil
}

// WarnReadableByAll logs a warning, naming setting, when the secret file
// at path (a private key, a .creds file, an NKey seed) can be read by
// every user of the machine. It does not refuse: Kubernetes mounts
// secrets 0644 by default, inside a container of one user.
func WarnReadableByAll(path, setting string, log *slog.Logger) {
	if path == "" {
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		log.Warn("tlsconf: a secret file is readable by every user; chmod o-r it (0600, or 0640 with the service's group)",
			"setting", setting, "file", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
}
