package plan

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// TestDSTDays: what each schedule does on the zone's clock-change days,
// as the cron engine computes it (internal/cronexpr's package doc).
func TestDSTDays(t *testing.T) {
	for _, c := range []struct {
		expr, zone string
		from       time.Time
		want       string // date skipped|twice|extra
	}{
		{"30 2 * * *", "Europe/Berlin", time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), "2026-03-29 02:30||"},
		{"0 3 * * *", "Europe/Berlin", time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), "2026-03-29 ||"},
		{"30 2 * * *", "Europe/Berlin", time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC), "2026-10-25 ||"},
		{"30 1 * * *", "Europe/Berlin", time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC), "2026-10-25 ||02:30"},
		{"30 1 * * *", "America/New_York", time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), "2026-11-01 |01:30|"},
		{"0 12 * * *", "UTC", time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), ""},
	} {
		d := &definition.Definition{ID: "t", Enabled: true, Trigger: definition.Trigger{Type: definition.TriggerCron, CronExpression: c.expr, Timezone: c.zone}}
		tm := timing(d, window{From: c.from, To: c.from.AddDate(0, 0, 3)})
		var got []string
		for _, day := range tm.DST {
			got = append(got, fmt.Sprintf("%s %s|%s|%s", day.Date, strings.Join(day.Skipped, ","), strings.Join(day.Twice, ","), strings.Join(day.Extra, ",")))
		}
		if strings.Join(got, ";") != c.want {
			t.Errorf("%q in %s: DST days %q, want %q", c.expr, c.zone, got, c.want)
		}
	}
}

// TestOnceTiming: a once trigger fires in the window or not at all.
func TestOnceTiming(t *testing.T) {
	at := time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)
	d := &definition.Definition{ID: "t", Enabled: true, Trigger: definition.Trigger{Type: definition.TriggerOnce, RunAt: &at, Timezone: "Europe/Berlin"}}
	if tm := timing(d, window{From: now, To: now.AddDate(0, 0, 30)}); len(tm.Fires) != 1 || tm.Fires[0].Local != "2026-03-20T10:00:00+01:00" {
		t.Errorf("fires = %+v", tm.Fires)
	}
	if tm := timing(d, window{From: at.Add(time.Hour), To: at.AddDate(0, 0, 30)}); len(tm.Fires) != 0 {
		t.Errorf("a past run_at fires: %+v", tm.Fires)
	}
}

// pagedRuns is a RunLister over a fixed history, newest first, in pages.
type pagedRuns struct{ runs []store.Run }

func (p pagedRuns) ListRuns(_ context.Context, f store.RunFilter) (store.RunPage, error) {
	start := 0
	if f.Before != "" {
		if _, err := fmt.Sscan(f.Before, &start); err != nil {
			return store.RunPage{}, err
		}
	}
	end := min(start+f.Limit, len(p.runs))
	page := store.RunPage{Runs: p.runs[start:end]}
	if end < len(p.runs) {
		page.Next = fmt.Sprint(end)
	}
	return page, nil
}

// TestFinishedDurations: the last N finished runs across pages, skipping
// runs that never started or have not finished; p95 by nearest rank.
func TestFinishedDurations(t *testing.T) {
	var runs []store.Run
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		s := base.Add(time.Duration(i) * time.Hour)
		f := s.Add(time.Duration(i%100+1) * time.Second)
		r := store.Run{ID: fmt.Sprint(i), StartedAt: &s, FinishedAt: &f}
		if i%3 == 0 {
			r.FinishedAt = nil
		}
		runs = append(runs, r)
	}
	cfg := &Config{Runs: pagedRuns{runs}, OverlapRuns: 100}
	durs, err := finishedDurations(context.Background(), cfg, "t")
	if err != nil || len(durs) != 100 {
		t.Fatalf("%d durations, %v; want 100", len(durs), err)
	}
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{time.Second}, time.Second},
		{[]time.Duration{5, 1, 4, 2, 3}, 5},
		{func() (d []time.Duration) {
			for i := 1; i <= 100; i++ {
				d = append(d, time.Duration(i))
			}
			return d
		}(), 95},
	} {
		if got := p95(c.in); got != c.want {
			t.Errorf("p95(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestFieldChanges: nested maps and lists diff leaf by leaf; lists of
// another length show whole.
func TestFieldChanges(t *testing.T) {
	var out []fieldChange
	walkDiff("", map[string]any{"a": map[string]any{"b": 1.0, "c": []any{"x", "y"}}, "gone": true, "l": []any{1.0}},
		map[string]any{"a": map[string]any{"b": 2.0, "c": []any{"x", "z"}}, "new": "v", "l": []any{1.0, 2.0}}, &out)
	got := fmt.Sprint(out)
	want := "[{a.b 1 2} {a.c[1] \"y\" \"z\"} {gone true } {l [1] [1,2]} {new  \"v\"}]"
	if got != want {
		t.Errorf("walkDiff = %s, want %s", got, want)
	}
}
