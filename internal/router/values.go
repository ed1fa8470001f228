package router

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

var (
	errEmptyPayload = errors.New("payload is empty: an event payload must be a JSON object")
	errNotJSON      = errors.New("payload is not JSON")
	errNotObject    = errors.New("payload is JSON but not an object")

	// errPayloadTooLarge and errPayloadTooDeep: the payload is over a
	// bound of internal/limits; such an event is never routed.
	errPayloadTooLarge = errors.New("payload is too large")
	errPayloadTooDeep  = errors.New("payload is nested too deeply")
	// errPayloadDuplicateKey is a payload with an object key given twice:
	// the schema would see one value and a command's parser maybe the
	// other, so such an event is never routed.
	errPayloadDuplicateKey = errors.New("payload has a duplicate key")
)

// How filters read a payload (documented in the package doc too):
//
//   - A path is split at dots; each segment selects a key of an object. A
//     key that itself contains a dot cannot be addressed.
//   - When a segment meets an array: a segment that is a non-negative
//     integer selects that element (commits.0.author); any other segment
//     is applied to every element (commits.author is every commit's
//     author), and the filter matches if any of them does.
//   - When the path ends at an array, each element is a candidate value
//     (tags: "urgent" matches {"tags": ["a", "urgent"]}); an empty array
//     offers no value, so it matches nothing, not even "*".
//   - A path that leads nowhere (a key missing, a scalar in the way, an
//     index out of range) offers no value: a missing field never matches,
//     whatever the glob.
//   - Values are matched by their text: strings as they are; numbers by
//     their JSON text, canonicalised so 1, 1.0 and 1e0 all read "1" (integer
//     literals are kept digit for digit, so large ids do not lose
//     precision); true and false; null as "null" (present, so "*" matches
//     it); an object by its compact JSON with sorted keys.

// lookupSimple follows segs through objects only. ok is false when the
// path leaves objects (an array on the way) or a key is missing; the caller
// then uses eachValueText, which is exact for every case.
func lookupSimple(payload map[string]any, segs []string) (any, bool) {
	var cur any = payload
	for _, seg := range segs {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// eachValueText calls fn with the text of every value the path leads to
// (arrays fan out, see above) until fn returns false.
func eachValueText(v any, segs []string, fn func(string) bool) bool {
	if len(segs) == 0 {
		if arr, ok := v.([]any); ok {
			for _, el := range arr {
				if !eachValueText(el, nil, fn) {
					return false
				}
			}
			return true
		}
		text, ok := valueText(v)
		if !ok {
			return true
		}
		return fn(text)
	}
	switch t := v.(type) {
	case map[string]any:
		next, ok := t[segs[0]]
		if !ok {
			return true
		}
		return eachValueText(next, segs[1:], fn)
	case []any:
		if i, ok := arrayIndex(segs[0]); ok {
			if i < len(t) {
				return eachValueText(t[i], segs[1:], fn)
			}
			return true
		}
		for _, el := range t {
			if !eachValueText(el, segs, fn) {
				return false
			}
		}
	}
	return true
}

func arrayIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// scalarText is valueText for the values that need no allocation-heavy
// work: everything but objects and arrays.
func scalarText(v any) (string, bool) {
	switch t := v.(type) {
	case map[string]any, []any:
		return "", false
	default:
		return valueText(t)
	}
}

// valueText is the text a filter glob is matched against. Arrays are not
// values (their elements are); ok is false for them.
func valueText(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return numberText(string(t)), true
	case float64:
		return floatText(t), true
	case bool:
		if t {
			return "true", true
		}
		return "false", true
	case nil:
		return "null", true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case float32:
		return floatText(float64(t)), true
	case []any:
		return "", false
	default:
		b, err := json.Marshal(canonicalNumbers(t))
		if err != nil {
			return "", false
		}
		return string(b), true
	}
}

// canonicalNumbers rewrites json.Number values inside objects so an
// object's text does not depend on how its numbers were spelled.
func canonicalNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		return json.Number(numberText(string(t)))
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = canonicalNumbers(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = canonicalNumbers(x)
		}
		return out
	}
	return v
}

// numberText canonicalises a JSON number literal: integer literals are kept
// as written (exact beyond 2^53), others are read as a float64 and written
// as encoding/json writes a float64, so 1.0 and 1e0 read "1".
func numberText(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return floatText(f)
}

// floatText formats f as encoding/json does.
func floatText(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	if f == 0 {
		return "0"
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	s := strconv.FormatFloat(f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(s)
		if n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
			s = s[:n-2] + s[n-1:]
		}
	}
	return s
}
