package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/definition"
)

// ruleCache keeps compiled rule programs per definition content hash: a
// definition version is compiled once, however often it fires.
type ruleCache struct {
	mu    sync.Mutex
	max   int
	progs map[string][]cel.Program
	order []string
}

func newRuleCache(limit int) *ruleCache {
	return &ruleCache{max: limit, progs: map[string][]cel.Program{}}
}

func (c *ruleCache) get(hash string, def *definition.Definition) ([]cel.Program, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.progs[hash]; ok {
		return p, nil
	}
	binds := make([]string, 0, len(def.Context))
	for _, ctx := range def.Context {
		binds = append(binds, ctx.Bind)
	}
	env, err := definition.RuleEnv(binds)
	if err != nil {
		return nil, err
	}
	progs := make([]cel.Program, 0, len(def.Rule.When))
	for i, expr := range def.Rule.When {
		ast, err := definition.CompileExpression(expr, binds)
		if err != nil {
			return nil, fmt.Errorf("rule.when[%d]: %w", i, err)
		}
		prg, err := definition.RuleProgram(env, ast, false)
		if err != nil {
			return nil, fmt.Errorf("rule.when[%d]: %w", i, err)
		}
		progs = append(progs, prg)
	}
	if len(c.order) >= c.max {
		delete(c.progs, c.order[0])
		c.order = c.order[1:]
	}
	c.progs[hash] = progs
	c.order = append(c.order, hash)
	return progs, nil
}

// RuleInput is what a rule sees.
type RuleInput struct {
	// Spec is the definition (first-shape runs); Ref names it (lean runs).
	Spec        json.RawMessage            `json:"spec,omitempty"`
	Ref         *SpecRef                   `json:"ref,omitempty"`
	ContentHash string                     `json:"content_hash"`
	Context     map[string]json.RawMessage `json:"context,omitempty"`
	Event       *Event                     `json:"event,omitempty"`
	Now         time.Time                  `json:"now"`
}

// ExpressionOutcome is the result of one rule expression.
type ExpressionOutcome struct {
	Expression string `json:"expression"`
	Result     *bool  `json:"result,omitempty"`
	Error      string `json:"error,omitempty"`
}

// RuleOutcome is the rule's verdict, recorded with the run: which
// expression said no, or which one could not be evaluated.
type RuleOutcome struct {
	Passed      bool                `json:"passed"`
	FailedIndex int                 `json:"failed_index"`
	Failed      string              `json:"failed_expression,omitempty"`
	Error       string              `json:"error,omitempty"`
	Expressions []ExpressionOutcome `json:"expressions"`
}

// EvaluateRule runs the rule's expressions in order and stops at the first
// that is false or fails. It runs as a local activity: it is pure
// computation on its inputs, and `now` comes from workflow time.
func (a *Activities) EvaluateRule(ctx context.Context, in RuleInput) (*RuleOutcome, error) {
	def, err := a.definition(ctx, in.Spec, in.Ref)
	if err != nil {
		return nil, err
	}
	return a.evaluateRule(ctx, def, in.ContentHash, in)
}

// evaluateRule is EvaluateRule on a decoded definition (in.Spec and in.Ref
// are not read).
func (a *Activities) evaluateRule(ctx context.Context, def *definition.Definition, hash string, in RuleInput) (*RuleOutcome, error) {
	out := &RuleOutcome{Passed: true, FailedIndex: -1, Expressions: []ExpressionOutcome{}}
	if len(def.Rule.When) == 0 {
		return out, nil
	}
	progs, err := a.rules.get(hash, def)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("compiling rule: "+err.Error(), errTypeConfig, err)
	}
	vars, err := ruleVars(def, in)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), errTypeConfig, err)
	}
	for i, prg := range progs {
		eo := ExpressionOutcome{Expression: def.Rule.When[i]}
		val, err := definition.EvalRule(ctx, prg, vars)
		if err != nil && ctx.Err() != nil {
			return nil, err // canceled or timed out: not the rule's verdict
		}
		if err != nil {
			eo.Error = err.Error()
			out.Expressions = append(out.Expressions, eo)
			out.Passed, out.FailedIndex, out.Failed, out.Error = false, i, eo.Expression, fmt.Sprintf("evaluating %q: %v", eo.Expression, err)
			return out, nil
		}
		b, ok := val.Value().(bool)
		if !ok {
			eo.Error = fmt.Sprintf("yielded %v (%s), not a bool", val.Value(), val.Type().TypeName())
			out.Expressions = append(out.Expressions, eo)
			out.Passed, out.FailedIndex, out.Failed, out.Error = false, i, eo.Expression, fmt.Sprintf("%q %s", eo.Expression, eo.Error)
			return out, nil
		}
		eo.Result = &b
		out.Expressions = append(out.Expressions, eo)
		if !b {
			out.Passed, out.FailedIndex, out.Failed = false, i, eo.Expression
			return out, nil
		}
	}
	return out, nil
}

func ruleVars(def *definition.Definition, in RuleInput) (map[string]any, error) {
	vars := map[string]any{
		definition.CELDefinition: map[string]any{"id": def.ID},
		definition.CELNow:        in.Now,
		definition.CELEvent:      map[string]any{},
	}
	if e := in.Event; e != nil {
		var payload any
		if len(e.Payload) > 0 {
			if err := json.Unmarshal(e.Payload, &payload); err != nil {
				return nil, fmt.Errorf("event payload is not JSON: %v", err)
			}
		}
		vars[definition.CELEvent] = map[string]any{"subject": e.Subject, "id": e.ID, "time": e.Time, "payload": payload}
	}
	for _, c := range def.Context {
		var v any
		if raw, ok := in.Context[c.Bind]; ok {
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("context %s is not JSON: %v", c.Bind, err)
			}
		}
		vars[c.Bind] = v
	}
	return vars, nil
}
