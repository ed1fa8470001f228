package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// auditCmd lists the audit (docs/run-control.md#who-did-what).
type auditCmd struct {
	ClientFlags
	Actor      string `help:"Only calls by this token name (admin and read are the two simple tokens)." placeholder:"NAME"`
	Action     string `help:"Only this action." enum:",sync,run,cancel,pause,resume,backfill,sign-in,sign-out" default:""`
	Definition string `help:"Only calls on this definition." placeholder:"ID"`
	RunID      string `name:"run" help:"Only calls on this run." placeholder:"RUN_ID"`
	Limit      int    `default:"50" help:"How many records (1 to 1000)."`
	Before     string `help:"Cursor: the 'more' of a previous page." placeholder:"CURSOR"`
}

// Help is shown by "activity-core audit --help".
func (c *auditCmd) Help() string {
	return `Every mutating call writes one audit record: sync, run (a rerun is a run
with rerun_of in its detail), cancel, pause, resume, backfill (dry runs
too), and the dashboard's sign-in and sign-out. Each names the token that
made it (ACTIVITY_TOKENS_FILE names; admin and read for the two simple
tokens), its role, where it came from (api or ui), the note and the
outcome: ok, refused (the role did not allow it, or the input was bad) or
error, with why. Calls without a valid token are not audited: there is no
one to name (they are counted in /metrics and logged). Newest first.

Examples:
  activity-core audit
  activity-core audit --actor alice --action cancel
  activity-core audit --definition team.backup --limit 10
  activity-core audit --run RUN_ID --format json | jq '.records[].detail'`
}

// auditPage is GET /api/v1/audit's answer.
type auditPage struct {
	Records []store.AuditRecord `json:"records"`
	Next    string              `json:"next,omitempty"`
}

// Run lists.
func (c *auditCmd) Run(env *cmdEnv) error {
	if c.Limit < 1 || c.Limit > store.AuditLimitMax {
		return usageError("--limit %d: use 1 to %d", c.Limit, store.AuditLimitMax)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"actor": c.Actor, "action": c.Action, "definition_id": c.Definition, "run_id": c.RunID, "before": c.Before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", strconv.Itoa(c.Limit))
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "GET", "/api/v1/audit?"+q.Encode(), nil, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var page auditPage
	if err := json.Unmarshal(raw, &page); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	printAudit(env.Stdout, page.Records)
	if page.Next != "" {
		fmt.Fprintf(env.Stdout, "more: --before %s\n", page.Next)
	}
	return nil
}

func printAudit(w io.Writer, recs []store.AuditRecord) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tROLE\tSURFACE\tACTION\tON\tOUTCOME\tNOTE")
	for _, r := range recs {
		on := r.DefinitionID
		if r.RunID != "" {
			on = "run " + r.RunID
		}
		outcome := r.Outcome
		if r.Message != "" {
			outcome += ": " + clip(oneLine(r.Message), 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.UTC().Format(time.RFC3339), r.Actor, dash(r.Role), dash(r.Surface),
			r.Action, dash(on), outcome, dash(clip(oneLine(r.Note), 60)))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d record%s\n", len(recs), plural(len(recs)))
}

// dash is "-" for an empty table cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
