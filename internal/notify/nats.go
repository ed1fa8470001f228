package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/coulomb/activity-core/internal/definition"
)

// sendNATS publishes the Message or Group as JSON to subject and waits for
// the server to have it (a flush). Nats-Msg-Id is the delivery ID, so a
// JetStream stream that captures the subject drops a retried repeat.
func (n *Notifier) sendNATS(ctx context.Context, subject string, p payload) error {
	if n.cfg.NATS == nil {
		return errors.New("no NATS connection: this process has no ACTIVITY_NATS_URL; set it to deliver nats targets")
	}
	if subject == "" || strings.ContainsAny(subject, " \t\r\n*>") || strings.HasPrefix(subject, ".") || strings.HasSuffix(subject, ".") || strings.Contains(subject, "..") {
		return permanentf("subject %q is not a literal NATS subject (no wildcards, spaces or empty tokens)", subject)
	}
	if err := definition.ValidateSubject(subject); err != nil {
		return permanentf("%v", err) // $JS, $SYS, _INBOX.
	}
	msg := nats.NewMsg(subject)
	msg.Data = p.body
	msg.Header.Set("Content-Type", "application/json")
	msg.Header.Set(eventHeader, p.event)
	msg.Header.Set(deliveryHeader, p.deliveryID)
	msg.Header.Set(nats.MsgIdHdr, p.deliveryID)
	if err := n.cfg.NATS.PublishMsg(msg); err != nil {
		return fmt.Errorf("publishing to %s: %w", subject, err)
	}
	if err := n.cfg.NATS.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flushing the publish to %s: %w", subject, err)
	}
	return nil
}
