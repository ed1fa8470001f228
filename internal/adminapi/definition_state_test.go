package adminapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
)

// listing is the fake's States: what one list pass over Temporal gives.
type listing struct {
	*fakeSchedules
	states map[string]*ScheduleInfo
}

func (l listing) States(_ context.Context) (map[string]*ScheduleInfo, error) { return l.states, nil }

func listStates(t *testing.T, e *env) map[string]DefinitionState {
	t.Helper()
	code, body := e.do("GET", "/api/v1/definitions?include_removed=true", readToken, "")
	var doc struct {
		Definitions []struct {
			ID            string          `json:"id"`
			ScheduleState DefinitionState `json:"schedule_state"`
		} `json:"definitions"`
	}
	if code != 200 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	out := map[string]DefinitionState{}
	for _, d := range doc.Definitions {
		out[d.ID] = d.ScheduleState
	}
	return out
}

// TestDefinitionsListShowsState: each listed definition carries its
// schedule state, so an operator-paused schedule no longer looks active.
func TestDefinitionsListShowsState(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	e.write("a.yaml", "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("off.yaml", "id: t.off\nenabled: false\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("on.yaml", "id: t.on\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.write("ev.yaml", "id: t.ev\ntrigger: {trigger_type: event, event_type: org.x}\ninstruction: {kind: shell, cmd: 'true'}\n")
	if code, body := e.do("POST", "/admin/sync", adminToken, ""); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// The projector records an operator pause in the store (the fake
	// Schedules does not): record it as it would.
	if _, err := e.store.SetOperatorPause(context.Background(), store.OperatorPause{DefinitionID: "t.a", Note: "hub migration"}); err != nil {
		t.Fatal(err)
	}
	got := listStates(t, e)
	for id, want := range map[string]DefinitionState{
		"t.a":   {State: statePaused, PausedBy: "operator", Note: "hub migration"},
		"t.off": {State: statePaused, PausedBy: "sync", Note: "disabled in its file"},
		"t.on":  {State: stateActive},
		"t.ev":  {State: stateListening},
	} {
		if g := got[id]; g.State != want.State || g.PausedBy != want.PausedBy || g.Note != want.Note {
			t.Errorf("%s: %+v, want %+v", id, g, want)
		}
	}

	// With Temporal's list: a pause Temporal lacks is shown as pending, a
	// schedule paused by hand as paused, a missing one as not scheduled.
	now := time.Now()
	st := map[string]DefinitionState{
		"t.a":   stateOf(store.Definition{ID: "t.a", TriggerType: store.TriggerCron, Enabled: true}, &store.OperatorPause{Note: "x"}, &ScheduleInfo{Exists: true}, now),
		"t.on":  stateOf(store.Definition{ID: "t.on", TriggerType: store.TriggerCron, Enabled: true}, nil, &ScheduleInfo{Exists: true, Paused: true, PausedBy: "external", Note: "by hand"}, now),
		"t.new": stateOf(store.Definition{ID: "t.new", TriggerType: store.TriggerOnce, Enabled: true}, nil, &ScheduleInfo{}, now),
	}
	if s := st["t.a"]; s.State != stateActive || !strings.Contains(s.Pending, "next sync pauses it") {
		t.Errorf("recorded pause Temporal lacks: %+v", s)
	}
	if s := st["t.on"]; s.State != statePaused || s.PausedBy != "external" || s.Note != "by hand" {
		t.Errorf("paused by hand: %+v", s)
	}
	if s := st["t.new"]; s.State != stateNotScheduled || s.Pending == "" {
		t.Errorf("not scheduled: %+v", s)
	}
}

// TestDefinitionsListAsksTemporalOnce: with a Schedules that lists, the
// list shows Temporal's state.
func TestDefinitionsListAsksTemporalOnce(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	e.write("a.yaml", "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	if code, body := e.do("POST", "/admin/sync", adminToken, ""); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	api, err := New(Config{Store: e.store, AdminToken: adminToken, ReadToken: readToken,
		Schedules: listing{fakeSchedules: e.sched, states: map[string]*ScheduleInfo{"t.a": {Exists: true, Paused: true, PausedBy: "external", Note: "by hand"}}}})
	if err != nil {
		t.Fatal(err)
	}
	e2 := *e
	e2.srv = httptest.NewServer(api)
	t.Cleanup(e2.srv.Close)
	if s := listStates(t, &e2)["t.a"]; s.State != statePaused || s.PausedBy != "external" {
		t.Errorf("t.a: %+v, want paused by hand as Temporal lists it", s)
	}
}

// TestPauseNoteTooLong: a note over limits.PauseNote answers 400 and
// nothing is paused (a ~960-character note used to be recorded, then
// refused by Temporal with a 500).
func TestPauseNoteTooLong(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	e.write("a.yaml", "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.do("POST", "/admin/sync", adminToken, "")
	body, _ := json.Marshal(map[string]string{"note": strings.Repeat("n", 960)})
	code, resp := e.do("POST", "/api/v1/definitions/t.a/pause", adminToken, string(body))
	if code != 400 || !strings.Contains(string(resp), "at most 500") {
		t.Errorf("long note: %d %s", code, resp)
	}
	if len(e.sched.paused) != 0 {
		t.Errorf("a refused pause reached the schedules: %v", e.sched.paused)
	}
	body, _ = json.Marshal(map[string]string{"note": strings.Repeat("n", limits.PauseNote)})
	if code, resp := e.do("POST", "/api/v1/definitions/t.a/pause", adminToken, string(body)); code != 200 || !strings.Contains(string(resp), `"paused":true`) {
		t.Errorf("note of the maximum: %d %s", code, resp)
	}
}
