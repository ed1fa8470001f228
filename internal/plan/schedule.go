package plan

import (
	"cmp"
	"encoding/json"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
)

// Bounds of the schedules section, whatever a change holds: fires listed
// per side (a job every minute for a week), and schedules analysed.
const (
	firesMax     = 10_000
	schedulesMax = 100
)

// Schedule is the timing of one added or changed cron or once definition,
// before and after the change.
type schedule struct {
	ID string `json:"id"`
	// Unchanged is set when the change leaves the trigger (and enabled)
	// as it was: the fires are the same.
	Unchanged bool `json:"unchanged"`
	// Before is nil for an added definition (or one that had no clock).
	Before *Timing `json:"before,omitempty"`
	After  *Timing `json:"after,omitempty"`
	// AcrossMidnight lists fires whose local date (in the head's zone)
	// differs before and after: 00:30 moved to 23:30 the day before.
	AcrossMidnight []move `json:"across_midnight"`
	// AcrossMidnightLeftOut counts the moves not listed (the report's
	// fire budget, Report.FiresLeftOut).
	AcrossMidnightLeftOut int `json:"across_midnight_left_out,omitempty"`
	// ShortestInterval is the least time between two fires after the
	// change (0 with fewer than two fires in the window).
	ShortestInterval definition.Duration `json:"shortest_interval"`
}

// Timing is one side's schedule and its fires in the window.
type Timing struct {
	Schedule string `json:"schedule"`
	Timezone string `json:"timezone"`
	Enabled  bool   `json:"enabled"`
	Fires    []fire `json:"fires"`
	// Truncated is set when the fires were cut at firesMax.
	Truncated bool `json:"truncated,omitempty"`
	// FiresLeftOut counts the fires (of the firesMax computed) not listed
	// because the report's fire budget was spent (Report.FiresLeftOut).
	FiresLeftOut int `json:"fires_left_out,omitempty"`
	// DST lists the zone's DST-change days in the window on which this
	// schedule fires or should have fired.
	DST []dstDay `json:"dst"`

	loc *time.Location
}

// Fire is one fire time, in the definition's zone and in UTC.
type fire struct {
	Local string `json:"local"`
	UTC   string `json:"utc"`
	// DSTDay is set when the fire falls on a DST-change day in the zone.
	DSTDay bool `json:"dst_day,omitempty"`

	t time.Time
}

// Move is a fire whose local date changes.
type move struct {
	Before fire `json:"before"`
	After  fire `json:"after"`
}

func newFire(t time.Time, loc *time.Location) fire {
	t = t.In(loc)
	return fire{Local: t.Format(time.RFC3339), UTC: t.UTC().Format(time.RFC3339), t: t}
}

// clocked reports whether a definition fires on a clock.
func clocked(d *definition.Definition) bool {
	return d != nil && (d.Trigger.Type == definition.TriggerCron || d.Trigger.Type == definition.TriggerOnce)
}

// schedules fills Schedules for every added or changed definition with a
// clock, and DST warnings for what the change makes skip or repeat.
func (r *Report) schedules(cfg *Config, base, head *side) {
	ids := make([]string, 0, len(r.Added)+len(r.Changed))
	for _, a := range r.Added {
		ids = append(ids, a.ID)
	}
	for _, c := range r.Changed {
		ids = append(ids, c.ID)
	}
	for _, id := range sortedIDs(setOf(ids)) {
		b, h := base.defs[id], head.defs[id]
		if !clocked(h) && !clocked(b) {
			continue
		}
		if len(r.Schedules) == schedulesMax {
			r.SchedulesLeftOut++
			continue
		}
		s := schedule{ID: id, AcrossMidnight: []move{}}
		if clocked(b) {
			s.Before = timing(b, r.Window)
		}
		if clocked(h) {
			s.After = timing(h, r.Window)
			s.ShortestInterval = definition.Duration(shortest(s.After.Fires))
		}
		s.Unchanged = b != nil && sameClock(b, h)
		if s.Before != nil && s.After != nil && !s.Unchanged {
			s.AcrossMidnight = acrossMidnight(s.Before.Fires, s.After.Fires, s.After.loc)
		}
		if s.After != nil && !s.Unchanged {
			r.dstWarnings(id, s.After)
		}
		r.Schedules = append(r.Schedules, s)
	}
}

func setOf(ids []string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// sameClock reports whether two versions fire at the same times.
func sameClock(b, h *definition.Definition) bool {
	bj, _ := json.Marshal(b.Trigger)
	hj, _ := json.Marshal(h.Trigger)
	return string(bj) == string(hj) && b.Enabled == h.Enabled
}

// timing computes a definition's fires in the window with the project's
// own cron engine (as `activity-core next` does), and its DST days.
func timing(d *definition.Definition, w window) *Timing {
	t := d.Trigger
	loc := t.Location()
	tm := &Timing{Timezone: cmp.Or(t.Timezone, "UTC"), Enabled: d.Enabled, Fires: []fire{}, DST: []dstDay{}, loc: loc}
	switch t.Type {
	case definition.TriggerOnce:
		tm.Schedule = "once at " + t.RunAt.In(loc).Format(time.RFC3339)
		if !t.RunAt.Before(w.From) && t.RunAt.Before(w.To) {
			tm.Fires = append(tm.Fires, newFire(*t.RunAt, loc))
		}
	case definition.TriggerCron:
		tm.Schedule = t.CronExpression
		sched, err := cronexpr.Parse(t.CronExpression)
		if err != nil { // the loader validated it; nothing to list
			return tm
		}
		tm.Fires, tm.Truncated = cronFires(sched, loc, w)
	}
	tm.DST = dstDays(t, tm, w)
	return tm
}

// cronFires lists the fires in [w.From, w.To), at most firesMax.
func cronFires(sched *cronexpr.Schedule, loc *time.Location, w window) ([]fire, bool) {
	fires := []fire{}
	truncated := eachFire(sched, loc, w, firesMax, func(t time.Time) { fires = append(fires, newFire(t, loc)) })
	return fires, truncated
}

// eachFire calls f with each fire in [w.From, w.To), at most limit times;
// it reports whether fires were left out.
func eachFire(sched *cronexpr.Schedule, loc *time.Location, w window, limit int, f func(time.Time)) bool {
	after := w.From.Add(-time.Second)
	for n := 0; ; n++ {
		next := sched.Next(after, loc)
		if next.IsZero() || !next.Before(w.To) {
			return false
		}
		if n == limit {
			return true
		}
		f(next)
		after = next
	}
}

// shortest is the least gap between successive fires.
func shortest(fires []fire) time.Duration {
	var least time.Duration
	for i := 1; i < len(fires); i++ {
		if d := fires[i].t.Sub(fires[i-1].t); least == 0 || d < least {
			least = d
		}
	}
	return least
}

// acrossMidnight pairs fires before and after (by position when there are
// as many, else each after-fire with the nearest before-fire within 12
// hours) and keeps the pairs whose local date differs in loc.
func acrossMidnight(before, after []fire, loc *time.Location) []move {
	moves := []move{}
	pair := func(b, a fire) {
		if date(b.t, loc) != date(a.t, loc) {
			moves = append(moves, move{Before: newFire(b.t, loc), After: a})
		}
	}
	if len(before) == len(after) {
		for i := range after {
			pair(before[i], after[i])
		}
		return moves
	}
	j := 0
	for _, a := range after {
		for j+1 < len(before) && absDur(before[j+1].t.Sub(a.t)) <= absDur(before[j].t.Sub(a.t)) {
			j++
		}
		if j < len(before) && absDur(before[j].t.Sub(a.t)) <= 12*time.Hour {
			pair(before[j], a)
		}
	}
	return moves
}

func date(t time.Time, loc *time.Location) string { return t.In(loc).Format(time.DateOnly) }

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
