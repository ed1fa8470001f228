package cutover

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// ToleranceDefault is how far apart a legacy run and a fire may be and
// still be the same run: a timer's AccuracySec (1 min by default) plus
// cron's start-up second.
const ToleranceDefault = 2 * time.Minute

// shiftMax is the largest whole-hour shift the diagnosis tries: every
// zone's UTC offset is within ±14 h.
const shiftMax = 14

// Window is the time span compared and how close a pair must be.
type Window struct {
	Since     time.Time     `json:"since"`
	Until     time.Time     `json:"until"`
	Tolerance time.Duration `json:"tolerance_ns"`
}

// Pair is a legacy run and the fire taken to be the same run.
type pair struct {
	Legacy LegacyRun `json:"legacy"`
	Fire   Fire      `json:"fire"`
	// Offset is the fire's time minus the legacy run's.
	Offset time.Duration `json:"offset_ns"`
	// Disagree says why the two runs did not end alike (the legacy job
	// failed and the run succeeded, the definition missed the fire, …);
	// empty when they agree or one side does not say.
	Disagree string `json:"disagree,omitempty"`
}

// Shift is a whole-hour offset that would pair most runs.
type shift struct {
	// Hours is how much later the definition fires than the legacy job
	// (negative: earlier).
	Hours int `json:"hours"`
	// Pairs is how many runs the shift would pair.
	Pairs int `json:"pairs"`
}

// Comparison is what pairing found (NewReport).
type comparison struct {
	Pairs      []pair      `json:"pairs"`
	LegacyOnly []LegacyRun `json:"legacy_only"`
	FireOnly   []Fire      `json:"definition_only"`
	// Shift is set when most runs do not pair but a whole-hour shift
	// would pair most of them: a time zone mistake.
	Shift *shift `json:"shift,omitempty"`
	// AtEdges counts unpaired runs within the tolerance of the window's
	// ends, left out because their partner may lie outside it.
	AtEdges int `json:"at_edges,omitempty"`
}

// compare pairs each legacy run with the nearest unused fire within the
// tolerance, in time order, and lists what is left on either side.
func compare(legacy []LegacyRun, fires []Fire, w Window) comparison {
	legacy = slices.SortedFunc(slices.Values(legacy), func(a, b LegacyRun) int { return a.At.Compare(b.At) })
	fires = slices.SortedFunc(slices.Values(fires), func(a, b Fire) int { return a.At.Compare(b.At) })
	var c comparison
	partner := pairUp(legacy, fires, 0, w.Tolerance)
	used := make([]bool, len(fires))
	for i, l := range legacy {
		j := partner[i]
		if j < 0 {
			if w.atEdge(l.At) {
				c.AtEdges++
			} else {
				c.LegacyOnly = append(c.LegacyOnly, l)
			}
			continue
		}
		used[j] = true
		f := fires[j]
		c.Pairs = append(c.Pairs, pair{Legacy: l, Fire: f, Offset: f.At.Sub(l.At), Disagree: disagreement(l, f)})
	}
	for j, f := range fires {
		if used[j] {
			continue
		}
		if w.atEdge(f.At) {
			c.AtEdges++
		} else {
			c.FireOnly = append(c.FireOnly, f)
		}
	}
	c.Shift = findShift(legacy, fires, len(c.Pairs), w.Tolerance)
	return c
}

// atEdge reports whether t is so close to an end of the window that its
// partner may lie outside it (or not be logged yet).
func (w Window) atEdge(t time.Time) bool {
	return t.Before(w.Since.Add(w.Tolerance)) || (!w.Until.IsZero() && t.After(w.Until.Add(-w.Tolerance)))
}

// pairUp returns, for each legacy run shifted by shift, the index of its
// fire, or -1: greedy in time order, the nearest unused fire within tol.
func pairUp(legacy []LegacyRun, fires []Fire, shift, tol time.Duration) []int {
	partner := make([]int, len(legacy))
	used := make([]bool, len(fires))
	lo := 0
	for i, l := range legacy {
		at := l.At.Add(shift)
		for lo < len(fires) && fires[lo].At.Before(at.Add(-tol)) {
			lo++
		}
		best := -1
		for j := lo; j < len(fires) && !fires[j].At.After(at.Add(tol)); j++ {
			if !used[j] && (best < 0 || absDur(fires[j].At.Sub(at)) < absDur(fires[best].At.Sub(at))) {
				best = j
			}
		}
		partner[i] = best
		if best >= 0 {
			used[best] = true
		}
	}
	return partner
}

// findShift looks for a whole-hour shift pairing most runs when most do
// not pair as they are.
func findShift(legacy []LegacyRun, fires []Fire, paired int, tol time.Duration) *shift {
	most := max(len(legacy), len(fires))
	if most == 0 || paired*2 >= most {
		return nil
	}
	var best *shift
	for h := -shiftMax; h <= shiftMax; h++ {
		if h == 0 {
			continue
		}
		n := 0
		for _, j := range pairUp(legacy, fires, time.Duration(h)*time.Hour, tol) {
			if j >= 0 {
				n++
			}
		}
		if n*2 > most && n > paired && (best == nil || n > best.Pairs) {
			best = &shift{Hours: h, Pairs: n}
		}
	}
	return best
}

// disagreement says why a pair did not end alike, or "".
func disagreement(l LegacyRun, f Fire) string {
	switch store.RunStatus(f.Status) {
	case store.RunMissed:
		return "the definition missed this fire"
	case store.RunSucceeded:
		if l.Exit != nil && *l.Exit != 0 || l.Exit == nil && l.Result != "" {
			return fmt.Sprintf("legacy %s, run succeeded", l.Outcome())
		}
	case store.RunFailed, store.RunTimedOut:
		if l.Exit != nil && *l.Exit == 0 {
			return fmt.Sprintf("legacy exit 0, run %s", f.Status)
		}
	}
	return ""
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// FiresFromRuns turns a definition's runs into fires: the runs its
// schedule started (trigger cron, once or backfill) and the fires it
// missed, at their fire time, from since on. Manual and event runs are
// not fires of a schedule; their count is returned.
func FiresFromRuns(runs []store.Run, since time.Time) (fires []Fire, other int) {
	for _, r := range runs {
		switch r.Trigger {
		case store.RunTriggerManual, store.RunTriggerEvent:
			other++
			continue
		}
		at := r.CreatedAt
		if r.ScheduledAt != nil {
			at = *r.ScheduledAt
		}
		if at.Before(since) {
			continue
		}
		fires = append(fires, Fire{At: at.UTC(), RunID: r.ID, Status: string(r.Status), Decision: cmp.Or(r.SkipReason, r.Error)})
	}
	return fires, other
}
