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
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// runView is a run as the API answers it: the stored run, and for a
// pending run whose pool has no worker polling, why it waits
// (docs/run-control.md#placement).
type runView struct {
	store.Run
	Waiting string `json:"waiting,omitempty"`
}

// runPage is a page of GET /api/v1/runs.
type runPage struct {
	Runs []runView `json:"runs"`
	Next string    `json:"next,omitempty"`
}

// runsListCmd lists runs.
type runsListCmd struct {
	ClientFlags
	Definition string `help:"Only runs of this definition." placeholder:"ID"`
	Status     string `help:"Only runs with this status." enum:",pending,running,succeeded,failed,skipped,timed_out,canceled,missed,shadow" default:""`
	Limit      int    `default:"20" help:"How many runs."`
	Before     string `help:"Cursor: the 'next' of a previous page." placeholder:"CURSOR"`
}

// Help is shown by "activity-core runs list --help".
func (c *runsListCmd) Help() string {
	return `POOL is the worker pool the run was placed on (run_on). WHY says why a run
was skipped or failed, who canceled it, or, for a pending run, "waiting for
a worker in pool P" when no worker polls its pool (start one with
activity-core serve --roles worker --pools P). TRIGGER backfill marks the
runs a backfill started; runs show gives the fire time each stands for.

Examples:
  activity-core runs list
  activity-core runs list --status pending          # is anything waiting for a worker?
  activity-core runs list --definition the-custodian.state-hub-consistency-sweep --status failed`
}

// Run lists.
func (c *runsListCmd) Run(env *cmdEnv) error {
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
	var page runPage
	if err := json.Unmarshal(raw, &page); err != nil {
		return err
	}
	printRuns(env.Stdout, page.Runs)
	if page.Next != "" {
		fmt.Fprintf(env.Stdout, "more: --before %s\n", page.Next)
	}
	return nil
}

func printRuns(w io.Writer, runs []runView) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tDEFINITION\tTRIGGER\tSTATUS\tPOOL\tSTARTED\tDURATION\tWHY")
	for _, r := range runs {
		started, dur := "-", "-"
		if r.StartedAt != nil {
			started = r.StartedAt.UTC().Format(time.RFC3339)
			if r.FinishedAt != nil {
				dur = r.FinishedAt.Sub(*r.StartedAt).Round(time.Millisecond).String()
			}
		}
		why := []rune(whyText(r))
		if len(why) > 60 {
			why = append(why[:59], '…')
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.DefinitionID, r.Trigger, r.Status, poolName(r.Pool), started, dur, oneLine(string(why)))
	}
	tw.Flush()
}

// whyText is the WHY column: why a run waits, who canceled it, why it
// failed or was skipped.
func whyText(r runView) string {
	switch {
	case r.Waiting != "":
		return r.Waiting
	case r.CanceledBy != "":
		return cancelText(r.Run)
	case r.Error != "":
		return r.Error
	case r.Status == store.RunShadow:
		return store.ShadowWhy(r.ShadowPlan)
	}
	return r.SkipReason
}

// cancelText says who canceled a run (or asked to, while it still runs)
// and their note.
func cancelText(r store.Run) string {
	out := "canceled by " + r.CanceledBy
	if !r.Status.Terminal() {
		out = "cancel requested by " + r.CanceledBy
	}
	if r.CancelNote != "" {
		out += ": " + r.CancelNote
	}
	return out
}

// poolName is a run's pool as people say it: empty is the default pool.
func poolName(p string) string { return cmp.Or(p, definition.PoolDefault) }

// oneLine folds whitespace runs (newlines included) to one space, so a
// note cannot break a table.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runsShowCmd shows one run.
type runsShowCmd struct {
	ClientFlags
	ID string `arg:"" help:"Run id."`
}

// Help is shown by "activity-core runs show --help".
func (c *runsShowCmd) Help() string {
	return `Shows the run's status (and, while pending, whether it waits for a worker
of its pool), trigger (a backfill run names the fire time it stands for),
pool, inputs, who canceled it and why, context, rule outcome and the last
64 KiB of its output.

Examples:
  activity-core runs show RUN_ID
  activity-core runs show RUN_ID --format json | jq .inputs`
}

// Run shows.
func (c *runsShowCmd) Run(env *cmdEnv) error {
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
	var r runView
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	printRunHead(env.Stdout, r)
	printRunBody(env.Stdout, r.Run)
	return nil
}

// printRunHead prints what the run is: status, trigger, pool, inputs,
// cancel, times.
func printRunHead(w io.Writer, r runView) {
	fmt.Fprintf(w, "run %s of %s", r.ID, r.DefinitionID)
	if r.DefinitionVersion > 0 { // 0 until a worker loads the definition
		fmt.Fprintf(w, " (version %d)", r.DefinitionVersion)
	}
	fmt.Fprintf(w, "\nstatus:   %s", r.Status)
	if r.Stage != "" {
		fmt.Fprintf(w, " at stage %s", r.Stage)
	}
	if r.Waiting != "" {
		fmt.Fprintf(w, " (%s)", r.Waiting)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "trigger:  %s", r.Trigger)
	if r.Trigger == store.RunTriggerBackfill && r.ScheduledAt != nil {
		fmt.Fprintf(w, " of the fire at %s", r.ScheduledAt.UTC().Format(time.RFC3339))
	}
	if len(r.TriggerDetail) > 0 {
		fmt.Fprintf(w, " %s", compact(r.TriggerDetail))
	}
	fmt.Fprintf(w, "\npool:     %s\n", poolName(r.Pool))
	printInputs(w, r.Inputs)
	if r.CanceledBy != "" {
		fmt.Fprintf(w, "cancel:   %s\n", oneLine(cancelText(r.Run)))
	}
	if r.WorkflowID != "" {
		fmt.Fprintf(w, "workflow: %s (run %s)\n", r.WorkflowID, r.WorkflowRunID)
	}
	for _, t := range []struct {
		label string
		at    *time.Time
	}{{"scheduled", r.ScheduledAt}, {"started", r.StartedAt}, {"finished", r.FinishedAt}} {
		if t.at != nil {
			fmt.Fprintf(w, "%-9s %s\n", t.label+":", t.at.UTC().Format(time.RFC3339Nano))
		}
	}
}

// printInputs prints a run's resolved inputs one a line, in the order the
// run recorded them.
func printInputs(w io.Writer, raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	pairs, err := objectPairs(raw)
	if err != nil || len(pairs) == 0 {
		fmt.Fprintf(w, "inputs:   %s\n", compact(raw))
		return
	}
	fmt.Fprintln(w, "inputs:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range pairs {
		fmt.Fprintf(tw, "  %s\t%s\n", p.name, compact(p.value))
	}
	tw.Flush()
}

type jsonPair struct {
	name  string
	value json.RawMessage
}

// objectPairs reads a JSON object's members in their order.
func objectPairs(raw json.RawMessage) ([]jsonPair, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []jsonPair
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, jsonPair{name: fmt.Sprint(t), value: v})
	}
	return out, nil
}

// printRunBody prints what the run did: why, exit, context, rule, output.
func printRunBody(w io.Writer, r store.Run) {
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
	printShadowPlan(w, r)
	for _, s := range []struct{ name, text string }{{"stdout", r.Stdout}, {"stderr", r.Stderr}} {
		if s.text == "" {
			continue
		}
		fmt.Fprintf(w, "--- %s (last 64 KiB) ---\n%s", s.name, s.text)
		if !strings.HasSuffix(s.text, "\n") {
			fmt.Fprintln(w)
		}
	}
}

// runCmd starts a manual run.
type runCmd struct {
	ClientFlags
	ID    string   `arg:"" help:"Definition id."`
	Input []string `short:"i" sep:"none" placeholder:"NAME=VALUE" help:"An input of the run, as the definition declares it (repeat for each; see definitions show ID)."`
	Note  string   `help:"Why you run it (kept in the audit)."`
	Wait  bool     `help:"Wait for the run to finish and print it."`
}

// Help is shown by "activity-core run --help".
func (c *runCmd) Help() string {
	return `A manual run skips the schedule: it runs now, even when the definition is
disabled (it still checks context and the rule), on the definition's pool.

Inputs are the typed parameters the definition declares (definitions show
ID lists them): --input name=value, once per input; the value is text the
server reads as the declared type (int, bool true/false, enum value,
duration like 90s or 5m, string as is). Undeclared inputs are refused, and
so are required inputs left out; the server names every bad field. Inputs
reach the command as ACTIVITY_INPUT_<NAME> and in ACTIVITY_INPUTS_FILE,
never as shell text.

With --wait the exit status is the run's final status:
  0 succeeded, 1 failed (or the server refused or could not be asked: a
  refused input is 1, with every bad field named), 2 bad command line, 3
  skipped, 4 timed out, 5 canceled, 6 still running when --timeout ran
  out. Without --wait it is 0 once the run has started.

Examples:
  activity-core run the-custodian.state-hub-stale-task-cleanup
  activity-core run demo.hello-cron --wait && echo ok
  activity-core run team.sweep --input repo=org/hub --input depth=5 --note "after the migration"
  activity-core runs rerun RUN_ID                  # again, with the inputs that run had`
}

// Run starts the run.
func (c *runCmd) Run(env *cmdEnv) error {
	var body map[string]any
	if len(c.Input) > 0 {
		inputs, err := definition.ParseInputFlags(c.Input)
		if err != nil {
			return usageError("--input: %v", err)
		}
		body = map[string]any{"inputs": inputs}
	}
	if c.Note != "" {
		if body == nil {
			body = map[string]any{}
		}
		body["note"] = c.Note
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	var started adminapi.RunStarted
	if body == nil { // a body-less POST, as before inputs
		err = cl.do(env.Ctx, "POST", "/api/v1/definitions/"+url.PathEscape(c.ID)+"/run", nil, &started)
	} else {
		err = cl.do(env.Ctx, "POST", "/api/v1/definitions/"+url.PathEscape(c.ID)+"/run", body, &started)
	}
	if err != nil {
		return err
	}
	return c.ClientFlags.started(env, cl, started, c.Wait, "")
}

// started reports a run just started (what says more about it) and, with
// wait, waits for it to end and exits by its final status.
func (f *ClientFlags) started(env *cmdEnv, cl *apiClient, s adminapi.RunStarted, wait bool, what string) error {
	if !wait {
		if f.Format == "json" {
			return printJSON(env.Stdout, s)
		}
		fmt.Fprintf(env.Stdout, "started run %s (workflow %s)%s\n", s.RunID, s.WorkflowID, what)
		fmt.Fprintf(env.Stdout, "see it: activity-core runs show %s\n", s.RunID)
		return nil
	}
	final, err := waitRun(env.Ctx, cl, s.RunID, f.Timeout)
	if err != nil {
		return err
	}
	show := runsShowCmd{ClientFlags: *f, ID: s.RunID}
	if err := show.Run(env); err != nil {
		return err
	}
	if final == store.RunShadow {
		fmt.Fprintf(env.Stdout, "%s; nothing was executed (docs/cutover.md#shadow-runs)\n", store.ShadowWhy(shadowPlanOf(env, cl, s.RunID)))
	}
	if code := runExitCode(final); code != ExitOK {
		return &exitError{code: code, msg: fmt.Sprintf("run %s %s", s.RunID, final)}
	}
	return nil
}

// runWaitPoll is how often --wait asks the server about the run.
const runWaitPoll = 300 * time.Millisecond

// waitRun polls the run until it ends or timeout passes.
func waitRun(ctx context.Context, cl *apiClient, runID string, timeout time.Duration) (store.RunStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var r store.Run
		err := cl.do(ctx, "GET", "/api/v1/runs/"+url.PathEscape(runID), nil, &r)
		if err == nil && r.Status.Terminal() {
			return r.Status, nil
		}
		select {
		case <-ctx.Done():
			return "", &exitError{code: ExitWaitTimeout, msg: fmt.Sprintf("run %s did not finish within %s (see it: activity-core runs show %s)", runID, timeout, runID)}
		case <-time.After(runWaitPoll): // polling the server, with a deadline
		}
	}
}

// runExitCode is run --wait's exit status for a run's final status.
func runExitCode(st store.RunStatus) int {
	switch st {
	case store.RunSucceeded, store.RunShadow:
		return ExitOK
	case store.RunSkipped:
		return ExitRunSkipped
	case store.RunTimedOut:
		return exitRunTimedOut
	case store.RunCanceled:
		return exitRunCanceled
	}
	return ExitFailure
}

// runsCancelCmd asks the server to cancel a run.
type runsCancelCmd struct {
	ClientFlags
	ID   string `arg:"" help:"Run id."`
	Note string `help:"Why (recorded on the run and in the audit)."`
}

// Help is shown by "activity-core runs cancel --help".
func (c *runsCancelCmd) Help() string {
	return `Cancels the run's workflow wherever it is: waiting for a worker, on its
concurrency key or guard, gathering context, or in its command, whose whole
process tree ends. The run is recorded canceled, with your token's name and
the note, when its workflow ends (a moment later). Needs the operate role.

Exit status: 0 the cancel was asked for, 1 the run already ended (409) or
the server refused, 2 bad command line.

Examples:
  activity-core runs cancel RUN_ID --note "wrong branch"
  activity-core runs list --status running           # find the id`
}

// Run cancels.
func (c *runsCancelCmd) Run(env *cmdEnv) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "POST", "/api/v1/runs/"+url.PathEscape(c.ID)+"/cancel", map[string]string{"note": c.Note}, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var r runView
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	if r.Status == store.RunCanceled {
		fmt.Fprintf(env.Stdout, "run %s of %s canceled by %s before a worker began it\n", c.ID, r.DefinitionID, r.CanceledBy)
		return nil
	}
	fmt.Fprintf(env.Stdout, "cancel requested for run %s of %s (it was %s)", c.ID, r.DefinitionID, r.Status)
	if r.CanceledBy != "" {
		fmt.Fprintf(env.Stdout, " by %s", r.CanceledBy)
	}
	fmt.Fprintf(env.Stdout, "\nthe run is recorded canceled when its workflow ends: activity-core runs show %s\n", c.ID)
	return nil
}

// runsRerunCmd starts a new manual run with the inputs a run had.
type runsRerunCmd struct {
	ClientFlags
	ID   string `arg:"" help:"Run id whose inputs to use again."`
	Note string `help:"Why (kept in the audit)."`
	Wait bool   `help:"Wait for the new run to finish and print it (exit status as run --wait)."`
}

// Help is shown by "activity-core runs rerun --help".
func (c *runsRerunCmd) Help() string {
	return `Starts a new manual run of the run's definition with the inputs that run
recorded, checked again against the definition's current declaration (a
removed or retyped input is refused, naming it). The new run uses the
current version of the definition.

With --wait the exit status is the new run's final status, as for run
--wait: 0 succeeded, 1 failed, 2 bad command line, 3 skipped, 4 timed out,
5 canceled, 6 still running when --timeout ran out.

Examples:
  activity-core runs rerun RUN_ID
  activity-core runs rerun RUN_ID --wait --note "flaky network"`
}

// Run reruns.
func (c *runsRerunCmd) Run(env *cmdEnv) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var started adminapi.RunStarted
	if err := cl.do(env.Ctx, "POST", "/api/v1/runs/"+url.PathEscape(c.ID)+"/rerun", map[string]string{"note": c.Note}, &started); err != nil {
		return err
	}
	return c.ClientFlags.started(env, cl, started, c.Wait, " with the inputs of run "+c.ID)
}
