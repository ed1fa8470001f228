package secret

import (
	"slices"
	"strings"
)

// Values remembers the secret values a piece of work resolved and masks
// every form of them (Forms) in what it shows: output, errors, URLs.
// Masking is best effort; the allow-list is the boundary
// (docs/security.md#secrets). The zero value is not usable: use NewValues.
type Values struct {
	mask   string
	minLen int
	values map[string]bool
	forms  []string // every form of every value, longest first; nil when stale
}

// NewValues masks with mask the values of at least minLen bytes: masking
// every "1" in a run's output because some variable held "1" would
// destroy the output and protect nothing.
func NewValues(mask string, minLen int) *Values {
	return &Values{mask: mask, minLen: minLen, values: map[string]bool{}}
}

// Add remembers v (values shorter than the minimum are ignored).
func (s *Values) Add(v string) {
	if len(v) >= s.minLen && !s.values[v] {
		s.values[v] = true
		s.forms = nil
	}
}

// Forget drops v.
func (s *Values) Forget(v string) {
	if s.values[v] {
		delete(s.values, v)
		s.forms = nil
	}
}

// Empty reports whether nothing is remembered.
func (s *Values) Empty() bool { return len(s.values) == 0 }

// Redact replaces every form of every value in text, longest first (so a
// secret containing another is replaced whole).
func (s *Values) Redact(text string) string {
	if len(s.values) == 0 || text == "" {
		return text
	}
	if s.forms == nil {
		seen := map[string]bool{}
		for v := range s.values {
			for _, f := range Forms(v) {
				if len(f) >= s.minLen && !seen[f] {
					seen[f] = true
					s.forms = append(s.forms, f)
				}
			}
		}
		slices.SortFunc(s.forms, func(a, b string) int { return len(b) - len(a) })
	}
	for _, f := range s.forms {
		text = strings.ReplaceAll(text, f, s.mask)
	}
	return text
}
