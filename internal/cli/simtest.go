package cli

import "errors"

// TestCmd simulates definitions against events and times, offline.
type TestCmd struct{}

// Run is a placeholder until the simulator lands.
func (c *TestCmd) Run(env *Env) error { return errors.New("test: not built yet") }
