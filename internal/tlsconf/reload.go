package tlsconf

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// stamp is what tells a changed file from an unchanged one without
// reading it: a stat per handshake is cheap, a parse is not. A rename over
// the file (cert-manager, Vault agent, Kubernetes' symlink swap) changes it.
type stamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{size: -1}
	}
	s := stamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// reloader holds the last good certificate and CA pool and the stamps of
// the files they came from (or of the last attempt, so a bad file is
// logged once, not on every connection).
type reloader struct {
	f   Files
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp [2]stamp // cert, key
	pool      *x509.CertPool
	caStamp   stamp
}

func newReloader(f Files, log *slog.Logger, now func() time.Time) (*reloader, error) {
	r := &reloader{f: f, log: cmp.Or(log, slog.Default()), now: now}
	if f.CA != "" {
		r.caStamp = stampOf(f.CA)
		pool, err := loadCA(f)
		if err != nil {
			return nil, err
		}
		r.pool = pool
	}
	if f.Cert != "" || f.Key != "" {
		r.certStamp = [2]stamp{stampOf(f.Cert), stampOf(f.Key)}
		c, err := loadPair(f, now())
		if err != nil {
			return nil, err
		}
		r.cert = c
	}
	return r, nil
}

// clientCertificate is tls.Config.GetClientCertificate: it runs once per
// handshake, so a rotated certificate is used by the next connection.
func (r *reloader) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := [2]stamp{stampOf(r.f.Cert), stampOf(r.f.Key)}; s != r.certStamp {
		r.certStamp = s
		c, err := loadPair(r.f, r.now())
		if err != nil {
			r.log.Warn("tlsconf: the rotated client certificate cannot be used; keeping the previous one", "error", err)
		} else {
			r.cert = c
			r.log.Info("tlsconf: client certificate reloaded", "setting", r.f.CertSetting, "not_after", c.Leaf.NotAfter.UTC())
		}
	}
	if r.now().After(r.cert.Leaf.NotAfter) {
		// Sent anyway: the server's refusal names the problem, and the
		// log says which setting to renew.
		r.log.Warn("tlsconf: the client certificate has expired; renew the file", "setting", r.f.CertSetting, "file", r.f.Cert, "not_after", r.cert.Leaf.NotAfter.UTC())
	}
	return r.cert, nil
}

// currentPool returns the CA pool, re-read if the file changed.
func (r *reloader) currentPool() *x509.CertPool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := stampOf(r.f.CA); s != r.caStamp {
		r.caStamp = s
		pool, err := loadCA(r.f)
		if err != nil {
			r.log.Warn("tlsconf: the rotated CA file cannot be used; keeping the previous one", "error", err)
		} else {
			r.pool = pool
			r.log.Info("tlsconf: CA reloaded", "setting", r.f.CASetting)
		}
	}
	return r.pool
}

// verifyServer verifies the server's chain and name against the current
// CA pool, as crypto/tls does against RootCAs.
func (r *reloader) verifyServer(cs tls.ConnectionState, serverName string) error {
	if len(cs.PeerCertificates) == 0 {
		return &Error{Setting: r.f.CASetting, Msg: "the server sent no certificate"}
	}
	name := cmp.Or(serverName, cs.ServerName)
	if name == "" {
		// x509 skips the name check for an empty name; crypto/tls
		// refuses instead, and so does this.
		return errors.New("tls: no server name to verify the server's certificate against; give the host name its certificate carries")
	}
	opts := x509.VerifyOptions{
		Roots:         r.currentPool(),
		DNSName:       name,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   r.now(),
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Errorf("tls: failed to verify certificate: %w (%s is %s)", err, r.f.CASetting, r.f.CA)
	}
	if err != nil {
		return fmt.Errorf("tls: failed to verify certificate: %w", err)
	}
	return nil
}
