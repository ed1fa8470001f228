package cli

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
)

// nextCmd answers "when will this fire?" from the definition alone, with the
// same reading of cron and of DST changes that Temporal applies.
type nextCmd struct {
	Target      string    `arg:"" name:"id|file" help:"A definition id (looked up in --definitions) or a definition file."`
	Count       int       `short:"n" help:"How many fire times to show." default:"5"`
	From        string    `help:"Show fires after this RFC 3339 time instead of now." placeholder:"TIME"`
	Definitions []string  `help:"Definitions folders to look the id up in (repeat the flag, or comma-separate in the variable)." env:"ACTIVITY_DEFINITIONS,ACTIVITY_DEFINITION_PATHS" placeholder:"DIR"`
	Format      string    `help:"Output format: text or json." enum:"text,json" default:"text" env:"ACTIVITY_FORMAT"`
	now         time.Time // for tests
}

// Help is shown by "activity-core next --help".
func (c *nextCmd) Help() string {
	return `Times are computed the way Temporal's scheduler computes them: cron fields
are read in the definition's timezone; a wall time skipped by a DST change
(02:30 on a spring-forward day) and a wall time that happens twice (autumn)
are handled as Temporal handles them; day-of-month and day-of-week are both
required to match when both are restricted (crontab would OR them).

Examples:
  activity-core next examples/definitions/hello-cron.yaml
  activity-core next team.nightly-backup --definitions defs/ --count 10
  activity-core next defs/backup.yaml --from 2026-03-28T00:00:00Z --format json`
}

type nextFire struct {
	Local string `json:"local"`
	UTC   string `json:"utc"`
}

type nextReport struct {
	ID       string     `json:"id"`
	Trigger  string     `json:"trigger_type"`
	Schedule string     `json:"schedule"`
	Timezone string     `json:"timezone"`
	Jitter   string     `json:"jitter,omitempty"`
	Fires    []nextFire `json:"fires"`
	Note     string     `json:"note,omitempty"`
}

// Run prints the next fire times.
func (c *nextCmd) Run(env *cmdEnv) error {
	if c.Count < 1 || c.Count > 1000 {
		return usageError("--count must be between 1 and 1000, got %d", c.Count)
	}
	from := c.now
	if from.IsZero() {
		from = time.Now()
	}
	if c.From != "" {
		t, err := time.Parse(time.RFC3339, c.From)
		if err != nil {
			return usageError("--from %q is not an RFC 3339 time (e.g. 2026-03-28T00:00:00Z)", c.From)
		}
		from = t
	}
	def, err := c.find(env)
	if err != nil {
		return err
	}
	t := def.Trigger
	loc := t.Location()
	rep := nextReport{ID: def.ID, Trigger: t.Type, Timezone: t.Timezone, Fires: []nextFire{}}
	fire := func(ts time.Time) nextFire {
		return nextFire{Local: ts.In(loc).Format(time.RFC3339), UTC: ts.UTC().Format(time.RFC3339)}
	}
	switch t.Type {
	case definition.TriggerEvent:
		return &exitError{code: ExitFailure, msg: fmt.Sprintf("%s fires on events matching %q, not on a clock", def.ID, t.EventType)}
	case definition.TriggerOnce:
		rep.Schedule = "once at " + t.RunAt.Format(time.RFC3339)
		if t.RunAt.After(from) {
			rep.Fires = append(rep.Fires, fire(*t.RunAt))
		} else {
			rep.Note = fmt.Sprintf("run_at %s is not after %s: it fires no more", t.RunAt.Format(time.RFC3339), from.UTC().Format(time.RFC3339))
		}
	case definition.TriggerCron:
		rep.Schedule = t.CronExpression
		sched, err := cronexpr.Parse(t.CronExpression)
		if err != nil {
			return fmt.Errorf("%s: %v", def.ID, err)
		}
		for _, ts := range sched.NextN(from, loc, c.Count) {
			rep.Fires = append(rep.Fires, fire(ts))
		}
		if len(rep.Fires) == 0 {
			rep.Note = "this expression never fires"
		}
		if t.Jitter > 0 {
			rep.Jitter = t.Jitter.String()
			rep.Note = fmt.Sprintf("each fire is delayed by a random 0-%s (jitter)", t.Jitter)
		}
		if !def.Enabled {
			rep.Note = strings.TrimPrefix(rep.Note+"; the definition is disabled: its schedule is paused", "; ")
		}
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, rep)
	}
	fmt.Fprintf(env.Stdout, "%s: %s (%s)\n", rep.ID, rep.Schedule, rep.Timezone)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 3, ' ', 0)
	utcOnly := rep.Timezone == "UTC" || rep.Timezone == "Etc/UTC"
	if utcOnly {
		fmt.Fprintf(tw, "#\tin UTC\n")
	} else {
		fmt.Fprintf(tw, "#\tin %s\tin UTC\n", rep.Timezone)
	}
	for i, f := range rep.Fires {
		lt, _ := time.Parse(time.RFC3339, f.Local)
		if utcOnly {
			fmt.Fprintf(tw, "%d\t%s  %s\n", i+1, f.UTC, lt.UTC().Format("Mon"))
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", i+1, lt.In(loc).Format("Mon 2006-01-02 15:04:05 MST (-07:00)"), f.UTC)
	}
	tw.Flush()
	if rep.Note != "" {
		fmt.Fprintf(env.Stdout, "note: %s\n", rep.Note)
	}
	return nil
}

// find loads the definition named by Target: a file if one exists at that
// path, else an id looked up in the definitions folders.
func (c *nextCmd) find(env *cmdEnv) (*definition.Definition, error) {
	if info, err := os.Stat(c.Target); err == nil && !info.IsDir() {
		res := definition.Load([]string{c.Target})
		if err := res.Err(); err != nil {
			fmt.Fprintln(env.Stdout, err)
			return nil, failed()
		}
		defs := res.Definitions()
		if len(defs) != 1 {
			return nil, usageError("%s holds no definition", c.Target)
		}
		return defs[0], nil
	}
	if len(c.Definitions) == 0 {
		return nil, usageError("%q is not a file; to look up an id, give --definitions DIR or set ACTIVITY_DEFINITIONS", c.Target)
	}
	res := definition.Load(c.Definitions)
	for _, d := range res.Definitions() {
		if d.ID == c.Target {
			return d, nil
		}
	}
	if err := res.Err(); err != nil {
		fmt.Fprintln(env.Stderr, err)
	}
	return nil, &exitError{code: ExitFailure, msg: fmt.Sprintf("no valid definition with id %q in %s", c.Target, strings.Join(c.Definitions, ", "))}
}
