package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/timeline"
)

// whyCmd tells one definition's story: GET /api/v1/definitions/{id}/timeline.
type whyCmd struct {
	ClientFlags
	ID    string `arg:"" help:"Definition id."`
	Since string `default:"7d" help:"Start of the story: a duration back from now (7d, 36h, 2w) or a time (RFC 3339, or a UTC date 2026-03-01)." placeholder:"WHEN"`
	Until string `help:"End of the story (exclusive), in the same forms; default now." placeholder:"WHEN"`
	Limit int    `help:"Most lines (1 to 10000; default 1000): the newest are kept." placeholder:"N"`
}

// Help is shown by "activity-core why --help".
func (c *whyCmd) Help() string {
	return `Answers "why didn't my job run last night?" in one command: everything that
touched the definition, oldest first, one line per thing, times in UTC:

  version       a sync stored a new version, with the fields that changed
                (trigger.cron_expression: "0 3 * * *" → "0 4 * * *")
  removed, restored
  paused, resumed   by an operator or by auto-pause, with the note
  fired, skipped    a run started, or was skipped and why (rule false,
                    disabled, overlap)
  succeeded, failed, timed_out, canceled   how it ended: exit code, stage,
                    error
  missed        a fire the schedule should have made and did not, and why
                (paused, no worker polling, Temporal unreachable, …)
  problem, recovered   failing, stale, late or missed entered and left
  notification  an alert sent, or given up

The first lines say the schedule and health now, which an older pause may
explain. Exit status: 0 the story was told, 1 the server could not tell it
(unknown definition, server down), 2 bad command line.

Examples:
  activity-core why team.backup
  activity-core why team.backup --since 36h
  activity-core why team.backup --since 2026-03-01 --until 2026-03-08
  activity-core why team.backup --format json | jq '.items[] | select(.kind == "missed")'`
}

// Run tells the story.
func (c *whyCmd) Run(env *cmdEnv) error {
	if c.Limit < 0 || c.Limit > timeline.LimitMax {
		return usageError("--limit %d: use 1 to %d", c.Limit, timeline.LimitMax)
	}
	for flag, v := range map[string]string{"--since": c.Since, "--until": c.Until} {
		if v == "" {
			continue
		}
		if _, err := timeline.ParseTime(v, time.Now()); err != nil {
			return usageError("%s %q is %v", flag, v, err)
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	q.Set("since", c.Since)
	if c.Until != "" {
		q.Set("until", c.Until)
	}
	if c.Limit > 0 {
		q.Set("limit", strconv.Itoa(c.Limit))
	}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "GET", "/api/v1/definitions/"+url.PathEscape(c.ID)+"/timeline?"+q.Encode(), nil, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var story timeline.Story
	if err := json.Unmarshal(raw, &story); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	return story.WriteText(env.Stdout)
}

// problemsCmd lists what is wrong now: GET /api/v1/problems.
type problemsCmd struct {
	ClientFlags
}

// Help is shown by "activity-core problems --help".
func (c *problemsCmd) Help() string {
	return `Every definition failing, stale, late or missed now, oldest problem first,
with each problem's reason. Then ask why one is in trouble with
"activity-core why ID".

Exit status: 0 whether or not there are problems (scripts read --format
json and its count), 1 the server could not be asked, 2 bad command line.

Examples:
  activity-core problems
  activity-core problems --format json | jq -r '.problems[].definition_id'`
}

// Run lists the problems.
func (c *problemsCmd) Run(env *cmdEnv) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "GET", "/api/v1/problems", nil, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var doc struct {
		Problems []adminapi.ProblemRow `json:"problems"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	if len(doc.Problems) == 0 {
		fmt.Fprintln(env.Stdout, "no problems: every definition the detector watches is ok")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SINCE (UTC)\tDEFINITION\tSTATE\tFAILURES\tPROBLEMS")
	for _, p := range doc.Problems {
		lines := make([]string, len(p.Problems))
		for i, pr := range p.Problems {
			lines[i] = timeline.ProblemLine(pr)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.Since.UTC().Format(timeline.TimeFormat), p.DefinitionID, p.State, p.ConsecutiveFailures, strings.Join(lines, "; "))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%d definition%s with problems; see one with: activity-core why %s\n", len(doc.Problems), plural(len(doc.Problems)), doc.Problems[0].DefinitionID)
	return nil
}
