package cli

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/cutover"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/timeline"
)

// cutoverCmd groups the cutover commands (docs/cutover.md).
type cutoverCmd struct {
	Report cutoverReportCmd `cmd:"" help:"Compare when the legacy job ran with when the definition fired; exit 1 when they disagree."`
}

// cutoverReportCmd compares a legacy job's runs with a definition's fires
// (docs/cutover.md#the-report).
type cutoverReportCmd struct {
	ClientFlags
	ID          string        `arg:"" help:"Definition ID." name:"id"`
	Legacy      string        `required:"" help:"The legacy job's runs: journal:UNIT (journalctl), syslog:FILE (cron's CMD lines) or file:TIMES (RFC 3339 times, one a line)." placeholder:"SOURCE"`
	Since       string        `default:"7d" help:"Start of the comparison: a duration back from now (7d, 36h) or a time (RFC 3339, or a UTC date 2026-03-01)." placeholder:"WHEN"`
	Until       string        `help:"End of the comparison, in the same forms; default now." placeholder:"WHEN"`
	Tolerance   time.Duration `default:"2m" help:"How far apart a legacy run and a fire may be and still pair."`
	JournalFile string        `name:"journal-file" help:"With journal:UNIT, read this saved 'journalctl -o json' output instead of running journalctl." placeholder:"FILE" type:"path"`
	User        bool          `help:"With journal:UNIT, the unit is a user unit (systemctl --user): journalctl --user-unit."`
	Match       string        `help:"With syslog:FILE, keep only cron commands containing this." placeholder:"SUBSTRING"`
	Zone        string        `env:"TZ" help:"The legacy host's time zone: syslog times are read in it and the report names it (default: this host's)." placeholder:"ZONE"`
}

// Help is shown by "activity-core cutover report --help".
func (c *cutoverReportCmd) Help() string {
	return `Pairs each run of the legacy job with the definition's nearest fire within
--tolerance, and lists the runs only one side made, the legacy exit status
beside the run's status, and a time zone mistake when a whole-hour shift
would pair most runs. Run it at the end of the shadow week
(docs/cutover.md#runbook-seed-002s-state-hub).

Exit status: 0 every run pairs, 1 they disagree (or a side is empty, or
the server could not be asked), 2 bad command line.

Examples:
  activity-core cutover report the-custodian.state-hub-consistency-sweep --legacy journal:custodian-sync.service --user
  journalctl --user -o json -u custodian-sync.service --since -7d > sweep.json   # on the legacy host
  activity-core cutover report the-custodian.state-hub-consistency-sweep --legacy journal:custodian-sync.service --journal-file sweep.json
  activity-core cutover report the-custodian.state-hub-stale-task-cleanup --legacy syslog:/var/log/syslog --match cleanup_stale_tasks --zone Europe/Berlin
  activity-core cutover report team.backup --legacy file:times.txt --since 2026-03-01 --format json`
}

// Run prints the report.
func (c *cutoverReportCmd) Run(env *cmdEnv) error {
	now := time.Now().UTC()
	w, err := c.window(now)
	if err != nil {
		return err
	}
	kind, arg, err := c.legacySource()
	if err != nil {
		return err
	}
	zone, err := cutover.HostZone(c.Zone)
	if err != nil {
		return usageError("--zone %q: %v (use an IANA name, e.g. Europe/Berlin)", c.Zone, err)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defZone, err := c.definitionZone(env, cl)
	if err != nil {
		return err
	}
	runs, err := c.runsSince(env, cl, w.Since.Add(-w.Tolerance))
	if err != nil {
		return err
	}
	legacy, notes, err := c.readLegacy(env, kind, arg, zone, w, now)
	if err != nil {
		return err
	}
	fires, other := cutover.FiresFromRuns(runs, w.Since.Add(-w.Tolerance))
	fires = firesUntil(fires, w.Until.Add(w.Tolerance))
	rep := cutover.NewReport(cutover.Report{DefinitionID: c.ID, Legacy: c.Legacy, Window: w, LegacyZone: zone.String(),
		DefinitionZone: defZone, OtherRuns: other, Notes: notes}, legacy, fires)
	if c.Format == "json" {
		err = printJSON(env.Stdout, rep)
	} else {
		err = rep.WriteText(env.Stdout)
	}
	if err != nil || rep.OK {
		return err
	}
	return failed()
}

// window reads --since, --until and --tolerance.
func (c *cutoverReportCmd) window(now time.Time) (cutover.Window, error) {
	since, err := timeline.ParseTime(c.Since, now)
	if err != nil {
		return cutover.Window{}, usageError("--since %q is %v", c.Since, err)
	}
	until := now
	if c.Until != "" {
		if until, err = timeline.ParseTime(c.Until, now); err != nil {
			return cutover.Window{}, usageError("--until %q is %v", c.Until, err)
		}
	}
	if !since.Before(until) {
		return cutover.Window{}, usageError("--since %s is not before --until %s", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	if c.Tolerance <= 0 || c.Tolerance > 6*time.Hour {
		return cutover.Window{}, usageError("--tolerance %s: use more than 0 and at most 6h (default %s)", c.Tolerance, cutover.ToleranceDefault)
	}
	return cutover.Window{Since: since, Until: until, Tolerance: c.Tolerance}, nil
}

// legacySource splits --legacy and checks the flags that go with it.
func (c *cutoverReportCmd) legacySource() (kind, arg string, err error) {
	kind, arg, ok := strings.Cut(c.Legacy, ":")
	if !ok || arg == "" {
		return "", "", usageError("--legacy %q: use journal:UNIT, syslog:FILE or file:TIMES", c.Legacy)
	}
	switch kind {
	case "journal":
		if err := cutover.ValidUnit(arg); err != nil {
			return "", "", usageError("--legacy %s", err)
		}
	case "syslog", "file":
		if c.JournalFile != "" || c.User {
			return "", "", usageError("--journal-file and --user go with --legacy journal:UNIT")
		}
	default:
		return "", "", usageError("--legacy %q: %q is not journal, syslog or file", c.Legacy, kind)
	}
	if c.Match != "" && kind != "syslog" {
		return "", "", usageError("--match goes with --legacy syslog:FILE")
	}
	return kind, arg, nil
}

// definitionZone fetches the definition and returns the zone its
// schedule is read in; an event definition has no schedule to compare.
func (c *cutoverReportCmd) definitionZone(env *cmdEnv, cl *apiClient) (string, error) {
	var def struct {
		Spec struct {
			Trigger definition.Trigger `json:"trigger"`
		} `json:"spec"`
	}
	if err := cl.do(env.Ctx, "GET", "/api/v1/definitions/"+url.PathEscape(c.ID), nil, &def); err != nil {
		return "", err
	}
	if def.Spec.Trigger.Type == definition.TriggerEvent {
		return "", usageError("%s is triggered by events: it has no schedule to compare with a legacy timer", c.ID)
	}
	return cmp.Or(def.Spec.Trigger.Timezone, definition.TimezoneDefault), nil
}

// runsPagesMax bounds the pages of runs read: 200 pages of 1000.
const runsPagesMax = 200

// runsSince pages through the definition's runs, newest first, until
// one was created before from.
func (c *cutoverReportCmd) runsSince(env *cmdEnv, cl *apiClient, from time.Time) ([]store.Run, error) {
	var all []store.Run
	q := url.Values{"definition_id": {c.ID}, "limit": {strconv.Itoa(store.RunListLimitMax)}}
	for range runsPagesMax {
		var page struct {
			Runs []store.Run `json:"runs"`
			Next string      `json:"next"`
		}
		if err := cl.do(env.Ctx, "GET", "/api/v1/runs?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Runs...)
		if page.Next == "" || len(page.Runs) == 0 || page.Runs[len(page.Runs)-1].CreatedAt.Before(from) {
			return all, nil
		}
		q.Set("before", page.Next)
	}
	return nil, fmt.Errorf("%s has more than %d runs since %s: narrow --since", c.ID, runsPagesMax*store.RunListLimitMax, from.Format(time.RFC3339))
}

// readLegacy reads the legacy side's runs within the window (widened by
// the tolerance), with notes on what was assumed.
func (c *cutoverReportCmd) readLegacy(env *cmdEnv, kind, arg string, zone *time.Location, w cutover.Window, now time.Time) ([]cutover.LegacyRun, []string, error) {
	var runs []cutover.LegacyRun
	var notes []string
	var err error
	switch kind {
	case "journal":
		runs, notes, err = c.readJournal(env, arg, w)
	case "syslog":
		var info cutover.SyslogInfo
		runs, err = readFile(arg, func(r io.Reader) ([]cutover.LegacyRun, error) {
			runs, i, err := cutover.ParseSyslog(r, arg, cutover.SyslogOptions{Match: c.Match, Zone: zone, Now: now})
			info = i
			return runs, err
		})
		if info.Assumed != "" {
			notes = append(notes, info.Assumed)
		}
	case "file":
		runs, err = readFile(arg, func(r io.Reader) ([]cutover.LegacyRun, error) { return cutover.ParseTimes(r, arg) })
	}
	if err != nil {
		return nil, nil, err
	}
	var in []cutover.LegacyRun
	for _, r := range runs {
		if !r.At.Before(w.Since.Add(-w.Tolerance)) && !r.At.After(w.Until.Add(w.Tolerance)) {
			in = append(in, r)
		}
	}
	return in, notes, nil
}

// readJournal runs journalctl, or reads --journal-file.
func (c *cutoverReportCmd) readJournal(env *cmdEnv, unit string, w cutover.Window) ([]cutover.LegacyRun, []string, error) {
	args := cutover.JournalArgs(unit, c.User, w.Since.Add(-w.Tolerance))
	if c.JournalFile != "" {
		runs, err := readFile(c.JournalFile, func(r io.Reader) ([]cutover.LegacyRun, error) { return cutover.ParseJournal(r, c.JournalFile, unit) })
		return runs, []string{"journal read from " + c.JournalFile}, err
	}
	out, err := cutover.ReadJournal(env.Ctx, args, c.Timeout)
	if err != nil {
		return nil, nil, err
	}
	runs, err := cutover.ParseJournal(bytes.NewReader(out), "journalctl", unit)
	return runs, []string{"journal read with: " + strings.Join(args, " ")}, err
}

// readFile opens name and parses it.
func readFile(name string, parse func(io.Reader) ([]cutover.LegacyRun, error)) ([]cutover.LegacyRun, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading the legacy runs: %v", err)
	}
	defer f.Close()
	return parse(f)
}

// firesUntil drops fires after until.
func firesUntil(fires []cutover.Fire, until time.Time) []cutover.Fire {
	out := fires[:0]
	for _, f := range fires {
		if !f.At.After(until) {
			out = append(out, f)
		}
	}
	return out
}
