package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
)

// send delivers p to one target. The error it returns says what failed in
// words an operator can act on, with every secret it resolved (a URL from
// ${env:NAME}, a signing key, the SMTP password) masked: it is stored on
// the notification and logged.
func (n *Notifier) send(ctx context.Context, t definition.NotifyTarget, p payload) error {
	red := newRedactor()
	red.add(n.cfg.SMTP.Password)
	var err error
	switch t.Kind {
	case definition.TargetWebhook:
		err = n.sendWebhook(ctx, t, p, red)
	case definition.TargetSlack:
		err = n.sendSlack(ctx, t, p, red)
	case definition.TargetEmail:
		err = n.smtp.send(ctx, t.To, p, n.cfg.Now())
	case definition.TargetNATS:
		err = n.sendNATS(ctx, t.Subject, p)
	default:
		err = permanentf("unknown target kind %q (want webhook, slack, email or nats)", t.Kind)
	}
	if err == nil {
		return nil
	}
	return red.scrub(fmt.Errorf("%s: %w", cmpKind(t.Kind), err))
}

func cmpKind(k string) string {
	if k == "" {
		return "target"
	}
	return k
}

// resolve expands the ${env:NAME} references of s through the allow-list
// and remembers what it resolved, for redaction. The error names the
// reference, never a value.
func (n *Notifier) resolve(s string, red *redactor) (string, error) {
	out, err := definition.ExpandSecrets(s, n.secrets.Resolve, red.add)
	if err != nil {
		return "", err
	}
	red.add(out)
	return out, nil
}

// permanentError is a failure no retry can mend (a stored target that
// does not parse, an address with a line break): the notification is
// given up at once.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanentf(format string, args ...any) error {
	return &permanentError{err: fmt.Errorf(format, args...)}
}

func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// redactor masks the secrets one send resolved.
type redactor struct{ values *secret.Values }

// minRedactLen is the shortest value masked: masking every "ab" in an
// error would destroy it and protect nothing.
const minRedactLen = 4

func newRedactor() *redactor { return &redactor{values: secret.NewValues(secret.Mask, minRedactLen)} }

func (r *redactor) add(v string) { r.values.Add(v) }

// scrub returns err with every form of every resolved value masked,
// longest first, keeping whether it is permanent.
func (r *redactor) scrub(err error) error {
	text := r.values.Redact(err.Error())
	if isPermanent(err) {
		return &permanentError{err: errors.New(text)}
	}
	return errors.New(text)
}
