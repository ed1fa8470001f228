package schedule

import (
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/store"
)

// TestPlanRecorded: a schedule the list does not show yet is taken as
// already applied only when the store's state says exactly this form was
// applied and nothing about its pause could differ in Temporal.
func TestPlanRecorded(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	const sid = "activity-core:t.a"
	for _, tc := range []struct {
		name  string
		state *store.ScheduleState
		pause *store.OperatorPause
		want  bool
	}{
		{"state matches", &store.ScheduleState{ScheduleID: sid, SpecHash: "h"}, nil, true},
		{"no state", nil, nil, false},
		{"hash differs", &store.ScheduleState{ScheduleID: sid, SpecHash: "old"}, nil, false},
		{"sync paused it (definition re-enabled)", &store.ScheduleState{ScheduleID: sid, SpecHash: "h", PausedBySync: true}, nil, false},
		{"operator pause active", &store.ScheduleState{ScheduleID: sid, SpecHash: "h"}, &store.OperatorPause{DefinitionID: "t.a", Note: "n", Until: &future}, false},
		{"operator pause expired", &store.ScheduleState{ScheduleID: sid, SpecHash: "h"}, &store.OperatorPause{DefinitionID: "t.a", Note: "n", Until: &past}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &planInput{
				now: now, prefix: "activity-core:",
				entries: map[string]*client.ScheduleListEntry{},
				states:  map[string]*store.ScheduleState{},
				pauses:  map[string]*store.OperatorPause{},
				desired: map[string]*desired{"t.a": {defID: "t.a", enabled: true, cron: "0 8 * * *", tz: "UTC", hash: "h"}},
			}
			if tc.state != nil {
				in.states[sid] = tc.state
			}
			if tc.pause != nil {
				in.pauses["t.a"] = tc.pause
			}
			steps := (&Projector{}).plan(in)
			if len(steps) != 1 || steps[0].op != opCreate {
				t.Fatalf("steps = %+v, want one create", steps)
			}
			if steps[0].recorded != tc.want {
				t.Errorf("recorded = %v, want %v", steps[0].recorded, tc.want)
			}
		})
	}
}
