package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
)

// Redacted replaces resolved secret values wherever they could be shown.
const Redacted = "***"

// minSecretLen is the shortest value redacted: replacing every "1" in a
// run's output because some variable held "1" would destroy the output and
// protect nothing.
const minSecretLen = 3

// secrets resolves ${env:NAME} references through the operator's
// allow-list and remembers every value it resolved, so that anything that
// leaves an activity (output, errors, context values, snapshots) can be
// redacted. Redaction covers the value and its common encodings
// (secret.Forms); it is best effort, the allow-list is the boundary
// (docs/definitions.md#secrets-envname).
type secrets struct {
	resolve func(string) (string, error)
	// mu guards values: live output redacts from the command's stdout
	// and stderr readers at once.
	mu     sync.Mutex
	values *secret.Values
	// max is the length of the longest text redaction replaces (a value
	// or one of its encodings).
	max int
}

// newSecrets resolves through list; a nil list allows nothing.
func newSecrets(list *secret.AllowList) *secrets {
	return newSecretsFunc(list.Resolve)
}

func newSecretsFunc(resolve func(string) (string, error)) *secrets {
	return &secrets{resolve: resolve, values: secret.NewValues(Redacted, minSecretLen)}
}

// errSecret marks a reference the allow-list refused or that has no value:
// the run fails at once (retrying will not change the operator's setting).
var errSecret = errors.New("secret reference")

// expand resolves the references in s. A name outside the allow-list, or
// allowed but unset, is an error that names it and the setting.
func (s *secrets) expand(v string) (string, error) {
	out, err := definition.ExpandSecrets(v, s.resolve, s.add)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errSecret, err)
	}
	return out, nil
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

// add remembers a resolved value for redaction.
func (s *secrets) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values.Add(v)
	if len(v) < minSecretLen {
		return // secret.Values ignores it too
	}
	for _, f := range secret.Forms(v) {
		s.max = max(s.max, len(f))
	}
}

// longest is the length of the longest text redact replaces (0: none), so
// a stream redacted piece by piece can hold back enough to catch a secret
// split across two pieces.
func (s *secrets) longest() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

func (s *secrets) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values.Empty()
}

// redact replaces every form of every resolved secret in text.
func (s *secrets) redact(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values.Redact(text)
}

// redactJSON redacts a JSON document so that it stays valid JSON: every
// string (and object key) is redacted after decoding, so an escaped form
// of a secret is caught too, and the document is encoded again.
func (s *secrets) redactJSON(raw json.RawMessage) json.RawMessage {
	if s.empty() || len(raw) == 0 {
		return raw
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers exactly as they were
	if err := dec.Decode(&v); err != nil {
		b, _ := json.Marshal(s.redact(string(raw)))
		return b
	}
	b, err := json.Marshal(redactAny(v, s))
	if err != nil {
		return raw
	}
	return b
}

// redactAny redacts every string and object key inside a JSON-like value.
func redactAny(v any, sec *secrets) any {
	switch t := v.(type) {
	case string:
		return sec.redact(t)
	case json.Number:
		// A numeric secret (a PIN, an account id) becomes the string "***":
		// a number cannot hold the mark.
		if sec.redact(string(t)) != string(t) {
			return Redacted
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[sec.redact(k)] = redactAny(e, sec)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = redactAny(e, sec)
		}
		return out
	}
	return v
}
