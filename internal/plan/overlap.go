package plan

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// overlapPagesMax bounds the pages of runs read per definition.
const overlapPagesMax = 5

// Overlap is the overlap-risk check: each changed schedule's shortest
// interval against the p95 duration of its recent finished runs.
type overlap struct {
	// Checked is false when there was no store to ask; Note says why.
	Checked bool           `json:"checked"`
	Note    string         `json:"note,omitempty"`
	Checks  []overlapCheck `json:"checks"`
}

// OverlapCheck is one definition's numbers.
type overlapCheck struct {
	ID       string              `json:"id"`
	Interval definition.Duration `json:"interval"`
	// Runs is how many finished runs P95 is computed from.
	Runs int                 `json:"runs"`
	P95  definition.Duration `json:"p95"`
	// Risk is set when P95 is at least half of Interval.
	Risk bool   `json:"risk"`
	Note string `json:"note,omitempty"`
}

// overlap fills Overlap for every added or changed schedule with at least
// two fires in the window.
func (r *Report) overlap(ctx context.Context, cfg *Config) {
	r.Overlap.Checks = []overlapCheck{}
	if cfg.Runs == nil {
		r.Overlap.Note = "overlap risk not checked: " + cmp.Or(cfg.RunsUnavailable, "no store configured (set ACTIVITY_DATABASE_URL)")
		return
	}
	r.Overlap.Checked = true
	for _, s := range r.Schedules {
		if s.Unchanged || s.ShortestInterval <= 0 {
			continue
		}
		c := overlapCheck{ID: s.ID, Interval: s.ShortestInterval}
		durs, err := finishedDurations(ctx, cfg, s.ID)
		switch {
		case err != nil:
			c.Note = "run history not read: " + err.Error()
		case len(durs) == 0:
			c.Note = "no finished runs yet"
		default:
			c.Runs, c.P95 = len(durs), definition.Duration(p95(durs))
			c.Risk = 2*c.P95 >= c.Interval
		}
		if c.Risk {
			r.Warnings = append(r.Warnings, warning{Kind: warnOverlap, DefinitionID: s.ID, Message: fmt.Sprintf(
				"%s: runs may overlap: p95 duration %s of the last %d finished runs is %d%% of the shortest interval %s",
				s.ID, c.P95, c.Runs, int64(100*c.P95/c.Interval), c.Interval)})
		}
		r.Overlap.Checks = append(r.Overlap.Checks, c)
	}
}

// finishedDurations reads the durations (started to finished) of the
// definition's most recent cfg.OverlapRuns finished runs.
func finishedDurations(ctx context.Context, cfg *Config, id string) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeoutDefault)
	defer cancel()
	var durs []time.Duration
	f := store.RunFilter{DefinitionID: id, Limit: min(2*cfg.OverlapRuns, store.RunListLimitMax)}
	for range overlapPagesMax {
		page, err := cfg.Runs.ListRuns(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, run := range page.Runs {
			if run.StartedAt != nil && run.FinishedAt != nil && !run.FinishedAt.Before(*run.StartedAt) {
				durs = append(durs, run.FinishedAt.Sub(*run.StartedAt))
				if len(durs) == cfg.OverlapRuns {
					return durs, nil
				}
			}
		}
		if page.Next == "" {
			break
		}
		f.Before = page.Next
	}
	return durs, nil
}

// p95 is the nearest-rank 95th percentile.
func p95(durs []time.Duration) time.Duration {
	s := append([]time.Duration(nil), durs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (95*len(s)+99)/100 - 1
	return s[max(i, 0)]
}
