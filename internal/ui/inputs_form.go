package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/coulomb/activity-core/internal/definition"
)

// inputField is one field of a definition's run form, made from its
// declaration (docs/definitions.md#inputs): a text box for string and
// duration, a number box for int, a check box for bool, a list for enum.
type inputField struct {
	Name        string
	Type        string
	Required    bool
	Description string
	Values      []string
	// Value is what the field shows: the default, or what was posted.
	Value   string
	Checked bool
	// Error says why the posted value was refused.
	Error string
}

// inputFieldPrefix names the form fields of inputs, apart from the
// form's own (csrf, note).
const inputFieldPrefix = "input."

// FormName is the field's name in the form.
func (f inputField) FormName() string { return inputFieldPrefix + f.Name }

func inputFields(decls []definition.InputDecl) []inputField {
	out := make([]inputField, len(decls))
	for i, d := range decls {
		f := inputField{Name: d.Name, Type: d.Type, Required: d.Required, Description: d.Description, Values: d.Values}
		if d.Default != nil {
			f.Value = valueText(d.Default)
			f.Checked = f.Value == "true"
		}
		out[i] = f
	}
	return out
}

// valueText shows a declared default or a recorded input as a form
// value. A number from JSON is a float64; integers print without an
// exponent.
func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// postedInputs reads the run form's inputs as text for ResolveInputs. An
// empty field is left out, so the declared default applies. A check box
// posts a hidden "false" before it, so the last value is the box's.
func postedInputs(r *http.Request, decls []definition.InputDecl) map[string]any {
	given := map[string]any{}
	for _, d := range decls {
		vals := r.PostForm[inputFieldPrefix+d.Name]
		if len(vals) == 0 {
			continue
		}
		v := vals[len(vals)-1]
		if d.Type != definition.InputString {
			v = strings.TrimSpace(v)
		}
		if v != "" {
			given[d.Name] = v
		}
	}
	return given
}

// fillInputs puts the posted values back into the fields, with each
// refused one's reason.
func fillInputs(fields []inputField, r *http.Request, ies definition.InputErrors) {
	for i := range fields {
		f := &fields[i]
		if vals := r.PostForm[f.FormName()]; len(vals) > 0 {
			f.Value = vals[len(vals)-1]
			f.Checked = f.Value == "true"
		}
		for _, e := range ies {
			if e.Field == f.Name {
				f.Error = e.Msg
			}
		}
	}
}

// inputErrors returns the refused inputs err carries, or nil.
func inputErrors(err error) definition.InputErrors {
	if ies, ok := errors.AsType[definition.InputErrors](err); ok && len(ies) > 0 {
		return ies
	}
	if ie, ok := errors.AsType[*definition.InputError](err); ok {
		return definition.InputErrors{ie}
	}
	return nil
}

// inputRow is one recorded input of a run, by name.
type inputRow struct{ Name, Value string }

// recordedInputs shows a run's inputs (a JSON object) sorted by name; nil
// when it has none or they do not read as an object.
func recordedInputs(raw json.RawMessage) []inputRow {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	rows := make([]inputRow, 0, len(m))
	for k, v := range m {
		rows = append(rows, inputRow{Name: k, Value: printable(valueText(v))})
	}
	slices.SortFunc(rows, func(a, b inputRow) int { return strings.Compare(a.Name, b.Name) })
	return rows
}
