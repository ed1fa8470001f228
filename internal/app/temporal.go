package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/tlsconf"
)

// probeTimeout bounds the startup check of the Temporal connection.
const probeTimeout = 10 * time.Second

// withTemporalTLS sets the TLS and API-key options of a Temporal client
// from the engines' settings (docs/deployment.md#secure-connections). The
// API key goes only into the gRPC authorization header, never a log.
func withTemporalTLS(opts *client.Options, e config.Engines, log *slog.Logger) error {
	t := e.TemporalTLS
	if !t.Enabled() {
		return nil
	}
	cfg, err := tlsconf.New(t.Files(), t.TemporalServerNameFor(e.TemporalAddress), log)
	if err != nil {
		var te *tlsconf.Error
		if errors.As(err, &te) {
			return &config.Error{Setting: te.Setting, Msg: te.Msg}
		}
		return err
	}
	opts.ConnectionOptions.TLS = cfg
	if t.TemporalAPIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.TemporalAPIKey)
	}
	return nil
}

// probeTemporal asks a TLS frontend for its health at start. A TLS
// handshake that fails is a setting to fix, so it stops startup naming
// it; Temporal down or not yet up is only logged, since the client
// reconnects by itself.
func probeTemporal(ctx context.Context, tc client.Client, e config.Engines, log *slog.Logger) error {
	if !e.TemporalTLS.Enabled() {
		return nil // no handshake to get wrong: start as before, lazily
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		_, err := tc.CheckHealth(pctx, &client.CheckHealthRequest{})
		if err == nil {
			return nil
		}
		if serr := temporalSettingError(err, e); serr != nil {
			return serr
		}
		// With TLS 1.3 the server checks the client certificate after the
		// client's handshake is done, so its refusal can arrive as a reset
		// or an EOF instead of the alert: look again until the deadline,
		// unless nothing listens at all.
		if unreachable(err) || pctx.Err() != nil {
			if ctx.Err() == nil {
				log.Warn("app: Temporal is not reachable yet; the roles start and retry", "address", e.TemporalAddress, "error", err)
			}
			return nil
		}
		select {
		case <-pctx.Done():
		case <-time.After(wait):
		}
	}
}

// unreachable reports an error that means nothing answered at the address.
func unreachable(err error) bool {
	msg := err.Error()
	for _, s := range []string{"connection refused", "no such host", "network is unreachable", "no route to host"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// temporalSettingError maps a TLS failure towards Temporal to the setting
// that fixes it, or returns nil for any other error. gRPC flattens the
// handshake error into a status message, so this reads the text of
// crypto/tls's errors and alerts.
func temporalSettingError(err error, e config.Engines) error {
	msg := err.Error()
	t := e.TemporalTLS
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(msg, x) {
				return true
			}
		}
		return false
	}
	addr := e.TemporalAddress
	switch {
	case has("tls: certificate required"):
		if t.TemporalTLSCert == "" {
			return &config.Error{Setting: config.TemporalTLSCertSetting, Msg: fmt.Sprintf("the Temporal frontend at %s requires a client certificate (mTLS); set ACTIVITY_TEMPORAL_TLS_CERT and ACTIVITY_TEMPORAL_TLS_KEY to one signed by a CA it trusts", addr)}
		}
		return &config.Error{Setting: config.TemporalTLSCertSetting, Msg: fmt.Sprintf("the Temporal frontend at %s asked for a client certificate and got none from %s", addr, t.TemporalTLSCert)}
	case has("tls: expired certificate"):
		return &config.Error{Setting: config.TemporalTLSCertSetting, Msg: fmt.Sprintf("the Temporal frontend at %s refused the client certificate in %s as expired; renew it (the file is re-read when it changes)", addr, t.TemporalTLSCert)}
	case has("remote error: tls: bad certificate", "remote error: tls: unknown certificate authority", "remote error: tls: unknown certificate",
		"remote error: tls: certificate revoked", "remote error: tls: unsupported certificate", "remote error: tls: access denied"):
		return &config.Error{Setting: config.TemporalTLSCertSetting, Msg: fmt.Sprintf("the Temporal frontend at %s refused the client certificate in %s (%s); it must be signed by a CA the frontend trusts for clients, and be meant for client authentication", addr, t.TemporalTLSCert, tlsDetail(msg))}
	case has("x509: certificate is valid for"):
		return &config.Error{Setting: "ACTIVITY_TEMPORAL_TLS_SERVER_NAME", Msg: fmt.Sprintf("the Temporal frontend's certificate does not carry the name %q (%s); set ACTIVITY_TEMPORAL_TLS_SERVER_NAME to a name it does carry", t.TemporalServerNameFor(addr), tlsDetail(msg))}
	case has("x509:", "tls: failed to verify certificate"):
		what := "the system's CA roots"
		if t.TemporalTLSCA != "" {
			what = t.TemporalTLSCA
		}
		return &config.Error{Setting: config.TemporalTLSCASetting, Msg: fmt.Sprintf("the Temporal frontend's certificate at %s is not trusted by %s (%s); set ACTIVITY_TEMPORAL_TLS_CA to the CA that signed it", addr, what, tlsDetail(msg))}
	case has("first record does not look like a TLS handshake"):
		return &config.Error{Setting: "ACTIVITY_TEMPORAL_TLS", Msg: fmt.Sprintf("the Temporal frontend at %s does not speak TLS; configure TLS on its frontend (global.tls.frontend), or check ACTIVITY_TEMPORAL_ADDRESS", addr)}
	}
	return nil
}

// tlsDetail is the innermost part of a gRPC handshake error, the part
// crypto/tls wrote.
func tlsDetail(msg string) string {
	for _, marker := range []string{"remote error: ", "tls: failed to verify certificate: ", "x509: "} {
		if i := strings.Index(msg, marker); i >= 0 {
			return strings.TrimRight(msg[i:], `"`)
		}
	}
	return msg
}
