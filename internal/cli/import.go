package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/coulomb/activity-core/internal/importer"
)

// importCmd converts crontab files and systemd timers into definitions, so
// a migration starts from files that already validate instead of a blank
// editor.
type importCmd struct {
	Crontab importCrontabCmd `cmd:"" help:"Convert a crontab file: one definition per entry."`
	Systemd importSystemdCmd `cmd:"" help:"Convert a systemd timer and its service into a definition."`
}

// importOutput holds the flags both import commands share.
type importOutput struct {
	Namespace     string `short:"n" required:"" help:"Id namespace: every id is NAMESPACE.slug (e.g. ops)." env:"ACTIVITY_IMPORT_NAMESPACE"`
	Out           string `short:"o" help:"Write one file per definition into this folder instead of printing a YAML stream." placeholder:"DIR" env:"ACTIVITY_IMPORT_OUT"`
	Force         bool   `help:"Overwrite files that already exist in --out." env:"ACTIVITY_IMPORT_FORCE"`
	DryRun        bool   `help:"Print a table of what would be written (id, schedule, command, notes) and write nothing." env:"ACTIVITY_IMPORT_DRY_RUN"`
	Timezone      string `help:"Time zone for schedules that name none (the host's zone the jobs ran in). Default UTC." placeholder:"ZONE" env:"ACTIVITY_IMPORT_TIMEZONE"`
	MisfirePolicy string `help:"misfire_policy for every definition (default skip; cron's own behaviour is allow_all)." enum:",skip,buffer_one,buffer_all,allow_all,cancel_other,terminate_other" default:"" env:"ACTIVITY_IMPORT_MISFIRE_POLICY"`
}

func (o *importOutput) options() importer.Options {
	return importer.Options{Namespace: o.Namespace, Timezone: o.Timezone, MisfirePolicy: o.MisfirePolicy}
}

// importCrontabCmd is "activity-core import crontab FILE".
type importCrontabCmd struct {
	File   string `arg:"" name:"file" help:"A crontab file (crontab -l > FILE), /etc/crontab or a file in /etc/cron.d."`
	System bool   `help:"Read the system format, whose sixth field is a user (detected for /etc/crontab and /etc/cron.d/*)." env:"ACTIVITY_IMPORT_SYSTEM"`
	importOutput
}

// Help is shown by "activity-core import crontab --help".
func (c *importCrontabCmd) Help() string {
	return `Each entry becomes one definition (an entry whose day-of-month and
day-of-week are both restricted becomes two: cron ORs them, Temporal ANDs
them). VAR=value lines become env for the entries below them; CRON_TZ/TZ
set the time zone; MAILTO and friends are reported, not carried. A % in a
command starts its stdin, passed as a shell here-doc. @reboot and anything
that cannot be expressed is skipped with file:line and the reason.

Every definition is validated before it is written. Without --out the
definitions are printed as one multi-document YAML stream.

Exit status: 0 everything imported, 1 some entry was skipped (the rest
is still written), 2 bad command line or unreadable file.

Examples:
  crontab -l > my.crontab
  activity-core import crontab my.crontab --namespace ops --dry-run
  activity-core import crontab my.crontab --namespace ops --timezone Europe/Berlin --out defs/ops
  activity-core import crontab /etc/cron.d/backup --namespace backup`
}

// Run imports the crontab.
func (c *importCrontabCmd) Run(env *cmdEnv) error {
	data, err := os.ReadFile(c.File)
	if err != nil {
		return usageError("reading crontab: %v", err)
	}
	opt := c.options()
	opt.System = c.System
	res, err := importer.ImportCrontab(c.File, data, opt)
	if err != nil {
		return usageError("%v", err)
	}
	return c.importOutput.write(env, res)
}

// importSystemdCmd is "activity-core import systemd UNIT.timer [UNIT.service]".
type importSystemdCmd struct {
	Timer   string `arg:"" name:"timer" help:"The .timer unit file."`
	Service string `arg:"" optional:"" name:"service" help:"The .service unit it starts (default: the timer's Unit= or the same-named .service beside it)."`
	importOutput
}

// Help is shown by "activity-core import systemd --help".
func (c *importSystemdCmd) Help() string {
	return `The unit name becomes the id. OnCalendar= becomes cron_expression where
cron can say it (whole minutes, no year, no ~); Persistent= becomes
catchup_window, RandomizedDelaySec= jitter, ExecStart= args (split by
systemd's quoting rules), WorkingDirectory= and Environment= workdir and
env. User=, sandboxing, EnvironmentFile= and monotonic triggers
(OnBootSec=, OnUnitActiveSec=) are reported as not carried over.

Exit status: 0 imported, 1 the timer could not be expressed (the reason is
printed), 2 bad command line or unreadable unit.

Examples:
  activity-core import systemd ~/.config/systemd/user/custodian-sync.timer --namespace the-custodian --dry-run
  activity-core import systemd backup.timer backup.service --namespace ops --out defs/ops`
}

// Run imports the timer.
func (c *importSystemdCmd) Run(env *cmdEnv) error {
	res, err := importer.ImportSystemd(c.Timer, c.Service, c.options())
	if err != nil {
		return usageError("%v", err)
	}
	return c.importOutput.write(env, res)
}

// write sends the result where the flags say and reports what was skipped.
func (o *importOutput) write(env *cmdEnv, res *importer.Result) error {
	if o.DryRun {
		if err := importer.WriteTable(env.Stdout, res); err != nil {
			return err
		}
		if len(res.Skipped) > 0 {
			return failed()
		}
		return nil
	}
	for _, p := range res.Skipped {
		fmt.Fprintf(env.Stderr, "skipped: %s\n", p.Error())
	}
	for _, p := range res.Notices {
		fmt.Fprintf(env.Stderr, "note: %s\n", p.Error())
	}
	if o.Out != "" {
		paths, err := importer.WriteDir(o.Out, res.Definitions, o.Force)
		if err != nil {
			if errors.Is(err, importer.ErrExists) {
				return &exitError{code: ExitFailure, msg: err.Error()}
			}
			return err
		}
		for _, p := range paths {
			fmt.Fprintf(env.Stdout, "wrote %s\n", p)
		}
		fmt.Fprintf(env.Stdout, "%d definition%s written, %d entr%s skipped\n", len(paths), plural(len(paths)), len(res.Skipped), map[bool]string{true: "y", false: "ies"}[len(res.Skipped) == 1])
	} else if err := importer.WriteStream(env.Stdout, res.Definitions); err != nil {
		return err
	}
	if len(res.Skipped) > 0 {
		return failed()
	}
	return nil
}
