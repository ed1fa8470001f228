package definition

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// EventView is the event as trigger.inputs expressions see it (`event`),
// as rules see it: Payload is the payload decoded by encoding/json into
// `any` (objects as map[string]any, numbers as float64), not raw bytes.
type EventView struct {
	Subject string
	ID      string
	Time    time.Time
	Payload any
}

var (
	inputEnvOnce sync.Once
	inputEnv     *cel.Env
	inputEnvErr  error
)

// inputCELEnv is the environment trigger.inputs expressions compile in:
// `event` and nothing else. Rules also see `now` and context binds, but an
// input is set before context is gathered, and a value that depends on
// the clock would make a run impossible to repeat.
func inputCELEnv() (*cel.Env, error) {
	inputEnvOnce.Do(func() {
		inputEnv, inputEnvErr = cel.NewEnv(
			cel.Variable(CELEvent, cel.MapType(cel.StringType, cel.DynType)),
			cel.CrossTypeNumericComparisons(true),
		)
	})
	return inputEnv, inputEnvErr
}

// inputExprTypes are the CEL result types an expression may have for each
// input type. A string result is parsed as a --input value would be; dyn
// (anything read from the payload) is checked when the run starts.
var inputExprTypes = map[string][]*cel.Type{
	InputString:   {cel.StringType},
	InputEnum:     {cel.StringType},
	InputInt:      {cel.IntType, cel.UintType, cel.DoubleType, cel.StringType},
	InputBool:     {cel.BoolType, cel.StringType},
	InputDuration: {cel.DurationType, cel.StringType},
}

// compileInputExpr compiles a trigger.inputs expression for the declared
// input, refusing one whose type cannot give a value of the input's type
// and one that could not finish within ruleCostLimit on a small event.
func compileInputExpr(expr string, in *InputDecl) (*cel.Env, *cel.Ast, error) {
	env, err := inputCELEnv()
	if err != nil {
		return nil, nil, fmt.Errorf("building trigger.inputs environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msg := strings.TrimSuffix(e.Message, " (in container '')")
			msgs = append(msgs, fmt.Sprintf("%s (expression column %d)", msg, e.Location.Column()+1))
		}
		return nil, nil, fmt.Errorf("CEL: %s", strings.Join(msgs, "; "))
	}
	out := ast.OutputType()
	ok := out.IsExactType(cel.DynType)
	for _, t := range inputExprTypes[in.Type] {
		ok = ok || out.IsExactType(t)
	}
	if !ok {
		return nil, nil, fmt.Errorf("CEL: expression yields %s, which cannot be a value of %s input %s", out, in.Type, in.Name)
	}
	if err := checkRuleCost(env, ast); err != nil {
		return nil, nil, err
	}
	return env, ast, nil
}

// TriggerInputValues evaluates trigger.inputs for a run a schedule or an
// event started (ev is nil for a schedule), before ResolveInputs. Values
// come back converted to the declared types. A CEL expression that fails
// or gives a value of the wrong type is an InputError naming the input;
// every such input is reported at once as InputErrors. Each expression is
// bounded by ruleCostLimit, as rules are.
func (d *Definition) TriggerInputValues(ev *EventView) (map[string]any, error) {
	names := make([]string, 0, len(d.Trigger.Inputs))
	for name := range d.Trigger.Inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]any, len(names))
	var errs InputErrors
	for _, name := range names {
		in := d.input(name)
		if in == nil {
			errs = append(errs, &InputError{Field: name, Msg: "is set by trigger.inputs but not declared under inputs"})
			continue
		}
		ti := d.Trigger.Inputs[name]
		v := ti.Value
		if ti.CEL != "" {
			var err error
			if v, err = evalInputExpr(ti.CEL, in, ev); err != nil {
				errs = append(errs, &InputError{Field: name, Msg: fmt.Sprintf("trigger.inputs expression %s: %v", quoteClip(ti.CEL), err)})
				continue
			}
		}
		nv, msg := in.check(v)
		if msg != "" {
			if ti.CEL != "" {
				msg = fmt.Sprintf("trigger.inputs expression %s: %s", quoteClip(ti.CEL), msg)
			}
			errs = append(errs, &InputError{Field: name, Msg: msg})
			continue
		}
		out[name] = nv
	}
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return out, nil
}

// evalInputExpr evaluates one trigger.inputs expression over ev and
// returns its result as a plain Go value for InputDecl.check.
func evalInputExpr(expr string, in *InputDecl, ev *EventView) (any, error) {
	if ev == nil {
		return nil, fmt.Errorf("the run has no event to read (only event triggers may use cel)")
	}
	prg, err := inputProgram(expr, in)
	if err != nil {
		return nil, err
	}
	vars := map[string]any{CELEvent: map[string]any{"subject": ev.Subject, "id": ev.ID, "time": ev.Time, "payload": ev.Payload}}
	// The cost limit bounds the evaluation; there is no caller deadline.
	val, err := EvalRule(context.Background(), prg, vars)
	if err != nil {
		return nil, err
	}
	return celValue(val), nil
}

// inputProgramsMax bounds the cache of compiled trigger.inputs programs.
// Expressions come from definitions, so a deployment has few; the bound
// only keeps edits over a long uptime from piling up.
const inputProgramsMax = 1024

var inputPrograms struct {
	sync.Mutex
	m map[string]cel.Program
}

// inputProgram compiles (once) the program of a trigger.inputs expression
// for an input of in's type. Compiling costs about a third of a
// millisecond; evaluating, microseconds. Programs are safe for concurrent
// use.
func inputProgram(expr string, in *InputDecl) (cel.Program, error) {
	key := in.Type + "\x00" + expr
	inputPrograms.Lock()
	prg, ok := inputPrograms.m[key]
	inputPrograms.Unlock()
	if ok {
		return prg, nil
	}
	env, ast, err := compileInputExpr(expr, in)
	if err != nil {
		return nil, err
	}
	if prg, err = RuleProgram(env, ast, false); err != nil {
		return nil, fmt.Errorf("CEL program: %w", err)
	}
	inputPrograms.Lock()
	defer inputPrograms.Unlock()
	if inputPrograms.m == nil || len(inputPrograms.m) >= inputProgramsMax {
		inputPrograms.m = make(map[string]cel.Program)
	}
	inputPrograms.m[key] = prg
	return prg, nil
}

// celValue turns a CEL result into the Go value check expects: scalars as
// themselves, null as nil, anything else (lists, maps, timestamps) as a
// value check will refuse and show by kind.
func celValue(v ref.Val) any {
	switch v.Type() {
	case types.NullType:
		return nil
	case types.StringType, types.IntType, types.UintType, types.DoubleType, types.BoolType, types.DurationType:
		return v.Value()
	case types.TimestampType:
		return time.Time{}
	case types.ListType:
		return []any{}
	case types.MapType:
		return map[string]any{}
	}
	return v.Value()
}
