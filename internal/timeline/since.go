package timeline

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrBadTime: a since or until that is neither a duration back from now
// nor a time.
var errBadTime = errors.New("not a duration back from now (7d, 36h, 90m, 2w) or a time (RFC 3339, or a UTC date 2026-03-01)")

// ParseTime reads a window bound: a duration back from now (Go's, plus
// days "7d" and weeks "2w"), an RFC 3339 time, or a UTC date-time
// (2026-03-01, 2026-03-01T06:00).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, ok := parseAgo(s); ok {
		return now.Add(-d).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errBadTime
}

func parseAgo(s string) (time.Duration, bool) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || !(v > 0 && v <= 3660) { // NaN fails both
				return 0, false
			}
			return time.Duration(v * float64(unit)), true
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}
