package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/coulomb/activity-core/internal/definition"
)

// Explain stages: which part of the routing decision said no.
const (
	StageDisabled  = "disabled"   // the definition is disabled
	StageSubject   = "subject"    // event_type does not match the subject
	StageSchema    = "schema"     // the payload does not conform to its event type's schema
	StageFilter    = "filter"     // a filter does not accept the payload
	stageLoopGuard = "loop_guard" // matched, but the loop guard forbids the run
)

// Rule outcomes at explain time.
const (
	rulePassed       = "passed"        // every expression is true on the event alone
	ruleFailed       = "failed"        // an expression is false: the run would be skipped
	ruleNeedsContext = "needs_context" // depends on context binds, fetched only at run time
	ruleError        = "error"         // an expression fails on this event (the run would fail its rule)
)

// Explanation says, for one event definition, whether an event would start
// a run and, if not, which part said no.
type Explanation struct {
	DefinitionID string `json:"definition_id"`
	EventType    string `json:"event_type"`
	Enabled      bool   `json:"enabled"`
	// Matched is true when the router would start a run: enabled, subject
	// and every filter match, and the loop guard allows it. The rule is
	// evaluated by the run itself (a false rule makes a skipped run).
	Matched bool `json:"matched"`
	// Stage is what said no (one of the Stage constants); empty when
	// Matched.
	Stage string `json:"stage,omitempty"`
	// Reason says the same in words.
	Reason         string `json:"reason,omitempty"`
	SubjectMatched bool   `json:"subject_matched"`
	// SchemaError says how the payload fails its event type's JSON Schema
	// (field paths and messages); set whether the mode refuses the event
	// (enforce, Stage is StageSchema) or routes it (warn).
	SchemaError string `json:"schema_error,omitempty"`
	// FiltersMatched is true when every filter accepts the payload (and
	// when there are none).
	FiltersMatched bool `json:"filters_matched"`
	// Filters shows each filter, in path order, with the values found.
	Filters []FilterCheck `json:"filters,omitempty"`
	// ChainDepth is the depth a run started by this event would have
	// (lifecycle events only).
	ChainDepth int `json:"chain_depth,omitempty"`
	// Rule is set when subject and filters matched and the definition has
	// a rule.
	Rule *RuleCheck `json:"rule,omitempty"`
}

// FilterCheck is one filter's verdict.
type FilterCheck struct {
	Path     string   `json:"path"`
	Patterns []string `json:"patterns"`
	Matched  bool     `json:"matched"`
	// Missing: the path leads to no value in the payload.
	Missing bool `json:"missing,omitempty"`
	// Values are the texts the path led to (at most maxExplainValues,
	// each cut at maxExplainText bytes).
	Values []string `json:"values,omitempty"`
}

// RuleCheck is the rule evaluated with the event alone (event, definition,
// now); context binds cannot be fetched at explain time.
type RuleCheck struct {
	Outcome string `json:"outcome"`
	// Expression is the expression that decided the outcome (the first
	// false one, the first that failed, or the first that needs context).
	Expression string `json:"expression,omitempty"`
	Message    string `json:"message"`
	// NeedsContext lists the binds the undecided expressions use.
	NeedsContext []string           `json:"needs_context,omitempty"`
	Expressions  []ExpressionResult `json:"expressions"`
}

// ExpressionResult is one rule expression at explain time.
type ExpressionResult struct {
	Expression string `json:"expression"`
	Outcome    string `json:"outcome"` // "true", "false", needs_context, error
	Message    string `json:"message,omitempty"`
}

const (
	maxExplainValues = 10
	maxExplainText   = 200
)

// Explain answers, for every live event definition (enabled or not) in ID
// order, whether this event would start a run and which part said no:
// disabled, subject pattern, which filter and the values it saw, the loop
// guard. When subject and filters match and the definition has a rule, the
// rule is evaluated with the event alone: expressions that use context
// binds are reported as "rule needs context X: evaluated at run time"
// (CEL partial evaluation: `event.payload.x == 1 && hub.ok` is decided
// false without the context when x is not 1).
//
// Rules are evaluated with ctx (the caller's request: a client that leaves
// stops the evaluation) and within definition.RuleCostLimit.
func (ix *Index) Explain(ctx context.Context, subject string, payload map[string]any) []Explanation {
	if ix == nil {
		return nil
	}
	var toks []string
	if t, ok := splitSubject(subject, nil); ok {
		toks = t
	}
	now := time.Now().UTC()
	var schemaErr string
	if err := ix.CheckSchema(subject, payload); err != nil {
		schemaErr = err.Error()
	}
	enforce := ix.opts.SchemaMode != schemaWarn
	var celPayload any
	out := make([]Explanation, 0, len(ix.entries))
	for _, e := range ix.entries {
		x := Explanation{DefinitionID: e.id, EventType: e.def.Trigger.EventType, Enabled: e.enabled}
		x.SubjectMatched = toks != nil && definition.SubjectTokensMatch(e.pattern, toks)
		if x.SubjectMatched {
			x.SchemaError = schemaErr
		}
		x.FiltersMatched = true
		var failed *FilterCheck
		for i := range e.filters {
			fc := explainFilter(&e.filters[i], payload)
			if !fc.Matched {
				x.FiltersMatched = false
			}
			x.Filters = append(x.Filters, fc)
			if !fc.Matched && failed == nil {
				failed = &x.Filters[len(x.Filters)-1]
			}
		}
		var guard string
		if x.SubjectMatched && x.FiltersMatched {
			x.ChainDepth, guard = ix.Guard(subject, payload, e.id)
		}
		switch {
		case !e.enabled:
			x.Stage = StageDisabled
			x.Reason = "definition is disabled"
			if x.SubjectMatched && x.FiltersMatched {
				x.Reason += " (subject and filters would match)"
			}
		case !x.SubjectMatched:
			x.Stage = StageSubject
			x.Reason = fmt.Sprintf("subject %q does not match event_type %q", subject, e.def.Trigger.EventType)
		case x.SchemaError != "" && enforce:
			x.Stage = StageSchema
			x.Reason = x.SchemaError + " (schema mode enforce: the event is not routed)"
		case !x.FiltersMatched:
			x.Stage = StageFilter
			x.Reason = failed.reason()
		case guard != "":
			x.Stage = stageLoopGuard
			x.Reason = guard
		default:
			x.Matched = true
		}
		if x.SubjectMatched && x.FiltersMatched && x.Stage != StageSchema && len(e.def.Rule.When) > 0 && ctx.Err() == nil {
			if celPayload == nil {
				celPayload = plainJSON(payload)
			}
			x.Rule = e.explainRule(ctx, subject, celPayload, now)
		}
		out = append(out, x)
	}
	return out
}

func (fc *FilterCheck) reason() string {
	pats := make([]string, len(fc.Patterns))
	for i, p := range fc.Patterns {
		pats[i] = fmt.Sprintf("%q", p)
	}
	if fc.Missing {
		return fmt.Sprintf("filter %s: the payload has no value at %s (a missing field never matches)", fc.Path, fc.Path)
	}
	vals := make([]string, len(fc.Values))
	for i, v := range fc.Values {
		vals[i] = fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("filter %s: value %s matches none of %s", fc.Path, strings.Join(vals, ", "), strings.Join(pats, ", "))
}

func explainFilter(f *filter, payload map[string]any) FilterCheck {
	fc := FilterCheck{Path: f.path, Matched: f.match(payload)}
	for _, p := range f.patterns {
		fc.Patterns = append(fc.Patterns, p.raw)
	}
	n := 0
	eachValueText(payload, f.segs, func(text string) bool {
		n++
		fc.Values = append(fc.Values, clip(text, maxExplainText))
		return len(fc.Values) < maxExplainValues
	})
	fc.Missing = n == 0
	return fc
}

// plainJSON turns a decoded payload into what the engine's rule sees: the
// payload as encoding/json decodes it into `any` (numbers are float64).
func plainJSON(payload map[string]any) any {
	b, err := json.Marshal(payload)
	if err != nil {
		return map[string]any{}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return map[string]any{}
	}
	return v
}

// compiledRule is a rule expression compiled for explain: partial
// evaluation, binds unknown.
type compiledRule struct {
	expr  string
	prg   cel.Program
	binds []string // context binds the expression references
	err   error
}

// eval evaluates the expression with the event alone: "true", "false",
// ruleNeedsContext when it reads a context bind, or ruleError, with a
// message for the last two.
func (cr *compiledRule) eval(ctx context.Context, act any) (outcome, message string) {
	val, err := definition.EvalRule(ctx, cr.prg, act)
	switch {
	case err != nil && (errors.Is(err, definition.ErrRuleCost) || ctx.Err() != nil):
		return ruleError, err.Error()
	case err != nil && len(cr.binds) > 0, err == nil && types.IsUnknown(val):
		return ruleNeedsContext, fmt.Sprintf("needs context %s: evaluated at run time", strings.Join(cr.binds, ", "))
	case err != nil:
		return ruleError, err.Error()
	}
	b, ok := val.Value().(bool)
	switch {
	case !ok:
		return ruleError, fmt.Sprintf("yielded %v (%s), not a bool", val.Value(), val.Type().TypeName())
	case b:
		return "true", ""
	}
	return "false", ""
}

type ruleCache struct {
	once  sync.Once
	binds []string
	rules []compiledRule
}

func (e *entry) compiledRules() *ruleCache {
	e.rules.once.Do(func() {
		rc := &e.rules
		for _, c := range e.def.Context {
			rc.binds = append(rc.binds, c.Bind)
		}
		env, envErr := definition.RuleEnv(rc.binds)
		for _, expr := range e.def.Rule.When {
			cr := compiledRule{expr: expr}
			if envErr != nil {
				cr.err = envErr
				rc.rules = append(rc.rules, cr)
				continue
			}
			ast, err := definition.CompileExpression(expr, rc.binds)
			if err != nil {
				cr.err = err
				rc.rules = append(rc.rules, cr)
				continue
			}
			seen := map[string]bool{}
			for _, ref := range ast.NativeRep().ReferenceMap() {
				if slices.Contains(rc.binds, ref.Name) && !seen[ref.Name] {
					seen[ref.Name] = true
					cr.binds = append(cr.binds, ref.Name)
				}
			}
			slices.Sort(cr.binds)
			cr.prg, cr.err = definition.RuleProgram(env, ast, true)
			rc.rules = append(rc.rules, cr)
		}
	})
	return &e.rules
}

func (e *entry) explainRule(ctx context.Context, subject string, payload any, now time.Time) *RuleCheck {
	rc := e.compiledRules()
	vars := map[string]any{
		definition.CELDefinition: map[string]any{"id": e.id},
		definition.CELNow:        now,
		definition.CELEvent:      map[string]any{"subject": subject, "id": "", "time": now, "payload": payload},
	}
	unknowns := make([]*cel.AttributePatternType, 0, len(rc.binds))
	for _, b := range rc.binds {
		unknowns = append(unknowns, cel.AttributePattern(b))
	}
	act, actErr := cel.PartialVars(vars, unknowns...)

	out := &RuleCheck{Outcome: rulePassed, Expressions: []ExpressionResult{}}
	var pending []ExpressionResult // needs-context results, in order
	var needs []string
	decided := false
	for _, cr := range rc.rules {
		r := ExpressionResult{Expression: cr.expr}
		switch {
		case decided:
			r.Outcome, r.Message = "not evaluated", "an earlier expression decided the rule"
		case cr.err != nil:
			r.Outcome, r.Message = ruleError, cr.err.Error()
		case actErr != nil:
			r.Outcome, r.Message = ruleError, actErr.Error()
		default:
			r.Outcome, r.Message = cr.eval(ctx, act)
		}
		out.Expressions = append(out.Expressions, r)
		if decided {
			continue
		}
		switch r.Outcome {
		case "false":
			out.Outcome, out.Expression = ruleFailed, cr.expr
			out.Message = fmt.Sprintf("rule expression %q is false: the run would be skipped", cr.expr)
			decided = true
		case ruleError:
			out.Outcome, out.Expression = ruleError, cr.expr
			out.Message = fmt.Sprintf("rule expression %q fails on this event: %s", cr.expr, r.Message)
			decided = true
		case ruleNeedsContext:
			pending = append(pending, r)
			for _, b := range cr.binds {
				if !slices.Contains(needs, b) {
					needs = append(needs, b)
				}
			}
		}
	}
	if !decided && len(pending) > 0 {
		out.Outcome, out.Expression = ruleNeedsContext, pending[0].Expression
		out.NeedsContext = needs
		out.Message = fmt.Sprintf("rule needs context %s: evaluated at run time", strings.Join(needs, ", "))
	}
	if out.Outcome == rulePassed {
		out.Message = "every rule expression is true for this event"
	}
	return out
}
