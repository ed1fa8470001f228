package cli

import (
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/simulate"
)

// testCmd simulates definitions against events, fixtures and times,
// offline, so a definitions repository can test its definitions in its own
// CI before they are merged and synced.
type testCmd struct {
	Paths   []string `arg:"" name:"path" help:"Definition files or folders, as validate and sync read them."`
	Events  string   `help:"JSON Lines file: one event per line, {\"subject\", \"id\", \"time\", \"payload\", \"context\"}." placeholder:"EVENTS.jsonl"`
	Context string   `help:"Context fixtures: a YAML/JSON file (bind name, URL or kind -> value) or a folder of them." placeholder:"FIXTURES"`
	At      string   `help:"List the cron and once definitions that fire at TIME (that minute), or in START/END or START/DURATION." placeholder:"TIME|START/END"`
	Expect  string   `help:"Expected outcomes (YAML); the output becomes PASS/FAIL lines and any FAIL exits 1." placeholder:"EXPECT.yaml"`
	Env     []string `help:"A value of a ${env:NAME} reference, as the worker would see it; shown only redacted (***). Repeatable." placeholder:"NAME=VALUE" sep:"none"`
	Trace   bool     `help:"With --expect, print the decision trace too."`
	// The worker's allow-list, to see which references it would refuse.
	SecretsDir string    `name:"secrets-dir" env:"ACTIVITY_SECRETS_DIR" help:"The worker's ACTIVITY_SECRETS_DIR: a reference to no file there (and not in --secret-env) is reported as failing the run." placeholder:"DIR"`
	SecretEnv  string    `name:"secret-env" env:"ACTIVITY_SECRET_ENV" help:"The worker's ACTIVITY_SECRET_ENV: references outside it (and not in --secrets-dir) are reported as failing the run." placeholder:"NAMES"`
	Format     string    `help:"Output format: text or json." enum:"text,json" default:"text" env:"ACTIVITY_FORMAT"`
	now        time.Time // for tests: the time of events without one
}

// Help is shown by "activity-core test --help".
func (c *testCmd) Help() string {
	return `Nothing runs and no server is needed. Definitions are loaded as sync loads
them (an invalid file is reported as validate reports it, and exits 1).
Each event is matched through the router's own code; for each event
definition the trace shows whether it matched or which filter said no,
the context used (from fixtures instead of HTTP), the value of each rule
expression, and the instruction that would run, with the ACTIVITY_*
variables the engine would set (untrusted data reaches a command only
through them) and every secret redacted.

Exit status: 0 all good, 1 a problem in a file or a failed expectation,
2 bad command line. See docs/simulate.md for the file formats.

Examples:
  activity-core test defs/ --events test/events.jsonl --context test/fixtures.yaml
  activity-core test defs/ --at 2026-03-29T03:00:00Z
  activity-core test defs/ --at 2026-03-28T00:00:00Z/3d --format json
  activity-core test defs/ --events test/events.jsonl --context test/fixtures/ --expect test/expect.yaml`
}

// Run simulates and prints the report.
func (c *testCmd) Run(env *cmdEnv) error {
	if c.Events == "" && c.At == "" && c.Expect == "" {
		return usageError("test needs something to simulate: --events FILE, --at TIME and/or --expect FILE")
	}
	cfg := simulate.Config{
		Paths: c.Paths, EventsFile: c.Events, ContextPath: c.Context, ExpectFile: c.Expect, Now: c.now,
	}
	if c.At != "" {
		w, err := simulate.ParseWindow(c.At)
		if err != nil {
			return usageError("--at: %v", err)
		}
		cfg.At = &w
	}
	if len(c.Env) > 0 {
		cfg.Env = map[string]string{}
		for _, kv := range c.Env {
			name, val, ok := strings.Cut(kv, "=")
			if !ok || name == "" {
				return usageError("--env %q: write NAME=VALUE", kv)
			}
			cfg.Env[name] = val
		}
	}
	if c.SecretsDir != "" || c.SecretEnv != "" {
		list, err := secret.New(secret.Config{Dir: c.SecretsDir, Env: c.SecretEnv})
		if err != nil {
			return usageError("%v", err)
		}
		cfg.Secrets = list
	}
	rep := simulate.Run(env.Ctx, cfg)
	if c.Format == "json" {
		if err := printJSON(env.Stdout, rep); err != nil {
			return err
		}
	} else {
		simulate.WriteText(env.Stdout, rep, simulate.TextOptions{Trace: c.Trace})
	}
	if !rep.OK {
		return failed()
	}
	return nil
}
