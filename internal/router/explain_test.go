package router

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	ctxSource := "context:\n  - kind: http_get\n    url: http://127.0.0.1:1/health\n    bind: hub\n"
	defs := []store.Definition{
		eventDef(t, "e.hook", "org.repo.commit.pushed", map[string]any{"repo_slug": "*"}, ""),
		eventDef(t, "e.filter", "org.repo.commit.pushed", map[string]any{"branch": []string{"main", "release/*"}, "repo_slug": "*"}, ""),
		eventDef(t, "e.missing", "org.repo.commit.pushed", map[string]any{"owner.login": "alice"}, ""),
		eventDef(t, "e.subject", "org.issue.*", nil, ""),
		disabled(eventDef(t, "e.off", "org.repo.commit.pushed", nil, "")),
		eventDef(t, "e.rule-true", "org.repo.commit.pushed", nil, "rule:\n  when:\n    - \"event.payload.size > 3\"\n"),
		eventDef(t, "e.rule-false", "org.repo.commit.pushed", nil, "rule:\n  when:\n    - \"event.payload.repo_slug == 'web'\"\n    - \"event.payload.size > 3\"\n"),
		eventDef(t, "e.rule-ctx", "org.repo.commit.pushed", nil, ctxSource+"rule:\n  when:\n    - \"event.payload.size > 3\"\n    - \"hub.status == 'ok'\"\n"),
		// Partial evaluation: decided false without the context.
		eventDef(t, "e.rule-ctx-false", "org.repo.commit.pushed", nil, ctxSource+"rule:\n  when:\n    - \"event.payload.size > 100 && hub.status == 'ok'\"\n"),
		eventDef(t, "e.rule-error", "org.repo.commit.pushed", nil, "rule:\n  when:\n    - \"event.payload.nope > 1\"\n"),
		eventDef(t, "e.chain", "activity.run.*", nil, ""),
	}
	ix := NewIndex(defs, IndexOptions{})
	payload := mustPayload(t, `{"repo_slug": "api", "branch": "dev", "size": 5}`)
	got := map[string]Explanation{}
	var order []string
	for _, x := range ix.Explain(t.Context(), "org.repo.commit.pushed", payload) {
		got[x.DefinitionID] = x
		order = append(order, x.DefinitionID)
	}
	if !slices.IsSorted(order) || len(order) != len(defs) {
		t.Fatalf("explanations: %v (want every definition, sorted)", order)
	}
	// Explain agrees with Match on what matched.
	var matched []string
	for _, id := range order {
		if got[id].Matched {
			matched = append(matched, id)
		}
	}
	if want := matchIDs(ix.Match("org.repo.commit.pushed", payload)); !slices.Equal(matched, want) {
		t.Errorf("Explain matched %v, Match %v", matched, want)
	}

	check := func(id string, matched bool, stage, reasonPart string) Explanation {
		t.Helper()
		x := got[id]
		if x.Matched != matched || x.Stage != stage || !strings.Contains(x.Reason, reasonPart) {
			b, _ := json.MarshalIndent(x, "", "  ")
			t.Errorf("%s: matched %t stage %q reason %q; want %t %q containing %q\n%s", id, x.Matched, x.Stage, x.Reason, matched, stage, reasonPart, b)
		}
		return x
	}
	check("e.hook", true, "", "")
	x := check("e.filter", false, StageFilter, `filter branch: value "dev" matches none of "main", "release/*"`)
	if len(x.Filters) != 2 || x.Filters[0].Path != "branch" || x.Filters[0].Matched || !x.Filters[1].Matched {
		t.Errorf("e.filter filters: %+v", x.Filters)
	}
	x = check("e.missing", false, StageFilter, "no value at owner.login")
	if !x.Filters[0].Missing {
		t.Errorf("e.missing: %+v", x.Filters)
	}
	check("e.subject", false, StageSubject, `does not match event_type "org.issue.*"`)
	check("e.off", false, StageDisabled, "disabled (subject and filters would match)")
	check("e.chain", false, StageSubject, "")

	rule := func(id, outcome, msgPart string) *RuleCheck {
		t.Helper()
		r := got[id].Rule
		if r == nil || r.Outcome != outcome || !strings.Contains(r.Message, msgPart) {
			b, _ := json.MarshalIndent(r, "", "  ")
			t.Errorf("%s rule: %s; want outcome %s, message containing %q", id, b, outcome, msgPart)
		}
		return r
	}
	if got["e.hook"].Rule != nil {
		t.Error("e.hook has no rule, but Rule is set")
	}
	rule("e.rule-true", rulePassed, "true")
	r := rule("e.rule-false", ruleFailed, `"event.payload.repo_slug == 'web'" is false`)
	if r != nil && (len(r.Expressions) != 2 || r.Expressions[1].Outcome != "not evaluated") {
		t.Errorf("e.rule-false expressions: %+v", r.Expressions)
	}
	r = rule("e.rule-ctx", ruleNeedsContext, "rule needs context hub: evaluated at run time")
	if r != nil && (!slices.Equal(r.NeedsContext, []string{"hub"}) || r.Expressions[0].Outcome != "true") {
		t.Errorf("e.rule-ctx: %+v", r)
	}
	rule("e.rule-ctx-false", ruleFailed, "is false")
	rule("e.rule-error", ruleError, "fails on this event")
	if !got["e.rule-true"].Matched {
		t.Error("a rule does not make Matched false: the run starts and the rule decides there")
	}

	// Lifecycle events and the loop guard.
	ixl := NewIndex(defs, IndexOptions{ChainDepthLimit: 2})
	for _, tc := range []struct {
		payload string
		matched bool
		depth   int
		reason  string
	}{
		{`{"definition_id": "x.y", "chain_depth": 1}`, true, 2, ""},
		{`{"definition_id": "x.y", "chain_depth": 2}`, false, 3, "over the chain depth limit of 2"},
		{`{"definition_id": "e.chain", "chain_depth": 0}`, false, 1, "a definition never triggers itself"},
	} {
		var x Explanation
		for _, e := range ixl.Explain(t.Context(), "activity.run.failed", mustPayload(t, tc.payload)) {
			if e.DefinitionID == "e.chain" {
				x = e
			}
		}
		if x.Matched != tc.matched || x.ChainDepth != tc.depth || !strings.Contains(x.Reason, tc.reason) ||
			(!tc.matched && x.Stage != stageLoopGuard) {
			t.Errorf("payload %s: %+v", tc.payload, x)
		}
	}
}
