package githook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

type metrics struct {
	webhooks *prometheus.CounterVec
	syncs    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "activity_git_webhooks_total",
			Help: "Git webhooks received, by source (empty for an unknown one) and outcome: queued, ignored, duplicate, ping, bad_signature, unknown_source, disabled, secret_unavailable, unknown_provider, busy, too_large, bad_payload, method_not_allowed.",
		}, []string{"source", "outcome"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "activity_git_syncs_total",
			Help: "Syncs of one git source started by a webhook or a poll, by source, trigger (webhook, poll) and result (ok, failed).",
		}, []string{"source", "trigger", "result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.webhooks, m.syncs} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("githook: metrics already registered (one Receiver per registry): %w", err)
			}
			return nil, fmt.Errorf("githook: registering metrics: %w", err)
		}
	}
	return m, nil
}

// logLimiter lets one line per key through every logEvery, so an outsider
// sending bad webhooks cannot flood the log; the lines it held back are
// counted in the next one (and every refusal in the metrics). Keys are a
// configured source and an outcome: the map stays small.
type logLimiter struct {
	now        func() time.Time
	mu         sync.Mutex
	limits     map[string]*rate.Limiter
	suppressed map[string]int
}

func newLogLimiter(now func() time.Time) *logLimiter {
	return &logLimiter{now: now, limits: map[string]*rate.Limiter{}, suppressed: map[string]int{}}
}

// allow reports whether a line for key may be logged now, and how many
// were held back since the last one.
func (l *logLimiter) allow(key string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.limits[key]
	if !ok {
		lim = rate.NewLimiter(rate.Every(logEvery), 1)
		l.limits[key] = lim
	}
	if !lim.AllowN(l.now(), 1) {
		l.suppressed[key]++
		return 0, false
	}
	n := l.suppressed[key]
	l.suppressed[key] = 0
	return n, true
}

// remoteIP is the peer address without its port; forwarded headers are
// not read, since a caller can write anything there.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
