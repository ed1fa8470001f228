package notify

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coulomb/activity-core/internal/definition"
)

// recordingTransport answers every request itself, so a test sees where
// the notifier would have sent one without touching the network.
type recordingTransport struct {
	mu   sync.Mutex
	urls []string
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, req.URL.Scheme+"://"+req.URL.Host)
	rt.mu.Unlock()
	return nil, errors.New("recorded, not sent")
}

// Sync refuses a written http:// URL to another host (notifications carry
// run output); a ${env:NAME} URL is only resolved at delivery, so the
// notifier must apply the same rule to the value it resolves.
func TestResolvedPlainHTTPURLToAnotherHostIsRefused(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	rt := &recordingTransport{}
	w := newWorld(t, st, map[string]string{"OPS_HOOK_URL": "http://hooks.example.com/ops/0123456789"}, func(c *Config) {
		c.HTTPClient = &http.Client{Transport: rt}
	})
	for _, kind := range []string{definition.TargetWebhook, definition.TargetSlack} {
		target := definition.NotifyTarget{Kind: kind, URL: "${env:OPS_HOOK_URL}"}
		w.enqueue("backup-db|failed|run|"+kind, "backup-db", definition.EventFailed, target, failedMessage())
	}
	w.deliver()
	if len(rt.urls) != 0 {
		t.Errorf("the notifier sent run output in clear to %v; a resolved http:// URL must be loopback, like a written one", rt.urls)
	}
	for _, kind := range []string{definition.TargetWebhook, definition.TargetSlack} {
		row := w.row("backup-db|failed|run|" + kind)
		if !strings.Contains(row.LastError, "https") || strings.Contains(row.LastError, "0123456789") {
			t.Errorf("%s: last error %q should say the secret's value must be https (without showing it)", kind, row.LastError)
		}
	}
}

// The value of a ${env:NAME} URL is never shown (docs/alerting.md#notify):
// nor is its host, which a failed connection quotes.
func TestResolvedURLHostIsNotInTheError(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the POST is refused
	w := newWorld(t, st, map[string]string{"OPS_HOOK_URL": "http://" + addr + "/hook"}, nil)
	target := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: "${env:OPS_HOOK_URL}"}
	w.enqueue("backup-db|failed|run|webhook", "backup-db", definition.EventFailed, target, failedMessage())
	w.deliver()
	row := w.row("backup-db|failed|run|webhook")
	if row.LastError == "" || strings.Contains(row.LastError, addr) {
		t.Errorf("last error %q shows the host of the secret URL (%s)", row.LastError, addr)
	}
	if strings.Contains(w.logs.String(), addr) {
		t.Errorf("the log shows the host of the secret URL:\n%s", w.logs.String())
	}
}
