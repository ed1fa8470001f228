package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

func testSyncResults(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	if _, err := e.s.LastSyncResult(c); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastSyncResult before any sync: %v, want ErrNotFound", err)
	}
	if _, err := e.s.LastSuccessfulSync(c); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastSuccessfulSync before any sync: %v, want ErrNotFound", err)
	}
	base := time.Date(2026, 11, 23, 10, 0, 0, 999, time.Local)
	result := func(id string, minute int, ok, dry bool) store.SyncResult {
		r := store.SyncResult{SyncID: id, DryRun: dry, OK: ok,
			StartedAt:  base.Add(time.Duration(minute) * time.Minute),
			FinishedAt: base.Add(time.Duration(minute)*time.Minute + 1500*time.Millisecond),
			Result:     json.RawMessage(`{"sync_id": "` + id + `", "definitions": {"scanned": 3}, "errors": []}`)}
		if !ok {
			r.ErrorSummary = "schedules: temporal unavailable ⚠"
		}
		return r
	}
	for _, r := range []store.SyncResult{
		result("s1", 1, true, false),
		result("s2", 2, false, false),
		result("s3", 3, true, true), // dry runs are kept but are not "the last sync"
	} {
		if err := e.s.SaveSyncResult(c, r); err != nil {
			t.Fatalf("SaveSyncResult(%s): %v", r.SyncID, err)
		}
	}
	norm := func(r store.SyncResult) store.SyncResult {
		r.StartedAt = r.StartedAt.UTC().Truncate(time.Microsecond)
		r.FinishedAt = r.FinishedAt.UTC().Truncate(time.Microsecond)
		return r
	}
	if got, err := e.s.LastSyncResult(c); err != nil || !reflect.DeepEqual(got, norm(result("s2", 2, false, false))) {
		t.Errorf("LastSyncResult = %+v, %v; want s2", got, err)
	}
	if got, err := e.s.LastSuccessfulSync(c); err != nil || !reflect.DeepEqual(got, norm(result("s1", 1, true, false))) {
		t.Errorf("LastSuccessfulSync = %+v, %v; want s1", got, err)
	}
	if err := e.s.SaveSyncResult(c, result("s1", 9, true, false)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("saving s1 twice: %v, want ErrConflict", err)
	}
	bad := result("s4", 4, true, false)
	bad.Result = json.RawMessage(`{"sync_id"`)
	if err := e.s.SaveSyncResult(c, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("invalid result JSON: %v, want ErrInvalid", err)
	}
}

func testScheduleStates(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	list := func() []store.ScheduleState {
		t.Helper()
		l, err := e.s.ListScheduleStates(c)
		if err != nil {
			t.Fatalf("ListScheduleStates: %v", err)
		}
		for i := range l {
			if l[i].UpdatedAt.IsZero() || l[i].UpdatedAt.Location() != time.UTC {
				t.Errorf("updated_at of %s = %v", l[i].ScheduleID, l[i].UpdatedAt)
			}
			l[i].UpdatedAt = time.Time{}
		}
		return l
	}
	if got := list(); len(got) != 0 {
		t.Errorf("states of a new store: %+v", got)
	}
	b := store.ScheduleState{ScheduleID: "activity-core:ex.b", DefinitionID: "ex.b", SpecHash: "s1"}
	a := store.ScheduleState{ScheduleID: "activity-core:ex.a", DefinitionID: "ex.a", SpecHash: "s1",
		PausedBySync: true, Note: "paused by sync: definition disabled ⏸"}
	if err := e.s.PutScheduleStates(c, b, a); err != nil {
		t.Fatalf("PutScheduleStates: %v", err)
	}
	if got, want := list(), []store.ScheduleState{a, b}; !reflect.DeepEqual(got, want) {
		t.Errorf("states = %+v, want %+v", got, want)
	}
	a.PausedBySync, a.Note, a.SpecHash = false, "", "s2"
	if err := e.s.PutScheduleStates(c, a); err != nil {
		t.Fatalf("replacing a state: %v", err)
	}
	if got, want := list(), []store.ScheduleState{a, b}; !reflect.DeepEqual(got, want) {
		t.Errorf("after replacing, states = %+v, want %+v", got, want)
	}
	if err := e.s.DeleteScheduleStates(c, "activity-core:ex.b", "activity-core:missing"); err != nil {
		t.Fatalf("DeleteScheduleStates: %v", err)
	}
	if got, want := list(), []store.ScheduleState{a}; !reflect.DeepEqual(got, want) {
		t.Errorf("after deleting, states = %+v, want %+v", got, want)
	}
	if err := e.s.PutScheduleStates(c, store.ScheduleState{DefinitionID: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("state without schedule id: %v, want ErrInvalid", err)
	}
	if err := errors.Join(e.s.PutScheduleStates(c), e.s.DeleteScheduleStates(c)); err != nil {
		t.Errorf("empty put or delete: %v", err)
	}
}

func testOperatorPauses(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	e.upsert(def("ex.a", "h1"), def("ex.b", "h1"))
	if _, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.missing"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pausing an unknown definition: %v, want ErrNotFound", err)
	}
	if _, err := e.s.GetOperatorPause(c, "ex.a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOperatorPause before pausing: %v, want ErrNotFound", err)
	}
	until := time.Date(2026, 12, 1, 3, 0, 0, 500, time.FixedZone("CET", 3600))
	before := time.Now().UTC().Add(-time.Second)
	pa, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.a", Note: "maintenance 🔧", Until: &until})
	if err != nil {
		t.Fatalf("SetOperatorPause: %v", err)
	}
	if pa.PausedAt.Before(before) || pa.PausedAt.Location() != time.UTC || !pa.Until.Equal(until.Truncate(time.Microsecond)) ||
		pa.Until.Location() != time.UTC {
		t.Errorf("pause as stored = %+v", pa)
	}
	pausedAt := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	pb, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.b", PausedAt: pausedAt})
	if err != nil || !pb.PausedAt.Equal(pausedAt) || pb.Until != nil {
		t.Fatalf("SetOperatorPause(ex.b) = %+v, %v", pb, err)
	}
	if got, err := e.s.GetOperatorPause(c, "ex.a"); err != nil || !reflect.DeepEqual(got, pa) {
		t.Errorf("GetOperatorPause = %+v, %v; want %+v", got, err, pa)
	}
	if got, err := e.s.ListOperatorPauses(c); err != nil || !reflect.DeepEqual(got, []store.OperatorPause{pa, pb}) {
		t.Errorf("ListOperatorPauses = %+v, %v", got, err)
	}
	if !pa.ActiveAt(until.Add(-time.Second)) || pa.ActiveAt(until) || !pb.ActiveAt(until.AddDate(10, 0, 0)) {
		t.Errorf("ActiveAt: a pause ends at its Until; one without Until does not end")
	}
	// Setting again replaces.
	pa2, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.a", Note: "longer"})
	if err != nil || pa2.Until != nil {
		t.Fatalf("re-pausing = %+v, %v", pa2, err)
	}
	if got, err := e.s.GetOperatorPause(c, "ex.a"); err != nil || !reflect.DeepEqual(got, pa2) {
		t.Errorf("after re-pausing, %+v, %v; want %+v", got, err, pa2)
	}
	if err := e.s.ClearOperatorPause(c, "ex.a"); err != nil {
		t.Fatalf("ClearOperatorPause: %v", err)
	}
	if err := e.s.ClearOperatorPause(c, "ex.a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("clearing twice: %v, want ErrNotFound", err)
	}
	if got, err := e.s.ListOperatorPauses(c); err != nil || !reflect.DeepEqual(got, []store.OperatorPause{pb}) {
		t.Errorf("after clearing, pauses = %+v, %v", got, err)
	}
	// A removed definition keeps its pause (sync removes schedules, not
	// the operator's intent).
	if _, err := e.s.MarkDefinitionsRemoved(c, "/srv/defs", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.GetOperatorPause(c, "ex.b"); err != nil {
		t.Errorf("pause of a removed definition: %v", err)
	}
}

func testPingClose(t *testing.T, d Driver) {
	e := setup(t, d)
	s := e.open()
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// A closed store fails cleanly; the other store is unaffected.
	if err := s.Ping(ctx(t)); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if _, err := s.GetDefinition(ctx(t), "ex.a"); err == nil {
		t.Error("GetDefinition after Close succeeded")
	}
	if err := e.s.Ping(ctx(t)); err != nil {
		t.Errorf("Ping of another store: %v", err)
	}
}
