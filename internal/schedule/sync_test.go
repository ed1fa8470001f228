package schedule

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

func act(id, action, reason string) Action {
	return Action{Stage: Stage, ID: id, Action: action, Reason: reason}
}

func wantResult(t *testing.T, what string, got *Result, counts Counts, actions ...Action) {
	t.Helper()
	if got.Counts != counts {
		t.Errorf("%s: counts = %+v, want %+v", what, got.Counts, counts)
	}
	if actions == nil {
		actions = []Action{}
	}
	if !reflect.DeepEqual(got.Actions, actions) {
		t.Errorf("%s: actions =\n  %+v\nwant\n  %+v", what, got.Actions, actions)
	}
	if len(got.Errors) > 0 {
		t.Errorf("%s: errors = %+v", what, got.Errors)
	}
}

// createByHand makes a schedule the way an operator would with the temporal
// CLI, outside activity-core.
func createByHand(t *testing.T, id string) {
	t.Helper()
	_, err := testClient.ScheduleClient().Create(ctxT(t), client.ScheduleOptions{
		ID:     id,
		Spec:   client.ScheduleSpec{CronExpressions: []string{"0 4 * * *"}},
		Action: &client.ScheduleWorkflowAction{ID: id + "-wf", Workflow: "SomethingElse", TaskQueue: "elsewhere"},
		Note:   "made by hand",
	})
	if err != nil {
		t.Fatalf("creating %s by hand: %v", id, err)
	}
}

func describe(t *testing.T, id string) (*client.ScheduleDescription, error) {
	t.Helper()
	return testClient.ScheduleClient().GetHandle(ctxT(t), id).Describe(ctxT(t))
}

func mustDescribe(t *testing.T, id string) *client.ScheduleDescription {
	t.Helper()
	d, err := describe(t, id)
	if err != nil {
		t.Fatalf("describing %s: %v", id, err)
	}
	return d
}

func wantMissing(t *testing.T, id string) {
	t.Helper()
	_, err := describe(t, id)
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("describing %s: err = %v, want NotFound", id, err)
	}
}

// runInput decodes the argument a schedule starts its workflow with.
func runInput(t *testing.T, d *client.ScheduleDescription) (engine.RunInput, *client.ScheduleWorkflowAction) {
	t.Helper()
	a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || len(a.Args) != 1 {
		t.Fatalf("action = %#v, want a workflow action with one argument", d.Schedule.Action)
	}
	var in engine.RunInput
	if err := converter.GetDefaultDataConverter().FromPayload(a.Args[0].(*commonpb.Payload), &in); err != nil {
		t.Fatalf("decoding the action argument: %v", err)
	}
	return in, a
}

// The seed 000 rename: hourly definitions renamed to daily ones, one cron
// definition disabled, an event definition, a once definition that fires,
// a schedule made by hand, an operator re-enabling the disabled one.
func TestSyncRename(t *testing.T) {
	e := newEnv(t)
	onceAt := time.Now().Add(4 * time.Second)
	handmade := "handmade-" + e.prefix + "nightly" // no managed prefix
	createByHand(t, handmade)
	createByHand(t, e.sid("ops.stale")) // managed, but no definition: an orphan
	e.waitListed(listedExactly(map[string]want{"ops.stale": {}}))

	e.setDefs(
		cronYAML("ops.report-hourly", "@hourly", true),
		cronYAML("ops.nightly", "0 3 * * *", true),
		eventYAML("ops.on-push"),
		onceYAML("ops.migrate", onceAt, true),
	)
	res := e.syncOK(false)
	wantResult(t, "first sync", res, Counts{Upserted: 3, Deleted: 1},
		act("ops.migrate", ActionCreate, "new schedule"),
		act("ops.nightly", ActionCreate, "new schedule"),
		act("ops.report-hourly", ActionCreate, "new schedule"),
		act("ops.stale", ActionDelete, reasonRemoved),
	)
	e.waitListed(listedExactly(map[string]want{"ops.report-hourly": {}, "ops.nightly": {}, "ops.migrate": {}}))

	// The rename: hourly removed, daily added, nightly disabled.
	e.setDefs(
		cronYAML("ops.report-daily", "@daily", true),
		cronYAML("ops.nightly", "0 3 * * *", false),
		eventYAML("ops.on-push"),
		onceYAML("ops.migrate", onceAt, true),
	)
	res = e.syncOK(false)
	wantResult(t, "rename sync", res, Counts{Upserted: 1, Unchanged: 1, Paused: 1, Deleted: 1},
		act("ops.nightly", ActionPause, reasonDisabled),
		act("ops.report-daily", ActionCreate, "new schedule"),
		act("ops.report-hourly", ActionDelete, reasonRemoved),
	)
	e.waitListed(listedExactly(map[string]want{
		"ops.report-daily": {},
		"ops.nightly":      {paused: true, note: NoteDisabled},
		"ops.migrate":      {},
	}))

	// What the daily schedule starts, and how.
	d := mustDescribe(t, e.sid("ops.report-daily"))
	in, a := runInput(t, d)
	if !reflect.DeepEqual(in, engine.RunInput{DefinitionID: "ops.report-daily", Trigger: store.RunTriggerCron}) {
		t.Errorf("daily run input = %+v", in)
	}
	if a.ID != e.prefix+"run:ops.report-daily" || a.TaskQueue != engine.TaskQueueDefault || a.Workflow != engine.RunWorkflowName {
		t.Errorf("daily action = id %q, queue %q, workflow %v", a.ID, a.TaskQueue, a.Workflow)
	}
	if p := d.Schedule.Policy; p.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP || p.CatchupWindow != time.Minute {
		t.Errorf("daily policies = %+v, want skip and a 1m catch-up window", p)
	}
	if d.Schedule.Spec.TimeZoneName != "UTC" {
		t.Errorf("daily time zone = %q", d.Schedule.Spec.TimeZoneName)
	}

	// The once definition fires (with trigger "once"), and is kept after.
	testsupport.Eventually(t, 60*time.Second, "the once schedule fires", func() error {
		d := mustDescribe(t, e.sid("ops.migrate"))
		if len(d.Info.RecentActions) == 0 {
			return fmt.Errorf("no action yet (next: %v)", d.Info.NextActionTimes)
		}
		return nil
	})
	d = mustDescribe(t, e.sid("ops.migrate"))
	if in, _ := runInput(t, d); in.Trigger != store.RunTriggerOnce {
		t.Errorf("once run input = %+v", in)
	}
	if len(d.Info.RecentActions) != 1 || len(d.Info.NextActionTimes) != 0 || d.Schedule.State.RemainingActions != 0 {
		t.Errorf("after firing: %d actions, next %v, remaining %d; want 1, none, 0",
			len(d.Info.RecentActions), d.Info.NextActionTimes, d.Schedule.State.RemainingActions)
	}
	if got, want := d.Info.RecentActions[0].ScheduleTime, onceAt.UTC().Truncate(time.Second); !got.Equal(want) {
		t.Errorf("once fired for %s, want %s", got, want)
	}
	e.waitListed(func(got map[string]*client.ScheduleListEntry) error {
		if s := got["ops.migrate"]; s == nil || len(s.RecentActions) == 0 {
			return errors.New("the once fire is not listed yet")
		}
		return nil
	})
	res = e.syncOK(false)
	wantResult(t, "sync after the once fired", res, Counts{Unchanged: 3})

	// Re-enable: sync lifts the pause it made.
	e.setDefs(
		cronYAML("ops.report-daily", "@daily", true),
		cronYAML("ops.nightly", "0 3 * * *", true),
		eventYAML("ops.on-push"),
		onceYAML("ops.migrate", onceAt, true),
	)
	res = e.syncOK(false)
	wantResult(t, "re-enable sync", res, Counts{Upserted: 1, Unchanged: 2},
		act("ops.nightly", ActionUnpause, "definition enabled"))
	e.waitListed(listedExactly(map[string]want{"ops.report-daily": {}, "ops.nightly": {}, "ops.migrate": {}}))

	// Never touched: the schedule made by hand; never made: the event one.
	hd := mustDescribe(t, handmade)
	if a, _ := hd.Schedule.Action.(*client.ScheduleWorkflowAction); hd.Schedule.State.Paused || hd.Schedule.State.Note != "made by hand" || a == nil || a.Workflow != "SomethingElse" {
		t.Errorf("hand-made schedule changed: state %+v, action %+v", hd.Schedule.State, hd.Schedule.Action)
	}
	wantMissing(t, e.sid("ops.on-push"))

	// The store remembers what sync applied, and nothing about orphans.
	states, err := e.store.ListScheduleStates(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range states {
		if strings.HasPrefix(s.ScheduleID, e.prefix) {
			ids = append(ids, s.DefinitionID)
		}
	}
	if want := []string{"ops.migrate", "ops.nightly", "ops.report-daily"}; !slices.Equal(ids, want) {
		t.Errorf("schedule states for %v, want %v", ids, want)
	}
}

// A sync with nothing to change lists once and calls nothing else, whatever
// state the schedules are in.
func TestSyncNoChangeMakesNoCall(t *testing.T) {
	e := newEnv(t)
	docs := []string{
		cronYAML("app.a", "*/15 * * * *", true),
		cronYAML("app.b", "0 6 * * mon-fri", true),
		cronYAML("app.c", "@weekly", true),
		onceYAML("app.once", time.Now().Add(time.Hour), true),
		eventYAML("app.event"),
	}
	e.setDefs(docs...)
	e.syncOK(false)
	// app.c disabled (paused by sync), app.b paused by an operator.
	docs[2] = cronYAML("app.c", "@weekly", false)
	e.setDefs(docs...)
	e.syncOK(false)
	if err := e.p.Pause(ctxT(t), "app.b", "investigating", nil); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	e.waitListed(listedExactly(map[string]want{
		"app.a": {}, "app.b": {paused: true}, "app.c": {paused: true}, "app.once": {},
	}))

	e.client.sc.take()
	res := e.syncOK(false)
	wantResult(t, "no-change sync", res, Counts{Unchanged: 4})
	if calls := e.client.sc.take(); calls["list"] != 1 || perSchedule(calls) != 0 {
		t.Errorf("no-change sync made calls %v, want one list and nothing else", calls)
	}
	res = e.syncOK(true)
	wantResult(t, "no-change dry run", res, Counts{Unchanged: 4})
	if calls := e.client.sc.take(); calls["list"] != 1 || perSchedule(calls) != 0 {
		t.Errorf("no-change dry run made calls %v, want one list and nothing else", calls)
	}
}

// A dry run predicts the counts and actions of the real sync and changes
// nothing, in Temporal or in the store.
func TestSyncDryRun(t *testing.T) {
	e := newEnv(t)
	e.setDefs(
		cronYAML("plan.keep", "@daily", true),
		cronYAML("plan.disable", "@hourly", true),
		cronYAML("plan.remove", "0 5 * * *", true),
	)
	plan := e.syncOK(true)
	wantResult(t, "first dry run", plan, Counts{Upserted: 3},
		act("plan.disable", ActionCreate, "new schedule"),
		act("plan.keep", ActionCreate, "new schedule"),
		act("plan.remove", ActionCreate, "new schedule"),
	)
	if calls := e.client.sc.take(); perSchedule(calls) != 0 {
		t.Errorf("dry run made calls %v", calls)
	}
	for _, id := range []string{"plan.keep", "plan.disable", "plan.remove"} {
		wantMissing(t, e.sid(id))
	}
	if states, _ := e.store.ListScheduleStates(ctxT(t)); len(states) != 0 {
		t.Errorf("dry run stored states %+v", states)
	}
	applied := e.syncOK(false)
	if !reflect.DeepEqual(applied, plan) {
		t.Errorf("real sync = %+v\nthe dry run said %+v", applied, plan)
	}
	e.waitListed(listedExactly(map[string]want{"plan.keep": {}, "plan.disable": {}, "plan.remove": {}}))
	statesBefore, _ := e.store.ListScheduleStates(ctxT(t))

	e.setDefs(
		cronYAML("plan.keep", "@daily", true),
		cronYAML("plan.disable", "@hourly", false),
		cronYAML("plan.new", "@monthly", true),
	)
	e.client.sc.take()
	plan = e.syncOK(true)
	wantResult(t, "second dry run", plan, Counts{Upserted: 1, Unchanged: 1, Paused: 1, Deleted: 1},
		act("plan.disable", ActionPause, reasonDisabled),
		act("plan.new", ActionCreate, "new schedule"),
		act("plan.remove", ActionDelete, reasonRemoved),
	)
	if calls := e.client.sc.take(); perSchedule(calls) != 0 {
		t.Errorf("dry run made calls %v", calls)
	}
	if d := mustDescribe(t, e.sid("plan.disable")); d.Schedule.State.Paused {
		t.Error("dry run paused plan.disable")
	}
	mustDescribe(t, e.sid("plan.remove"))
	wantMissing(t, e.sid("plan.new"))
	if states, _ := e.store.ListScheduleStates(ctxT(t)); !reflect.DeepEqual(states, statesBefore) {
		t.Errorf("dry run changed states:\n%+v\nwas\n%+v", states, statesBefore)
	}
	applied = e.syncOK(false)
	if !reflect.DeepEqual(applied, plan) {
		t.Errorf("real sync = %+v\nthe dry run said %+v", applied, plan)
	}
}

// A once definition whose run_at passed before it was ever scheduled is not
// scheduled, unless it is still inside its catch-up window: then it fires now.
func TestSyncOnceRunAtPassed(t *testing.T) {
	e := newEnv(t)
	e.setDefs(
		onceYAML("late.long-ago", time.Now().Add(-time.Hour), true),
		onceYAML("late.just-now", time.Now().Add(-5*time.Second), true),
	)
	res := e.syncOK(false)
	wantResult(t, "sync", res, Counts{Upserted: 1},
		act("late.just-now", ActionCreate, "new schedule: run_at passed inside its catch-up window, fired now"),
		act("late.long-ago", ActionSkip, reasonRunAtPassed),
	)
	wantMissing(t, e.sid("late.long-ago"))
	testsupport.Eventually(t, 60*time.Second, "late.just-now fires", func() error {
		if d := mustDescribe(t, e.sid("late.just-now")); len(d.Info.RecentActions) != 1 {
			return fmt.Errorf("%d actions, want 1", len(d.Info.RecentActions))
		}
		return nil
	})
	e.waitListed(listedExactly(map[string]want{"late.just-now": {}}))

	// Again: still skipped, and the one that fired is kept as it is.
	res = e.syncOK(false)
	wantResult(t, "second sync", res, Counts{Unchanged: 1},
		act("late.long-ago", ActionSkip, reasonRunAtPassed))
	if d := mustDescribe(t, e.sid("late.just-now")); len(d.Info.RecentActions) != 1 {
		t.Errorf("late.just-now fired %d times, want once", len(d.Info.RecentActions))
	}

	// Temporal drops a finished schedule a week after it fired: it is not
	// made again (nor reported as skipped: it ran).
	if err := testClient.ScheduleClient().GetHandle(ctxT(t), e.sid("late.just-now")).Delete(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	e.waitListed(listedExactly(map[string]want{}))
	res = e.syncOK(false)
	wantResult(t, "sync after the fired schedule is gone", res, Counts{Unchanged: 1},
		act("late.long-ago", ActionSkip, reasonRunAtPassed))
	wantMissing(t, e.sid("late.just-now"))
}

// An operator pause survives syncs (and spec updates) with its note, and
// ends when its until passes or the operator resumes.
func TestOperatorPause(t *testing.T) {
	e := newEnv(t)
	docs := []string{cronYAML("op.sweep", "*/15 * * * *", true), cronYAML("op.off", "@daily", true)}
	e.setDefs(docs...)
	e.syncOK(false)
	docs[1] = cronYAML("op.off", "@daily", false)
	e.setDefs(docs...)
	e.syncOK(false)

	ctx := ctxT(t)
	if err := e.p.Pause(ctx, "op.sweep", "maintenance", ptr(e.now().Add(-time.Minute))); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Pause with until in the past: err = %v, want ErrInvalid", err)
	}
	if err := e.p.Pause(ctx, "op.nope", "", nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Pause of an unknown definition: err = %v, want ErrNotFound", err)
	}
	until := e.now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := e.p.Pause(ctx, "op.sweep", "maintenance", &until); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	st, err := e.p.Describe(ctx, "op.sweep")
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if !st.Exists || !st.Paused || st.PausedBy != PausedByOperator || st.Note != "maintenance" || st.Until == nil || !st.Until.Equal(until) {
		t.Errorf("Describe after Pause = %+v", st)
	}
	opNote := "activity-core: paused by operator: maintenance (until " + until.Format(time.RFC3339) + ")"
	e.waitListed(listedExactly(map[string]want{"op.sweep": {paused: true, note: opNote}, "op.off": {paused: true, note: NoteDisabled}}))

	res := e.syncOK(false)
	wantResult(t, "sync during the pause", res, Counts{Unchanged: 2})

	// A spec change while paused: updated, still paused, same note.
	specBefore := mustDescribe(t, e.sid("op.sweep")).Schedule.Spec
	docs[0] = cronYAML("op.sweep", "*/30 * * * *", true)
	e.setDefs(docs...)
	res = e.syncOK(false)
	wantResult(t, "update during the pause", res, Counts{Upserted: 1, Unchanged: 1},
		act("op.sweep", ActionUpdate, "schedule changed"))
	d := mustDescribe(t, e.sid("op.sweep"))
	if !d.Schedule.State.Paused || d.Schedule.State.Note != opNote {
		t.Errorf("after the update: state %+v, want paused with %q", d.Schedule.State, opNote)
	}
	if reflect.DeepEqual(d.Schedule.Spec, specBefore) {
		t.Errorf("after the update: spec %+v did not change", d.Schedule.Spec)
	}

	// until passes: the next sync unpauses and forgets the pause.
	e.advance(2 * time.Hour)
	res = e.syncOK(false)
	wantResult(t, "sync after until", res, Counts{Upserted: 1, Unchanged: 1},
		act("op.sweep", ActionUnpause, reasonExpired))
	if _, err := e.store.GetOperatorPause(ctx, "op.sweep"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired pause still stored: %v", err)
	}
	e.waitListed(listedExactly(map[string]want{"op.sweep": {}, "op.off": {paused: true, note: NoteDisabled}}))

	// Pause with no until, then resume.
	if err := e.p.Pause(ctx, "op.sweep", "", nil); err != nil {
		t.Fatal(err)
	}
	e.waitListed(listedExactly(map[string]want{"op.sweep": {paused: true, note: noteOperator}, "op.off": {paused: true}}))
	wantResult(t, "sync during the open-ended pause", e.syncOK(false), Counts{Unchanged: 2})
	if err := e.p.Resume(ctx, "op.sweep"); err != nil {
		t.Fatal(err)
	}
	if d := mustDescribe(t, e.sid("op.sweep")); d.Schedule.State.Paused {
		t.Errorf("after Resume: still paused (%q)", d.Schedule.State.Note)
	}
	if err := e.p.Resume(ctx, "op.sweep"); err != nil {
		t.Errorf("second Resume: %v", err)
	}

	// A disabled definition stays paused after an operator pause ends.
	if err := e.p.Pause(ctx, "op.off", "also this", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Resume(ctx, "op.off"); err != nil {
		t.Fatal(err)
	}
	if d := mustDescribe(t, e.sid("op.off")); !d.Schedule.State.Paused || d.Schedule.State.Note != NoteDisabled {
		t.Errorf("disabled definition after Resume: state %+v, want paused by sync", d.Schedule.State)
	}
	e.waitListed(listedExactly(map[string]want{"op.sweep": {}, "op.off": {paused: true, note: NoteDisabled}}))
	wantResult(t, "sync after Resume", e.syncOK(false), Counts{Unchanged: 2})
}

// A pause made by hand in Temporal is not sync's to lift.
func TestSyncKeepsExternalPause(t *testing.T) {
	e := newEnv(t)
	e.setDefs(cronYAML("ext.job", "@hourly", true))
	e.syncOK(false)
	if err := testClient.ScheduleClient().GetHandle(ctxT(t), e.sid("ext.job")).Pause(ctxT(t), client.SchedulePauseOptions{Note: "by hand"}); err != nil {
		t.Fatal(err)
	}
	e.waitListed(listedExactly(map[string]want{"ext.job": {paused: true, note: "by hand"}}))
	wantResult(t, "sync", e.syncOK(false), Counts{Unchanged: 1})

	// An update keeps it too.
	e.setDefs(cronYAML("ext.job", "@daily", true))
	wantResult(t, "update", e.syncOK(false), Counts{Upserted: 1}, act("ext.job", ActionUpdate, "schedule changed"))
	if d := mustDescribe(t, e.sid("ext.job")); !d.Schedule.State.Paused || d.Schedule.State.Note != "by hand" {
		t.Errorf("after the update: %+v", d.Schedule.State)
	}
	st, err := e.p.Describe(ctxT(t), "ext.job")
	if err != nil || st.PausedBy != PausedByExternal {
		t.Errorf("Describe = %+v, %v; want paused_by external", st, err)
	}
}

// One schedule Temporal refuses does not stop the others; a stale list
// (a schedule not listed yet, or listed after it was deleted) converges.
func TestSyncErrorsAndStaleList(t *testing.T) {
	e := newEnv(t)
	// A spec the parser would refuse, stored as if an older release had
	// accepted it: Temporal refuses the time zone.
	bad := &definition.Definition{ID: "err.bad-zone", Enabled: true, Trigger: definition.Trigger{
		Type: definition.TriggerCron, CronExpression: "@daily", Timezone: "Mars/Olympus_Mons",
		MisfirePolicy: definition.MisfireSkip, CatchupWindow: definition.Duration(time.Minute),
	}, Instruction: definition.Instruction{Kind: definition.InstructionShell, Cmd: "true"}}
	good, err := definition.Parse("good.yaml", []byte(cronYAML("err.good", "@daily", true)))
	if err != nil {
		t.Fatal(err)
	}
	hidden, _ := definition.Parse("hidden.yaml", []byte(cronYAML("err.hidden", "@daily", true)))
	e.putDefs([]store.Definition{storeDef(bad), storeDef(good), storeDef(hidden)}, []string{bad.ID, good.ID, hidden.ID})
	res := e.sync(false)
	if res.Counts != (Counts{Upserted: 2}) || len(res.Errors) != 1 || res.Errors[0].ID != "err.bad-zone" {
		t.Fatalf("sync with a bad definition = %+v", res)
	}
	t.Logf("the refused create: %s", res.Errors[0].Message)
	e.waitListed(listedExactly(map[string]want{"err.good": {}, "err.hidden": {}}))

	// The list misses err.hidden (as right after a create) and shows two
	// schedules that are gone (as right after a delete).
	ghost, _ := definition.Parse("ghost.yaml", []byte(cronYAML("err.ghost", "@daily", true)))
	e.putDefs([]store.Definition{storeDef(ghost)}, []string{bad.ID, good.ID, hidden.ID, ghost.ID})
	e.client.sc.mu.Lock()
	// err.good is hidden too but keeps its state: sync applied exactly
	// this form to it, so it stays unchanged with no call beyond the
	// create that finds it.
	e.client.sc.hide = map[string]bool{e.sid("err.hidden"): true, e.sid("err.good"): true}
	e.client.sc.extra = []*client.ScheduleListEntry{{ID: e.sid("err.ghost")}, {ID: e.sid("err.gone")}}
	e.client.sc.mu.Unlock()
	// err.hidden's state is forgotten, so that the sync believes it must
	// create it.
	if err := e.store.DeleteScheduleStates(ctxT(t), e.sid("err.hidden")); err != nil {
		t.Fatal(err)
	}
	res = e.sync(false)
	wantCounts := Counts{Upserted: 2, Unchanged: 1, Deleted: 1}
	if res.Counts != wantCounts || len(res.Errors) != 1 {
		t.Errorf("sync on a stale list: counts %+v errors %+v, want %+v and the bad zone", res.Counts, res.Errors, wantCounts)
	}
	wantActions := []Action{
		act("err.ghost", ActionCreate, "schedule disappeared since it was listed"),
		act("err.gone", ActionDelete, reasonRemoved),
		act("err.hidden", ActionUpdate, "schedule exists but was not listed yet"),
	}
	if !reflect.DeepEqual(res.Actions, wantActions) {
		t.Errorf("actions on a stale list =\n  %+v\nwant\n  %+v", res.Actions, wantActions)
	}
	e.client.sc.mu.Lock()
	e.client.sc.hide, e.client.sc.extra = nil, nil
	e.client.sc.mu.Unlock()
	e.waitListed(listedExactly(map[string]want{"err.good": {}, "err.hidden": {}, "err.ghost": {}}))
	res = e.sync(false)
	if res.Counts != (Counts{Unchanged: 3}) || len(res.Actions) != 0 || len(res.Errors) != 1 {
		t.Errorf("sync after convergence = %+v", res)
	}
}

// With the hash also in a search attribute, a store that lost its schedule
// states does not make sync rewrite every schedule.
func TestSyncSpecHashAttribute(t *testing.T) {
	const attr = "ActivityCoreSpecHash"
	if _, ok := devserver.DefaultSearchAttributes()[attr]; !ok {
		t.Fatalf("the dev server does not register %s", attr)
	}
	e := newEnv(t, func(c *Config) { c.SpecHashAttribute = attr })
	e.setDefs(cronYAML("sa.one", "@daily", true), cronYAML("sa.two", "@hourly", true))
	e.syncOK(false)
	e.waitListed(func(got map[string]*client.ScheduleListEntry) error {
		for _, id := range []string{"sa.one", "sa.two"} {
			if got[id] == nil || e.p.listedHash(got[id]) == "" {
				return fmt.Errorf("%s not listed with its hash", id)
			}
		}
		return nil
	})
	before, _ := e.store.ListScheduleStates(ctxT(t))
	if err := e.store.DeleteScheduleStates(ctxT(t), e.sid("sa.one"), e.sid("sa.two")); err != nil {
		t.Fatal(err)
	}
	e.client.sc.take()
	wantResult(t, "sync without states", e.syncOK(false), Counts{Unchanged: 2})
	if calls := e.client.sc.take(); perSchedule(calls) != 0 {
		t.Errorf("calls %v, want none per schedule", calls)
	}
	after, _ := e.store.ListScheduleStates(ctxT(t))
	if len(after) != 2 || after[0].SpecHash != before[0].SpecHash || after[1].SpecHash != before[1].SpecHash {
		t.Errorf("states after re-seeding = %+v, want the hashes of %+v", after, before)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSyncStopsCallingWhenTemporalIsDown: once a call finds Temporal
// unavailable, the other steps are reported without being tried, so a
// sync during an outage returns instead of waiting out the SDK's retries
// once per schedule; the next sync converges.
func TestSyncStopsCallingWhenTemporalIsDown(t *testing.T) {
	e := newEnv(t)
	var defs []store.Definition
	var ids []string
	for i := range 30 {
		d, err := definition.Parse("d.yaml", []byte(cronYAML(fmt.Sprintf("down.d%02d", i), "@daily", true)))
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, storeDef(d))
		ids = append(ids, d.ID)
	}
	e.putDefs(defs, ids)
	e.client.sc.mu.Lock()
	e.client.sc.createErr = serviceerror.NewUnavailable("frontend is down")
	e.client.sc.mu.Unlock()
	e.client.sc.take()
	res := e.sync(false)
	calls := e.client.sc.take()
	if len(res.Errors) != 30 || res.Counts.Upserted != 0 {
		t.Fatalf("sync with Temporal down: counts %+v, %d errors", res.Counts, len(res.Errors))
	}
	if calls["create"] > ConcurrencyDefault {
		t.Errorf("%d creates tried with Temporal down, want at most the %d in flight when the first failed", calls["create"], ConcurrencyDefault)
	}
	untried := 0
	for _, er := range res.Errors {
		if strings.Contains(er.Message, "not tried after Temporal stopped answering") && strings.Contains(er.Message, "frontend is down") {
			untried++
		}
	}
	if untried < 30-ConcurrencyDefault {
		t.Errorf("%d errors say the step was not tried; errors: %+v", untried, res.Errors[:3])
	}
	e.client.sc.mu.Lock()
	e.client.sc.createErr = nil
	e.client.sc.mu.Unlock()
	if res = e.sync(false); res.Counts.Upserted != 30 || len(res.Errors) != 0 {
		t.Errorf("sync after Temporal is back: %+v %+v", res.Counts, res.Errors)
	}
}
