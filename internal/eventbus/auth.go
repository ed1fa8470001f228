package eventbus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/coulomb/activity-core/internal/secret"
)

// Options are how a role authenticates to NATS, verifies it, and finds
// its JetStream (docs/deployment.md#secure-connections). Each field is the
// file or value of the ACTIVITY_NATS_* setting of the same name; errors
// and logs name those settings. Set at most one credential: Creds, NKey,
// User with Password, or Token.
type Options struct {
	// Creds is a .creds file: the user's JWT and NKey seed.
	Creds string
	// NKey is a file holding a user NKey seed (SU...).
	NKey string
	// User and Password authenticate together.
	User, Password string
	// Token is an authentication token.
	Token string
	// CA is a PEM file of the CA that signed the servers' certificates;
	// setting it (or Cert) turns TLS on.
	CA string
	// Cert and Key are the client certificate and its key, for mTLS.
	Cert, Key string
	// JSDomain is the JetStream domain of the stream; JSAPIPrefix the API
	// prefix of a JetStream imported from another account. At most one.
	JSDomain, JSAPIPrefix string
}

// The settings Options' fields come from.
const (
	settingURL      = "ACTIVITY_NATS_URL"
	settingCreds    = "ACTIVITY_NATS_CREDS"
	settingNKey     = "ACTIVITY_NATS_NKEY"
	settingUser     = "ACTIVITY_NATS_USER"
	settingPassword = "ACTIVITY_NATS_PASSWORD"
	settingToken    = "ACTIVITY_NATS_TOKEN"
	settingCA       = "ACTIVITY_NATS_CA"
	settingCert     = "ACTIVITY_NATS_CERT"
	settingKey      = "ACTIVITY_NATS_KEY"
	settingDomain   = "ACTIVITY_NATS_JS_DOMAIN"
	settingPrefix   = "ACTIVITY_NATS_JS_API_PREFIX"
)

// Error is a NATS setting that cannot work. It never holds a password,
// token or seed.
type Error struct {
	Setting string
	Msg     string
}

func (e *Error) Error() string { return e.Setting + ": " + e.Msg }

func bad(setting, msg string) error { return &Error{Setting: setting, Msg: msg} }

// credentials lists the credential settings o (and the URL's user info)
// sets.
func (o Options) credentials(url string) []string {
	var kinds []string
	for _, k := range []struct {
		set     bool
		setting string
	}{
		{o.Creds != "", settingCreds}, {o.NKey != "", settingNKey},
		{o.User != "" || o.Password != "", settingUser}, {o.Token != "", settingToken},
	} {
		if k.set {
			kinds = append(kinds, k.setting)
		}
	}
	if u, err := neturl.Parse(url); err == nil && u.User != nil {
		kinds = append(kinds, "the user info in "+settingURL)
	}
	return kinds
}

// natsOptions turns o into nats.go's options, checking every file now so
// that a bad one is reported naming its setting rather than at each
// reconnect.
func (o Options) natsOptions(url string) ([]nats.Option, error) {
	if kinds := o.credentials(url); len(kinds) > 1 {
		// The URL's user info comes last: kinds[0] is a setting.
		return nil, bad(kinds[0], "set together with "+strings.Join(kinds[1:], ", ")+"; NATS takes one kind of credential: keep one")
	}
	if (o.User == "") != (o.Password == "") {
		return nil, bad(settingUser, "and "+settingPassword+" go together; set both or neither")
	}
	if (o.Cert == "") != (o.Key == "") {
		return nil, bad(settingCert, "and "+settingKey+" go together (the client certificate and its key); set both or neither")
	}
	if o.JSDomain != "" && o.JSAPIPrefix != "" {
		return nil, bad(settingDomain, "set together with "+settingPrefix+"; a domain is the prefix $JS.<domain>.API: keep one")
	}
	var opts []nats.Option
	switch {
	case o.Creds != "":
		if err := checkCreds(o.Creds); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(o.Creds))
	case o.NKey != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return nil, bad(settingNKey, "no user NKey seed (SU...) in "+o.NKey+": "+fileErr(err))
		}
		opts = append(opts, opt)
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	case o.Token != "":
		opts = append(opts, nats.Token(o.Token))
	}
	// The TLS options read their files when applied: apply them to a
	// scratch copy now, so that a bad file names its setting.
	scratch := nats.GetDefaultOptions()
	for _, f := range []struct {
		set     bool
		setting string
		opt     func() nats.Option
	}{
		{o.CA != "", settingCA, func() nats.Option { return nats.RootCAs(o.CA) }},
		{o.Cert != "", settingCert, func() nats.Option { return nats.ClientCert(o.Cert, o.Key) }},
	} {
		if !f.set {
			continue
		}
		opt := f.opt()
		if err := opt(&scratch); err != nil {
			return nil, bad(f.setting, fileErr(err))
		}
		opts = append(opts, opt)
	}
	return opts, nil
}

// checkCreds reads a .creds file: a user JWT and a user NKey seed.
func checkCreds(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return bad(settingCreds, fileErr(err))
	}
	defer clear(data)
	token, err := nkeys.ParseDecoratedJWT(data)
	if err == nil {
		_, err = jwt.DecodeUserClaims(token)
	}
	if err != nil {
		return bad(settingCreds, path+" holds no user JWT (want a .creds file from nsc or the jwt library): "+err.Error())
	}
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return bad(settingCreds, path+" holds no user NKey seed: "+err.Error())
	}
	kp.Wipe()
	return nil
}

// fileErr is err without nats.go's prefix.
func fileErr(err error) string {
	return strings.TrimPrefix(err.Error(), "nats: ")
}

func isAuthError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) {
		return true
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "authorization violation") || strings.Contains(m, "authentication expired") ||
		strings.Contains(m, "authentication revoked") || strings.Contains(m, "user authentication")
}

// describe names the setting behind a failed connection attempt and says
// what to check. setting is "" for a failure no setting explains (the
// server is down).
func (o Options) describe(err error) (setting, msg string) {
	var hostErr x509.HostnameError
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var opErr *net.OpError
	text := err.Error()
	switch {
	case isAuthError(err):
		if kinds := o.credentials(""); len(kinds) > 0 {
			return kinds[0], "NATS refused the credentials (" + text + "); check the file or value, and that the server knows this user"
		}
		return settingCreds, "NATS wants credentials (" + text + "); set one of " + settingCreds + ", " + settingNKey + ", " + settingUser + "/" + settingPassword + " or " + settingToken
	case errors.As(err, &hostErr):
		return settingURL, "the server's certificate is not for this host (" + text + "); use a host name the certificate names"
	case errors.As(err, &unknownCA):
		return settingCA, "the server's certificate is not signed by a trusted CA (" + text + "); set " + settingCA + " to the PEM file of the CA that signed it"
	case errors.As(err, &invalid):
		return settingCA, "the server's certificate is not valid (" + text + "); check its dates and the CA in " + settingCA
	case errors.Is(err, nats.ErrSecureConnWanted):
		return settingCA, "TLS is configured but the server does not offer it; enable TLS on the server or unset " + settingCA + ", " + settingCert + " and " + settingKey
	case errors.As(err, &opErr) && opErr.Op == "remote error", strings.Contains(text, "remote error: tls"):
		return settingCert, "the server refused the TLS handshake (" + text + "); it wants a client certificate it trusts: set " + settingCert + " and " + settingKey
	case strings.Contains(text, "closed by remote after TLS handshake") && o.Cert == "":
		return settingCert, "the server closed the connection after the TLS handshake (" + text + "); it likely wants a client certificate: set " + settingCert + " and " + settingKey
	case strings.Contains(text, "tls: ") || strings.Contains(text, "x509: "):
		return settingCA, "TLS failed (" + text + "); check " + settingCA + ", " + settingCert + " and " + settingKey
	}
	var tlsErr tls.RecordHeaderError
	if errors.As(err, &tlsErr) {
		return settingURL, "the server did not answer TLS (" + text + "); check the port in " + settingURL
	}
	return "", text
}

// connLog logs refused connection attempts, each different reason once
// until the connection succeeds (nats.go retries every second).
type connLog struct {
	log  *slog.Logger
	opts Options
	url  string

	mu   sync.Mutex
	last string
}

func (c *connLog) reset() {
	c.mu.Lock()
	c.last = ""
	c.mu.Unlock()
}

func (c *connLog) refused(err error) {
	if err == nil {
		return
	}
	setting, msg := c.opts.describe(err)
	msg = c.cleanText(msg)
	c.mu.Lock()
	repeat := msg == c.last
	c.last = msg
	c.mu.Unlock()
	if repeat {
		return
	}
	if setting == "" {
		c.log.Warn("eventbus: cannot connect to NATS yet, retrying", "url", secret.RedactURL(c.url), "error", msg)
		return
	}
	c.log.Error("eventbus: NATS refused the connection, retrying", "setting", setting, "url", secret.RedactURL(c.url), "error", setting+": "+msg)
}

// refusalCheckEvery is how often watch looks for a refused reconnect.
const refusalCheckEvery = 2 * time.Second

// watch logs why reconnecting fails: nats.go reports a refused TLS
// handshake or login while reconnecting only through LastError.
func (c *connLog) watch(nc *nats.Conn) {
	tick := time.NewTicker(refusalCheckEvery)
	defer tick.Stop()
	for range tick.C {
		if nc.IsClosed() {
			return
		}
		if nc.Status() == nats.RECONNECTING {
			c.refused(nc.LastError())
		}
	}
}

// clean is err's text with the URL's and the options' secrets hidden.
func (c *connLog) clean(err error) string { return c.cleanText(err.Error()) }

func (c *connLog) cleanText(s string) string {
	s = secret.RedactURLIn(s, c.url)
	for _, v := range []string{c.opts.Password, c.opts.Token} {
		if v != "" {
			s = strings.ReplaceAll(s, v, secret.Mask)
		}
	}
	return s
}
