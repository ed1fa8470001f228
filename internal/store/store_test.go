package store_test

import (
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

func TestPlanUpsert(t *testing.T) {
	now := time.Now()
	live := store.Definition{ID: "a", ContentHash: "h1"}
	gone := store.Definition{ID: "a", ContentHash: "h1", RemovedAt: &now}
	for _, tc := range []struct {
		cur  *store.Definition
		hash string
		want store.UpsertOutcome
	}{
		{nil, "h1", store.Created},
		{&live, "h1", store.Unchanged},
		{&live, "h2", store.Updated},
		{&gone, "h1", store.Restored},
		{&gone, "h2", store.Restored},
	} {
		next := store.Definition{ID: "a", ContentHash: tc.hash}
		if got := store.PlanDefinitionUpsert(tc.cur, next); got != tc.want {
			t.Errorf("PlanDefinitionUpsert(%+v, %s) = %s, want %s", tc.cur, tc.hash, got, tc.want)
		}
		var cur *store.EventType
		if tc.cur != nil {
			cur = &store.EventType{Name: "a", ContentHash: tc.cur.ContentHash, RemovedAt: tc.cur.RemovedAt}
		}
		if got := store.PlanEventTypeUpsert(cur, store.EventType{Name: "a", ContentHash: tc.hash}); got != tc.want {
			t.Errorf("PlanEventTypeUpsert(%+v, %s) = %s, want %s", cur, tc.hash, got, tc.want)
		}
	}
}

func TestRunStatus(t *testing.T) {
	terminal := map[store.RunStatus]bool{
		store.RunPending: false, store.RunRunning: false, store.RunSucceeded: true, store.RunFailed: true,
		store.RunSkipped: true, store.RunTimedOut: true, store.RunCanceled: true, store.RunMissed: true,
	}
	for s, want := range terminal {
		if !s.Valid() || s.Terminal() != want {
			t.Errorf("%s: valid %v, terminal %v", s, s.Valid(), s.Terminal())
		}
	}
	if store.RunStatus("exploded").Valid() || store.RunStatus("exploded").Terminal() {
		t.Error("an unknown status is valid or terminal")
	}
}
