package schedule

import (
	"testing"
)

// TestPauseByRecordsWho: an auto-pause is an operator pause that says who
// made it; sync keeps it like any operator pause.
func TestPauseByRecordsWho(t *testing.T) {
	e := newEnv(t)
	e.setDefs(cronYAML("auto.job", "@hourly", true), cronYAML("op.job", "@hourly", true))
	e.syncOK(false)
	ctx := ctxT(t)
	note := "auto-paused after 3 consecutive failures; last run r3"
	if err := e.p.PauseBy(ctx, "auto.job", note, ByAutoPause, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Pause(ctx, "op.job", "maintenance", nil); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"auto.job": ByAutoPause, "op.job": ByOperator} {
		op, err := e.store.GetOperatorPause(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if op.By != want {
			t.Errorf("%s: By = %q, want %q", id, op.By, want)
		}
	}
	wantResult(t, "sync after the pauses", e.syncOK(false), Counts{Unchanged: 2})
	st, err := e.p.Describe(ctx, "auto.job")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Paused || st.PausedBy != ByAutoPause || st.Note != note {
		t.Errorf("auto.job after sync: %+v", st)
	}
}
