// Package eventbus connects activity-core to NATS: a connection that keeps
// reconnecting, with TLS and credentials when configured
// (docs/deployment.md#secure-connections), and a Publisher that
// de-duplicates retries through JetStream's Nats-Msg-Id when a stream
// captures the subject, and falls back to a plain publish when none does.
package eventbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/tlsconf"
)

// Connect dials NATS with o's credentials and TLS, and keeps reconnecting
// forever: a NATS restart delays events, it does not stop a worker or
// router. The first connection is also retried in the background, so a
// role starts even while NATS is down; a refusal (an untrusted
// certificate, bad credentials) is logged naming the setting to fix. A
// setting that cannot work (two kinds of credential, a file that does not
// parse) is an *Error naming it. Certificate, CA, .creds and seed files
// are read again at every reconnect, so a rotated file takes effect on
// the next connection.
func Connect(url, name string, o Options, logger *slog.Logger) (*nats.Conn, error) {
	logger = cmp.Or(logger, slog.Default())
	auth, err := o.natsOptions(url)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ path, setting string }{{o.Creds, settingCreds}, {o.NKey, settingNKey}, {o.Key, settingKey}} {
		tlsconf.WarnReadableByAll(f.path, f.setting, logger)
	}
	cl := &connLog{log: logger, opts: o, url: url}
	opts := append(auth,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		// Credentials fixed on disk are picked up by the next attempt;
		// giving up after two refusals would leave the role without NATS.
		nats.IgnoreAuthErrorAbort(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("eventbus: disconnected from NATS, reconnecting", "error", cl.clean(err))
			}
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			cl.reset()
			logger.Info("eventbus: connected to NATS", "url", secret.RedactURL(c.ConnectedUrl()))
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			cl.reset()
			logger.Info("eventbus: reconnected to NATS", "url", secret.RedactURL(c.ConnectedUrl()))
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { cl.refused(err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if isAuthError(err) {
				cl.refused(err)
			}
		}),
	)
	if plaintextLoopback(url, o) {
		// serve allowed plaintext for a loopback server only: do not
		// follow its cluster to other hosts in clear.
		opts = append(opts, nats.IgnoreDiscoveredServers())
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		// A URL that does not parse is quoted whole by net/url.
		return nil, errors.New(cl.clean(err))
	}
	go cl.watch(nc)
	return nc, nil
}

// JetStream is the JetStream context for o: in o.JSDomain, or behind
// o.JSAPIPrefix, else the connection's own account.
func JetStream(nc *nats.Conn, o Options) (jetstream.JetStream, error) {
	var js jetstream.JetStream
	var err error
	switch {
	case o.JSDomain != "":
		js, err = jetstream.NewWithDomain(nc, o.JSDomain)
	case o.JSAPIPrefix != "":
		js, err = jetstream.NewWithAPIPrefix(nc, o.JSAPIPrefix)
	default:
		js, err = jetstream.New(nc)
	}
	if err != nil {
		return nil, fmt.Errorf("eventbus: %w", err)
	}
	return js, nil
}

// Publisher publishes JSON messages.
type Publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// NewPublisher wraps a connection and its JetStream context (see
// JetStream).
func NewPublisher(nc *nats.Conn, js jetstream.JetStream) *Publisher {
	return &Publisher{nc: nc, js: js}
}

// Publish sends data to subject. With a stream on the subject, JetStream
// stores it and drops a second message with the same msgID (a retried
// activity publishes once). Without one, it is a plain NATS publish,
// flushed so the caller knows the server took it.
func (p *Publisher) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
	// Published with JetStream (a request), a $JS.API subject is an API
	// call made with this process's identity: STREAM.DELETE would delete
	// the stream. Sync refuses these subjects; this is the last guard.
	if strings.HasPrefix(subject, "$") || strings.HasPrefix(subject, "_INBOX.") {
		return fmt.Errorf("subject %q is a NATS system subject, not an event: refused", subject)
	}
	if p.js != nil {
		if prefix := strings.TrimSuffix(p.js.Options().APIPrefix, "."); prefix != "" && (subject == prefix || strings.HasPrefix(subject, prefix+".")) {
			return fmt.Errorf("subject %q is under the JetStream API prefix %s (ACTIVITY_NATS_JS_API_PREFIX), not an event: refused", subject, prefix)
		}
	}
	opts := []jetstream.PublishOpt{}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	_, err := p.js.Publish(ctx, subject, data, opts...)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		msg := nats.NewMsg(subject)
		msg.Data = data
		if msgID != "" {
			msg.Header.Set(jetstream.MsgIDHeader, msgID)
		}
		if err := p.nc.PublishMsg(msg); err != nil {
			return err
		}
		return p.nc.FlushWithContext(ctx)
	}
	return err
}

// plaintextLoopback reports a connection without TLS whose servers are
// all on loopback (127.0.0.0/8, ::1, localhost).
func plaintextLoopback(url string, o Options) bool {
	if o.CA != "" || o.Cert != "" {
		return false
	}
	for _, raw := range strings.Split(url, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, tls, err := tlsconf.NATSServer(raw)
		if err != nil || tls || !tlsconf.IsLoopback(u.Hostname()) {
			return false
		}
	}
	return true
}
