package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
)

// DSTDay is a day on which the zone changes its clocks, and what the
// schedule does that day. Wall times are "15:04".
type dstDay struct {
	// Date is the local date.
	Date string `json:"date"`
	// Change says what the clocks do: "at 01:00 UTC clocks go from
	// 02:00 CET to 03:00 CEST".
	Change string `json:"change"`
	// Skipped are wall times the cron fields name that do not fire that
	// day (they do not exist, and Temporal skips them).
	Skipped []string `json:"skipped"`
	// Twice are wall times that fire more than once that day.
	Twice []string `json:"twice"`
	// Extra are wall times that fire although the fields do not name them.
	Extra []string `json:"extra"`
	// Fires are the fires on that day.
	Fires []fire `json:"fires"`
	// FiresLeftOut counts the fires that day not listed (the report's
	// fire budget).
	FiresLeftOut int `json:"fires_left_out,omitempty"`
}

// Affected reports whether the schedule fires differently that day.
func (d dstDay) Affected() bool {
	return len(d.Skipped)+len(d.Twice)+len(d.Extra) > 0
}

// dstDays finds the zone's clock changes in the window, flags the fires
// on those days and, for cron, compares them with the wall times the
// fields name.
func dstDays(t definition.Trigger, tm *Timing, w window) []dstDay {
	out := []dstDay{}
	loc := tm.loc
	var sched *cronexpr.Schedule
	if t.Type == definition.TriggerCron {
		sched, _ = cronexpr.Parse(t.CronExpression)
	}
	first := w.From.In(loc)
	for day := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, loc); day.Before(w.To); day = day.AddDate(0, 0, 1) {
		next := day.AddDate(0, 0, 1)
		_, off0 := day.Zone()
		_, off1 := next.Zone()
		if off0 == off1 {
			continue
		}
		d := dstDay{Date: day.Format(time.DateOnly), Change: clockChange(day, next, loc), Skipped: []string{}, Twice: []string{}, Extra: []string{}, Fires: []fire{}}
		actual := map[string]int{}
		for i := range tm.Fires {
			if date(tm.Fires[i].t, loc) == d.Date {
				tm.Fires[i].DSTDay = true
				d.Fires = append(d.Fires, tm.Fires[i])
				actual[tm.Fires[i].t.In(loc).Format("15:04")]++
			}
		}
		if sched != nil {
			compareWall(&d, sched, day, actual)
		}
		if len(d.Fires) > 0 || d.Affected() {
			out = append(out, d)
		}
	}
	return out
}

// compareWall compares the fires of one day with the wall times the cron
// fields name for that date (read as if the zone had no DST).
func compareWall(d *dstDay, sched *cronexpr.Schedule, day time.Time, actual map[string]int) {
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	named := map[string]bool{}
	var order []string
	for ts := sched.Next(start.Add(-time.Second), time.UTC); !ts.IsZero() && ts.Before(start.AddDate(0, 0, 1)); ts = sched.Next(ts, time.UTC) {
		wall := ts.Format("15:04")
		if !named[wall] {
			named[wall] = true
			order = append(order, wall)
		}
	}
	for _, wall := range order {
		switch n := actual[wall]; {
		case n == 0:
			d.Skipped = append(d.Skipped, wall)
		case n > 1:
			d.Twice = append(d.Twice, wall)
		}
	}
	for _, wall := range sortedIDs(actual) {
		if !named[wall] {
			d.Extra = append(d.Extra, wall)
		}
	}
}

// clockChange describes the change between day and next (local
// midnights): when, in UTC, and the wall clock either side.
func clockChange(day, next time.Time, loc *time.Location) string {
	lo, hi := day.Unix(), next.Unix()
	_, off0 := day.Zone()
	for hi-lo > 1 { // the first second with the new offset
		mid := lo + (hi-lo)/2
		if _, off := time.Unix(mid, 0).In(loc).Zone(); off == off0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	at := time.Unix(hi, 0)
	oldName, _ := time.Unix(lo, 0).In(loc).Zone()
	wasWall := at.In(time.FixedZone(oldName, off0)).Format("15:04 MST")
	nowWall := at.In(loc).Format("15:04 MST")
	return fmt.Sprintf("at %s UTC clocks go from %s to %s", at.UTC().Format("15:04"), wasWall, nowWall)
}

// dstWarnings warns about every DST day on which the schedule after the
// change skips, repeats or adds fires.
func (r *Report) dstWarnings(id string, tm *Timing) {
	for _, d := range tm.DST {
		var what []string
		if len(d.Skipped) > 0 {
			what = append(what, fmt.Sprintf("%s does not exist and is skipped (no fire then)", wallList(d.Skipped)))
		}
		if len(d.Twice) > 0 {
			what = append(what, fmt.Sprintf("%s fires twice", wallList(d.Twice)))
		}
		if len(d.Extra) > 0 {
			what = append(what, fmt.Sprintf("it also fires at %s", wallList(d.Extra)))
		}
		if len(what) == 0 {
			continue
		}
		r.Warnings = append(r.Warnings, warning{Kind: warnDST, DefinitionID: id,
			Message: fmt.Sprintf("%s: on %s (%s, %s) %s", id, d.Date, tm.Timezone, d.Change, strings.Join(what, "; "))})
	}
}

// wallList shows up to 5 wall times.
func wallList(walls []string) string {
	const show = 5
	if len(walls) <= show {
		return strings.Join(walls, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(walls[:show], ", "), len(walls)-show)
}
