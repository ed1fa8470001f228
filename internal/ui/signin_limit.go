package ui

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// signInLimits bounds sign-in attempts per client address: a token bucket
// each, refilled at perMinute and holding burst. The table holds at most
// max clients; a full one first forgets the clients whose bucket is full
// again (they lose nothing), then an arbitrary one.
type signInLimits struct {
	mu        sync.Mutex
	m         map[string]*rate.Limiter
	perMinute int
	burst     int
	max       int
}

func newSignInLimits(perMinute, burst, limit int) *signInLimits {
	return &signInLimits{m: map[string]*rate.Limiter{}, perMinute: perMinute, burst: burst, max: limit}
}

// take spends one attempt of client at now. When none is left it returns
// how long until the next one.
func (l *signInLimits) take(client string, now time.Time) (ok bool, retryAfter time.Duration) {
	client = clientKey(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, found := l.m[client]
	if !found {
		if len(l.m) >= l.max {
			l.evict(now)
		}
		lim = rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMinute)), l.burst)
		l.m[client] = lim
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *signInLimits) evict(now time.Time) {
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < l.max {
			return
		}
		delete(l.m, k)
	}
}

// clientKey is the unit a sign-in limit counts: an IPv4 address, or the
// /64 of an IPv6 address, since one IPv6 client commonly holds a whole
// /64 and could otherwise take a fresh bucket per address.
func clientKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if ip.Unmap().Is4() {
		return ip.Unmap().String()
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
