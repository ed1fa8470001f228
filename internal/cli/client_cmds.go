package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
)

// SyncCmd asks a running server to sync, and prints the result.
type SyncCmd struct {
	ClientFlags
	Definitions bool `default:"true" negatable:"" help:"Run the definitions stage."`
	Schedules   bool `default:"true" negatable:"" help:"Run the schedules stage."`
	EventTypes  bool `name:"event-types" default:"false" negatable:"" help:"Run the event_types stage."`
	DryRun      bool `name:"dry-run" help:"Show the plan: counts and actions, change nothing."`
}

// Help is shown by "activity-core sync --help".
func (c *SyncCmd) Help() string {
	return `Runs POST /admin/sync on the server: reads the definition folders, stores
what changed and projects cron/once definitions onto Temporal schedules. No
worker restarts: the change is live when this returns.

Exit status: 0 clean, 1 the sync reported errors (they are listed), 2 bad
command line.

Examples:
  activity-core sync                         # definitions + schedules
  activity-core sync --dry-run               # the plan, like terraform plan
  activity-core sync --event-types --no-schedules
  activity-core sync --format json | jq .errors`
}

// Run performs the sync.
func (c *SyncCmd) Run(env *Env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	q.Set("definitions", strconv.FormatBool(c.Definitions))
	q.Set("schedules", strconv.FormatBool(c.Schedules))
	q.Set("event_types", strconv.FormatBool(c.EventTypes))
	q.Set("dry_run", strconv.FormatBool(c.DryRun))
	if c.Format == "text" {
		fmt.Fprintf(env.Stderr, "syncing via %s ...\n", cl.base)
	}
	var res syncer.Result
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "POST", "/admin/sync?"+q.Encode(), nil, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	if c.Format == "json" {
		if err := printJSON(env.Stdout, raw); err != nil {
			return err
		}
	} else {
		PrintSyncResult(env.Stdout, &res)
	}
	if !res.OK() {
		return failed()
	}
	return nil
}

// PrintSyncResult prints a sync result as tables: counts, actions, errors.
func PrintSyncResult(w io.Writer, res *syncer.Result) {
	title := "sync"
	if res.DryRun {
		title = "plan (dry run: nothing was changed)"
	}
	fmt.Fprintf(w, "%s %s: %s in %s\n\n", title, res.SyncID, strings.Join(res.Stages, ", "), res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tSCANNED\tUPSERTED\tUNCHANGED\tREMOVED\tPAUSED\tDELETED\tINVALID")
	d, e, s := res.Definitions, res.EventTypes, res.Schedules
	fmt.Fprintf(tw, "definitions\t%d\t%d\t%d\t%d\t-\t-\t%d\n", d.Scanned, d.Upserted, d.Unchanged, d.Removed, d.Invalid)
	fmt.Fprintf(tw, "event_types\t-\t%d\t%d\t%d\t-\t-\t-\n", e.Upserted, e.Unchanged, e.Removed)
	fmt.Fprintf(tw, "schedules\t-\t%d\t%d\t-\t%d\t%d\t-\n", s.Upserted, s.Unchanged, s.Paused, s.Deleted)
	tw.Flush()
	if len(res.Actions) > 0 {
		fmt.Fprintln(w, "\nactions:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, a := range res.Actions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.Stage, a.Action, a.ID, a.Reason)
		}
		tw.Flush()
	}
	for _, wn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", formatSyncError(wn))
	}
	if len(res.Errors) > 0 {
		fmt.Fprintf(w, "\n%d error(s):\n", len(res.Errors)+res.ErrorsDropped)
		for _, e := range res.Errors {
			fmt.Fprintf(w, "  %s\n", formatSyncError(e))
		}
		if res.ErrorsDropped > 0 {
			fmt.Fprintf(w, "  … and %d more (raise ACTIVITY_SYNC_MAX_ERRORS to see them)\n", res.ErrorsDropped)
		}
	}
}

func formatSyncError(e syncer.Error) string {
	var b strings.Builder
	b.WriteString("[" + e.Stage + "] ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
			if e.Column > 0 {
				fmt.Fprintf(&b, ":%d", e.Column)
			}
		}
		b.WriteString(": ")
	} else if e.DefinitionID != "" {
		b.WriteString(e.DefinitionID + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// DefinitionsCmd groups the definition commands.
type DefinitionsCmd struct {
	List DefinitionsListCmd `cmd:"" help:"List definitions."`
	Show DefinitionsShowCmd `cmd:"" help:"Show one definition with its schedule and recent runs."`
}

// DefinitionsListCmd lists definitions.
type DefinitionsListCmd struct {
	ClientFlags
	Trigger string `help:"Only this trigger type: cron, event or once." enum:",cron,event,once" default:""`
	Removed bool   `help:"Include removed definitions."`
	Limit   int    `help:"List one page of this many (1 to 1000) instead of every definition." placeholder:"N"`
	After   string `help:"Cursor: the page after this one (the 'more' of a previous page); needs --limit." placeholder:"CURSOR"`
}

// Help is shown by "activity-core definitions list --help".
func (c *DefinitionsListCmd) Help() string {
	return `STATE is the schedule's state: active, paused by operator (with its note
and until), paused by sync (disabled in its file), paused by external (by
hand in Temporal), not scheduled (the next sync creates it), listening or
disabled (event definitions), removed. A bracket says how Temporal and the
store disagree; the next sync repairs it. HEALTH is the detector's verdict
(ok, failing, stale, late, missed; - before its first look): see
activity-core problems and activity-core why ID.

Without --limit every definition is listed, fetched from the API a page of
1000 at a time. With --limit one page is listed and the cursor of the next
is printed for --after.

Examples:
  activity-core definitions list
  activity-core definitions list --trigger cron --format json
  activity-core definitions list --limit 50`
}

// definitionsListPage is what the CLI reads of GET /api/v1/definitions.
type definitionsListPage struct {
	Definitions []definitionsListItem `json:"definitions"`
	Next        string                `json:"next,omitempty"`
	// ScheduleError is set when Temporal could not be listed.
	ScheduleError string `json:"schedule_error,omitempty"`
}

type definitionsListItem struct {
	store.Definition
	ScheduleState adminapi.DefinitionState `json:"schedule_state"`
	Health        *store.DefinitionHealth  `json:"health,omitempty"`
}

// definitionsAllPage is the page size of a whole list: the API's largest.
const definitionsAllPage = 1000

// Run lists.
func (c *DefinitionsListCmd) Run(env *Env) error {
	if c.Limit < 0 || c.Limit > definitionsAllPage {
		return fmt.Errorf("--limit %d: use 1 to %d, or leave it out to list every definition", c.Limit, definitionsAllPage)
	}
	if c.After != "" && c.Limit == 0 {
		return fmt.Errorf("--after needs --limit: a whole list starts at the first definition")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	if c.Trigger != "" {
		q.Set("trigger_type", c.Trigger)
	}
	if c.Removed {
		q.Set("include_removed", "true")
	}
	q.Set("limit", strconv.Itoa(cmp.Or(c.Limit, definitionsAllPage)))
	if c.After != "" {
		q.Set("after", c.After)
	}
	var all definitionsListPage
	var raw json.RawMessage
	pages := 0
	for {
		pages++
		if err := cl.do(env.Ctx, "GET", "/api/v1/definitions?"+q.Encode(), nil, &raw); err != nil {
			return err
		}
		var page definitionsListPage
		if err := json.Unmarshal(raw, &page); err != nil {
			return err
		}
		all.Definitions = append(all.Definitions, page.Definitions...)
		all.ScheduleError = cmp.Or(all.ScheduleError, page.ScheduleError)
		all.Next = page.Next
		if c.Limit > 0 || page.Next == "" {
			break
		}
		q.Set("after", page.Next)
	}
	if c.Format == "json" {
		if pages == 1 {
			return printJSON(env.Stdout, raw) // the page as the API answered it
		}
		return printJSON(env.Stdout, all)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTRIGGER\tENABLED\tVERSION\tSOURCE\tSTATE\tHEALTH")
	for _, d := range all.Definitions {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\t%s\t%s\n", d.ID, d.TriggerType, d.Enabled, d.Version, d.SourceFile, stateText(d.Definition, d.ScheduleState), healthText(d.Health))
	}
	tw.Flush()
	if all.ScheduleError != "" {
		fmt.Fprintf(env.Stdout, "warning: Temporal could not be listed; STATE is what the store records (%s)\n", all.ScheduleError)
	}
	fmt.Fprintf(env.Stdout, "%d definition%s\n", len(all.Definitions), plural(len(all.Definitions)))
	if c.Limit > 0 && all.Next != "" {
		fmt.Fprintf(env.Stdout, "more: --after %s\n", all.Next)
	}
	return nil
}

// healthText is the HEALTH column: the detector's state, "-" before it
// has looked at the definition (docs/alerting.md#expect).
func healthText(h *store.DefinitionHealth) string {
	if h == nil {
		return "-"
	}
	return string(h.State)
}

// stateText is the STATE column: the state, who paused, the note, until,
// and any disagreement between Temporal and the store.
func stateText(d store.Definition, st adminapi.DefinitionState) string {
	if d.Removed() {
		return "removed " + d.RemovedAt.Format(time.RFC3339)
	}
	out := strings.ReplaceAll(st.State, "_", " ")
	if st.PausedBy != "" {
		out += " by " + st.PausedBy
	}
	if st.Note != "" {
		note := strings.Join(strings.Fields(st.Note), " ")
		if r := []rune(note); len(r) > 40 {
			note = string(r[:39]) + "…"
		}
		out += ": " + note
	}
	if st.Until != nil {
		out += " (until " + st.Until.UTC().Format(time.RFC3339) + ")"
	}
	if st.Pending != "" {
		out += " [" + st.Pending + "]"
	}
	return out
}

// DefinitionsShowCmd shows one definition.
type DefinitionsShowCmd struct {
	ClientFlags
	ID string `arg:"" help:"Definition id."`
}

// Run shows.
func (c *DefinitionsShowCmd) Run(env *Env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "GET", "/api/v1/definitions/"+url.PathEscape(c.ID), nil, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var v struct {
		store.Definition
		Schedule    *adminapi.ScheduleInfo `json:"schedule"`
		ScheduleErr string                 `json:"schedule_error"`
		RecentRuns  []store.Run            `json:"recent_runs"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s  (version %d, %s, enabled=%v)\nsource: %s\nhash:   %s\n", v.ID, v.Version, v.TriggerType, v.Enabled, v.SourceFile, v.ContentHash)
	if v.Removed() {
		fmt.Fprintf(env.Stdout, "REMOVED at %s (its file is gone)\n", v.RemovedAt.Format(time.RFC3339))
	}
	if s := v.Schedule; s != nil {
		state := "active"
		if !s.Exists {
			state = "no schedule in Temporal"
		} else if s.Paused {
			state = "paused"
			if s.PausedBy != "" {
				state += " by " + s.PausedBy
			}
			if s.Note != "" {
				state += ": " + s.Note
			}
			if s.Until != nil {
				state += " (until " + s.Until.Format(time.RFC3339) + ")"
			}
		}
		fmt.Fprintf(env.Stdout, "schedule %s: %s; overlap-skipped %d, missed catch-up %d\n", s.ScheduleID, state, s.OverlapSkipped, s.MissedCatchup)
		if s.Pending != "" {
			fmt.Fprintf(env.Stdout, "  Temporal and the store disagree: %s\n", s.Pending)
		}
		for _, t := range s.NextFires {
			fmt.Fprintf(env.Stdout, "  next: %s\n", t.UTC().Format(time.RFC3339))
		}
	} else if v.ScheduleErr != "" {
		fmt.Fprintf(env.Stdout, "schedule: unknown (%s)\n", v.ScheduleErr)
	}
	fmt.Fprintln(env.Stdout, "spec:")
	var spec any
	_ = json.Unmarshal(v.Spec, &spec)
	b, _ := json.MarshalIndent(spec, "  ", "  ")
	fmt.Fprintf(env.Stdout, "  %s\n", b)
	if len(v.RecentRuns) > 0 {
		fmt.Fprintln(env.Stdout, "recent runs:")
		printRuns(env.Stdout, v.RecentRuns)
	}
	return nil
}

// RunsCmd groups the run commands.
type RunsCmd struct {
	List RunsListCmd `cmd:"" help:"List runs, newest first."`
	Show RunsShowCmd `cmd:"" help:"Show one run: trigger, context, rule outcome, output."`
	Logs RunsLogsCmd `cmd:"" help:"Print a run's output; with -f follow it live until the run ends."`
}

// RunsListCmd lists runs.
type RunsListCmd struct {
	ClientFlags
	Definition string `help:"Only runs of this definition." placeholder:"ID"`
	Status     string `help:"Only runs with this status." enum:",pending,running,succeeded,failed,skipped,timed_out,canceled,missed" default:""`
	Limit      int    `default:"20" help:"How many runs."`
	Before     string `help:"Cursor: the 'next' of a previous page." placeholder:"CURSOR"`
}

// Help is shown by "activity-core runs list --help".
func (c *RunsListCmd) Help() string {
	return `Examples:
  activity-core runs list
  activity-core runs list --definition the-custodian.state-hub-consistency-sweep --status failed`
}

// Run lists.
func (c *RunsListCmd) Run(env *Env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	if c.Definition != "" {
		q.Set("definition_id", c.Definition)
	}
	if c.Status != "" {
		q.Set("status", c.Status)
	}
	if c.Before != "" {
		q.Set("before", c.Before)
	}
	q.Set("limit", strconv.Itoa(c.Limit))
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "GET", "/api/v1/runs?"+q.Encode(), nil, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var page store.RunPage
	if err := json.Unmarshal(raw, &page); err != nil {
		return err
	}
	printRuns(env.Stdout, page.Runs)
	if page.Next != "" {
		fmt.Fprintf(env.Stdout, "more: --before %s\n", page.Next)
	}
	return nil
}

func printRuns(w io.Writer, runs []store.Run) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tDEFINITION\tTRIGGER\tSTATUS\tSTARTED\tDURATION\tWHY")
	for _, r := range runs {
		started, dur := "-", "-"
		if r.StartedAt != nil {
			started = r.StartedAt.UTC().Format(time.RFC3339)
			if r.FinishedAt != nil {
				dur = r.FinishedAt.Sub(*r.StartedAt).Round(time.Millisecond).String()
			}
		}
		why := r.SkipReason
		if r.Error != "" {
			why = r.Error
		}
		if len(why) > 60 {
			why = why[:59] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.DefinitionID, r.Trigger, r.Status, started, dur, why)
	}
	tw.Flush()
}

// RunsShowCmd shows one run.
type RunsShowCmd struct {
	ClientFlags
	ID string `arg:"" help:"Run id."`
}

// Run shows.
func (c *RunsShowCmd) Run(env *Env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "GET", "/api/v1/runs/"+url.PathEscape(c.ID), nil, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var r store.Run
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	w := env.Stdout
	fmt.Fprintf(w, "run %s of %s (version %d)\nstatus:   %s", r.ID, r.DefinitionID, r.DefinitionVersion, r.Status)
	if r.Stage != "" {
		fmt.Fprintf(w, " at stage %s", r.Stage)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "trigger:  %s %s\nworkflow: %s (run %s)\n", r.Trigger, compact(r.TriggerDetail), r.WorkflowID, r.WorkflowRunID)
	if r.StartedAt != nil {
		fmt.Fprintf(w, "started:  %s\n", r.StartedAt.UTC().Format(time.RFC3339Nano))
	}
	if r.FinishedAt != nil {
		fmt.Fprintf(w, "finished: %s\n", r.FinishedAt.UTC().Format(time.RFC3339Nano))
	}
	if r.SkipReason != "" {
		fmt.Fprintf(w, "skipped:  %s\n", r.SkipReason)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error:    %s\n", r.Error)
	}
	if r.ExitCode != nil {
		fmt.Fprintf(w, "exit:     %d\n", *r.ExitCode)
	}
	if len(r.ContextSnapshot) > 0 {
		fmt.Fprintf(w, "context:  %s\n", compact(r.ContextSnapshot))
	}
	if len(r.RuleOutcome) > 0 {
		fmt.Fprintf(w, "rule:     %s\n", compact(r.RuleOutcome))
	}
	if r.Stdout != "" {
		fmt.Fprintf(w, "--- stdout (last 64 KiB) ---\n%s", r.Stdout)
		if !strings.HasSuffix(r.Stdout, "\n") {
			fmt.Fprintln(w)
		}
	}
	if r.Stderr != "" {
		fmt.Fprintf(w, "--- stderr (last 64 KiB) ---\n%s", r.Stderr)
		if !strings.HasSuffix(r.Stderr, "\n") {
			fmt.Fprintln(w)
		}
	}
	return nil
}

// RunCmd starts a manual run.
type RunCmd struct {
	ClientFlags
	ID   string `arg:"" help:"Definition id."`
	Wait bool   `help:"Wait for the run to finish and print it."`
}

// Help is shown by "activity-core run --help".
func (c *RunCmd) Help() string {
	return `A manual run skips the schedule: it runs now, even when the definition is
disabled (it still checks context and the rule).

With --wait the exit status is the run's final status:
  0 succeeded, 1 failed (or the server could not be asked), 2 bad command
  line, 3 skipped, 4 timed out, 5 canceled, 6 still running when --timeout
  ran out. Without --wait it is 0 once the run has started.

Examples:
  activity-core run the-custodian.state-hub-stale-task-cleanup
  activity-core run demo.hello-cron --wait && echo ok`
}

// runExitCode is run --wait's exit status for a run's final status.
func runExitCode(st store.RunStatus) int {
	switch st {
	case store.RunSucceeded:
		return ExitOK
	case store.RunSkipped:
		return ExitRunSkipped
	case store.RunTimedOut:
		return ExitRunTimedOut
	case store.RunCanceled:
		return ExitRunCanceled
	}
	return ExitFailure
}

// Run starts the run.
func (c *RunCmd) Run(env *Env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var started adminapi.RunStarted
	if err := cl.do(env.Ctx, "POST", "/api/v1/definitions/"+url.PathEscape(c.ID)+"/run", nil, &started); err != nil {
		return err
	}
	if !c.Wait {
		if c.Format == "json" {
			return printJSON(env.Stdout, started)
		}
		fmt.Fprintf(env.Stdout, "started run %s (workflow %s)\nsee it: activity-core runs show %s\n", started.RunID, started.WorkflowID, started.RunID)
		return nil
	}
	ctx, cancel := context.WithTimeout(env.Ctx, c.Timeout)
	defer cancel()
	var final store.RunStatus
	for {
		var r store.Run
		err := cl.do(ctx, "GET", "/api/v1/runs/"+url.PathEscape(started.RunID), nil, &r)
		if err == nil && r.Status.Terminal() {
			final = r.Status
			break
		}
		select {
		case <-ctx.Done():
			return &exitError{code: ExitWaitTimeout, msg: fmt.Sprintf("run %s did not finish within %s (see it: activity-core runs show %s)", started.RunID, c.Timeout, started.RunID)}
		case <-time.After(300 * time.Millisecond): // polling the server, with a deadline
		}
	}
	show := RunsShowCmd{ClientFlags: c.ClientFlags, ID: started.RunID}
	if err := show.Run(env); err != nil {
		return err
	}
	if code := runExitCode(final); code != ExitOK {
		return &exitError{code: code, msg: fmt.Sprintf("run %s %s", started.RunID, final)}
	}
	return nil
}

// PauseCmd pauses a definition's schedule as an operator.
type PauseCmd struct {
	ClientFlags
	ID    string `arg:"" help:"Definition id."`
	Note  string `help:"Why (shown in the API, the dashboard and Temporal); at most 500 bytes."`
	Until string `help:"Resume by itself at this RFC 3339 time." placeholder:"TIME"`
}

// Help is shown by "activity-core pause --help".
func (c *PauseCmd) Help() string {
	return `An operator pause is kept by every sync until "activity-core resume" or until
--until passes. (A definition disabled in its file is paused by sync instead.)

Examples:
  activity-core pause the-custodian.state-hub-consistency-sweep --note "hub migration"
  activity-core pause team.backup --until 2026-12-01T06:00:00Z --note "freeze"`
}

// Run pauses.
func (c *PauseCmd) Run(env *Env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	body := map[string]any{"note": c.Note}
	if c.Until != "" {
		t, err := time.Parse(time.RFC3339, c.Until)
		if err != nil {
			return usageError("--until %q is not an RFC 3339 time (e.g. 2026-12-01T06:00:00Z)", c.Until)
		}
		body["until"] = t
	}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "POST", "/api/v1/definitions/"+url.PathEscape(c.ID)+"/pause", body, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	fmt.Fprintf(env.Stdout, "paused %s\n", c.ID)
	return nil
}

// ResumeCmd clears an operator pause.
type ResumeCmd struct {
	ClientFlags
	ID string `arg:"" help:"Definition id."`
}

// Run resumes.
func (c *ResumeCmd) Run(env *Env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "POST", "/api/v1/definitions/"+url.PathEscape(c.ID)+"/resume", nil, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	fmt.Fprintf(env.Stdout, "resumed %s\n", c.ID)
	return nil
}

// compact prints JSON on one line.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
