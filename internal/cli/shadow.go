package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/coulomb/activity-core/internal/store"
)

// How runs show, runs list and run --wait show a shadow run: what it
// would have run, which it did not (docs/cutover.md#shadow-runs).

// shadowText is a shadow run's one-line why: the command it would have
// run.
func shadowText(raw json.RawMessage) string {
	var p store.ShadowPlan
	if len(raw) == 0 || json.Unmarshal(raw, &p) != nil || len(p.Argv) == 0 {
		return "shadow: would have run its instruction (no plan recorded)"
	}
	return "shadow: would have run " + argvText(p.Argv)
}

// argvText is an argv one argument after another, each quoted when it
// holds anything but plain characters, so the boundaries show.
func argvText(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return !(r == '/' || r == '-' || r == '_' || r == '.' || r == ':' || r == '=' || r == ',' ||
				r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

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
	argv, _ := json.Marshal(p.Argv)
	fmt.Fprintf(w, "  argv:   %s\n", argv)
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
func shadowPlanOf(env *Env, cl *apiClient, runID string) json.RawMessage {
	var r store.Run
	if cl.do(env.Ctx, "GET", "/api/v1/runs/"+url.PathEscape(runID), nil, &r) != nil {
		return nil
	}
	return r.ShadowPlan
}
