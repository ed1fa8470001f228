package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/coulomb/activity-core/internal/store"
)

// How runs show, runs list and run --wait show a shadow run: what it
// would have run, which it did not (docs/cutover.md#shadow-runs).

// printShadowPlan prints a shadow run's plan: argv (exact, as JSON), the
// working directory, the environment's names and the inputs.
func printShadowPlan(w io.Writer, r store.Run) {
	if r.Status != store.RunShadow {
		return
	}
	fmt.Fprintln(w, "shadow:   nothing was executed; this is what would have run")
	var p store.ShadowPlan
	if len(r.ShadowPlan) == 0 || json.Unmarshal(r.ShadowPlan, &p) != nil {
		fmt.Fprintln(w, "  (no plan recorded)")
		return
	}
	var argv strings.Builder
	enc := json.NewEncoder(&argv)
	enc.SetEscapeHTML(false) // && stays &&
	_ = enc.Encode(p.Argv)
	fmt.Fprintf(w, "  argv:   %s\n", strings.TrimSpace(argv.String()))
	if p.Dir != "" {
		fmt.Fprintf(w, "  dir:    %s\n", p.Dir)
	}
	if len(p.EnvNames) > 0 {
		fmt.Fprintf(w, "  env:    %s\n", strings.Join(p.EnvNames, ", "))
	}
	if len(p.Inputs) > 0 && string(p.Inputs) != "null" {
		fmt.Fprintf(w, "  inputs: %s\n", compact(p.Inputs))
	}
}

// shadowPlanOf reads a run's plan for run --wait's last line; nil when
// it cannot.
func shadowPlanOf(env *cmdEnv, cl *apiClient, runID string) json.RawMessage {
	var r store.Run
	if cl.do(env.Ctx, "GET", "/api/v1/runs/"+url.PathEscape(runID), nil, &r) != nil {
		return nil
	}
	return r.ShadowPlan
}
