package definition

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The run-control fields of a definition file: run_on, inputs and
// trigger.inputs (docs/definitions.md#inputs), and mode.

var (
	inputTypes          = []string{InputString, InputInt, InputBool, InputEnum, InputDuration}
	inputFields         = []string{"type", "required", "default", "description"}
	inputFieldsByType   = map[string][]string{InputEnum: append(slices.Clone(inputFields), "values")}
	requiredInputReason = "is required and has no default, so trigger.inputs must set it: scheduled and event runs have no one to ask"
)

// runOn decodes run_on. The default pool is not written into the
// definition, so spelling it out does not change the content hash.
func (d *decoder) runOn(n *yaml.Node, def *Definition) {
	v, ok := d.str(n, "run_on")
	if !ok {
		return
	}
	if err := CheckPoolName(v); err != nil {
		d.errorf(n, "run_on", "%v", err)
		return
	}
	if v != PoolDefault {
		def.RunOn = v
	}
}

// mode decodes mode (docs/definitions.md#mode). Active is not written
// into the definition, so spelling it out does not change the content
// hash.
func (d *decoder) mode(n *yaml.Node, def *Definition) {
	v, ok := d.str(n, "mode")
	if !ok {
		return
	}
	switch v {
	case ModeShadow:
		def.Mode = ModeShadow
	case ModeActive:
	default:
		d.errorf(n, "mode", "%q is not one of active, shadow (shadow records what would have run and runs nothing; docs/cutover.md#shadow-runs)", v)
	}
}

// inputs decodes the inputs declaration (in file order) and then
// trigger.inputs, which needs it, and checks that every required input
// without a default is set for the runs nobody starts by hand.
func (d *decoder) inputs(n *yaml.Node, def *Definition) {
	keys := map[string]*yaml.Node{}
	if n != nil {
		def.Inputs = d.inputDecls(n, keys)
	}
	// set holds every name trigger.inputs gives, valid or not: a bad value
	// is reported where it is, not again as a missing one.
	set := map[string]bool{}
	if d.trigInputs != nil {
		def.Trigger.Inputs = d.triggerInputs(d.trigInputs, def, set)
	}
	if def.Trigger.Type == "" {
		return // the trigger is wrong already; do not add noise
	}
	for _, in := range def.Inputs {
		if in.Required && in.Default == nil && !set[in.Name] {
			d.errorf(keys[in.Name], "inputs."+in.Name, "%s", requiredInputReason)
		}
	}
}

func (d *decoder) inputDecls(n *yaml.Node, keys map[string]*yaml.Node) []InputDecl {
	f, ok := d.mapping(n, "inputs")
	if !ok {
		return nil
	}
	if len(f.order) > maxInputs {
		d.errorf(n, "inputs", "declares %d inputs, the limit is %d", len(f.order), maxInputs)
	}
	out := make([]InputDecl, 0, len(f.order))
	for _, name := range f.order {
		e := f.byKey[name]
		field := "inputs." + name
		if !inputNamePattern.MatchString(name) {
			d.errorf(e.key, field, "%s is not a valid input name: use lower-case letters, digits and _, starting with a letter, at most 63 characters (it becomes %sNAME)", quoteClip(name), InputEnvPrefix)
			continue
		}
		keys[name] = e.key
		if in, ok := d.inputDecl(e.val, field, name); ok {
			out = append(out, in)
		}
	}
	return out
}

func (d *decoder) inputDecl(n *yaml.Node, field, name string) (InputDecl, bool) {
	in := InputDecl{Name: name}
	f, ok := d.mapping(n, field)
	if !ok {
		return in, false
	}
	tn := f.get("type")
	if tn == nil {
		d.errorf(n, field+".type", "is required: %s", strings.Join(inputTypes, ", "))
		return in, false
	}
	typ, ok := d.str(tn, field+".type")
	if !ok {
		return in, false
	}
	if !slices.Contains(inputTypes, typ) {
		msg := fmt.Sprintf("%q is not one of %s", typ, strings.Join(inputTypes, ", "))
		if s := suggest(typ, inputTypes); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.errorf(tn, field+".type", "%s", msg)
		return in, false
	}
	in.Type = typ
	d.allowOnly(f, field, cmpOr(inputFieldsByType[typ], inputFields), "for type "+typ)
	if rn := f.get("required"); rn != nil {
		in.Required, _ = d.boolean(rn, field+".required")
	}
	if dn := f.get("description"); dn != nil {
		in.Description, _ = d.str(dn, field+".description")
	}
	if typ == InputEnum {
		vn := f.get("values")
		if vn == nil {
			d.errorf(n, field+".values", "is required for type enum: the list of allowed values")
			return in, false
		}
		if in.Values, ok = d.enumValues(vn, field+".values"); !ok {
			return in, false
		}
	}
	if dn := f.get("default"); dn != nil {
		if v, ok := d.inputLiteral(dn, field+".default", &in); ok {
			in.Default = v
		}
	}
	return in, true
}

// cmpOr returns a unless it is empty, then b (cmp.Or for slices).
func cmpOr(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

func (d *decoder) enumValues(n *yaml.Node, field string) ([]string, bool) {
	list, ok := d.stringList(n, field)
	if !ok {
		return nil, false
	}
	if len(list) == 0 {
		d.errorf(n, field, "is empty: an enum needs at least one value")
		return nil, false
	}
	seen := map[string]int{}
	for i, v := range list {
		item := n.Content[i]
		if v == "" {
			d.errorf(item, index(field, i), "is empty: an enum value must be some text")
			ok = false
		} else if msg := checkText(v); msg != "" {
			d.errorf(item, index(field, i), "%s", msg)
			ok = false
		}
		if j, dup := seen[v]; dup {
			d.errorf(item, index(field, i), "%q is already listed as %s", v, index(field, j))
			ok = false
		}
		seen[v] = i
	}
	return list, ok
}

// inputLiteral decodes a value written in the file (a default or a
// trigger.inputs literal) as the declared type, with the file's usual
// strictness: a number for a string input must be quoted.
func (d *decoder) inputLiteral(n *yaml.Node, field string, in *InputDecl) (any, bool) {
	var v any
	switch in.Type {
	case InputString, InputEnum:
		s, ok := d.str(n, field)
		if !ok {
			return nil, false
		}
		v = s
	case InputInt:
		i, ok := d.integer(n, field)
		if !ok {
			return nil, false
		}
		v = i
	case InputBool:
		b, ok := d.boolean(n, field)
		if !ok {
			return nil, false
		}
		v = b
	case InputDuration:
		dur, ok := d.duration(n, field)
		if !ok {
			return nil, false
		}
		v = dur
	}
	nv, msg := in.check(v)
	if msg != "" {
		if in.Type == InputEnum {
			msg = fmt.Sprintf("%s is not one of the values: %s", show(v), strings.Join(in.Values, ", "))
		}
		d.errorf(n, field, "%s", msg)
		return nil, false
	}
	return nv, true
}

// triggerInputs decodes trigger.inputs: a literal of the declared type
// for any trigger, or {cel: "..."} over the event for an event trigger.
func (d *decoder) triggerInputs(n *yaml.Node, def *Definition, set map[string]bool) map[string]TriggerInput {
	f, ok := d.mapping(n, "trigger.inputs")
	if !ok {
		return nil
	}
	declared := make([]string, len(def.Inputs))
	for i, in := range def.Inputs {
		declared[i] = in.Name
	}
	out := make(map[string]TriggerInput, len(f.order))
	for _, name := range f.order {
		e := f.byKey[name]
		field := "trigger.inputs." + name
		set[name] = true
		in := def.input(name)
		if in == nil {
			msg := notDeclared(name, declared)
			if len(declared) == 0 {
				msg = "is not declared: declare it under inputs first"
			}
			d.errorf(e.key, field, "%s", msg)
			continue
		}
		if e.val.Kind == yaml.MappingNode {
			if expr, ok := d.triggerInputExpr(e.val, field, in, def.Trigger.Type); ok {
				out[name] = TriggerInput{CEL: expr}
			}
			continue
		}
		if v, ok := d.inputLiteral(e.val, field, in); ok {
			out[name] = TriggerInput{Value: v}
		}
	}
	return out
}

func (d *decoder) triggerInputExpr(n *yaml.Node, field string, in *InputDecl, trigger string) (string, bool) {
	f, ok := d.mapping(n, field)
	if !ok {
		return "", false
	}
	d.allowOnly(f, field, []string{"cel"}, "")
	cn := f.get("cel")
	if cn == nil {
		d.errorf(n, field+".cel", "is required: write a literal %s, or {cel: \"event.payload.name\"} for an event trigger", in.Type)
		return "", false
	}
	expr, ok := d.str(cn, field+".cel")
	if !ok {
		return "", false
	}
	if trigger != TriggerEvent {
		d.errorf(cn, field+".cel", "applies to event triggers only: a %s trigger has no event to read, so write a literal %s", trigger, in.Type)
		return "", false
	}
	if strings.TrimSpace(expr) == "" {
		d.errorf(cn, field+".cel", "is an empty expression")
		return "", false
	}
	if _, _, err := compileInputExpr(expr, in); err != nil {
		d.errorf(cn, field+".cel", "%v", err)
		return "", false
	}
	return expr, true
}
