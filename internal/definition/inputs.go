package definition

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Input types a definition may declare (docs/definitions.md#inputs).
const (
	InputString   = "string"
	InputInt      = "int"
	InputBool     = "bool"
	InputEnum     = "enum"
	InputDuration = "duration"
)

// Bounds of inputs (docs/definitions.md#inputs). Input values come from
// whoever may start a run and from event payloads, and each one becomes an
// environment variable of the command, so both their number and their size
// are bounded.
const (
	// maxInputs is how many inputs a definition may declare.
	maxInputs = 32
	// maxInputBytes bounds a string, enum or duration value (and an enum's
	// values), in bytes.
	maxInputBytes = 4096
)

// PoolDefault is the pool a definition without run_on runs on
// (docs/run-control.md#placement).
const PoolDefault = "default"

var (
	poolNamePattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	inputNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

// InputDecl is one typed parameter a definition declares under inputs:.
// Default holds the typed value (string, int64, bool, or the duration as
// time.Duration.String spells it, so "300s" and "5m" are one default);
// nil when there is none.
type InputDecl struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Required    bool     `json:"required,omitempty"`
	Default     any      `json:"default,omitempty"`
	Description string   `json:"description,omitempty"`
	Values      []string `json:"values,omitempty"`
}

// TriggerInput sets one input for runs a schedule or an event starts:
// either a literal Value, or (event triggers) a CEL expression over
// `event` whose result is checked against the declaration at run time.
type TriggerInput struct {
	Value any    `json:"value,omitempty"`
	CEL   string `json:"cel,omitempty"`
}

// InputError is a refused input value, naming the field.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return "input " + e.Field + ": " + e.Msg }

// InputErrors is every refused input of one request.
type InputErrors []*InputError

func (es InputErrors) Error() string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

// errOrNil returns es as an error, or nil when it is empty (a nil
// InputErrors in an error interface is not nil).
func (es InputErrors) errOrNil() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Pool is the worker pool the definition runs on: run_on, or PoolDefault.
func (d *Definition) Pool() string {
	if d.RunOn == "" {
		return PoolDefault
	}
	return d.RunOn
}

// CheckPoolName says what is wrong with a pool name, or nil. Pool names
// become part of a Temporal task queue name and a command-line list.
func CheckPoolName(name string) error {
	if name == "" {
		return errors.New("pool name is empty")
	}
	if !poolNamePattern.MatchString(name) {
		return fmt.Errorf("pool name %s is not valid: use at most 63 lower-case letters, digits, '-' and '_', starting with a letter or digit (e.g. state-hub)", quoteClip(name))
	}
	return nil
}

// input returns the declaration of the named input, or nil.
func (d *Definition) input(name string) *InputDecl {
	for i := range d.Inputs {
		if d.Inputs[i].Name == name {
			return &d.Inputs[i]
		}
	}
	return nil
}

// ResolveInputs checks given values against the declaration and fills in
// defaults. A given value may be a string (from `--input name=value` or a
// form) or a JSON value of the declared type (from the API body); a nil
// value counts as not given. The result holds every declared input that
// has a value: strings for string, enum and duration (duration normalized
// by time.ParseDuration), int64 for int, bool for bool. Every bad or
// missing field is reported at once as InputErrors, declared inputs in
// declaration order, then undeclared names sorted; an undeclared name is
// an error.
func (d *Definition) ResolveInputs(given map[string]any) (map[string]any, error) {
	var errs InputErrors
	out := make(map[string]any, len(d.Inputs))
	for i := range d.Inputs {
		in := &d.Inputs[i]
		v, ok := given[in.Name]
		if !ok || v == nil {
			v = in.Default
		}
		if v == nil {
			if in.Required {
				errs = append(errs, &InputError{Field: in.Name, Msg: "is required and has no default"})
			}
			continue
		}
		nv, msg := in.check(v)
		if msg != "" {
			errs = append(errs, &InputError{Field: in.Name, Msg: msg})
			continue
		}
		out[in.Name] = nv
	}
	errs = append(errs, d.undeclared(given)...)
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return out, nil
}

// undeclared reports the given names the definition does not declare, at
// most maxInputs of them (a request may name thousands).
func (d *Definition) undeclared(given map[string]any) InputErrors {
	var names []string
	for name := range given {
		if d.input(name) == nil {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	declared := make([]string, len(d.Inputs))
	for i, in := range d.Inputs {
		declared[i] = in.Name
	}
	var errs InputErrors
	for i, name := range names {
		if i == maxInputs {
			errs = append(errs, &InputError{Field: "…", Msg: fmt.Sprintf("and %d more undeclared names", len(names)-i)})
			break
		}
		errs = append(errs, &InputError{Field: clip(name, 64), Msg: notDeclared(name, declared)})
	}
	return errs
}

// notDeclared says that name is not an input, and which ones are.
func notDeclared(name string, declared []string) string {
	if len(declared) == 0 {
		return "is not declared: the definition declares no inputs"
	}
	if s := suggest(name, declared); s != "" {
		return fmt.Sprintf("is not declared (did you mean %q?)", s)
	}
	return "is not declared (declared: " + strings.Join(declared, ", ") + ")"
}

// check converts v to the declared type, or says why it cannot: the
// message names what was wanted and what was given, never the field.
func (in *InputDecl) check(v any) (any, string) {
	switch in.Type {
	case InputString:
		s, ok := v.(string)
		if !ok {
			return nil, "want a string, got " + show(v)
		}
		if msg := checkText(s); msg != "" {
			return nil, msg
		}
		return s, ""
	case InputEnum:
		s, ok := v.(string)
		if !ok || !slices.Contains(in.Values, s) {
			return nil, fmt.Sprintf("want one of %s, got %s", strings.Join(in.Values, ", "), show(v))
		}
		return s, ""
	case InputInt:
		return checkInt(v)
	case InputBool:
		return checkBool(v)
	case InputDuration:
		return checkDuration(v)
	}
	return nil, fmt.Sprintf("has unknown type %q", in.Type)
}

// checkText says what is wrong with a string value, or "".
func checkText(s string) string {
	switch {
	case len(s) > maxInputBytes:
		return fmt.Sprintf("is %d bytes long, the limit is %d", len(s), maxInputBytes)
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL byte"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	return ""
}

func checkInt(v any) (any, string) {
	const want = "want an integer, got "
	switch x := v.(type) {
	case int:
		return int64(x), ""
	case int64:
		return x, ""
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), ""
		}
	case float64:
		// JSON numbers decode as float64: 3 is an integer, 3.5 is not.
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), ""
		}
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return i, ""
		}
		if f, err := x.Float64(); err == nil {
			return checkInt(f)
		}
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err == nil {
			return i, ""
		}
		if errors.Is(err, strconv.ErrRange) {
			return nil, want + show(v) + " (out of the 64-bit range)"
		}
	}
	return nil, want + show(v)
}

func checkBool(v any) (any, string) {
	switch x := v.(type) {
	case bool:
		return x, ""
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			return true, ""
		case "false":
			return false, ""
		}
	}
	return nil, "want true or false, got " + show(v)
}

func checkDuration(v any) (any, string) {
	const want = "want a duration like 30s, 5m or 1h30m, got "
	var dur time.Duration
	switch x := v.(type) {
	case time.Duration:
		dur = x
	case string:
		if len(x) > maxInputBytes {
			return nil, checkText(x)
		}
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			return nil, want + show(v)
		}
		dur = d
	default:
		return nil, want + show(v)
	}
	if dur < 0 {
		return nil, "want a duration that is not negative, got " + show(v)
	}
	return dur.String(), ""
}

// show formats a refused value for a message: short, quoted when it is
// text, described when it is not a scalar. Values come from outsiders, so
// they are clipped.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return quoteClip(x)
	case bool, int, int64, uint64, json.Number:
		return fmt.Sprint(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Duration:
		return x.String()
	case time.Time:
		return "a timestamp"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a value of type %T", v)
}

// quoteClip quotes s, clipped to 64 bytes.
func quoteClip(s string) string {
	return strconv.Quote(clip(s, 64))
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// ParseInputFlags reads `name=value` pairs (the CLI's --input) into
// strings for ResolveInputs. A pair without `=` or a name given twice is
// an error naming it; every such pair is reported at once as InputErrors.
func ParseInputFlags(pairs []string) (map[string]any, error) {
	out := make(map[string]any, len(pairs))
	var errs InputErrors
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		switch {
		case !ok:
			errs = append(errs, &InputError{Field: clip(p, 64), Msg: "want name=value (e.g. --input repo=org/name)"})
		case name == "":
			errs = append(errs, &InputError{Field: quoteClip(p), Msg: "has no name before '=': want name=value"})
		default:
			if _, dup := out[name]; dup {
				errs = append(errs, &InputError{Field: clip(name, 64), Msg: "is given twice"})
				continue
			}
			out[name] = value
		}
	}
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return out, nil
}

// InputEnvPrefix starts the name of every input's environment variable.
const InputEnvPrefix = "ACTIVITY_INPUT_"

// InputEnv is the command environment of resolved inputs:
// ACTIVITY_INPUT_<NAME>=<text>, NAME upper-cased, sorted by name. Bools
// are true or false, ints decimal, durations as resolved. resolved is
// normally ResolveInputs' result, but may have been through JSON (a
// recorded run), so JSON numbers are read as well. A name that is not a
// valid input name, or a value with a NUL byte, is left out rather than
// passed on: neither can come from ResolveInputs.
func InputEnv(resolved map[string]any) []string {
	names := make([]string, 0, len(resolved))
	for name := range resolved {
		if inputNamePattern.MatchString(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	env := make([]string, 0, len(names))
	for _, name := range names {
		text, ok := envText(resolved[name])
		if !ok || strings.IndexByte(text, 0) >= 0 {
			continue
		}
		env = append(env, InputEnvPrefix+strings.ToUpper(name)+"="+text)
	}
	return env
}

// envText is a resolved value as the command sees it.
func envText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case json.Number:
		return x.String(), true
	case float64:
		if i, msg := checkInt(x); msg == "" {
			return strconv.FormatInt(i.(int64), 10), true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

// decodeJSONValue decodes one JSON value keeping integers exact: a whole
// number is an int64, any other number a float64.
func decodeJSONValue(raw []byte) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		return n.Float64()
	}
	return v, nil
}

// UnmarshalJSON reads a declaration from canonical JSON with its default
// typed as Parse types it, so a definition read back from the store
// resolves inputs (and hashes) exactly as the parsed one.
func (in *InputDecl) UnmarshalJSON(b []byte) error {
	type plain InputDecl
	var p struct {
		plain
		Default json.RawMessage `json:"default"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*in = InputDecl(p.plain)
	v, err := decodeJSONValue(p.Default)
	if err != nil || v == nil {
		return err
	}
	if nv, msg := in.check(v); msg == "" {
		v = nv
	}
	in.Default = v
	return nil
}

// UnmarshalJSON reads a trigger input from canonical JSON, keeping a
// whole-number literal an int64 as Parse made it.
func (ti *TriggerInput) UnmarshalJSON(b []byte) error {
	var p struct {
		Value json.RawMessage `json:"value"`
		CEL   string          `json:"cel"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	v, err := decodeJSONValue(p.Value)
	if err != nil {
		return err
	}
	*ti = TriggerInput{Value: v, CEL: p.CEL}
	return nil
}
