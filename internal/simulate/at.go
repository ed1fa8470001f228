package simulate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
)

// Limits of a window listing.
const (
	// maxWindow is the longest window --at accepts.
	maxWindow = 366 * 24 * time.Hour
	// maxListedFires is how many fires per definition a listing shows; the
	// rest are counted.
	maxListedFires = 100
	// maxCountedFires stops counting (a every-second schedule over a year).
	maxCountedFires = 100_000
)

// Window is the time span --at asks about: [Start, End).
type Window struct {
	Text  string    `json:"text"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Instant is true for a single time: the window is the minute that
	// holds it (cron fires on whole minutes).
	Instant bool `json:"instant"`
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time with a zone (e.g. 2026-03-29T03:00:00Z or 2026-03-29T03:00:00+02:00)", s)
}

// ParseWindow reads TIME, START/END or START/DURATION (a Go duration such
// as 36h or 90m, or a number of days such as 7d).
func ParseWindow(s string) (Window, error) {
	s = strings.TrimSpace(s)
	w := Window{Text: s}
	start, rest, isWindow := strings.Cut(s, "/")
	t, err := parseTime(start)
	if err != nil {
		return w, err
	}
	if !isWindow {
		w.Instant = true
		w.Start = t.Truncate(time.Minute)
		w.End = w.Start.Add(time.Minute)
		return w, nil
	}
	w.Start = t.Truncate(time.Second)
	if end, err := parseTime(rest); err == nil {
		w.End = end
	} else if d, derr := parseDuration(rest); derr == nil {
		w.End = t.Add(d)
	} else {
		return w, fmt.Errorf("window end %q is neither an RFC 3339 time nor a duration (e.g. 2026-03-30T00:00:00Z, 36h, 7d)", rest)
	}
	switch {
	case !w.End.After(w.Start):
		return w, fmt.Errorf("window %q ends before it starts", s)
	case w.End.Sub(w.Start) > maxWindow:
		return w, fmt.Errorf("window %q is longer than %d days", s, int(maxWindow.Hours()/24))
	}
	return w, nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, errors.New("bad days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("bad duration")
	}
	return d, nil
}

// Fire is one fire time, in the definition's zone and in UTC.
type Fire struct {
	Local string `json:"local"`
	UTC   string `json:"utc"`
}

// FireList is what one cron or once definition does in a window.
type FireList struct {
	DefinitionID string `json:"definition_id"`
	Trigger      string `json:"trigger_type"`
	// Schedule is the cron expression, or "once at <run_at>".
	Schedule string `json:"schedule"`
	Timezone string `json:"timezone"`
	Enabled  bool   `json:"enabled"`
	// Count is the number of fires in the window (0 for a disabled
	// definition: its schedule is paused).
	Count int `json:"count"`
	// CountCapped is true when counting stopped at a large number.
	CountCapped bool `json:"count_capped,omitempty"`
	// Fires lists the first maxListedFires fires.
	Fires []Fire `json:"fires"`
	Note  string `json:"note,omitempty"`
}

// AtReport answers --at: per cron and once definition, its fires in the
// window.
type AtReport struct {
	Window Window `json:"window"`
	// Definitions holds every cron and once definition, those that fire
	// first, then by id.
	Definitions []FireList `json:"definitions"`
}

// Firing returns the ids of the definitions that fire at least once.
func (r *AtReport) Firing() []string {
	var ids []string
	for _, d := range r.Definitions {
		if d.Count > 0 {
			ids = append(ids, d.DefinitionID)
		}
	}
	return ids
}

// Fires lists what every cron and once definition does in the window. Fire
// times come from cronexpr, which computes them as Temporal's scheduler
// does (zones, DST gaps and repeated hours included).
func Fires(defs []*definition.Definition, w Window) *AtReport {
	rep := &AtReport{Window: w, Definitions: []FireList{}}
	var firing, quiet []FireList
	for _, d := range defs {
		t := d.Trigger
		if t.Type != definition.TriggerCron && t.Type != definition.TriggerOnce {
			continue
		}
		loc := t.Location()
		fl := FireList{DefinitionID: d.ID, Trigger: t.Type, Timezone: loc.String(), Enabled: d.Enabled, Fires: []Fire{}}
		add := func(ts time.Time) {
			fl.Count++
			if len(fl.Fires) < maxListedFires {
				fl.Fires = append(fl.Fires, Fire{Local: ts.In(loc).Format(time.RFC3339), UTC: ts.UTC().Format(time.RFC3339)})
			}
		}
		switch t.Type {
		case definition.TriggerOnce:
			fl.Schedule = "once at " + t.RunAt.Format(time.RFC3339)
			if d.Enabled && !t.RunAt.Before(w.Start) && t.RunAt.Before(w.End) {
				add(*t.RunAt)
			}
		case definition.TriggerCron:
			fl.Schedule = t.CronExpression
			sched, err := cronexpr.Parse(t.CronExpression)
			if err != nil {
				// Load validated it; this cannot happen for a loaded file.
				fl.Note = "cron expression does not parse: " + err.Error()
				break
			}
			if !d.Enabled {
				break
			}
			after := w.Start.Add(-time.Second)
			for {
				next := sched.Next(after, loc)
				if next.IsZero() || !next.Before(w.End) {
					break
				}
				if fl.Count >= maxCountedFires {
					fl.CountCapped = true
					break
				}
				add(next)
				after = next
			}
			if t.Jitter > 0 {
				fl.Note = fmt.Sprintf("each fire is delayed by a random 0-%s (jitter)", t.Jitter)
			}
		}
		if !d.Enabled {
			fl.Note = "disabled: its schedule is paused, it does not fire"
		}
		if fl.Count > 0 {
			firing = append(firing, fl)
		} else {
			quiet = append(quiet, fl)
		}
	}
	rep.Definitions = append(append(rep.Definitions, firing...), quiet...)
	return rep
}
