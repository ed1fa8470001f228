package definition

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree by hand instead of yaml.Unmarshal so that
// it can report every problem with its line and column, catch duplicate keys
// and unknown fields, and keep going after the first error.
type decoder struct {
	file string
	// defaults says the file is a defaults file, not a definition.
	defaults bool
	errs     []*Error
	warnings []*Error
	refs     []secretRef
	// trigInputs is trigger.inputs, decoded once the inputs are known.
	trigInputs *yaml.Node
}

// noun is what the file holds, for messages about the file as a whole.
func (d *decoder) noun() string {
	if d.defaults {
		return "set of defaults"
	}
	return "definition"
}

func (d *decoder) fileNoun() string {
	if d.defaults {
		return "defaults file"
	}
	return "definition file"
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &Error{File: d.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// entry is one key of a mapping with its value.
type entry struct {
	key, val *yaml.Node
}

// fields is a decoded mapping: its entries by key, and the keys in file order.
type fields struct {
	node  *yaml.Node
	byKey map[string]entry
	order []string
}

func (f *fields) get(key string) *yaml.Node {
	e, ok := f.byKey[key]
	if !ok || isNull(e.val) {
		return nil
	}
	return e.val
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		case "!!null":
			return "null"
		case "!!timestamp":
			return "timestamp " + n.Value
		}
		return strings.TrimPrefix(n.Tag, "!!") + " " + n.Value
	case yaml.AliasNode:
		return "an alias"
	}
	return "an unknown node"
}

// mapping decodes a mapping node, reporting a non-mapping value, non-string
// keys and duplicate keys. Unknown keys are checked by the caller with
// allowOnly, because which keys are allowed can depend on other keys.
func (d *decoder) mapping(n *yaml.Node, field string) (*fields, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "must be a mapping, got %s", kindName(n))
		return nil, false
	}
	f := &fields{node: n, byKey: make(map[string]entry, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			d.errorf(k, field, "merge keys (<<) are not supported: write the fields out")
			continue
		}
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool") {
			d.errorf(k, field, "keys must be strings, got %s", kindName(k))
			continue
		}
		if prev, dup := f.byKey[k.Value]; dup {
			d.errorf(k, join(field, k.Value), "duplicate key (first defined at line %d)", prev.key.Line)
			continue
		}
		f.byKey[k.Value] = entry{key: k, val: v}
		f.order = append(f.order, k.Value)
	}
	return f, true
}

// allowOnly reports every key of f not in allowed. why, when not empty,
// explains the context ("for trigger_type cron") so the operator knows the
// field exists but does not belong here.
func (d *decoder) allowOnly(f *fields, field string, allowed []string, why string) {
	set := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		set[a] = true
	}
	for _, k := range f.order {
		if set[k] {
			continue
		}
		msg := "unknown field"
		if why != "" {
			msg = "field not allowed " + why
		}
		if s := suggest(k, allowed); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if why == "" {
			msg += fmt.Sprintf(" (allowed: %s)", strings.Join(allowed, ", "))
		}
		d.errorf(f.byKey[k].key, join(field, k), "%s", msg)
	}
}

func join(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

func index(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}

// str decodes a string scalar. Numbers and booleans are refused rather than
// coerced: `env: {PORT: 8080}` silently becoming "8080" is fine, but
// `enabled: "no"` silently becoming a string is not, and one rule for all
// is easier to remember. The message says to quote the value.
func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			d.errorf(n, field, "must be a string, got %s (quote it: %q)", kindName(n), n.Value)
		} else {
			d.errorf(n, field, "must be a string, got %s", kindName(n))
		}
		return "", false
	}
	return n.Value, true
}

func (d *decoder) boolean(n *yaml.Node, field string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, field, "must be true or false, got %s", kindName(n))
		return false, false
	}
	v, err := strconv.ParseBool(strings.ToLower(n.Value))
	if err != nil {
		d.errorf(n, field, "must be true or false, got %q", n.Value)
		return false, false
	}
	return v, true
}

func (d *decoder) integer(n *yaml.Node, field string) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, field, "must be an integer, got %s", kindName(n))
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		d.errorf(n, field, "integer %s is out of range", n.Value)
		return 0, false
	}
	return v, true
}

func (d *decoder) number(n *yaml.Node, field string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		d.errorf(n, field, "must be a number, got %s", kindName(n))
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n, field, "must be a finite number, got %s", n.Value)
		return 0, false
	}
	return v, true
}

// stringList decodes a list of strings.
func (d *decoder) stringList(n *yaml.Node, field string) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "must be a list of strings, got %s", kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		s, good := d.str(item, index(field, i))
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// stringMap decodes a mapping of string to string (headers, env). It also
// returns the decoded entries, so callers can report at a key's position.
func (d *decoder) stringMap(n *yaml.Node, field string) (map[string]string, *fields, bool) {
	f, ok := d.mapping(n, field)
	if !ok {
		return nil, nil, false
	}
	out := make(map[string]string, len(f.order))
	for _, k := range f.order {
		v, good := d.str(f.byKey[k].val, join(field, k))
		ok = ok && good
		out[k] = v
	}
	return out, f, ok
}

// value converts arbitrary YAML (an HTTP body, a publish payload) into plain
// JSON-compatible Go values with the same strictness about keys as the
// rest of the file.
func (d *decoder) value(n *yaml.Node, field string) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		f, ok := d.mapping(n, field)
		if !ok {
			return nil, false
		}
		m := make(map[string]any, len(f.order))
		for _, k := range f.order {
			v, good := d.value(f.byKey[k].val, join(field, k))
			ok = ok && good
			m[k] = v
		}
		return m, ok
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		ok := true
		for i, item := range n.Content {
			v, good := d.value(item, index(field, i))
			ok = ok && good
			l = append(l, v)
		}
		return l, ok
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, true
		case "!!bool":
			return d.boolean(n, field)
		case "!!int":
			v, ok := d.integer(n, field)
			return v, ok
		case "!!float":
			return d.number(n, field)
		default:
			return n.Value, true
		}
	}
	d.errorf(n, field, "unsupported YAML value: %s", kindName(n))
	return nil, false
}

// checkNoAliases reports anchors and aliases anywhere in the tree: they make
// positions ambiguous and, expanded naively, can blow up (billion laughs).
// One definition per file rarely needs them.
func (d *decoder) checkNoAliases(n *yaml.Node) bool {
	ok := true
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			d.errorf(n, "", "YAML aliases (*%s) are not supported: write the value out", n.Value)
			ok = false
			return
		}
		if n.Anchor != "" {
			d.errorf(n, "", "YAML anchors (&%s) are not supported: write the value out", n.Anchor)
			ok = false
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return ok
}

// suggest returns the allowed name closest to got, if it is close enough to
// be a likely typo.
func suggest(got string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if dist := levenshtein(got, a); dist < bestDist {
			best, bestDist = a, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
