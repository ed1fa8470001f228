package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/router"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/timeline"
)

// definitionRow is one line of the definitions page.
type definitionRow struct {
	Def      store.Definition
	Spec     *definition.Definition
	State    scheduleState
	Health   *store.DefinitionHealth
	Fires    []fire
	FiresErr string
	Runs     []store.Run
}

type definitionsData struct {
	Rows    []definitionRow
	Pager   pager
	Sources []string
	// The filters as given.
	Trigger, Enabled, Source, Health string
	Removed                          bool
	Now                              string
	// HealthFilters are the choices of the health filter.
	HealthFilters []string
}

// healthFilters are the health filter's choices (adminapi.ParseHealthFilter).
var healthFilters = []string{"problems", "failing", "missed", "late", "stale", "ok"}

func (u *ui) definitions(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := definitionsData{Trigger: q.Get("trigger_type"), Enabled: q.Get("enabled"), Source: q.Get("source"), Health: q.Get("health"),
		Removed: q.Get("removed") != "", HealthFilters: healthFilters}
	f := store.DefinitionPageFilter{Limit: u.cfg.DefinitionsPageSize, After: q.Get("after"), Before: q.Get("before"),
		DefinitionFilter: store.DefinitionFilter{IncludeRemoved: d.Removed, SourceDir: d.Source}}
	if d.Trigger != "" {
		f.TriggerType = store.TriggerType(d.Trigger)
		if !f.TriggerType.Valid() {
			return badInput("trigger_type=%q is not one of cron, event, once", d.Trigger)
		}
	}
	if d.Enabled != "" {
		b, err := strconv.ParseBool(d.Enabled)
		if err != nil {
			return badInput("enabled=%q is not a boolean (true or false)", d.Enabled)
		}
		f.Enabled = &b
	}
	if f.After != "" && f.Before != "" {
		return badInput("after and before are both set: follow one of the page's links")
	}
	if _, err := adminapi.ParseHealthFilter(d.Health); err != nil {
		return err
	}
	page, health, err := u.cfg.API.DefinitionsPage(ctx, f, d.Health)
	if errors.Is(err, store.ErrInvalid) {
		return badInput("this page's cursor (after=%q, before=%q) is not one the dashboard made: start again from the first page", f.After, f.Before)
	}
	if err != nil {
		return err
	}
	if d.Sources, err = u.cfg.Store.ListDefinitionSources(ctx); err != nil {
		return err
	}
	if d.Source != "" && !slices.Contains(d.Sources, d.Source) {
		d.Sources = append(d.Sources, d.Source) // a source of removed ones only
		slices.Sort(d.Sources)
	}
	link := func(key, cursor string) string {
		v := url.Values{}
		for _, k := range []string{"trigger_type", "enabled", "source", "health", "removed"} {
			if x := q.Get(k); x != "" {
				v.Set(k, x)
			}
		}
		if cursor != "" {
			v.Set(key, cursor)
		}
		return "/ui/definitions?" + v.Encode()
	}
	d.Pager = pager{Shown: len(page.Definitions)}
	if page.Next != "" {
		d.Pager.Next = link("after", page.Next)
	}
	if page.Prev != "" {
		d.Pager.Prev = link("before", page.Prev)
		d.Pager.First = link("", "")
	}
	now := u.cfg.Now()
	d.Now = fmtUTC(now)
	if d.Rows, err = u.definitionRows(ctx, page.Definitions, health, now); err != nil {
		return err
	}
	u.render(w, r, s, http.StatusOK, "definitions", "Definitions", d)
	return nil
}

// definitionRows makes the rows of a definitions page: schedule state from
// the operator pauses, health, next fires and the last runs of each.
func (u *ui) definitionRows(ctx context.Context, defs []store.Definition, health map[string]store.DefinitionHealth, now time.Time) ([]definitionRow, error) {
	pauses, err := u.cfg.Store.ListOperatorPauses(ctx)
	if err != nil {
		return nil, err
	}
	ops := make(map[string]*store.OperatorPause, len(pauses))
	for i := range pauses {
		ops[pauses[i].DefinitionID] = &pauses[i]
	}
	rows := make([]definitionRow, len(defs))
	for i, def := range defs {
		row := definitionRow{Def: def, State: stateOf(def, ops[def.ID], now)}
		if h, ok := health[def.ID]; ok {
			row.Health = &h
		}
		if spec, err := definition.FromCanonicalJSON(def.Spec); err == nil {
			row.Spec = spec
			if !row.State.Paused {
				if row.Fires, err = nextFires(spec, now, 5); err != nil {
					row.FiresErr = err.Error()
				}
			}
		}
		runs, err := u.cfg.Store.ListRuns(ctx, store.RunFilter{DefinitionID: def.ID, Limit: lastRunsPerDefinition})
		if err != nil {
			return nil, err
		}
		row.Runs = runs.Runs
		rows[i] = row
	}
	return rows, nil
}

type versionRow struct {
	store.DefinitionVersion
	Current bool
}

type definitionData struct {
	Def         store.Definition
	Spec        *definition.Definition
	YAML        string
	Version     int
	Versions    []versionRow
	Schedule    *adminapi.ScheduleInfo
	ScheduleErr string
	State       scheduleState
	Fires       []fire
	FiresErr    string
	Zone        string
	RunTable    runTable
	RunsNext    string
	Pausable    bool
	Health      *store.DefinitionHealth
	// Timeline is the story of the window Since (?since=, default 7d).
	Timeline      *timeline.Story
	Since         string
	Notifications []store.Notification
	// Pool is where its runs go; Inputs is the run form, one field per
	// declared input; Backfill the backfill form of a cron definition.
	Pool     string
	Inputs   []inputField
	RunNote  string
	RunErr   string
	Backfill *backfillForm
}

// Bounds of what a definition page shows of the timeline and the outbox.
const (
	timelineShown      = 200
	notificationsShown = 20
)

func (u *ui) definition(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := u.definitionData(r)
	if err != nil {
		return err
	}
	u.render(w, r, s, http.StatusOK, "definition", d.Def.ID, d)
	return nil
}

// definitionData reads what a definition page shows, with its forms
// empty (defaults filled in).
func (u *ui) definitionData(r *http.Request) (*definitionData, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	def, err := u.cfg.Store.GetDefinition(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &definitionData{Def: def, Version: def.Version, Pausable: def.TriggerType != store.TriggerEvent && !def.Removed()}
	specJSON := def.Spec
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > def.Version {
			return nil, badInput("version=%q must be a number from 1 to %d", v, def.Version)
		}
		dv, err := u.cfg.Store.GetDefinitionVersion(ctx, id, n)
		if err != nil {
			return nil, err
		}
		d.Version, specJSON = n, dv.Spec
	}
	d.YAML = specYAML(specJSON)
	if spec, err := definition.FromCanonicalJSON(def.Spec); err == nil {
		d.Spec = spec
		d.Zone = spec.Trigger.Location().String()
		d.Pool = spec.Pool()
		d.Inputs = inputFields(spec.Inputs)
		if spec.Trigger.Type == string(store.TriggerCron) {
			d.Backfill = &backfillForm{Overlap: "buffer_all", Overlaps: backfillOverlaps}
		}
	}
	var op *store.OperatorPause
	if p, err := u.cfg.Store.GetOperatorPause(ctx, id); err == nil {
		op = &p
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	now := u.cfg.Now()
	d.State = stateOf(def, op, now)
	if d.Fires, err = nextFires(d.Spec, now, 5); err != nil {
		d.FiresErr = err.Error()
	}
	if info, err := u.cfg.API.DescribeSchedule(ctx, def); err != nil {
		d.ScheduleErr = err.Error()
	} else {
		d.Schedule = info
	}
	for v := def.Version; v >= max(1, def.Version-versionsShown+1); v-- {
		dv, err := u.cfg.Store.GetDefinitionVersion(ctx, id, v)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d.Versions = append(d.Versions, versionRow{DefinitionVersion: dv, Current: v == def.Version})
	}
	page, err := u.cfg.Store.ListRuns(ctx, store.RunFilter{DefinitionID: id, Limit: u.cfg.RunsPageSize, Before: r.URL.Query().Get("before")})
	if err != nil {
		return nil, err
	}
	d.RunTable = u.runTable(ctx, page.Runs)
	if page.Next != "" {
		d.RunsNext = "/ui/definitions/" + url.PathEscape(id) + "?before=" + url.QueryEscape(page.Next)
	}
	if err := u.alerting(ctx, r, d); err != nil {
		return nil, err
	}
	return d, nil
}

// alerting fills a definition page's health, timeline and notifications.
func (u *ui) alerting(ctx context.Context, r *http.Request, d *definitionData) error {
	id := d.Def.ID
	d.Since = cmp.Or(strings.TrimSpace(r.URL.Query().Get("since")), "7d")
	var err error
	if d.Timeline, err = u.cfg.API.Timeline(ctx, id, d.Since, "", timelineShown); err != nil {
		return err
	}
	// The story's "now" holds the health the page shows: one read.
	if now := d.Timeline.Now; now != nil {
		d.Health = now.Health
	}
	d.Notifications, err = u.cfg.API.Notifications(ctx, store.NotificationFilter{DefinitionID: id, Limit: notificationsShown})
	return err
}

// runNow starts a manual run with the inputs of the run form. Refused
// values come back on the definition page, each beside its field.
func (u *ui) runNow(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	def, err := u.cfg.Store.GetDefinition(r.Context(), id)
	if err != nil {
		return err
	}
	spec, err := definition.FromCanonicalJSON(def.Spec)
	if err != nil {
		return fmt.Errorf("reading definition %s: %w", id, err)
	}
	given := postedInputs(r, spec.Inputs)
	note := strings.TrimSpace(r.PostFormValue("note"))
	// The API checks the inputs (and audits a refusal); the page names
	// each refused field from the same check on the same declaration.
	started, err := u.cfg.API.RunDefinition(r.Context(), id, given, note)
	if err != nil {
		return u.refusedRun(w, r, s, spec, given, note, err)
	}
	return u.flashTo(w, r, s, fmt.Sprintf("Run %s of %s started (workflow %s).", started.RunID, id, started.WorkflowID), "/ui/runs/"+url.PathEscape(started.RunID)+"?started="+strconv.FormatInt(u.cfg.Now().Unix(), 10))
}

// refusedRun shows the definition page again with the run form as posted
// and why it was refused: per field for input errors (400), else the
// error page.
func (u *ui) refusedRun(w http.ResponseWriter, r *http.Request, s *session, spec *definition.Definition, given map[string]any, note string, err error) error {
	ies := inputErrors(err)
	if ies == nil {
		if status, _, _ := adminapi.ErrorStatus(err); status != http.StatusBadRequest {
			return err
		}
		if _, rerr := spec.ResolveInputs(given); rerr != nil {
			ies = inputErrors(rerr)
		}
		if ies == nil {
			return err
		}
	}
	d, derr := u.definitionData(r)
	if derr != nil {
		return derr
	}
	d.RunNote, d.RunErr = note, ies.Error()
	fillInputs(d.Inputs, r, ies)
	u.render(w, r, s, http.StatusBadRequest, "definition", d.Def.ID, d)
	return nil
}

func (u *ui) pause(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	until, err := parseUntil(r.PostFormValue("until"), u.cfg.Now())
	if err != nil {
		return err
	}
	note := strings.TrimSpace(r.PostFormValue("note"))
	if _, err := u.cfg.API.PauseDefinition(r.Context(), id, note, until); err != nil {
		return err
	}
	msg := "Paused " + id
	if note != "" {
		msg += ": " + note
	}
	if until != nil {
		msg += " (until " + fmtUTC(*until) + ")"
	}
	return u.flashTo(w, r, s, msg+".", "/ui/definitions/"+url.PathEscape(id))
}

func (u *ui) resume(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if _, err := u.cfg.API.ResumeDefinition(r.Context(), id); err != nil {
		return err
	}
	return u.flashTo(w, r, s, "Resumed "+id+".", "/ui/definitions/"+url.PathEscape(id))
}

var runStatuses = []store.RunStatus{store.RunPending, store.RunRunning, store.RunSucceeded, store.RunFailed, store.RunSkipped, store.RunTimedOut, store.RunCanceled, store.RunMissed, store.RunShadow}

// runTable is a table of runs, with why each pending one waits.
type runTable struct {
	Runs    []store.Run
	Waiting map[string]string
}

// runTable makes the table of runs, asking which pending ones wait for
// a worker (one Temporal call per distinct pool, cached by the API).
func (u *ui) runTable(ctx context.Context, runs []store.Run) runTable {
	return runTable{Runs: runs, Waiting: u.cfg.API.RunsWaiting(ctx, runs)}
}

type runsData struct {
	RunTable   runTable
	Status     string
	Definition string
	Statuses   []store.RunStatus
	Next       string
	First      string
}

func (u *ui) runs(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	d := runsData{Status: q.Get("status"), Definition: strings.TrimSpace(q.Get("definition")), Statuses: runStatuses}
	f := store.RunFilter{DefinitionID: d.Definition, Limit: u.cfg.RunsPageSize, Before: q.Get("before")}
	if d.Status != "" {
		f.Status = store.RunStatus(d.Status)
		if !f.Status.Valid() {
			return badInput("status=%q is not one of pending, running, succeeded, failed, skipped, timed_out, canceled, missed, shadow", d.Status)
		}
	}
	page, err := u.cfg.Store.ListRuns(r.Context(), f)
	if err != nil {
		return err
	}
	d.RunTable = u.runTable(r.Context(), page.Runs)
	link := func(before string) string {
		v := url.Values{}
		if d.Status != "" {
			v.Set("status", d.Status)
		}
		if d.Definition != "" {
			v.Set("definition", d.Definition)
		}
		if before != "" {
			v.Set("before", before)
		}
		return "/ui/runs?" + v.Encode()
	}
	if page.Next != "" {
		d.Next = link(page.Next)
	}
	if f.Before != "" {
		d.First = link("")
	}
	u.render(w, r, s, http.StatusOK, "runs", "Runs", d)
	return nil
}

type runData struct {
	Run      store.Run
	Rule     *engine.RuleOutcome
	Starting string
	Done     bool
	// Missed is what a missed record stands for.
	Missed        *missedFires
	Notifications []store.Notification
	// Inputs are the run's recorded inputs; Waiting says why a pending
	// run has not begun ("waiting for a worker in pool b").
	Inputs  []inputRow
	Waiting string
	// Cancelable: the run is pending or running.
	Cancelable bool
	// Shadow is what a shadow run would have run (docs/cutover.md#shadow-runs).
	Shadow *shadowView
}

// missedFires is the consecutive missed fires one missed record stands
// for (docs/alerting.md#missed-fires).
type missedFires struct {
	First, Last *time.Time
	Count       int
}

// refresh reloads a run page every 2 s until the run ends: progress
// without JavaScript. With JavaScript, live.js streams the output instead
// and reloads once when the run ends.
func (d runData) refresh() int {
	if d.Done {
		return 0
	}
	return 2
}

// live says the page streams the run's output (live.js).
func (d runData) live() bool { return !d.Done && d.Starting == "" }

// startedWait is how long a run page started by "run now" waits for the
// run to be recorded before it answers "not found".
const startedWait = time.Minute

// startedRecently reports whether the request is the page "run now"
// redirected to (?started=<unix time>) and that was under startedWait ago,
// so a run that never gets recorded does not reload forever. A started
// time in the future is not recent: "run now" writes the server's own
// clock, so only an edited link has one, and it would reload until then.
func startedRecently(r *http.Request, now time.Time) bool {
	sec, err := strconv.ParseInt(r.URL.Query().Get("started"), 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(sec, 0))
	return age >= 0 && age < startedWait
}

func (u *ui) run(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	run, err := u.cfg.Store.GetRun(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) && startedRecently(r, u.cfg.Now()) {
		// The workflow records the run a moment after it starts.
		u.render(w, r, s, http.StatusOK, "run", "Run "+id, runData{Starting: id})
		return nil
	}
	if err != nil {
		return err
	}
	d := runData{Run: run, Done: run.Status.Terminal(), Inputs: recordedInputs(run.Inputs),
		Cancelable: run.Status == store.RunPending || run.Status == store.RunRunning}
	if run.Status == store.RunPending {
		d.Waiting = u.cfg.API.RunsWaiting(r.Context(), []store.Run{run})[run.ID]
	}
	d.Shadow = shadowPlan(run)
	if run.Status == store.RunMissed {
		d.Missed = &missedFires{Count: 1}
		_ = json.Unmarshal(run.TriggerDetail, d.Missed)
		d.Missed.Count = max(d.Missed.Count, 1)
	}
	if d.Notifications, err = u.cfg.API.Notifications(r.Context(), store.NotificationFilter{RunID: id, Limit: notificationsShown}); err != nil {
		return err
	}
	if len(run.RuleOutcome) > 0 {
		var ro engine.RuleOutcome
		if json.Unmarshal(run.RuleOutcome, &ro) == nil {
			d.Rule = &ro
		}
	}
	u.render(w, r, s, http.StatusOK, "run", "Run "+id, d)
	return nil
}

type syncData struct {
	Status *adminapi.SyncStatus
	Last   *syncer.Result
	// Result is the outcome of the form just posted (a plan or a sync).
	Result *syncer.Result
	// Stages are the form's checkboxes.
	Definitions, Schedules, EventTypes bool
}

func (u *ui) syncPage(w http.ResponseWriter, r *http.Request, s *session) error {
	def := syncer.DefaultOptions()
	return u.showSync(w, r, s, syncData{Definitions: def.Definitions, Schedules: def.Schedules, EventTypes: def.EventTypes})
}

func (u *ui) showSync(w http.ResponseWriter, r *http.Request, s *session, d syncData) error {
	st, err := u.cfg.API.SyncStatus(r.Context())
	if err != nil {
		return err
	}
	d.Status = st
	if len(st.LastResult) > 0 {
		var res syncer.Result
		if json.Unmarshal(st.LastResult, &res) == nil {
			d.Last = &res
		}
	}
	u.render(w, r, s, http.StatusOK, "sync", "Sync", d)
	return nil
}

func (u *ui) syncPost(w http.ResponseWriter, r *http.Request, s *session) error {
	opts := syncer.Options{
		Definitions: r.PostFormValue("definitions") != "",
		Schedules:   r.PostFormValue("schedules") != "",
		EventTypes:  r.PostFormValue("event_types") != "",
	}
	switch mode := r.PostFormValue("mode"); mode {
	case "plan":
		opts.DryRun = true
	case "sync":
	default:
		return badInput("mode=%q: use the Plan or Sync now button", mode)
	}
	if !opts.Definitions && !opts.Schedules && !opts.EventTypes {
		return badInput("choose at least one stage: definitions, schedules or event types")
	}
	res, err := u.cfg.API.Sync(r.Context(), opts)
	if err != nil {
		return err
	}
	if !opts.DryRun {
		return u.flashTo(w, r, s, "Sync "+res.SyncID+" done: "+res.Summary(), "/ui/sync")
	}
	return u.showSync(w, r, s, syncData{Result: res, Definitions: opts.Definitions, Schedules: opts.Schedules, EventTypes: opts.EventTypes})
}

type eventsData struct {
	Subject, Payload string
	Error            string
	Explained        bool
	Results          []router.Explanation
	Matched          int
}

func (u *ui) eventsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	u.render(w, r, s, http.StatusOK, "events", "Events", eventsData{Payload: "{}"})
	return nil
}

func (u *ui) explain(w http.ResponseWriter, r *http.Request, s *session) error {
	d := eventsData{Subject: strings.TrimSpace(r.PostFormValue("subject")), Payload: r.PostFormValue("payload")}
	out, err := u.cfg.API.Explain(r.Context(), d.Subject, json.RawMessage(strings.TrimSpace(d.Payload)))
	if err != nil {
		status, _, msg := adminapi.ErrorStatus(err)
		if status >= 500 {
			return err
		}
		d.Error = msg
		u.render(w, r, s, status, "events", "Events", d)
		return nil
	}
	// The API answers with the router's explanations as an opaque value;
	// one JSON round trip gives them their type back.
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &d.Results); err != nil {
		return fmt.Errorf("reading the explanation: %w", err)
	}
	d.Explained = true
	for _, e := range d.Results {
		if e.Matched {
			d.Matched++
		}
	}
	u.render(w, r, s, http.StatusOK, "events", "Events", d)
	return nil
}

type problemsData struct {
	Rows []adminapi.ProblemRow
	Now  string
}

func (u *ui) problems(w http.ResponseWriter, r *http.Request, s *session) error {
	rows, err := u.cfg.API.Problems(r.Context())
	if err != nil {
		return err
	}
	u.render(w, r, s, http.StatusOK, "problems", "Problems", problemsData{Rows: rows, Now: fmtUTC(u.cfg.Now())})
	return nil
}
