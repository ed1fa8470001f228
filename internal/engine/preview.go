package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
)

// PreviewInput is what a run would start from once its context is
// gathered: the offline simulator (activity-core test) fills Context from
// fixtures instead of fetching it.
type PreviewInput struct {
	Definition *definition.Definition
	// Trigger is what started the run (store.RunTrigger values).
	Trigger string
	// Event is set for event runs.
	Event *Event
	// Context holds each bind's value as GatherContext would have bound it
	// (the decoded JSON document, or a JSON string for a non-JSON body).
	Context map[string]json.RawMessage
	// Now is the rule's `now`.
	Now time.Time
	// RunID stands in for the id the workflow would make.
	RunID string
	// LookupEnv resolves ${env:NAME} as the worker would. A name it does not
	// know is left as written and listed in Preview.Unresolved (the worker
	// resolves it at run time, and fails the run if it is unset there). Nil
	// resolves nothing.
	LookupEnv func(string) (string, bool)
	// Secrets, when set, is the worker's allow-list: a reference it
	// refuses is left as written and listed in Preview.NotAllowed, as the
	// worker would fail the run on it.
	Secrets *secret.AllowList
}

// Preview is what RunActivityWorkflow would do with a PreviewInput, computed
// with the engine's own code (EvaluateRule, shellEnv, the secret
// redaction) and without Temporal, a store or a network. Every text in it
// is redacted as the engine redacts run records.
type Preview struct {
	// ContextSnapshot is the context as the run record would keep it.
	ContextSnapshot json.RawMessage `json:"context_snapshot,omitempty"`
	// Rule is the rule's verdict as EvaluateRule records it (it stops at
	// the first expression that is false or fails); nil when the
	// definition has no rule.
	Rule *RuleOutcome `json:"rule,omitempty"`
	// Unreached holds the value of every expression after the one that
	// decided the rule: the engine does not evaluate them, the preview
	// does so an author sees them all.
	Unreached []ExpressionOutcome `json:"unreached,omitempty"`
	// Runs is true when the instruction would be started.
	Runs bool `json:"runs"`
	// Instruction is what would be started, when Runs.
	Instruction *PlannedInstruction `json:"instruction,omitempty"`
	// Unresolved lists the ${env:NAME} references LookupEnv did not know.
	Unresolved []string `json:"unresolved_env,omitempty"`
	// NotAllowed says, for each ${env:NAME} reference PreviewInput.Secrets
	// refuses, why: the worker would fail the run on it.
	NotAllowed map[string]string `json:"not_allowed_env,omitempty"`
}

// PlannedInstruction is an instruction as RunInstruction would start it.
type PlannedInstruction struct {
	Kind    string `json:"kind"`
	Timeout string `json:"timeout"`

	// shell: Cmd or Args exactly as the definition holds them (untrusted
	// data never reaches a command as text), the working directory, and
	// the environment the definition and the engine add: instruction.env
	// then the ACTIVITY_* variables. The worker puts its base environment
	// (PATH, HOME, ...) before them.
	Cmd     string   `json:"cmd,omitempty"`
	Args    []string `json:"args,omitempty"`
	Workdir string   `json:"workdir,omitempty"`
	Env     []string `json:"env,omitempty"`

	// http
	Method       string            `json:"method,omitempty"`
	URL          string            `json:"url,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         any               `json:"body,omitempty"`
	ExpectStatus []int             `json:"expect_status,omitempty"`

	// publish
	Subject string `json:"subject,omitempty"`
	Payload any    `json:"payload,omitempty"`
}

// PreviewRun evaluates the rule and plans the instruction of one run. The
// error is for inputs the workflow could not have been given (no
// definition); a failing rule expression is part of the Preview, as it is
// part of a run record.
func PreviewRun(ctx context.Context, in PreviewInput) (*Preview, error) {
	def := in.Definition
	if def == nil {
		return nil, errors.New("engine: preview needs a definition")
	}
	in.Event = compactEvent(in.Event)
	env := newPreviewEnv(in)

	// Context: resolve what GatherContext would resolve (so its secrets are
	// redacted from the snapshot), and build the snapshot it would record.
	snapshot := previewSnapshot(def, in.Context, env.sec)
	// Resolve the instruction's references before anything is redacted, so
	// every text below is redacted with every secret the run would know.
	for _, v := range def.Instruction.Env {
		_, _ = env.sec.expand(v)
	}
	env.forget()
	// The engine redacts context values before they leave GatherContext:
	// the rule and the command see them redacted.
	if len(in.Context) > 0 {
		redacted := make(map[string]json.RawMessage, len(in.Context))
		for k, v := range in.Context {
			redacted[k] = env.sec.redactJSON(v)
		}
		in.Context = redacted
	}

	out := &Preview{}
	if len(def.Context) > 0 {
		b, _ := json.Marshal(snapshot)
		out.ContextSnapshot = json.RawMessage(env.sec.redact(string(b)))
	}
	if len(def.Rule.When) > 0 && !previewRule(ctx, def, in, env.sec, out) {
		out.Unresolved, out.NotAllowed = sortedKeys(env.unresolved), nilIfEmpty(env.notAllowed)
		return out, nil
	}

	out.Runs = true
	p, err := planInstruction(def, in, env.sec)
	if err != nil {
		return nil, err
	}
	env.forget()
	out.Instruction = redactPlan(p, env.sec)
	out.Unresolved, out.NotAllowed = sortedKeys(env.unresolved), nilIfEmpty(env.notAllowed)
	return out, nil
}

// compactEvent is the event as the activities see it: it reaches them
// through workflow history, as JSON, so a json.RawMessage comes out
// compacted, and that is what a command sees in ACTIVITY_EVENT_JSON.
func compactEvent(e *Event) *Event {
	if e == nil {
		return nil
	}
	ev := *e
	var buf bytes.Buffer
	if err := json.Compact(&buf, ev.Payload); err == nil {
		ev.Payload = buf.Bytes()
	}
	return &ev
}

// previewEnv resolves ${env:NAME} for a preview as the worker would, and
// keeps the names it could not resolve (unresolved) or that the
// allow-list refuses (notAllowed, with why).
type previewEnv struct {
	sec        *secrets
	unresolved map[string]bool
	notAllowed map[string]string
}

func newPreviewEnv(in PreviewInput) *previewEnv {
	e := &previewEnv{unresolved: map[string]bool{}, notAllowed: map[string]string{}}
	e.sec = newSecretsFunc(func(name string) (string, error) {
		if in.Secrets != nil {
			if err := in.Secrets.Check(name); err != nil {
				e.notAllowed[name] = err.Error()
				e.unresolved[name] = true
				return "${env:" + name + "}", nil //nolint:nilerr // the preview reports the refused secret (notAllowed) instead of failing
			}
		}
		if in.LookupEnv != nil {
			if v, ok := in.LookupEnv(name); ok {
				return v, nil
			}
		}
		e.unresolved[name] = true
		return "${env:" + name + "}", nil
	})
	return e
}

// forget keeps the references left as written from being redacted as
// secrets.
func (e *previewEnv) forget() {
	for name := range e.unresolved {
		e.sec.values.Forget("${env:" + name + "}")
	}
}

// previewSnapshot resolves the references GatherContext would resolve and
// builds the context snapshot it would record.
func previewSnapshot(def *definition.Definition, values map[string]json.RawMessage, sec *secrets) map[string]any {
	snapshot := map[string]any{}
	for _, c := range def.Context {
		if c.Kind == definition.ContextHTTPGet {
			_, _ = sec.expand(c.URL)
		}
		for _, h := range c.Headers {
			_, _ = sec.expand(h)
		}
		var v any
		if raw, ok := values[c.Bind]; ok {
			_ = json.Unmarshal(raw, &v)
		}
		snapshot[c.Bind] = v
	}
	return snapshot
}

// previewRule evaluates the rule into out (with the expressions the engine
// would not reach) and reports whether it passed.
func previewRule(ctx context.Context, def *definition.Definition, in PreviewInput, sec *secrets, out *Preview) bool {
	a := &Activities{rules: newRuleCache(1)}
	ruleIn := RuleInput{Spec: def.CanonicalJSON(), ContentHash: def.ContentHash(), Context: in.Context, Event: in.Event, Now: in.Now}
	outcome, err := a.EvaluateRule(ctx, ruleIn)
	if err != nil {
		var appErr *temporal.ApplicationError
		msg := err.Error()
		if errors.As(err, &appErr) {
			msg = appErr.Message()
		}
		outcome = &RuleOutcome{FailedIndex: 0, Error: msg, Expressions: []ExpressionOutcome{}}
	}
	for i := range outcome.Expressions {
		outcome.Expressions[i].Error = sec.redact(outcome.Expressions[i].Error)
	}
	outcome.Error = sec.redact(outcome.Error)
	out.Rule = outcome
	if !outcome.Passed && outcome.FailedIndex >= 0 {
		out.Unreached = previewUnreached(ctx, a, def, ruleIn, outcome.FailedIndex+1, sec)
	}
	return outcome.Passed
}

// previewUnreached evaluates the expressions from index `from` on, each on
// its own, with the engine's rule evaluation.
func previewUnreached(ctx context.Context, a *Activities, def *definition.Definition, in RuleInput, from int, sec *secrets) []ExpressionOutcome {
	var out []ExpressionOutcome
	for i := from; i < len(def.Rule.When); i++ {
		one := *def
		one.Rule = definition.Rule{When: []string{def.Rule.When[i]}}
		in.Spec = one.CanonicalJSON()
		in.ContentHash = one.ContentHash()
		o, err := a.EvaluateRule(ctx, in)
		eo := ExpressionOutcome{Expression: def.Rule.When[i]}
		switch {
		case err != nil:
			eo.Error = sec.redact(err.Error())
		case len(o.Expressions) == 1:
			eo = o.Expressions[0]
			eo.Error = sec.redact(eo.Error)
		}
		out = append(out, eo)
	}
	return out
}

// planInstruction builds what RunInstruction would start, with the same
// environment shellEnv builds.
func planInstruction(def *definition.Definition, in PreviewInput, sec *secrets) (*PlannedInstruction, error) {
	inst := def.Instruction
	p := &PlannedInstruction{Kind: inst.Kind, Timeout: inst.Timeout.String()}
	switch inst.Kind {
	case definition.InstructionShell:
		p.Cmd, p.Args, p.Workdir = inst.Cmd, slices.Clone(inst.Args), inst.Workdir
		a := &Activities{cfg: Config{BaseEnv: []string{}}}
		env, err := a.shellEnv(sec, def, InstructionInput{
			RunID: in.RunID, DefinitionID: def.ID, Trigger: in.Trigger, Event: in.Event, Context: in.Context,
		}, previewRunDir)
		if err != nil {
			return nil, fmt.Errorf("engine: building the environment: %w", err)
		}
		// instruction.env is a map: shellEnv adds it in map order. Sort
		// that part so a preview reads the same every time.
		n := len(inst.Env)
		slices.Sort(env[:n])
		p.Env = env
	case definition.InstructionHTTP:
		p.Method, p.ExpectStatus = inst.Method, slices.Clone(inst.ExpectStatus)
		p.URL, _ = sec.expand(inst.URL)
		if len(inst.Headers) > 0 {
			p.Headers = map[string]string{}
			for k, v := range inst.Headers {
				p.Headers[k], _ = sec.expand(v)
			}
		}
		if inst.Body != nil {
			p.Body, _ = sec.expandAny(inst.Body)
		}
	case definition.InstructionPublish:
		p.Subject = inst.Subject
		var payload any = map[string]any{}
		if len(inst.Payload) > 0 {
			payload, _ = sec.expandAny(inst.Payload)
		}
		p.Payload = payload
	default:
		return nil, fmt.Errorf("engine: unknown instruction kind %q", inst.Kind)
	}
	return p, nil
}

// redactPlan replaces every resolved secret in every text of the plan.
func redactPlan(p *PlannedInstruction, sec *secrets) *PlannedInstruction {
	p.Cmd, p.Workdir, p.URL = sec.redact(p.Cmd), sec.redact(p.Workdir), sec.redact(p.URL)
	for i := range p.Args {
		p.Args[i] = sec.redact(p.Args[i])
	}
	for i := range p.Env {
		p.Env[i] = sec.redact(p.Env[i])
	}
	for k, v := range p.Headers {
		p.Headers[k] = sec.redact(v)
	}
	p.Body = redactAny(p.Body, sec)
	p.Payload = redactAny(p.Payload, sec)
	return p
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}
