package definition

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types/ref"
)

// Limits of rule evaluation (docs/definitions.md#rule-cost).
const (
	// ruleCostLimit bounds the CEL cost units one evaluation of one rule
	// expression may spend, wherever it runs (the engine's rule, explain,
	// the simulator). A realistic rule costs tens of units; a comprehension
	// over a 200-item list nested three deep costs tens of millions.
	ruleCostLimit = 1_000_000
	// ruleCheckSize is the size of every list, map and string of the
	// "small input" a rule must finish on within ruleCostLimit when it is
	// validated: a rule whose worst case on such input is over the limit
	// is rejected at sync.
	ruleCheckSize = 20
	// interruptEvery is how many comprehension iterations pass between
	// checks of the evaluation's context.
	interruptEvery = 100
)

// ErrRuleCost is returned when an evaluation spent ruleCostLimit.
var ErrRuleCost = errors.New("rule expression exceeded its cost limit")

// Rule variables every expression sees besides the context binds.
const (
	CELEvent      = "event"      // subject, id, time, payload
	CELDefinition = "definition" // id
	CELNow        = "now"        // timestamp of the evaluation
)

var (
	baseEnvOnce sync.Once
	baseEnv     *cel.Env
	baseEnvErr  error
)

// RuleEnv returns the CEL environment rules of a definition with these
// context binds compile in. Binds are dynamic (their shape is whatever the
// context source returned); event and definition are maps; now is a
// timestamp. The engine compiles with the same environment at run time.
func RuleEnv(binds []string) (*cel.Env, error) {
	baseEnvOnce.Do(func() {
		baseEnv, baseEnvErr = cel.NewEnv(
			cel.Variable(CELEvent, cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable(CELDefinition, cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable(CELNow, cel.TimestampType),
			// Context results come from JSON, where every number is a
			// double: let `count > 3` compare them with integer literals.
			cel.CrossTypeNumericComparisons(true),
		)
	})
	if baseEnvErr != nil {
		return nil, baseEnvErr
	}
	if len(binds) == 0 {
		return baseEnv, nil
	}
	opts := make([]cel.EnvOption, 0, len(binds))
	for _, b := range binds {
		opts = append(opts, cel.Variable(b, cel.DynType))
	}
	return baseEnv.Extend(opts...)
}

// CompileExpression compiles one rule expression and checks that it yields
// a boolean. The error message is CEL's own, stripped of its "ERROR:
// <input>" framing, with the column inside the expression.
func CompileExpression(expr string, binds []string) (*cel.Ast, error) {
	env, err := RuleEnv(binds)
	if err != nil {
		return nil, fmt.Errorf("building rule environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msg := strings.TrimSuffix(e.Message, " (in container '')")
			msgs = append(msgs, fmt.Sprintf("%s (expression column %d)", msg, e.Location.Column()+1))
		}
		return nil, fmt.Errorf("CEL: %s", strings.Join(msgs, "; "))
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("CEL: expression yields %s, a rule must yield bool", t)
	}
	if err := checkRuleCost(env, ast); err != nil {
		return nil, err
	}
	return ast, nil
}

// checkRuleCost rejects an expression whose worst-case cost, when every
// list, map and string it reads has ruleCheckSize elements, is over
// ruleCostLimit: it could not finish at run time even on small events.
func checkRuleCost(env *cel.Env, ast *cel.Ast) error {
	est, err := env.EstimateCost(ast, smallInput{})
	if err != nil {
		return fmt.Errorf("CEL: estimating cost: %w", err)
	}
	if est.Max > ruleCostLimit {
		return fmt.Errorf("CEL: expression costs up to %d units when lists, maps and strings have %d elements, over the limit of %d: "+
			"it cannot finish at run time; avoid nested comprehensions over event or context data", est.Max, ruleCheckSize, ruleCostLimit)
	}
	return nil
}

// smallInput sizes every value of unknown size at ruleCheckSize.
type smallInput struct{}

func (smallInput) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	e := checker.FixedSizeEstimate(ruleCheckSize)
	return &e
}

func (smallInput) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// RuleProgram builds the program of a compiled rule expression with the
// cost limit and context checks every evaluation needs; partial is for
// explain, where context binds are unknown. Every caller that evaluates
// a rule builds it here and evaluates it with EvalRule.
func RuleProgram(env *cel.Env, ast *cel.Ast, partial bool) (cel.Program, error) {
	opt := cel.OptOptimize
	if partial {
		opt = cel.OptPartialEval
	}
	return env.Program(ast, cel.EvalOptions(opt), cel.CostLimit(ruleCostLimit), cel.InterruptCheckFrequency(interruptEvery))
}

// EvalRule evaluates a program from RuleProgram with vars (a map or a
// cel.Activation) and stops when ctx ends or the cost limit is spent
// (ErrRuleCost).
func EvalRule(ctx context.Context, prg cel.Program, vars any) (ref.Val, error) {
	val, _, err := prg.ContextEval(ctx, vars)
	if err != nil {
		if strings.Contains(err.Error(), "cost limit exceeded") {
			return nil, fmt.Errorf("%w (%d units)", ErrRuleCost, ruleCostLimit)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rule evaluation stopped: %w", context.Cause(ctx))
		}
		return val, err
	}
	return val, nil
}
