package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
)

func ruleInput(t *testing.T, expr string, n int) RuleInput {
	t.Helper()
	def, err := definition.Parse("t.yaml", []byte(`id: t.cost
trigger: {trigger_type: event, event_type: org.x}
rule:
  when: ["`+expr+`"]
instruction: {kind: shell, cmd: "true"}
`))
	if err != nil {
		t.Fatal(err)
	}
	items := make([]int, n)
	payload, _ := json.Marshal(map[string]any{"items": items})
	return RuleInput{Spec: def.CanonicalJSON(), ContentHash: def.ContentHash(), Now: time.Now(),
		Event: &Event{Subject: "org.x", ID: "1", Payload: payload}}
}

// A rule that meets a large list stops at the cost limit and is recorded
// as the rule's failure; a canceled evaluation is an error, not a verdict.
func TestEvaluateRuleCostLimitAndCancel(t *testing.T) {
	const expr = "event.payload.items.all(a, event.payload.items.all(b, event.payload.items.all(c, a + b + c >= 0.0)))"
	a := &Activities{rules: newRuleCache(4)}
	out, err := a.EvaluateRule(context.Background(), ruleInput(t, expr, 200))
	if err != nil {
		t.Fatal(err)
	}
	if out.Passed || !strings.Contains(out.Error, "cost limit") {
		t.Errorf("outcome %+v, want failed on the cost limit", out)
	}
	out, err = a.EvaluateRule(context.Background(), ruleInput(t, expr, 3))
	if err != nil || !out.Passed {
		t.Errorf("small input: %+v %v, want passed", out, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.EvaluateRule(ctx, ruleInput(t, expr, 100)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v, want context.Canceled", err)
	}
}
