package cli

import "errors"

// PlanCmd previews what a change to definitions would do, from two git
// refs (docs/cutover.md#plan).
type PlanCmd struct {
	Base   string `name:"base" required:"" help:"The git ref the change starts from (e.g. origin/main)." placeholder:"REF"`
	Head   string `name:"head" help:"The git ref or folder of the change (default: the working tree)." placeholder:"REF|DIR"`
	Format string `name:"format" enum:"markdown,json" default:"markdown" help:"Output: markdown (for a pull-request comment) or json."`
	FailOn string `name:"fail-on" enum:"error,warning" default:"error" help:"Exit 1 on errors only, or on warnings too."`
}

// Run prints the plan.
func (c *PlanCmd) Run(env *Env) error { return errors.New("plan is not implemented yet") }
