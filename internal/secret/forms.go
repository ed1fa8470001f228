package secret

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
)

// minFormLen is the shortest encoded form redacted: shorter fragments
// would match ordinary output and protect nothing.
const minFormLen = 8

// Forms returns value and the common encodings a command could print it
// in: base64 (standard and URL alphabets, padded or not, and the part of
// its encoding that stays the same when the value is preceded or followed
// by other bytes, as in `echo "$T" | base64`), hex in both cases, URL
// query and path escaping, and JSON string escaping. Redacting these is
// best effort: the allow-list, not redaction, is the boundary.
func Forms(value string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if len(s) >= min(minFormLen, len(value)) && s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(value)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString([]byte(value)))
		add(strings.TrimRight(enc.EncodeToString([]byte(value)), "="))
		for _, s := range base64Stable(enc, value) {
			if len(s) >= minFormLen {
				add(s)
			}
		}
	}
	// base64(1) wraps its output at 76 columns and xxd -p at 60: a long
	// value encoded from the start of a line shows split over lines.
	std := base64.StdEncoding.EncodeToString([]byte(value))
	add(wrap(std, 76))
	if stable := base64Stable(base64.StdEncoding, value); len(stable) > 0 {
		add(wrap(stable[0], 76))
	}
	add(hex.EncodeToString([]byte(value)))
	add(strings.ToUpper(hex.EncodeToString([]byte(value))))
	add(wrap(hex.EncodeToString([]byte(value)), 60))
	add(url.QueryEscape(value))
	add(url.PathEscape(value))
	if b, err := json.Marshal(value); err == nil {
		add(string(b[1 : len(b)-1]))
	}
	return out
}

// base64Stable returns, for each of the three alignments the value can
// have inside a longer stream, the run of base64 characters that depends
// only on the value's own bytes.
func base64Stable(enc *base64.Encoding, value string) []string {
	var out []string
	for k := 0; k < 3; k++ {
		buf := append(make([]byte, k), value...)
		full := len(buf) / 3
		encoded := enc.EncodeToString(buf[:full*3])
		start := 0
		if k > 0 {
			start = 4 // the first group mixes in the preceding bytes
		}
		if len(encoded) > start {
			out = append(out, encoded[start:])
		}
	}
	return out
}

// wrap breaks s into lines of width characters, as base64(1) and xxd -p
// print; s shorter than width is returned as is.
func wrap(s string, width int) string {
	if len(s) <= width {
		return s
	}
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width])
		b.WriteByte('\n')
		s = s[width:]
	}
	b.WriteString(s)
	return b.String()
}
