package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
)

// TestLongPauseNote: a note over limits.PauseNote is refused before anything
// is recorded (a ~960-character note used to be recorded, then refused by
// Temporal, leaving the store paused, the schedule firing and every sync
// failing). A long note already recorded is cut to what Temporal takes, so
// sync applies it.
func TestLongPauseNote(t *testing.T) {
	e := newEnv(t)
	e.setDefs(cronYAML("long.job", "@hourly", true))
	e.syncOK(false)
	ctx := ctxT(t)
	long := strings.Repeat("é", 480) // 960 bytes
	if err := e.p.Pause(ctx, "long.job", long, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Pause with a %d-byte note: err = %v, want ErrInvalid", len(long), err)
	}
	if _, err := e.store.GetOperatorPause(ctx, "long.job"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused pause was recorded: %v", err)
	}
	if d := mustDescribe(t, e.sid("long.job")); d.Schedule.State.Paused {
		t.Errorf("a refused pause paused the schedule")
	}
	if err := e.p.Pause(ctx, "long.job", strings.Repeat("x", limits.PauseNote), nil); err != nil {
		t.Fatalf("Pause with a note of limits.PauseNote: %v", err)
	}
	// A pause recorded with a longer note (as before the check): sync
	// applies it, cut to Temporal's limit.
	until := e.now().Add(time.Hour).UTC().Truncate(time.Second)
	if _, err := e.store.SetOperatorPause(ctx, store.OperatorPause{DefinitionID: "long.job", Note: strings.Repeat("é", 600), Until: &until}); err != nil {
		t.Fatal(err)
	}
	res := e.syncOK(false)
	wantResult(t, "sync of a recorded long note", res, Counts{Paused: 1}, act("long.job", ActionPause, reasonOperator))
	d := mustDescribe(t, e.sid("long.job"))
	if n := d.Schedule.State.Note; !d.Schedule.State.Paused || len(n) > temporalNoteMax || !utf8.ValidString(n) || !strings.HasPrefix(n, noteOperator) {
		t.Errorf("after sync: paused %v, note of %d bytes %.60q", d.Schedule.State.Paused, len(n), n)
	}
	e.waitListed(listedExactly(map[string]want{"long.job": {paused: true, note: d.Schedule.State.Note}}))
	wantResult(t, "next sync", e.syncOK(false), Counts{Unchanged: 1})
}

// TestPauseDisagreementShownAndRepaired: when Temporal's schedule fires
// although an operator pause is recorded (unpaused by hand here, as after
// a failed pause call), Describe reports Temporal's state with Pending,
// and the next sync pauses it again and says so.
func TestPauseDisagreementShownAndRepaired(t *testing.T) {
	e := newEnv(t)
	e.setDefs(cronYAML("dis.job", "@hourly", true))
	e.syncOK(false)
	ctx := ctxT(t)
	if err := e.p.Pause(ctx, "dis.job", "freeze", nil); err != nil {
		t.Fatal(err)
	}
	if err := testClient.ScheduleClient().GetHandle(ctx, e.sid("dis.job")).Unpause(ctx, client.ScheduleUnpauseOptions{Note: "by hand"}); err != nil {
		t.Fatal(err)
	}
	st, err := e.p.Describe(ctx, "dis.job")
	if err != nil {
		t.Fatal(err)
	}
	if st.Paused || st.Pending == "" || st.PausedBy != PausedByOperator || st.Note != "freeze" {
		t.Errorf("Describe of a disagreement = %+v; want Temporal's state (not paused) and Pending", st)
	}
	e.waitListed(listedExactly(map[string]want{"dis.job": {note: "by hand"}}))
	res := e.syncOK(false)
	wantResult(t, "repairing sync", res, Counts{Paused: 1}, act("dis.job", ActionPause, reasonOperator))
	st, err = e.p.Describe(ctx, "dis.job")
	if err != nil || !st.Paused || st.Pending != "" {
		t.Errorf("after the repair: %+v, %v", st, err)
	}
}

func TestTruncateNote(t *testing.T) {
	for _, n := range []string{"", "short", strings.Repeat("a", temporalNoteMax), strings.Repeat("a", temporalNoteMax+1), strings.Repeat("€", 400)} {
		got := truncateNote(n)
		if len(got) > temporalNoteMax || !utf8.ValidString(got) || (len(n) <= temporalNoteMax && got != n) {
			t.Errorf("truncateNote(%d bytes) = %d bytes, valid %v", len(n), len(got), utf8.ValidString(got))
		}
	}
}
