package definition

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func evalRule(t *testing.T, ctx context.Context, expr string, vars map[string]any) error {
	t.Helper()
	env, err := RuleEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	ast, err := CompileExpression(expr, nil)
	if err != nil {
		t.Fatalf("compile %q: %v", expr, err)
	}
	prg, err := RuleProgram(env, ast, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = EvalRule(ctx, prg, vars)
	return err
}

func listOf(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = float64(i)
	}
	return l
}

// A rule that passes the small-input check but meets a large list at run
// time is stopped by the cost limit, not left to run.
func TestEvalRuleStopsAtCostLimit(t *testing.T) {
	expr := `event.payload.items.all(a, event.payload.items.all(b, event.payload.items.all(c, a + b + c >= 0.0)))`
	vars := map[string]any{CELEvent: map[string]any{"payload": map[string]any{"items": listOf(200)}}}
	err := evalRule(t, context.Background(), expr, vars)
	if !errors.Is(err, ErrRuleCost) {
		t.Fatalf("err = %v, want ErrRuleCost", err)
	}
	// The same rule on a small list finishes.
	vars = map[string]any{CELEvent: map[string]any{"payload": map[string]any{"items": listOf(5)}}}
	if err := evalRule(t, context.Background(), expr, vars); err != nil {
		t.Fatalf("small input: %v", err)
	}
}

func TestEvalRuleStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	expr := `event.payload.items.all(a, event.payload.items.all(b, a + b >= 0.0))`
	vars := map[string]any{CELEvent: map[string]any{"payload": map[string]any{"items": listOf(150)}}}
	err := evalRule(t, ctx, expr, vars)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestCompileExpressionRejectsRuleOverCostOnSmallInput(t *testing.T) {
	ok := []string{
		`event.payload.ref == "refs/heads/main"`,
		`event.payload.commits.exists(c, c.message.contains("deploy"))`,
		`event.payload.items.all(a, event.payload.items.all(b, a != b || a == b))`,
	}
	for _, expr := range ok {
		if _, err := CompileExpression(expr, nil); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
	heavy := `event.payload.a.all(a, event.payload.a.all(b, event.payload.a.all(c, event.payload.a.all(d, event.payload.a.all(e, a == e)))))`
	_, err := CompileExpression(heavy, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot finish") {
		t.Fatalf("err = %v, want a cost error", err)
	}
}
