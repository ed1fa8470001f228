package adminapi

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// authLogEvery is how often each kind of failed authentication may be
// logged; the failures in between are counted in the next line (and all
// are counted in activity_core_auth_failures_total).
const authLogEvery = 10 * time.Second

// Reasons a token is refused, the reason label of
// activity_core_auth_failures_total.
const (
	reasonMissing       = "missing_token"
	reasonInvalid       = "invalid_token"
	reasonRole          = "insufficient_role"
	reasonNotConfigured = "no_token_configured"
)

// authLog logs failed authentications at most once per authLogEvery per
// surface and reason, so a guessing client cannot flood the log.
type authLog struct {
	log *slog.Logger
	now func() time.Time
	mu  sync.Mutex
	// per surface+reason: its limiter and the lines it suppressed.
	limits     map[string]*rate.Limiter
	suppressed map[string]int
}

func newAuthLog(log *slog.Logger, now func() time.Time) *authLog {
	return &authLog{log: log, now: now, limits: map[string]*rate.Limiter{}, suppressed: map[string]int{}}
}

func (a *authLog) failed(r *http.Request, surface, reason string) {
	key := surface + " " + reason // a few fixed values: the maps stay small
	a.mu.Lock()
	lim, ok := a.limits[key]
	if !ok {
		lim = rate.NewLimiter(rate.Every(authLogEvery), 1)
		a.limits[key] = lim
	}
	if !lim.AllowN(a.now(), 1) {
		a.suppressed[key]++
		a.mu.Unlock()
		return
	}
	n := a.suppressed[key]
	a.suppressed[key] = 0
	a.mu.Unlock()
	a.log.Warn("adminapi: authentication failed", "surface", surface, "reason", reason, "remote", ClientIP(r),
		"method", r.Method, "path", r.URL.Path, "suppressed_since_last", n)
}

// ClientIP is the request's peer address without its port. Forwarded
// headers are not read: a client could write any address there.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authReason names why CheckToken refused a token.
func authReason(err error) string {
	var ae *apiError
	if !errors.As(err, &ae) {
		return reasonInvalid
	}
	return ae.reason
}
