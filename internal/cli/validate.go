package cli

import (
	"fmt"
	"strings"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
)

// validateCmd checks definition files the way sync would, without a store
// or a server, so it can run in CI and in pre-commit hooks.
type validateCmd struct {
	Paths  []string `arg:"" name:"path" help:"Definition files or folders (folders are read recursively)."`
	Format string   `help:"Output format: text or json." enum:"text,json" default:"text" env:"ACTIVITY_FORMAT"`
	// The deployment's secrets allow-list, to check ${env:NAME} as sync does.
	config.Secrets
	// The deployment's alerting defaults, merged as sync merges them.
	AlertDefaults string `name:"alert-defaults" env:"ACTIVITY_ALERT_DEFAULTS" help:"The deployment's alerting defaults file, merged under the folders' _defaults.yaml as sync does." placeholder:"FILE"`
}

// Help is shown by "activity-core validate --help".
func (c *validateCmd) Help() string {
	return `Every *.yaml/*.yml file below a folder holds one definition; files inside
folders named event-types hold event types. Hidden files and folders are
skipped. Every problem is printed as file:line:column: field: message, all
problems of every file, not only the first. Problems with a whole folder (it
cannot be read, a symbolic link loop) come first.

Secrets: a definition may read only the secrets the operator allows
(--secret-env / ACTIVITY_SECRET_ENV, --secrets-dir / ACTIVITY_SECRETS_DIR).
Give the deployment's list and every ${env:NAME} outside it is an error, as
sync reports it. Without a list, validate cannot know the deployment's:
references to ACTIVITY_*, TEMPORAL_* and NATS_* are errors all the same (they are
never allowed), and the others are listed as warnings, not checked.

Alerting defaults: every folder's _defaults.yaml is merged into the
definitions below it; give the deployment's file (--alert-defaults /
ACTIVITY_ALERT_DEFAULTS) to merge it too, as sync does.

Definitions in shadow mode (mode: shadow) are named on the last line: they
record what they would run and run nothing (docs/cutover.md#shadow-runs).

Exit status: 0 all valid, 1 some file is invalid, 2 bad command line.

Examples:
  activity-core validate defs/                   # a whole checkout
  activity-core validate defs/backup.yaml        # one file
  activity-core validate --secret-env 'HUB_*' defs/
  activity-core validate --format json defs/ | jq '.errors[]'`
}

type validateReport struct {
	Valid       bool                `json:"valid"`
	Files       int                 `json:"files"`
	Definitions []string            `json:"definitions"`
	EventTypes  []string            `json:"event_types"`
	Errors      []*definition.Error `json:"errors"`
	Warnings    []*definition.Error `json:"warnings"`
	// Shadow lists the definitions in shadow mode: they record what they
	// would run and run nothing (docs/cutover.md#shadow-runs).
	Shadow []string `json:"shadow,omitempty"`
}

// Run validates and prints the report.
func (c *validateCmd) Run(env *cmdEnv) error {
	allow, err := secret.New(secret.Config{Dir: c.SecretsDir, Env: c.SecretEnv})
	if err != nil {
		return usageError("%v", err)
	}
	res := definition.LoadWith(c.Paths, definition.LoadOptions{DefaultsFile: c.AlertDefaults})
	check := allow.Check
	if allow.Empty() {
		check = func(name string) error {
			if neverAllowed(name) {
				return allow.Check(name)
			}
			return nil
		}
	}
	res.CheckSecrets(check)
	rep := validateReport{Definitions: []string{}, EventTypes: []string{}, Errors: []*definition.Error{}, Warnings: []*definition.Error{}}
	rep.Errors = append(rep.Errors, res.SourceErrors...)
	for _, s := range res.Sources {
		rep.Files += len(s.Files)
		for _, d := range s.Definitions {
			rep.Definitions = append(rep.Definitions, d.ID)
			if d.Shadow() {
				rep.Shadow = append(rep.Shadow, d.ID)
			}
			rep.Warnings = append(rep.Warnings, d.Warnings...)
			if w := d.UncheckedSecrets(); w != nil && allow.Empty() {
				rep.Warnings = append(rep.Warnings, w)
			}
		}
		for _, et := range s.EventTypes {
			rep.EventTypes = append(rep.EventTypes, et.Name)
		}
	}
	rep.Errors = append(rep.Errors, res.Errors...)
	rep.Valid = len(rep.Errors) == 0

	if c.Format == "json" {
		if err := printJSON(env.Stdout, rep); err != nil {
			return err
		}
	} else {
		for _, e := range rep.Errors {
			fmt.Fprintln(env.Stdout, e.Error())
		}
		for _, w := range rep.Warnings {
			fmt.Fprintf(env.Stdout, "%s (warning)\n", w.Error())
		}
		invalid := 0
		for _, s := range res.Sources {
			invalid += len(s.FailedFiles)
		}
		shadow := ""
		if len(rep.Shadow) > 0 {
			shadow = fmt.Sprintf(" (%d in shadow mode: %s)", len(rep.Shadow), strings.Join(rep.Shadow, ", "))
		}
		fmt.Fprintf(env.Stdout, "%s: %d valid definition%s%s, %d event type%s, %d invalid file%s, %d error%s\n",
			map[bool]string{true: "ok", false: "FAILED"}[rep.Valid],
			len(rep.Definitions), plural(len(rep.Definitions)), shadow,
			len(rep.EventTypes), plural(len(rep.EventTypes)),
			invalid, plural(invalid), len(rep.Errors), plural(len(rep.Errors)))
	}
	if !rep.Valid {
		return failed()
	}
	return nil
}

// neverAllowed reports the names no allow-list can reach: activity-core's
// own settings (the rule of package secret, docs/definitions.md#secrets).
func neverAllowed(name string) bool {
	return strings.HasPrefix(name, "ACTIVITY_") || strings.HasPrefix(name, "TEMPORAL_")
}

// refNames lists the distinct secrets a definition references, in order.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
