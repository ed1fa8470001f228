package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/timeline"
)

// syncCmd asks a running server to sync, and prints the result.
type syncCmd struct {
	ClientFlags
	Definitions bool `default:"true" negatable:"" help:"Run the definitions stage."`
	Schedules   bool `default:"true" negatable:"" help:"Run the schedules stage."`
	EventTypes  bool `name:"event-types" default:"false" negatable:"" help:"Run the event_types stage."`
	DryRun      bool `name:"dry-run" help:"Show the plan: counts and actions, change nothing."`
	// Source and Ref sync one source and pin it
	// (docs/git-sources.md#syncing-one-source).
	Source string `name:"source" help:"Sync only this source (by name): only it is fetched, only its definitions and their schedules change." placeholder:"NAME"`
	Ref    string `name:"ref" help:"With --source: pin that git source to this commit (a full SHA, or a tag or branch, resolved to its commit); 'follow', or the source's own ref, unpins it." placeholder:"SHA|follow"`
}

// Help is shown by "activity-core sync --help".
func (c *syncCmd) Help() string {
	return `Runs POST /admin/sync on the server: reads the definition sources (folders,
and git sources fetched at their ref), stores what changed and projects
cron/once definitions onto Temporal schedules. No worker restarts: the
change is live when this returns. It prints one line per source: the commit
read and where it moved from, "(pinned)" while pinned, or the last good
commit kept when a fetch failed (docs/git-sources.md#status).

--source NAME syncs one source: only it is fetched and only its
definitions and their schedules change. --ref pins a git source to a
commit until "--ref follow" unpins it: a rollback is a pin to an older
commit; try it with --dry-run first, which shows the move and each
definition's version change and pins nothing
(docs/git-sources.md#pinning-and-rollback).

Exit status: 0 clean, 1 the sync reported errors (they are listed), 2 bad
command line.

Examples:
  activity-core sync                         # definitions + schedules
  activity-core sync --dry-run               # the plan, like terraform plan
  activity-core sync --event-types --no-schedules
  activity-core sync --format json | jq .errors
  activity-core sync --source ops            # fetch and apply one source
  activity-core sync --source ops --ref v1.4 --dry-run      # what rolling back to tag v1.4 moves
  activity-core sync --source ops --ref "$(git rev-parse HEAD~1)"   # pin (roll back) to a commit
  activity-core sync --source ops --ref follow              # follow its branch again`
}

// Run performs the sync.
func (c *syncCmd) Run(env *cmdEnv) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	q.Set("definitions", strconv.FormatBool(c.Definitions))
	q.Set("schedules", strconv.FormatBool(c.Schedules))
	q.Set("event_types", strconv.FormatBool(c.EventTypes))
	q.Set("dry_run", strconv.FormatBool(c.DryRun))
	if c.Ref != "" && c.Source == "" {
		return usageError("--ref needs --source: pin one source at a time (e.g. --source ops --ref FULL_SHA)")
	}
	if c.Source != "" {
		q.Set("source", c.Source)
	}
	if c.Ref != "" {
		q.Set("ref", c.Ref)
	}
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
		printSyncResult(env.Stdout, &res)
	}
	if !res.OK() {
		return failed()
	}
	return nil
}

// printSyncResult prints a sync result as tables: counts, actions, errors.
func printSyncResult(w io.Writer, res *syncer.Result) {
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
	printSyncSources(w, res.Sources)
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

// printSyncSources prints one line per source read: "ops: a1b2c3d →
// e4f5a6b (pinned)", "kept a1b2c3d: fetch failed: …".
func printSyncSources(w io.Writer, sources []syncer.SourceResult) {
	if len(sources) == 0 {
		return
	}
	fmt.Fprintln(w, "\nsources:")
	for _, s := range sources {
		fmt.Fprintf(w, "  %s\n", formatSourceResult(s))
	}
}

// formatSourceResult is one source's line of a sync result.
func formatSourceResult(s syncer.SourceResult) string {
	var what string
	switch {
	case s.Kept:
		what = "kept " + shortSHA(s.Commit) + ": " + s.Error
	case s.Error != "":
		what = "failed, nothing changed: " + s.Error
	case s.Kind != "git":
		what = "folder read"
	case s.Previous != "":
		what = shortSHA(s.Previous) + " → " + shortSHA(s.Commit)
	default:
		what = shortSHA(s.Commit)
	}
	if s.PinnedRef != "" {
		what += " (pinned)"
	}
	return s.Name + ": " + what
}

// shortSHA is a commit's abbreviated SHA, as git prints it.
func shortSHA(sha string) string { return timeline.ShortSHA(sha) }

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

// definitionsCmd groups the definition commands.
type definitionsCmd struct {
	List definitionsListCmd `cmd:"" help:"List definitions."`
	Show definitionsShowCmd `cmd:"" help:"Show one definition with its schedule and recent runs."`
}

// definitionsListCmd lists definitions.
type definitionsListCmd struct {
	ClientFlags
	Trigger string `help:"Only this trigger type: cron, event or once." enum:",cron,event,once" default:""`
	Removed bool   `help:"Include removed definitions."`
	Limit   int    `help:"List one page of this many (1 to 1000) instead of every definition." placeholder:"N"`
	After   string `help:"Cursor: the page after this one (the 'more' of a previous page); needs --limit." placeholder:"CURSOR"`
}

// Help is shown by "activity-core definitions list --help".
func (c *definitionsListCmd) Help() string {
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
func (c *definitionsListCmd) Run(env *cmdEnv) error {
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

// definitionsShowCmd shows one definition.
type definitionsShowCmd struct {
	ClientFlags
	ID string `arg:"" help:"Definition id."`
}

// Help is shown by "activity-core definitions show --help".
func (c *definitionsShowCmd) Help() string {
	return `Shows the definition's version and where it came from (for a git source:
the commit, the file in the repository, the author and the commit time),
its schedule as Temporal has it, the pool it runs on (run_on), the inputs a
manual run takes (type, required, default, description) and what its
trigger sets them to, its spec and its recent runs.

Examples:
  activity-core definitions show team.sweep
  activity-core definitions show team.sweep --format json | jq .spec.inputs`
}

// definitionShow is what the CLI reads of GET /api/v1/definitions/{id}.
type definitionShow struct {
	store.Definition
	Schedule    *adminapi.ScheduleInfo `json:"schedule"`
	ScheduleErr string                 `json:"schedule_error"`
	RecentRuns  []runView              `json:"recent_runs"`
}

// Run shows.
func (c *definitionsShowCmd) Run(env *cmdEnv) error {
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
	var v definitionShow
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s  (version %d, %s, enabled=%v)\nsource: %s\nhash:   %s\n", v.ID, v.Version, v.TriggerType, v.Enabled, v.SourceFile, v.ContentHash)
	if o := timeline.OriginLine(v.Version, v.Origin); o != "" {
		fmt.Fprintf(env.Stdout, "origin: %s\n", o)
	}
	if v.Removed() {
		fmt.Fprintf(env.Stdout, "REMOVED at %s (its file is gone)\n", v.RemovedAt.Format(time.RFC3339))
	}
	printSchedule(env.Stdout, v.Schedule, v.ScheduleErr)
	printPlacementAndInputs(env.Stdout, v.ID, v.Spec)
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

// printSchedule prints a definition's schedule as Temporal has it.
func printSchedule(w io.Writer, s *adminapi.ScheduleInfo, schedErr string) {
	if s == nil {
		if schedErr != "" {
			fmt.Fprintf(w, "schedule: unknown (%s)\n", schedErr)
		}
		return
	}
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
	fmt.Fprintf(w, "schedule %s: %s; overlap-skipped %d, missed catch-up %d\n", s.ScheduleID, state, s.OverlapSkipped, s.MissedCatchup)
	if s.Pending != "" {
		fmt.Fprintf(w, "  Temporal and the store disagree: %s\n", s.Pending)
	}
	for _, t := range s.NextFires {
		fmt.Fprintf(w, "  next: %s\n", t.UTC().Format(time.RFC3339))
	}
}

// specPlacement is what definitions show reads of a spec for its pool
// and inputs.
type specPlacement struct {
	RunOn   string                 `json:"run_on"`
	Inputs  []definition.InputDecl `json:"inputs"`
	Trigger struct {
		Inputs map[string]definition.TriggerInput `json:"inputs"`
	} `json:"trigger"`
}

// printPlacementAndInputs prints the pool a definition runs on and the
// inputs its runs take, with a command line that gives them.
func printPlacementAndInputs(w io.Writer, id string, raw json.RawMessage) {
	var sp specPlacement
	if json.Unmarshal(raw, &sp) != nil {
		return
	}
	fmt.Fprintf(w, "pool:   %s (run_on; see activity-core workers)\n", poolName(sp.RunOn))
	if len(sp.Inputs) == 0 {
		return
	}
	fmt.Fprintln(w, "inputs:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	example := "activity-core run " + id
	for _, in := range sp.Inputs {
		typ := in.Type
		if in.Type == definition.InputEnum {
			typ += " (" + strings.Join(in.Values, "|") + ")"
		}
		need := "optional"
		switch {
		case in.Default != nil:
			need = "default " + jsonText(in.Default)
		case in.Required:
			need = "required"
			example += " --input " + in.Name + "=VALUE"
		}
		row := "  " + in.Name + "\t" + typ + "\t" + need
		if d := oneLine(in.Description); d != "" {
			row += "\t" + d
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	for _, name := range slices.Sorted(maps.Keys(sp.Trigger.Inputs)) {
		ti := sp.Trigger.Inputs[name]
		if ti.CEL != "" {
			fmt.Fprintf(w, "  trigger sets %s = cel %s\n", name, ti.CEL)
		} else {
			fmt.Fprintf(w, "  trigger sets %s = %s\n", name, jsonText(ti.Value))
		}
	}
	fmt.Fprintf(w, "  run it: %s\n", example)
}

// jsonText is v as JSON on one line.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// pauseCmd pauses a definition's schedule as an operator.
type pauseCmd struct {
	ClientFlags
	ID    string `arg:"" help:"Definition id."`
	Note  string `help:"Why (shown in the API, the dashboard and Temporal); at most 500 bytes."`
	Until string `help:"Resume by itself at this RFC 3339 time." placeholder:"TIME"`
}

// Help is shown by "activity-core pause --help".
func (c *pauseCmd) Help() string {
	return `An operator pause is kept by every sync until "activity-core resume" or until
--until passes. (A definition disabled in its file is paused by sync instead.)

Examples:
  activity-core pause the-custodian.state-hub-consistency-sweep --note "hub migration"
  activity-core pause team.backup --until 2026-12-01T06:00:00Z --note "freeze"`
}

// Run pauses.
func (c *pauseCmd) Run(env *cmdEnv) error {
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

// resumeCmd clears an operator pause.
type resumeCmd struct {
	ClientFlags
	ID string `arg:"" help:"Definition id."`
}

// Run resumes.
func (c *resumeCmd) Run(env *cmdEnv) error {
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
