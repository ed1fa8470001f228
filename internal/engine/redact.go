package engine

import (
	"sort"
	"strings"

	"github.com/coulomb/activity-core/internal/definition"
)

// Redacted replaces resolved secret values wherever they could be shown.
const Redacted = "***"

// minSecretLen is the shortest value redacted: replacing every "1" in a
// run's output because some variable held "1" would destroy the output and
// protect nothing.
const minSecretLen = 3

// secrets resolves ${env:NAME} references and remembers every value it
// resolved, so that anything shown later (output, errors, context
// snapshots) can be redacted.
type secrets struct {
	lookup func(string) (string, bool)
	values map[string]bool
}

func newSecrets(lookup func(string) (string, bool)) *secrets {
	return &secrets{lookup: lookup, values: map[string]bool{}}
}

// expand resolves the references in s; an unset variable is an error that
// names it.
func (s *secrets) expand(v string) (string, error) {
	return definition.ExpandEnvRefs(v, func(name string) (string, bool) {
		val, ok := s.lookup(name)
		if ok && len(val) >= minSecretLen {
			s.values[val] = true
		}
		return val, ok
	})
}

// expandAny resolves references in every string inside a JSON-like value.
func (s *secrets) expandAny(v any) (any, error) {
	switch t := v.(type) {
	case string:
		return s.expand(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			x, err := s.expandAny(e)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			x, err := s.expandAny(e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	}
	return v, nil
}

// redact replaces every resolved secret value in text, longest first (so a
// secret containing another is replaced whole).
func (s *secrets) redact(text string) string {
	if len(s.values) == 0 || text == "" {
		return text
	}
	vals := make([]string, 0, len(s.values))
	for v := range s.values {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		text = strings.ReplaceAll(text, v, Redacted)
	}
	return text
}
