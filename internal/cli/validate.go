package cli

import (
	"fmt"

	"github.com/coulomb/activity-core/internal/definition"
)

// ValidateCmd checks definition files the way sync would, without a store
// or a server, so it can run in CI and in pre-commit hooks.
type ValidateCmd struct {
	Paths  []string `arg:"" name:"path" help:"Definition files or folders (folders are read recursively)."`
	Format string   `help:"Output format: text or json." enum:"text,json" default:"text" env:"ACTIVITY_FORMAT"`
}

// Help is shown by "activity-core validate --help".
func (c *ValidateCmd) Help() string {
	return `Every *.yaml/*.yml file below a folder holds one definition; files inside
folders named event-types hold event types. Hidden files and folders are
skipped. Every problem is printed as file:line:column: field: message, all
problems of every file, not only the first.

Exit status: 0 all valid, 1 some file is invalid, 2 bad command line.

Examples:
  activity-core validate defs/                   # a whole checkout
  activity-core validate defs/backup.yaml        # one file
  activity-core validate --format json defs/ | jq '.errors[]'`
}

type validateReport struct {
	Valid       bool                `json:"valid"`
	Files       int                 `json:"files"`
	Definitions []string            `json:"definitions"`
	EventTypes  []string            `json:"event_types"`
	Errors      []*definition.Error `json:"errors"`
	Warnings    []*definition.Error `json:"warnings"`
}

// Run validates and prints the report.
func (c *ValidateCmd) Run(env *Env) error {
	res := definition.Load(c.Paths)
	rep := validateReport{Definitions: []string{}, EventTypes: []string{}, Errors: []*definition.Error{}, Warnings: []*definition.Error{}}
	for _, s := range res.Sources {
		if s.Err != nil {
			rep.Errors = append(rep.Errors, &definition.Error{File: s.Dir, Message: s.Err.Error()})
		}
		rep.Files += len(s.Files)
		for _, d := range s.Definitions {
			rep.Definitions = append(rep.Definitions, d.ID)
			rep.Warnings = append(rep.Warnings, d.Warnings...)
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
		fmt.Fprintf(env.Stdout, "%s: %d valid definition%s, %d event type%s, %d invalid file%s, %d error%s\n",
			map[bool]string{true: "ok", false: "FAILED"}[rep.Valid],
			len(rep.Definitions), plural(len(rep.Definitions)),
			len(rep.EventTypes), plural(len(rep.EventTypes)),
			invalid, plural(invalid), len(rep.Errors), plural(len(rep.Errors)))
	}
	if !rep.Valid {
		return failed()
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
