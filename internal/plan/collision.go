package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
)

// idsShown caps the job ids a collision message names;
// collisionFiresMax bounds the fires counted over the whole head.
const (
	idsShown          = 10
	collisionFiresMax = 1_000_000
)

// Collision is a minute of the day (UTC) at which the same jobs, at
// least the threshold of them, fire together, and how often.
type collision struct {
	// UTC is the minute of the day, "15:04".
	UTC string `json:"utc"`
	// Jobs is len(IDs).
	Jobs int      `json:"jobs"`
	IDs  []string `json:"ids"`
	// Dates are the UTC dates it happens on in the window.
	Dates []string `json:"dates"`
	// Recurrence says how often in words: "daily", "every Monday", "on 3
	// days".
	Recurrence string `json:"recurrence"`
	// Changed is set when a job the change adds or changes is among them.
	Changed bool `json:"changed"`
}

// collisions counts, minute by minute over the window, the enabled cron
// definitions of the head that fire, and groups the crowded minutes by
// minute of the day and set of jobs.
func (r *Report) collisions(cfg *Config, head *side) {
	byMinute := map[int64][]string{}
	budget := collisionFiresMax
	for _, id := range sortedIDs(head.defs) {
		d := head.defs[id]
		if !d.Enabled || d.Trigger.Type != definition.TriggerCron {
			continue
		}
		sched, err := cronexpr.Parse(d.Trigger.CronExpression)
		if err != nil {
			continue
		}
		n := 0
		cut := eachFire(sched, d.Trigger.Location(), r.Window, budget, func(t time.Time) {
			m := t.Unix() / 60
			byMinute[m] = append(byMinute[m], id)
			n++
		})
		budget -= n
		if cut {
			r.CollisionsNote = fmt.Sprintf("counted over the first %d fires only, up to %s", collisionFiresMax, id)
			break
		}
	}
	changed := map[string]bool{}
	for _, a := range r.Added {
		changed[a.ID] = true
	}
	for _, c := range r.Changed {
		changed[c.ID] = true
	}
	groups := map[string]*collision{}
	for m, ids := range byMinute {
		if len(ids) < cfg.CollisionThreshold {
			continue
		}
		at := time.Unix(m*60, 0).UTC()
		key := at.Format("15:04") + " " + strings.Join(ids, ",")
		g := groups[key]
		if g == nil {
			g = &collision{UTC: at.Format("15:04"), Jobs: len(ids), IDs: ids}
			for _, id := range ids {
				g.Changed = g.Changed || changed[id]
			}
			groups[key] = g
		}
		g.Dates = append(g.Dates, at.Format(time.DateOnly))
	}
	for _, g := range groups {
		sort.Strings(g.Dates)
		g.Recurrence = recurrence(g, r.Window)
		r.Collisions = append(r.Collisions, *g)
	}
	sortCollisions(r.Collisions)
	r.listCollisions()
}

func sortCollisions(cs []collision) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		switch {
		case a.Jobs != b.Jobs:
			return a.Jobs > b.Jobs
		case len(a.Dates) != len(b.Dates):
			return len(a.Dates) > len(b.Dates)
		case a.UTC != b.UTC:
			return a.UTC < b.UTC
		}
		return strings.Join(a.IDs, ",") < strings.Join(b.IDs, ",")
	})
}

// recurrence names the pattern of a collision's dates: daily when it
// happens on every day of the window that has that minute, weekly when
// on every such day of one weekday, else how many days.
func recurrence(c *collision, w window) string {
	var all, sameWeekday []string
	first, _ := time.Parse(time.DateOnly, c.Dates[0])
	hm, _ := time.Parse("15:04", c.UTC)
	start := time.Date(w.From.Year(), w.From.Month(), w.From.Day(), hm.Hour(), hm.Minute(), 0, 0, time.UTC)
	for t := start; t.Before(w.To); t = t.AddDate(0, 0, 1) {
		if t.Before(w.From) {
			continue
		}
		all = append(all, t.Format(time.DateOnly))
		if t.Weekday() == first.Weekday() {
			sameWeekday = append(sameWeekday, t.Format(time.DateOnly))
		}
	}
	switch {
	case len(c.Dates) == 1:
		return "once, " + c.Dates[0]
	case equal(c.Dates, all):
		return "daily"
	case equal(c.Dates, sameWeekday):
		return "every " + first.Weekday().String()
	}
	return fmt.Sprintf("on %d days, first %s", len(c.Dates), c.Dates[0])
}

func equal(a, b []string) bool {
	return strings.Join(a, " ") == strings.Join(b, " ")
}

// Message is the collision in one line: "14 jobs at 03:00 UTC (daily):
// a, b, … and 4 more".
func (c collision) Message() string {
	return fmt.Sprintf("%d jobs at %s UTC (%s): %s", c.Jobs, c.UTC, c.Recurrence, idList(c.IDs))
}

func idList(ids []string) string {
	if len(ids) <= idsShown {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:idsShown], ", "), len(ids)-idsShown)
}
