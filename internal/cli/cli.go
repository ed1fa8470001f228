// Package cli implements the activity-core command line. Each subcommand is
// a struct whose fields are its flags (each with an ACTIVITY_* environment
// twin; flags win) and whose Run method does the work, writing to the
// writers it is given so tests can run commands in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/alecthomas/kong"
)

// Exit codes shared by every command.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and found a problem (invalid file, failed sync)
	ExitUsage   = 2 // the command line itself is wrong
)

// Exit codes of "run --wait" beyond ExitOK (succeeded) and ExitFailure
// (failed, or the server could not be asked), one per other final status,
// so that scripts and CI can tell them apart (docs/architecture.md, cli).
const (
	ExitRunSkipped  = 3 // the rule or a guard skipped the run
	exitRunTimedOut = 4 // the run hit its timeout
	exitRunCanceled = 5 // the run was canceled
	ExitWaitTimeout = 6 // the run had not finished when --timeout ran out
)

// cmdEnv carries what a command may touch: its output streams, a logger and a
// context. Commands never write to os.Stdout directly.
type cmdEnv struct {
	Ctx context.Context
	// Stdin is read only by commands that take a secret there (tokens
	// hash), never by default.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger
}

// exitError lets a command choose its exit code while still returning an
// error message (or none, when the output already said everything).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// failed reports that the command found problems it has already printed.
func failed() error { return &exitError{code: ExitFailure} }

// usageError reports a wrong command line.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, args...)}
}

// root is the whole command tree.
type root struct {
	Dev   devCmd   `cmd:"" help:"Run everything in one process: embedded Temporal, NATS and SQLite, all roles." group:"Run"`
	Serve ServeCmd `cmd:"" help:"Run roles (api, worker, router) against Temporal, PostgreSQL and NATS." group:"Run"`

	Sync        syncCmd        `cmd:"" help:"Sync definitions and schedules on a running server (or plan it with --dry-run)." group:"Operate"`
	Definitions definitionsCmd `cmd:"" help:"List or show definitions." group:"Operate"`
	Runs        runsCmd        `cmd:"" help:"List, show, cancel or rerun runs." group:"Operate"`
	Run         runCmd         `cmd:"" help:"Start a manual run of a definition, with its inputs." group:"Operate"`
	Pause       pauseCmd       `cmd:"" help:"Pause a definition's schedule (an operator pause sync keeps)." group:"Operate"`
	Resume      resumeCmd      `cmd:"" help:"Resume a paused schedule." group:"Operate"`
	Backfill    backfillCmd    `cmd:"" help:"Run a cron definition's missed fires of a past window (or list them with --dry-run)." group:"Operate"`
	Workers     workersCmd     `cmd:"" help:"List worker pools, the workers polling each and their backlog." group:"Operate"`
	Audit       auditCmd       `cmd:"" help:"List who did what: every sync, run, cancel, pause, resume, backfill and sign-in." group:"Operate"`
	Tokens      tokensCmd      `cmd:"" help:"Make a named API token with a role, or hash one, for ACTIVITY_TOKENS_FILE." group:"Operate"`
	Events      eventsCmd      `cmd:"" help:"Explain what an event would run." group:"Operate"`
	Why         whyCmd         `cmd:"" help:"Tell a definition's story: versions, pauses, runs, misses, problems, alerts (why didn't it run?)." group:"Operate"`
	Problems    problemsCmd    `cmd:"" help:"List every definition failing, stale, late or missed now, oldest first." group:"Operate"`

	Validate validateCmd `cmd:"" help:"Check definition and event-type files; exit 1 on errors." group:"Author"`
	Next     nextCmd     `cmd:"" help:"Show the next fire times of a definition, in its zone and in UTC." group:"Author"`
	Schema   schemaCmd   `cmd:"" help:"Print the JSON Schema of the definition format (for editors)." group:"Author"`
	Test     testCmd     `cmd:"" help:"Simulate definitions offline against events, fixtures and times; exit 1 on a failed expectation." group:"Author"`
	Import   importCmd   `cmd:"" help:"Convert a crontab file or systemd timer into definitions." group:"Author"`
	Plan     planCmd     `cmd:"" help:"Preview what a change to definitions does (diff, fire times, collisions, overlap risk) for a pull request." group:"Author"`

	Cutover cutoverCmd `cmd:"" help:"Prove a migration: compare the legacy job's runs with a definition's fires." group:"Operate"`

	Migrate migrateCmd `cmd:"" help:"Apply database migrations (also done at every start)." group:"Maintain"`
	Version versionCmd `cmd:"" help:"Print the version." group:"Maintain"`
}

// runsCmd groups the run commands.
type runsCmd struct {
	List   runsListCmd   `cmd:"" help:"List runs, newest first: pool, and why they wait, failed or were canceled."`
	Show   runsShowCmd   `cmd:"" help:"Show one run: trigger, pool, inputs, cancel, context, rule, output."`
	Cancel runsCancelCmd `cmd:"" help:"Cancel a pending or running run, with a note."`
	Rerun  runsRerunCmd  `cmd:"" help:"Run a run's definition again with the same inputs."`
	Logs   runsLogsCmd   `cmd:"" help:"Print a run's output; with -f follow it live until the run ends."`
}

const description = `activity-core runs automations declared as YAML files: on cron schedules,
at one-shot times or on NATS events, durably on Temporal, with a history of
every run.

Examples:
  activity-core dev --definitions examples/definitions   # everything, embedded
  activity-core sync                                     # after editing files
  activity-core runs list
  activity-core run team.sweep --input repo=org/hub --wait
  activity-core runs cancel RUN_ID --note "wrong branch"
  activity-core why team.backup --since 36h               # why didn't it run?
  activity-core validate examples/definitions
  activity-core next examples/definitions/hello-cron.yaml --count 3
  activity-core schema > activity-definition.schema.json

Run "activity-core <command> --help" for a command's flags and examples.`

// exitPanic unwinds kong's exit (after --help) back to Main.
type exitPanic struct{ code int }

// Main runs the command line args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return mainIO(ctx, args, os.Stdin, stdout, stderr)
}

// mainIO is Main with its standard input given, for tests.
func mainIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	var cli root
	parser, err := kong.New(&cli,
		kong.Name("activity-core"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitPanic{c}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, Summary: true}),
	)
	if err != nil {
		fmt.Fprintf(stderr, "activity-core: internal error: %v\n", err)
		return ExitFailure
	}
	noArgs := len(args) == 0
	defer func() {
		if r := recover(); r != nil {
			ep, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code = ep.code
			if code == 1 || noArgs {
				// kong exits 1 on usage problems it detects itself; a bare
				// "activity-core" prints help but is still a usage error.
				code = ExitUsage
			}
		}
	}()
	if noArgs {
		_, _ = parser.Parse([]string{"--help"})
		return ExitUsage
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "activity-core: %v\n", err)
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil {
			fmt.Fprintf(stderr, "Run \"%s --help\" for usage.\n", pe.Context.Selected().FullPath())
		} else {
			fmt.Fprintln(stderr, "Run \"activity-core --help\" for usage.")
		}
		return ExitUsage
	}
	env := &cmdEnv{
		Ctx:    ctx,
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if err := kctx.Run(env); err != nil {
		return reportError(stderr, err)
	}
	return ExitOK
}

// reportError prints a command's error, with every field the server
// refused, and returns its exit code.
func reportError(stderr io.Writer, err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "activity-core: %s\n", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "activity-core: %v\n", err)
	var ae *apiError
	if errors.As(err, &ae) {
		for _, f := range ae.fieldNames() {
			fmt.Fprintf(stderr, "  %s: %s\n", f, ae.Fields[f])
		}
	}
	return ExitFailure
}
