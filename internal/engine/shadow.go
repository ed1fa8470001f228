package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/shell"
	"github.com/coulomb/activity-core/internal/store"
)

// Shadow runs (docs/cutover.md#shadow-runs): a definition in mode shadow
// fires, gathers its context and evaluates its rule like any other; where
// it would start its instruction, it records the run as shadow with what
// it would have run (store.ShadowPlan) and runs nothing. It takes neither
// its guard nor its concurrency key, so it never waits for, nor holds up,
// the real job or another run, and it announces nothing on NATS, so no
// definition chains on it.

// takesKey reports whether a definition's runs take its concurrency key: a
// shadow run runs nothing, so it shares nothing.
func takesKey(def *definition.Definition) bool {
	return def.ConcurrencyKey != "" && !def.Shadow()
}

// ShadowRunInput is what a shadow run would have started and how the run
// ends otherwise (context snapshot, rule outcome).
type ShadowRunInput struct {
	Instruction InstructionInput `json:"instruction"`
	Finish      FinishRunInput   `json:"finish"`
}

// ShadowRun plans the instruction and records the run as shadow with that
// plan, or as failed at stage instruction when no plan can be made (the
// real run would have failed to start too). It publishes nothing.
func (a *Activities) ShadowRun(ctx context.Context, in ShadowRunInput) (*EndRunResult, error) {
	fin := in.Finish
	fin.Shadow = true
	plan, err := a.shadowPlan(ctx, in.Instruction)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		fin.Status, fin.Stage, fin.ShadowPlan = store.RunShadow, store.StageNone, plan
	case errors.As(err, &appErr) && !appErr.NonRetryable():
		return nil, err // the store is unavailable: retried
	default:
		fin.Status, fin.Stage, fin.Error = store.RunFailed, store.StageInstruction, "shadow: "+errMessage(err)
	}
	run, err := a.FinishRun(ctx, fin)
	if err != nil {
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			a.log.Error("engine: recording shadow run failed", "run_id", fin.RunID, "error", err)
			return &EndRunResult{Status: fin.Status, Reason: fin.Error}, nil
		}
		return nil, err
	}
	return &EndRunResult{Status: run.Status, Reason: cmp.Or(run.Error, shadowReason(plan))}, nil
}

// shadowReason is the run's reason: what would have run.
func shadowReason(raw json.RawMessage) string {
	var p store.ShadowPlan
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	return "shadow: would have run " + strings.Join(p.Argv, " ")
}

// shadowPlan is store.ShadowPlan of the instruction as RunInstruction
// would start it, as JSON. The environment is built by shellEnv itself,
// with every ${env:NAME} left unresolved, and only its names are kept:
// no value, secret or not, is read or recorded.
func (a *Activities) shadowPlan(ctx context.Context, in InstructionInput) (json.RawMessage, error) {
	def, err := a.definition(ctx, in.Spec, in.Ref)
	if err != nil {
		return nil, err
	}
	inst := def.Instruction
	plan := store.ShadowPlan{Argv: []string{}, EnvNames: []string{}, Inputs: in.Inputs}
	switch inst.Kind {
	case definition.InstructionShell:
		plan.Argv, err = shell.Command{Cmd: inst.Cmd, Args: inst.Args}.Argv()
		if err != nil {
			return nil, configErr(err)
		}
		if plan.EnvNames, err = a.shadowEnvNames(def, in); err != nil {
			return nil, configErr(err)
		}
		plan.Dir = inst.Workdir
		if plan.Dir == "" {
			// The command would inherit the worker's directory.
			plan.Dir, _ = os.Getwd()
		}
	case definition.InstructionHTTP:
		plan.Argv = []string{inst.Method, inst.URL} // as written: ${env:NAME} unresolved
	case definition.InstructionPublish:
		plan.Argv = []string{"publish", inst.Subject}
	default:
		return nil, configErr(fmt.Errorf("unknown instruction kind %q", inst.Kind))
	}
	b, err := json.Marshal(plan)
	if err != nil {
		return nil, configErr(fmt.Errorf("encoding the shadow plan: %w", err))
	}
	return b, nil
}

// shadowEnvNames is the names of the environment shellEnv would build, in
// its order (instruction.env sorted). A variable of instruction.env whose
// value uses secrets is written "NAME (${env:SECRET}, …)": the secrets by
// name.
func (a *Activities) shadowEnvNames(def *definition.Definition, in InstructionInput) ([]string, error) {
	unresolved := newSecretsFunc(func(name string) (string, error) { return "", nil })
	env, err := a.shellEnv(unresolved, def, in, previewRunDir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	base := len(a.cfg.BaseEnv)
	own := names[base : base+len(def.Instruction.Env)]
	slices.Sort(own)
	for i, name := range own {
		if refs := definition.EnvRefs(def.Instruction.Env[name]); len(refs) > 0 {
			for j, r := range refs {
				refs[j] = "${env:" + r + "}"
			}
			own[i] = name + " (" + strings.Join(refs, ", ") + ")"
		}
	}
	return names, nil
}

// shadowEnd records a shadow run: the plan of what its instruction would
// have run, in place of running it.
func (f *finisher) shadowEnd(out *RunOutput, iin InstructionInput, snapshot json.RawMessage, onFailure string) (*RunOutput, error) {
	if f.release != nil {
		f.release()
		f.release = nil
	}
	fin := FinishRunInput{RunID: f.runID, ContextSnapshot: snapshot, RuleOutcome: f.rule, OnFailure: onFailure}
	dctx, _ := workflow.NewDisconnectedContext(f.ctx)
	var a *Activities // names the activity; the worker runs its registered value
	var res EndRunResult
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(dctx, storeLocal), a.ShadowRun,
		ShadowRunInput{Instruction: iin, Finish: fin}).Get(dctx, &res)
	if err != nil {
		workflow.GetLogger(f.ctx).Error("engine: recording shadow run failed", "run_id", f.runID, "error", err)
		res = EndRunResult{Status: store.RunFailed, Reason: errMessage(err)}
	}
	out.Status, out.Reason = res.Status, res.Reason
	return f.verdict(out, onFailure)
}

// specShadow reports whether a stored spec is in shadow mode.
func specShadow(spec json.RawMessage) bool {
	var m struct {
		Mode string `json:"mode"`
	}
	return len(spec) > 0 && json.Unmarshal(spec, &m) == nil && m.Mode == definition.ModeShadow
}
