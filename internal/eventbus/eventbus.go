// Package eventbus connects activity-core to NATS: a connection that keeps
// reconnecting, and a Publisher that de-duplicates retries through
// JetStream's Nats-Msg-Id when a stream captures the subject, and falls
// back to a plain publish when none does.
package eventbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Connect dials NATS and keeps reconnecting forever: a NATS restart delays
// events, it does not stop a worker or router. The first connection is
// also retried in the background, so a role starts even while NATS is
// down.
func Connect(url, name string, logger *slog.Logger) (*nats.Conn, error) {
	logger = cmp.Or(logger, slog.Default())
	return nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("eventbus: disconnected from NATS, reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("eventbus: reconnected to NATS", "url", c.ConnectedUrlRedacted())
		}),
	)
}

// Publisher publishes JSON messages.
type Publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// NewPublisher wraps a connection.
func NewPublisher(nc *nats.Conn) (*Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("eventbus: %w", err)
	}
	return &Publisher{nc: nc, js: js}, nil
}

// Publish sends data to subject. With a stream on the subject, JetStream
// stores it and drops a second message with the same msgID (a retried
// activity publishes once). Without one, it is a plain NATS publish,
// flushed so the caller knows the server took it.
func (p *Publisher) Publish(ctx context.Context, subject string, data []byte, msgID string) error {
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
