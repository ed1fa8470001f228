package timeline

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Change is one field that differs between two stored versions of a
// definition, by its dotted path in the canonical spec
// (trigger.cron_expression, rule.when[0]). Old is absent when the field
// was added and New when it was removed.
type change struct {
	Path string          `json:"path"`
	Old  json.RawMessage `json:"old,omitempty"`
	New  json.RawMessage `json:"new,omitempty"`
}

// String is the change as the text timeline shows it:
// trigger.cron_expression: "0 3 * * *" → "0 4 * * *".
func (c change) String() string {
	if c.Path == modePath {
		if t := modeText(c); t != "" {
			return t
		}
	}
	return c.Path + ": " + shownValue(c.Old) + " → " + shownValue(c.New)
}

// valueShownMax bounds one value in a text line; the JSON keeps it whole.
const valueShownMax = 120

func shownValue(v json.RawMessage) string {
	if len(v) == 0 {
		return "(none)"
	}
	return clip(string(v), valueShownMax)
}

// Diff compares two canonical specs field by field. Objects are compared
// key by key, lists of the same length element by element; a list whose
// length changed is one change of the whole list. Changes are sorted by
// path. A spec that is not JSON is compared as one value.
func diff(oldSpec, newSpec json.RawMessage) []change {
	var o, n any
	if json.Unmarshal(oldSpec, &o) != nil || json.Unmarshal(newSpec, &n) != nil {
		if bytes.Equal(oldSpec, newSpec) {
			return nil
		}
		return []change{{Path: "(spec)", Old: compactJSON(oldSpec), New: compactJSON(newSpec)}}
	}
	var out []change
	diffValue("", o, n, &out)
	slices.SortStableFunc(out, func(a, b change) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func diffValue(path string, o, n any, out *[]change) {
	om, oIsMap := o.(map[string]any)
	nm, nIsMap := n.(map[string]any)
	if oIsMap && nIsMap {
		for k, ov := range om {
			nv, ok := nm[k]
			if !ok {
				*out = append(*out, change{Path: join(path, k), Old: marshal(ov)})
				continue
			}
			diffValue(join(path, k), ov, nv, out)
		}
		for k, nv := range nm {
			if _, ok := om[k]; !ok {
				*out = append(*out, change{Path: join(path, k), New: marshal(nv)})
			}
		}
		return
	}
	ol, oIsList := o.([]any)
	nl, nIsList := n.([]any)
	if oIsList && nIsList && len(ol) == len(nl) {
		for i := range ol {
			diffValue(fmt.Sprintf("%s[%d]", path, i), ol[i], nl[i], out)
		}
		return
	}
	ob, nb := marshal(o), marshal(n)
	if !bytes.Equal(ob, nb) {
		*out = append(*out, change{Path: cmp.Or(path, "(spec)"), Old: ob, New: nb})
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// marshal re-encodes a decoded value compactly (map keys sorted, so equal
// values give equal bytes). HTML is not escaped: the dashboard escapes.
func marshal(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return nil
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.Bytes()
	}
	s, _ := json.Marshal(string(raw))
	return s
}
