package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// A backfill of [from, to) over a */15 schedule fires exactly the eight
// quarter hours of two hours: the one at from, not the one at to
// (docs/run-control.md#backfill). The schedule is paused, so it fires
// nothing of its own while the test runs; Temporal's backfill fires a
// paused schedule all the same.
func TestBackfillWindow(t *testing.T) {
	e := newEnv(t)
	e.setDefs(cronYAML("b.quarter", "*/15 * * * *", true))
	e.syncOK(false)
	if err := e.p.Pause(ctxT(t), "b.quarter", "only the backfill fires", nil); err != nil {
		t.Fatal(err)
	}

	from := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	to := from.Add(2 * time.Hour)
	// allow_all: the runs never end (no worker), and skip would keep all
	// but the first.
	if err := e.p.Backfill(ctxT(t), "b.quarter", from, to, "allow_all"); err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	var want []time.Time
	for at := from; at.Before(to); at = at.Add(15 * time.Minute) {
		want = append(want, at)
	}
	var fired []time.Time
	testsupport.Eventually(t, 60*time.Second, "8 backfilled fires", func() error {
		st, err := e.p.Describe(ctxT(t), "b.quarter")
		if err != nil {
			return err
		}
		fired = fired[:0]
		for _, a := range st.RecentActions {
			fired = append(fired, a.ScheduledAt.UTC())
		}
		if st.NumActions < len(want) {
			return fmt.Errorf("%d actions so far: %v", st.NumActions, fired)
		}
		return nil
	})
	slices.SortFunc(fired, time.Time.Compare)
	if !slices.EqualFunc(fired, want, time.Time.Equal) {
		t.Errorf("fires = %v\nwant    %v", fired, want)
	}
}

// What a backfill refuses, and why.
func TestBackfillRefused(t *testing.T) {
	e := newEnv(t)
	e.setDefs(cronYAML("b.cron", "*/15 * * * *", true), eventYAML("b.event"))
	e.syncOK(false)
	now := time.Now().UTC()
	cases := []struct {
		name, id, overlap string
		from, to          time.Time
		want              error
		msg               string
	}{
		{"unknown overlap", "b.cron", "cancel_other", now.Add(-time.Hour), now, store.ErrInvalid, `overlap "cancel_other" is not one of skip, buffer_all, allow_all`},
		{"empty window", "b.cron", "", now, now, store.ErrInvalid, "is not before to"},
		{"event definition", "b.event", "", now.Add(-time.Hour), now, store.ErrInvalid, "only cron definitions can be backfilled"},
		{"unknown definition", "b.nope", "", now.Add(-time.Hour), now, store.ErrNotFound, `"b.nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.p.Backfill(ctxT(t), c.id, c.from, c.to, c.overlap)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("err = %v, want %v saying %q", err, c.want, c.msg)
			}
		})
	}
}
