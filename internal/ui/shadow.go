package ui

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/coulomb/activity-core/internal/store"
)

// shadowView is a shadow run's plan as the run page shows it
// (docs/cutover.md#shadow-runs): argv as JSON, so every argument's
// boundaries show exactly.
type shadowView struct {
	Argv     string
	Dir      string
	EnvNames []string
	Inputs   json.RawMessage
}

// shadowPlan is the run's plan to show; nil for a run that is not a
// shadow run. A shadow run without a readable plan shows an empty one.
func shadowPlan(run store.Run) *shadowView {
	if run.Status != store.RunShadow {
		return nil
	}
	var p store.ShadowPlan
	if json.Unmarshal(run.ShadowPlan, &p) != nil || len(p.Argv) == 0 {
		return &shadowView{}
	}
	var argv bytes.Buffer
	enc := json.NewEncoder(&argv)
	enc.SetEscapeHTML(false) // the template escapes
	_ = enc.Encode(p.Argv)
	return &shadowView{Argv: strings.TrimSpace(argv.String()), Dir: p.Dir, EnvNames: p.EnvNames, Inputs: p.Inputs}
}
