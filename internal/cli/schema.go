package cli

import (
	"github.com/coulomb/activity-core/internal/definition"
)

// schemaCmd prints the JSON Schema of the definition format so editors can
// check files as they are typed.
type schemaCmd struct{}

// Help is shown by "activity-core schema --help".
func (c *schemaCmd) Help() string {
	return `The schema is JSON Schema 2020-12. It catches structure and types as you
type; "activity-core validate" is still the authority (it also checks cron
ranges, time zones and compiles rules).

Examples:
  activity-core schema > .activity-definition.schema.json
  # VS Code (redhat.vscode-yaml), in .vscode/settings.json:
  #   "yaml.schemas": {".activity-definition.schema.json": "defs/**/*.yaml"}
  # or at the top of a definition file:
  #   # yaml-language-server: $schema=.activity-definition.schema.json`
}

// Run prints the schema.
func (c *schemaCmd) Run(env *cmdEnv) error {
	_, err := env.Stdout.Write(definition.JSONSchema())
	return err
}
