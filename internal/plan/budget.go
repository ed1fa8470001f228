package plan

import "slices"

// FiresListedDefault bounds the fires the report lists in all (timings,
// DST days, midnight moves counting two), so that a change adding a
// hundred every-minute jobs makes a JSON of a few MB, not 120 (attack
// review finding 7). What is left out is counted, never silently lost.
const firesListedDefault = 20_000

// collisionsListed bounds the collisions listed, and warned about, largest
// first: jobs every minute make one per minute of the day and set of jobs.
const collisionsListed = 1_000

// listFires cuts the fire lists of the schedules to limit fires in all,
// first come first listed, each list keeping at least its first
// firesShown (what the markdown shows); the analysis (DST, midnight
// moves, shortest interval) was done on every fire before.
func (r *Report) listFires(limit int) {
	left := limit
	// take says how many of n entries, of w fires each, a list keeps.
	take := func(n, w int) int {
		keep := min(n, max(firesShown, left/w))
		left -= min(left, keep*w)
		r.FiresLeftOut += (n - keep) * w
		return keep
	}
	for i := range r.Schedules {
		s := &r.Schedules[i]
		for _, tm := range []*Timing{s.Before, s.After} {
			if tm == nil {
				continue
			}
			tm.Fires, tm.FiresLeftOut = cut(tm.Fires, take(len(tm.Fires), 1))
			for j := range tm.DST {
				d := &tm.DST[j]
				d.Fires, d.FiresLeftOut = cut(d.Fires, take(len(d.Fires), 1))
			}
		}
		s.AcrossMidnight, s.AcrossMidnightLeftOut = cut(s.AcrossMidnight, take(len(s.AcrossMidnight), 2))
	}
}

// cut keeps the first n of list, in a list of its own so the rest can be
// freed, and says how many it left out.
func cut[T any](list []T, n int) ([]T, int) {
	if n >= len(list) {
		return list, 0
	}
	return slices.Clone(list[:n]), len(list) - n
}

// count is how many fires a timing has in the window (up to firesMax),
// listed or not.
func (tm *Timing) count() int { return len(tm.Fires) + tm.FiresLeftOut }

// listCollisions keeps the first collisionsListed collisions (sorted,
// largest first), counts the rest, and warns about those it keeps.
func (r *Report) listCollisions() {
	if n := len(r.Collisions) - collisionsListed; n > 0 {
		r.CollisionsLeftOut = n
		r.Collisions = slices.Clone(r.Collisions[:collisionsListed])
	}
	for _, c := range r.Collisions {
		r.Warnings = append(r.Warnings, warning{Kind: warnCollision, Message: c.Message()})
	}
}
