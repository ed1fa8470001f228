//go:build nodev

package cli

import "errors"

// devCmd is absent from production builds (-tags nodev), which leave the
// embedded Temporal and NATS servers out: about 190 MB less binary.
type devCmd struct {
	Args []string `arg:"" optional:"" passthrough:""`
}

// Run explains.
func (c *devCmd) Run(env *cmdEnv) error {
	return errors.New("this binary was built without the embedded engines (-tags nodev); run `activity-core serve` against Temporal, PostgreSQL and NATS, or build without -tags nodev for `dev`")
}
