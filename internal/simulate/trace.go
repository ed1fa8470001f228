package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/router"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// Outcomes of one event for one definition.
const (
	OutcomeRuns           = "runs"            // the instruction would be started
	OutcomeNotMatched     = "not_matched"     // the router would start no run
	OutcomeRuleFalse      = "rule_false"      // a run would be recorded as skipped
	OutcomeRuleError      = "rule_error"      // a run would fail at stage rule
	OutcomeContextMissing = "context_missing" // a fixture is missing: nothing can be said about the rule
)

// runIDPlaceholder stands in for the run id a workflow would make.
const runIDPlaceholder = "<run-id>"

// EventTrace is the decision trace of one event: one entry per event
// definition, in id order.
type EventTrace struct {
	Event       *Event            `json:"event"`
	Definitions []DefinitionTrace `json:"definitions"`
}

// DefinitionTrace is what one event does to one event definition, step by
// step as the router and the run would take them.
type DefinitionTrace struct {
	DefinitionID string `json:"definition_id"`
	Outcome      string `json:"outcome"`
	// Reason says in words why nothing runs (empty when it runs).
	Reason string `json:"reason,omitempty"`
	// Match is the router's own explanation: subject, each filter with the
	// values it saw, disabled, the loop guard.
	Match router.Explanation `json:"match"`
	// The rest is set when the event matched.
	Context         []ContextTrace  `json:"context,omitempty"`
	ContextSnapshot json.RawMessage `json:"context_snapshot,omitempty"`
	// RulePassed is the rule's verdict (true when there is no rule); nil
	// when the rule was not evaluated.
	RulePassed  *bool                      `json:"rule_passed,omitempty"`
	Rule        *engine.RuleOutcome        `json:"rule,omitempty"`
	Unreached   []engine.ExpressionOutcome `json:"unreached,omitempty"`
	Instruction *engine.PlannedInstruction `json:"instruction,omitempty"`
	// UnresolvedEnv lists ${env:NAME} references not given with --env:
	// the worker resolves them at run time.
	UnresolvedEnv []string `json:"unresolved_env,omitempty"`
	// NotAllowedEnv says, for each ${env:NAME} reference the worker's
	// allow-list (Config.Secrets) refuses, why: the run would fail on it.
	NotAllowedEnv map[string]string `json:"not_allowed_env,omitempty"`
}

// Runs reports whether the instruction would be started.
func (t *DefinitionTrace) Runs() bool { return t.Outcome == OutcomeRuns }

// ContextTrace says where one bind's value came from.
type ContextTrace struct {
	Bind string `json:"bind"`
	Kind string `json:"kind"`
	URL  string `json:"url,omitempty"`
	// Key is the fixture key used (bind, URL or kind); From is where it is
	// written ("events.jsonl:3" for the event's own context).
	Key     string          `json:"key,omitempty"`
	From    string          `json:"from,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Missing bool            `json:"missing,omitempty"`
}

// Simulator matches events against a set of definitions the way the
// router and the engine would, without either running.
type Simulator struct {
	defs     []*definition.Definition // sorted by id
	byID     map[string]*definition.Definition
	index    *router.Index
	fixtures *Fixtures
	env      map[string]string
	secrets  *secret.AllowList // the worker's allow-list, when given
}

// newSimulator builds a simulator over valid definitions and the event
// types whose schemas payloads are checked against (as the router checks
// them, in enforce mode). fixtures may be
// nil (then every context bind must come from the event lines); env holds
// the ${env:NAME} values to resolve (and redact) as a worker would.
func newSimulator(defs []*definition.Definition, types []*definition.EventType, fixtures *Fixtures, env map[string]string) *Simulator {
	s := &Simulator{byID: map[string]*definition.Definition{}, fixtures: fixtures, env: env}
	s.defs = append(s.defs, defs...)
	sort.Slice(s.defs, func(i, j int) bool { return s.defs[i].ID < s.defs[j].ID })
	recs := make([]store.Definition, 0, len(defs))
	for _, d := range s.defs {
		s.byID[d.ID] = d
		recs = append(recs, store.Definition{
			ID: d.ID, ContentHash: d.ContentHash(), Spec: d.CanonicalJSON(),
			SourceFile: d.Source.File, SourceDir: d.Source.Dir, Enabled: d.Enabled,
			TriggerType: store.TriggerType(d.Trigger.Type), EventType: d.Trigger.EventType,
		})
	}
	ets := make([]store.EventType, 0, len(types))
	for _, t := range types {
		ets = append(ets, store.EventType{Name: t.Name, Schema: t.Schema, SourceFile: t.Source.File, ContentHash: t.ContentHash()})
	}
	s.index = router.NewIndex(recs, router.IndexOptions{EventTypes: ets})
	return s
}

// Definitions returns the definitions, sorted by id.
func (s *Simulator) Definitions() []*definition.Definition { return s.defs }

// Definition returns the definition with this id.
func (s *Simulator) Definition(id string) (*definition.Definition, bool) {
	d, ok := s.byID[id]
	return d, ok
}

// Event traces one event through every event definition. Missing fixtures
// are returned as problems (file:line of the event).
func (s *Simulator) Event(ctx context.Context, ev *Event) (EventTrace, []*definition.Error) {
	tr := EventTrace{Event: ev, Definitions: []DefinitionTrace{}}
	var problems []*definition.Error
	for _, x := range s.index.Explain(ctx, ev.Subject, ev.payload) {
		x.Rule = nil // evaluated below with context, as the run would
		dt := DefinitionTrace{DefinitionID: x.DefinitionID, Match: x}
		def := s.byID[x.DefinitionID]
		if !x.Matched {
			dt.Outcome, dt.Reason = OutcomeNotMatched, x.Reason
			tr.Definitions = append(tr.Definitions, dt)
			continue
		}
		values, missing := s.gather(def, ev, &dt)
		if len(missing) > 0 {
			dt.Outcome = OutcomeContextMissing
			dt.Reason = "no fixture for context " + strings.Join(missing, ", ")
			for _, c := range dt.Context {
				if c.Missing {
					problems = append(problems, &definition.Error{
						File: ev.File, Line: ev.Line, Field: "context", DefinitionID: def.ID,
						Message: fmt.Sprintf("event %q, definition %s: %s", ev.ID, def.ID, s.missingMessage(c)),
					})
				}
			}
			tr.Definitions = append(tr.Definitions, dt)
			continue
		}
		pv, err := engine.PreviewRun(ctx, engine.PreviewInput{
			Definition: def, Trigger: string(store.RunTriggerEvent), Event: ev.Engine(),
			Context: values, Now: ev.Time, RunID: runIDPlaceholder, LookupEnv: s.lookupEnv, Secrets: s.secrets,
		})
		if err != nil {
			problems = append(problems, &definition.Error{File: ev.File, Line: ev.Line, DefinitionID: def.ID, Message: err.Error()})
			dt.Outcome, dt.Reason = OutcomeRuleError, err.Error()
			tr.Definitions = append(tr.Definitions, dt)
			continue
		}
		dt.ContextSnapshot, dt.Rule, dt.Unreached, dt.Instruction, dt.UnresolvedEnv = pv.ContextSnapshot, pv.Rule, pv.Unreached, pv.Instruction, pv.Unresolved
		dt.NotAllowedEnv = pv.NotAllowed
		var snap map[string]json.RawMessage
		_ = json.Unmarshal(pv.ContextSnapshot, &snap)
		for i := range dt.Context {
			dt.Context[i].Value = snap[dt.Context[i].Bind]
		}
		passed := pv.Rule == nil || pv.Rule.Passed
		dt.RulePassed = &passed
		switch {
		case pv.Runs:
			dt.Outcome = OutcomeRuns
		case pv.Rule != nil && pv.Rule.Error != "":
			dt.Outcome, dt.Reason = OutcomeRuleError, "the run would fail at stage rule: "+pv.Rule.Error
		default:
			dt.Outcome, dt.Reason = OutcomeRuleFalse, "rule false: "+pv.Rule.Failed+" (the run would be recorded as skipped)"
		}
		tr.Definitions = append(tr.Definitions, dt)
	}
	return tr, problems
}

func (s *Simulator) lookupEnv(name string) (string, bool) {
	v, ok := s.env[name]
	return v, ok
}

// gather finds each bind's fixture: the event's own context first, then
// the fixtures; within each, the URL (or kind) key before the bind name.
func (s *Simulator) gather(def *definition.Definition, ev *Event, dt *DefinitionTrace) (map[string]json.RawMessage, []string) {
	if len(def.Context) == 0 {
		return nil, nil
	}
	values := map[string]json.RawMessage{}
	var missing []string
	for _, c := range def.Context {
		ct := ContextTrace{Bind: c.Bind, Kind: c.Kind, URL: c.URL}
		keys := []string{c.Bind}
		if k := sourceKey(c); k != "" {
			keys = []string{k, c.Bind}
		}
		found := false
		for _, k := range keys {
			if v, ok := ev.Context[k]; ok {
				ct.Key, ct.From, found = k, fmt.Sprintf("%s:%d", ev.File, ev.Line), true
				values[c.Bind] = compactJSON(v)
				break
			}
		}
		for _, k := range keys {
			if found {
				break
			}
			if fx, ok := s.fixtures.Get(k); ok {
				ct.Key, ct.From, found = k, fx.From, true
				values[c.Bind] = fx.Value
			}
		}
		if !found {
			ct.Missing = true
			missing = append(missing, c.Bind)
		}
		dt.Context = append(dt.Context, ct)
	}
	return values, missing
}

// sourceKey is the specific fixture key of a context source: its URL as
// written for http_get, its kind for the state_hub adapters.
func sourceKey(c definition.ContextSource) string {
	if c.Kind == definition.ContextHTTPGet {
		return c.URL
	}
	return c.Kind
}

func (s *Simulator) missingMessage(c ContextTrace) string {
	src := c.Kind
	if c.URL != "" {
		src += " " + c.URL
	}
	key := sourceKey(definition.ContextSource{Kind: c.Kind, URL: c.URL})
	entry := fmt.Sprintf("%s: <value>", c.Bind)
	alt := fmt.Sprintf(" (or %q: <value> for this %s only)", key, map[bool]string{true: "URL", false: "kind"}[c.Kind == definition.ContextHTTPGet])
	var where string
	switch {
	case s.fixtures == nil || s.fixtures.Path == "":
		where = fmt.Sprintf("give --context FIXTURES, a YAML file holding %s%s, or put \"context\": {%q: ...} on the event line", entry, alt, c.Bind)
	case s.fixtures.IsDir:
		where = fmt.Sprintf("add %s%s to a .yaml file in %s, e.g. %s/%s.yaml", entry, alt, s.fixtures.Path, strings.TrimSuffix(s.fixtures.Path, "/"), c.Bind)
	default:
		where = fmt.Sprintf("add %s%s to %s", entry, alt, s.fixtures.Path)
	}
	return fmt.Sprintf("no fixture for context bind %q (%s): %s", c.Bind, src, where)
}

func compactJSON(v json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return v
	}
	return buf.Bytes()
}
