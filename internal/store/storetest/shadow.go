package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// shadowRun is a fire of a definition in shadow mode, with what it would
// have run.
func shadowRun(t *testing.T, id string) store.Run {
	plan, err := json.Marshal(store.ShadowPlan{
		Argv:     []string{"/bin/sh", "-c", "cd /srv/state-hub && ./check --all"},
		EnvNames: []string{"LOG_LEVEL", "STATE_HUB_TOKEN"},
		Dir:      "/srv/state-hub",
		Inputs:   json.RawMessage(`{"repo":"org/x"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := run(id, "ex.a", store.RunShadow)
	r.ShadowPlan = plan
	return r
}

func testShadowRuns(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	since := time.Now().Add(-time.Minute)
	e.createRun(run("run-1", "ex.a", store.RunSucceeded))
	shadow := e.createRun(shadowRun(t, "run-2"))
	e.createRun(run("run-3", "ex.a", store.RunFailed))
	if got, err := e.s.GetRun(c, "run-2"); err != nil || !reflect.DeepEqual(got, shadow) {
		t.Errorf("GetRun of a shadow run = %+v, %v\nwant %+v", got, err, shadow)
	}
	var plan store.ShadowPlan
	if err := json.Unmarshal(shadow.ShadowPlan, &plan); err != nil || plan.Dir != "/srv/state-hub" || len(plan.EnvNames) != 2 {
		t.Errorf("shadow plan read back = %s (%v)", shadow.ShadowPlan, err)
	}
	page, err := e.s.ListRuns(c, store.RunFilter{Status: store.RunShadow})
	if err != nil || len(page.Runs) != 1 || !reflect.DeepEqual(page.Runs[0], e.getRunNoOutput("run-2")) {
		t.Errorf("ListRuns(status shadow) = %+v, %v", page, err)
	}
	if got, _ := pages(t, e, store.RunFilter{Limit: 2}); !slices.Equal(runIDs(got), []string{"run-3", "run-2", "run-1"}) {
		t.Errorf("ListRuns = %v", runIDs(got))
	}
	feed, err := e.s.ListRunsUpdatedSince(c, since, "", 10)
	if err != nil || len(feed) != 3 || !reflect.DeepEqual(feed[1].ShadowPlan, shadow.ShadowPlan) {
		t.Errorf("ListRunsUpdatedSince = %+v, %v", feed, err)
	}

	// A shadow run is final: it never becomes another status, and
	// rewriting it keeps it.
	next := shadow
	next.Status = store.RunRunning
	if _, err := e.s.UpdateRun(c, next); !errors.Is(err, store.ErrConflict) {
		t.Errorf("shadow run to running: %v, want ErrConflict", err)
	}
	if got, err := e.s.UpdateRun(c, shadow); err != nil || !reflect.DeepEqual(got.ShadowPlan, shadow.ShadowPlan) {
		t.Errorf("rewriting a shadow run = %+v, %v", got, err)
	}

	// UpdateRun writes the plan like every field: a run that was pending
	// can become a shadow run with its plan.
	pending := e.createRun(run("run-4", "ex.a", store.RunPending))
	pending.Status, pending.ShadowPlan = store.RunShadow, shadowRun(t, "x").ShadowPlan
	updated, err := e.s.UpdateRun(c, pending)
	if got, _ := e.s.GetRun(c, "run-4"); err != nil || !reflect.DeepEqual(got, updated) || string(got.ShadowPlan) != string(pending.ShadowPlan) {
		t.Errorf("UpdateRun to shadow = %+v, %v; read back %+v", updated, err, got)
	}

	bad := shadowRun(t, "run-bad")
	bad.ShadowPlan = json.RawMessage(`{"argv": [`)
	if _, err := e.s.CreateRun(c, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateRun with a bad shadow plan: %v, want ErrInvalid", err)
	}
	if e.corruptOrSkip(`UPDATE runs SET shadow_plan = '{"argv": [' WHERE id = 'run-2'`) {
		_, err := e.s.GetRun(c, "run-2")
		wantCorrupt(t, err, "run-2")
	}
}
