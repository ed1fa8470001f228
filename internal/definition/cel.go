package definition

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
)

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
	return ast, nil
}
