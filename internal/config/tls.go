package config

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/tlsconf"
)

// Setting names of the Temporal TLS files, for messages.
const (
	TemporalTLSCASetting   = "ACTIVITY_TEMPORAL_TLS_CA"
	TemporalTLSCertSetting = "ACTIVITY_TEMPORAL_TLS_CERT"
	temporalTLSKeySetting  = "ACTIVITY_TEMPORAL_TLS_KEY"
)

// Enabled reports whether connections to Temporal use TLS: asked for, or
// implied by a CA, a client certificate, a server name or an API key.
func (t *TemporalTLS) Enabled() bool {
	return t.TemporalTLS || t.TemporalTLSCA != "" || t.TemporalTLSCert != "" || t.TemporalTLSKey != "" ||
		t.TemporalServerName != "" || t.TemporalAPIKey != ""
}

// Files are the PEM files for tlsconf.
func (t *TemporalTLS) Files() tlsconf.Files {
	return tlsconf.Files{
		CA: t.TemporalTLSCA, Cert: t.TemporalTLSCert, Key: t.TemporalTLSKey,
		CASetting: TemporalTLSCASetting, CertSetting: TemporalTLSCertSetting, KeySetting: temporalTLSKeySetting,
	}
}

// TemporalServerNameFor is the name the frontend's certificate must carry:
// ACTIVITY_TEMPORAL_TLS_SERVER_NAME, else the host of address.
func (t *TemporalTLS) TemporalServerNameFor(address string) string {
	if t.TemporalServerName != "" {
		return t.TemporalServerName
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return address
	}
	return host
}

// validate checks the Temporal TLS settings at now: the files exist and
// parse, the certificate and key come together and match, the
// certificate is valid, the API key can travel in a header.
func (t *TemporalTLS) validate(now time.Time) []error {
	var errs []error
	if err := tlsconf.Check(t.Files(), now); err != nil {
		errs = append(errs, settingErrors(err)...)
	}
	if n := t.TemporalServerName; n != "" && (strings.ContainsAny(n, ":/ ") || strings.TrimSpace(n) == "") {
		errs = append(errs, bad("ACTIVITY_TEMPORAL_TLS_SERVER_NAME", "%q is not a host name; give the DNS name in the frontend's certificate, without scheme or port", n))
	}
	if k := t.TemporalAPIKey; k != "" && (strings.TrimSpace(k) != k || strings.ContainsAny(k, "\r\n\t ")) {
		// The message never shows the key.
		errs = append(errs, bad("ACTIVITY_TEMPORAL_API_KEY", "contains whitespace or a line break; paste the key alone (a file read with $(cat …) keeps its final newline: strip it)"))
	}
	return errs
}

// settingErrors turns tlsconf's errors into config errors, one per file.
func settingErrors(err error) []error {
	var out []error
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var te *tlsconf.Error
		if errors.As(e, &te) {
			out = append(out, &Error{Setting: te.Setting, Msg: te.Msg})
		} else {
			out = append(out, e)
		}
	}
	return out
}

// CheckPlaintext refuses, for serve, a non-loopback Temporal address
// without TLS and a non-loopback NATS URL without TLS, unless
// ACTIVITY_ALLOW_PLAINTEXT is set (docs/deployment.md#secure-connections).
func (tr Transport) CheckPlaintext(e *Engines) error {
	if tr.AllowPlaintext {
		return nil
	}
	var errs []error
	if host, _, err := net.SplitHostPort(e.TemporalAddress); err == nil && !tlsconf.IsLoopback(host) && !e.TemporalTLS.Enabled() {
		errs = append(errs, bad("ACTIVITY_TEMPORAL_ADDRESS", "%s is not a loopback address and TLS to Temporal is off, so definitions, payloads and run history would cross the network in clear; set ACTIVITY_TEMPORAL_TLS_CA (and _TLS_CERT and _TLS_KEY for mTLS), ACTIVITY_TEMPORAL_TLS=1 or ACTIVITY_TEMPORAL_API_KEY, or set ACTIVITY_ALLOW_PLAINTEXT=1 if this network is trusted", e.TemporalAddress))
	}
	natsTLS := e.NATSCA != "" || e.NATSCert != ""
	for _, raw := range strings.Split(e.NATSURL, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" || natsTLS {
			continue
		}
		u, tls, err := tlsconf.NATSServer(raw)
		if err != nil || tls || tlsconf.IsLoopback(u.Hostname()) {
			continue // nats.go cannot dial a URL that does not parse either
		}
		errs = append(errs, bad("ACTIVITY_NATS_URL", "%s is not a loopback address and TLS to NATS is off, so events and lifecycle messages would cross the network in clear; use a tls:// (or wss://) URL or set ACTIVITY_NATS_CA (and ACTIVITY_NATS_CERT and ACTIVITY_NATS_KEY for mTLS), or set ACTIVITY_ALLOW_PLAINTEXT=1 if this network is trusted", secret.RedactURL(raw)))
	}
	return errors.Join(errs...)
}
