package definition

import (
	"errors"
	"time"
)

// Input types a definition may declare (docs/definitions.md#inputs).
const (
	InputString   = "string"
	InputInt      = "int"
	InputBool     = "bool"
	InputEnum     = "enum"
	InputDuration = "duration"
)

// PoolDefault is the pool a definition without run_on runs on
// (docs/run-control.md#placement).
const PoolDefault = "default"

// InputDecl is one typed parameter a definition declares under inputs:.
// Default holds the typed value (string, int64, bool, or the duration's
// text as written); nil when there is none.
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

var errInputsNotYet = errors.New("inputs are not implemented yet")

// Pool is the worker pool the definition runs on: run_on, or PoolDefault.
func (d *Definition) Pool() string {
	if d.RunOn == "" {
		return PoolDefault
	}
	return d.RunOn
}

// CheckPoolName says what is wrong with a pool name, or nil. Pool names
// become part of a Temporal task queue name and a command-line list.
func CheckPoolName(name string) error { return errInputsNotYet }

// ResolveInputs checks given values against the declaration and fills in
// defaults. A given value may be a string (from `--input name=value` or a
// form) or a JSON value of the declared type (from the API body). The
// result holds every declared input that has a value: strings for string,
// enum and duration (duration normalized by time.ParseDuration), int64 for
// int, bool for bool. Every bad or missing field is reported at once as
// InputErrors; an undeclared name is an error.
func (d *Definition) ResolveInputs(given map[string]any) (map[string]any, error) {
	return nil, errInputsNotYet
}

// TriggerInputValues evaluates trigger.inputs for a run a schedule or an
// event started (ev is nil for a schedule), before ResolveInputs. A CEL
// expression that fails or gives a value of the wrong type is an
// InputError naming the input.
func (d *Definition) TriggerInputValues(ev *EventView) (map[string]any, error) {
	return nil, errInputsNotYet
}

// EventView is the event as trigger.inputs expressions see it (`event`).
type EventView struct {
	Subject string
	ID      string
	Time    time.Time
	Payload any
}

// ParseInputFlags reads `name=value` pairs (the CLI's --input) into
// strings for ResolveInputs. A pair without `=` or a name given twice is
// an error naming it.
func ParseInputFlags(pairs []string) (map[string]any, error) { return nil, errInputsNotYet }

// InputEnv is the command environment of resolved inputs:
// ACTIVITY_INPUT_<NAME>=<text>, NAME upper-cased, sorted by name.
func InputEnv(resolved map[string]any) []string { return nil }
