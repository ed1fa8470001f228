package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/definition"
)

// backfillCmd asks Temporal to run a cron definition's fires of a past
// window (docs/run-control.md#backfill).
type backfillCmd struct {
	ClientFlags
	ID      string `arg:"" help:"Definition id (a cron definition)."`
	From    string `required:"" help:"Start of the window, included: RFC 3339, or 'YYYY-MM-DD HH:MM' in the definition's zone." placeholder:"TIME"`
	To      string `required:"" help:"End of the window, excluded, not in the future: RFC 3339, or 'YYYY-MM-DD HH:MM' in the definition's zone." placeholder:"TIME"`
	Overlap string `enum:"skip,buffer_all,allow_all" default:"buffer_all" help:"When a fire finds the previous run still going: skip it, buffer_all (run them one after another) or allow_all (run them side by side)."`
	DryRun  bool   `name:"dry-run" help:"List the fires that would run, start nothing."`
	Note    string `help:"Why (kept in the audit)."`
}

// Help is shown by "activity-core backfill --help".
func (c *backfillCmd) Help() string {
	return `Fills a gap after an outage: Temporal's schedule backfill fires the
definition's schedule for every fire time in [--from, --to), so the fires
are Temporal's own, on the definition's pool. Each run records trigger
backfill and the fire time it stands for (runs show). At most 1000 fires
per call; a wider window is refused (narrow it). Needs the operate role.

Start with --dry-run: it lists the fire times, in the definition's zone and
in UTC, and starts nothing.

Exit status: 0 done (or planned), 1 the server refused (a window of more
than 1000 fires, an end in the future, not a cron definition, a role that
may not) or failed, 2 bad command line (a bad time, --from not before --to).

Examples:
  activity-core backfill team.backup --from 2026-12-01T00:00:00Z --to 2026-12-01T06:00:00Z --dry-run
  activity-core backfill team.backup --from "2026-12-01 00:00" --to "2026-12-01 06:00" --note "hub outage"
  activity-core backfill team.sweep --from 2026-12-01T00:00:00Z --to 2026-12-02T00:00:00Z --overlap buffer_all`
}

// Run plans or starts the backfill.
func (c *backfillCmd) Run(env *cmdEnv) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	from, to, err := c.window(env.Ctx, cl)
	if err != nil {
		return err
	}
	req := adminapi.BackfillRequest{From: from, To: to, Overlap: c.Overlap, DryRun: c.DryRun, Note: c.Note}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "POST", "/api/v1/definitions/"+url.PathEscape(c.ID)+"/backfill", req, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var plan adminapi.BackfillPlan
	if err := json.Unmarshal(raw, &plan); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	printBackfillPlan(env.Stdout, &plan)
	return nil
}

// windowLayouts are the forms of a time read in the definition's zone.
var windowLayouts = []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}

// window reads --from and --to. A time without an offset is read in the
// definition's zone, asked of the server only then.
func (c *backfillCmd) window(ctx context.Context, cl *apiClient) (time.Time, time.Time, error) {
	var loc *time.Location
	var out [2]time.Time
	for i, f := range []struct{ flag, value string }{{"--from", c.From}, {"--to", c.To}} {
		if t, err := time.Parse(time.RFC3339, f.value); err == nil {
			out[i] = t
			continue
		}
		if _, ok := parseLocal(f.value, time.UTC); !ok {
			return time.Time{}, time.Time{}, usageError("%s %q is not a time: use RFC 3339 (2026-12-01T06:00:00Z) or \"2026-12-01 06:00\" in the definition's zone", f.flag, f.value)
		}
		if loc == nil {
			var err error
			if loc, err = definitionZone(ctx, cl, c.ID); err != nil {
				return time.Time{}, time.Time{}, err
			}
		}
		out[i], _ = parseLocal(f.value, loc)
	}
	if !out[0].Before(out[1]) {
		return time.Time{}, time.Time{}, usageError("--from %s is not before --to %s: the window is [from, to)", out[0].Format(time.RFC3339), out[1].Format(time.RFC3339))
	}
	return out[0], out[1], nil
}

// parseLocal reads a time without an offset in loc.
func parseLocal(v string, loc *time.Location) (time.Time, bool) {
	for _, layout := range windowLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// definitionZone is the zone a definition's cron fields are read in.
func definitionZone(ctx context.Context, cl *apiClient, id string) (*time.Location, error) {
	var def struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := cl.do(ctx, "GET", "/api/v1/definitions/"+url.PathEscape(id), nil, &def); err != nil {
		return nil, err
	}
	var spec struct {
		Trigger struct {
			Timezone string `json:"timezone"`
		} `json:"trigger"`
	}
	if err := json.Unmarshal(def.Spec, &spec); err != nil {
		return nil, fmt.Errorf("reading the zone of %s: %v", id, err)
	}
	zone := cmp.Or(spec.Trigger.Timezone, definition.TimezoneDefault)
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("%s's zone %q is unknown on this machine (%v): give --from and --to in RFC 3339", id, zone, err)
	}
	return loc, nil
}

// printBackfillPlan prints the fires, in the zone and in UTC, and what
// was done with them.
func printBackfillPlan(w io.Writer, p *adminapi.BackfillPlan) {
	head := "backfill"
	if p.DryRun {
		head = "dry run (nothing was started): backfill"
	}
	fmt.Fprintf(w, "%s of %s over [%s, %s), zone %s, overlap %s\n", head, p.DefinitionID,
		p.From.UTC().Format(time.RFC3339), p.To.UTC().Format(time.RFC3339), p.Timezone, p.Overlap)
	if len(p.Fires) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "IN %s\tUTC\n", p.Timezone)
		for _, f := range p.Fires {
			fmt.Fprintf(tw, "%s\t%s\n", f.Local, f.UTC.UTC().Format(time.RFC3339))
		}
		tw.Flush()
	}
	n := len(p.Fires)
	if n > 1 && p.Overlap == "skip" {
		// Temporal fires a backfill's times at once: under skip all but
		// the first are dropped while it runs, and leave no run.
		fmt.Fprintln(w, "overlap skip: a fire that comes while the previous run is still going is dropped by Temporal and leaves no run; to run every fire of a job that takes a while, use --overlap buffer_all")
	}
	switch {
	case n == 0:
		fmt.Fprintln(w, "no fires in the window: nothing to run")
	case p.Started:
		fmt.Fprintf(w, "%d fire%s sent to Temporal; their runs record trigger backfill: activity-core runs list --definition %s\n", n, plural(n), p.DefinitionID)
	default:
		fmt.Fprintf(w, "%d fire%s would run; run again without --dry-run to start them\n", n, plural(n))
	}
}
