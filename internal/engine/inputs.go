package engine

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// inputsFileName is the file in a run's private directory holding its
// resolved inputs as one JSON object (ACTIVITY_INPUTS_FILE).
const inputsFileName = "inputs.json"

// resolveInputs resolves a run's inputs against the definition version it
// runs (docs/run-control.md#inputs): a manual run's from what it was
// given, a scheduled or event run's from trigger.inputs. The result, or
// why it does not fit the declaration, goes into res.
func (a *Activities) resolveInputs(in RunInput, def *definition.Definition, res *StartRunResult) {
	given := in.Inputs
	if in.Trigger != store.RunTriggerManual {
		vals, err := def.TriggerInputValues(eventView(in.Event))
		if err != nil {
			res.InputsError = err.Error()
			return
		}
		given = vals
	}
	if len(given) == 0 && len(def.Inputs) == 0 {
		return
	}
	resolved, err := def.ResolveInputs(given)
	if err != nil {
		res.InputsError = err.Error()
		return
	}
	b, err := json.Marshal(resolved)
	if err != nil {
		res.InputsError = fmt.Sprintf("encoding inputs: %v", err)
		return
	}
	res.Inputs = b
}

// eventView is the event as trigger.inputs expressions see it; nil for a
// run no event started.
func eventView(ev *Event) *definition.EventView {
	if ev == nil {
		return nil
	}
	v := &definition.EventView{Subject: ev.Subject, ID: ev.ID, Time: ev.Time}
	if len(ev.Payload) > 0 {
		_ = json.Unmarshal(ev.Payload, &v.Payload) // a payload that is not JSON is null
	}
	return v
}

// inputEnv is the ACTIVITY_INPUT_<NAME> variables of a run's resolved
// inputs, as the instruction received them (JSON: integers come back as
// int64, as ResolveInputs made them).
func inputEnv(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var vals map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&vals); err != nil {
		return nil, fmt.Errorf("decoding the run's inputs: %w", err)
	}
	for k, v := range vals {
		if n, ok := v.(json.Number); ok {
			i, err := n.Int64()
			if err != nil {
				return nil, fmt.Errorf("input %s: %q is not an integer", k, n)
			}
			vals[k] = i
		}
	}
	return definition.InputEnv(vals), nil
}
