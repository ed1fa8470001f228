package detector

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// stderrTailMax is the most of a run's stderr a message carries.
const stderrTailMax = 2 << 10

// notifications addresses one definition's events to each of its targets:
// one outbox row per event and target, with an ID made from the problem
// and the target so that enqueueing it again is a no-op
// (docs/alerting.md#delivery).
func notifications(d *defSpec, evs []event, now time.Time) []store.Notification {
	var out []store.Notification
	for _, ev := range evs {
		msg := mustJSON(ev.msg)
		for _, t := range d.notify.Targets {
			key := targetKey(t)
			out = append(out, store.Notification{
				ID:           d.id + "|" + ev.name + "|" + ev.key + "|" + key,
				DefinitionID: d.id, RunID: ev.msg.RunID, Event: ev.name,
				Target: key, TargetSpec: mustJSON(t), Message: msg,
				Status: store.NotificationPending, NextAttemptAt: now, CreatedAt: now,
			})
		}
	}
	return out
}

// targetKey names a target for grouping and display with no secret in it:
// a ${env:NAME} reference is shown as written, a literal URL (a Slack
// webhook URL is itself a secret) as its scheme and host and a hash.
func targetKey(t definition.NotifyTarget) string {
	switch t.Kind {
	case definition.TargetEmail:
		return t.Kind + ":" + strings.Join(t.To, ",")
	case definition.TargetNATS:
		return t.Kind + ":" + t.Subject
	}
	return t.Kind + ":" + displayURL(t.URL)
}

func displayURL(raw string) string {
	if strings.HasPrefix(raw, "${") {
		return raw
	}
	sum := sha256.Sum256([]byte(raw))
	h := hex.EncodeToString(sum[:6])
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "url#" + h
	}
	return u.Scheme + "://" + u.Host + "/…#" + h
}

// stderrTail is the end of a run's stderr for a message: at most
// stderrTailMax bytes of valid UTF-8, starting at a line when one starts
// in it.
func stderrTail(s string) string {
	if len(s) > 2*stderrTailMax {
		s = s[len(s)-2*stderrTailMax:]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= stderrTailMax {
		return s
	}
	s = s[len(s)-stderrTailMax:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return s
}
