package cli

import "errors"

// ImportCmd converts crontab files and systemd timers into definitions.
type ImportCmd struct{}

// Run is a placeholder until the importer lands.
func (c *ImportCmd) Run(env *Env) error { return errors.New("import: not built yet") }
