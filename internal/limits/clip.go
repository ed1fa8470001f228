package limits

import "unicode/utf8"

// Clip cuts s to at most n bytes on a rune boundary, marking the cut with
// "…": a bound on text built from an error or a run's output.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
