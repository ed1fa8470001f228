package cronexpr

import "time"

// epochMinusOneSecond is where Temporal starts searching when `after` is
// earlier. spec.go GetNextTime does `after = util.MaxTime(after,
// cs.spec.StartTime.AsTime().Add(-time.Second))`, and a nil StartTime's
// AsTime() is the Unix epoch.
var epochMinusOneSecond = time.Unix(-1, 0)

// Next returns the first time strictly after `after` at which Temporal would
// fire this schedule, or the zero time if there is none (for example, after
// the year 2100, where Temporal stops). It exists so that `activity-core next`
// and validators can predict Temporal's behaviour exactly, including on DST
// change days (see the package documentation).
//
// The calendar is evaluated in the zone from the expression's TZ= prefix if
// there is one (ParseTemporal only; Temporal lets that prefix set the
// schedule's zone). Otherwise loc is used, and a nil loc means UTC, which is
// Temporal's default. The result is returned in loc (or in the evaluation zone
// if loc is nil). Like Temporal, Next works at one-second resolution: results
// are whole seconds.
//
// Next mirrors spec.go GetNextTime/rawNextTime for a single calendar or
// interval and no start time, end time, exclusions or jitter. The calendar
// search is calendar.go (*compiledCalendar).next. It advances field by field
// (month, day, hour, minute, second), not minute by minute, and it stops at the
// end of 2100, so even a schedule that never fires returns quickly.
func (s *Schedule) Next(after time.Time, loc *time.Location) time.Time {
	if s == nil {
		return time.Time{}
	}
	zone := s.loc
	if zone == nil {
		zone = loc
	}
	if zone == nil {
		zone = time.UTC
	}
	out := loc
	if out == nil {
		out = zone
	}

	if after.Before(epochMinusOneSecond) {
		after = epochMinusOneSecond
	}
	var unix int64
	if s.isInterval {
		unix = s.nextIntervalTime(after.Unix())
	} else {
		next := s.calendarNext(after, zone)
		if next.IsZero() {
			return time.Time{}
		}
		unix = next.Unix()
	}
	nominal := time.Unix(unix, 0).UTC()
	// spec.go GetNextTime pastEndTime: t.Year() > maxCalendarYear (UTC year).
	if nominal.Year() > maxCalendarYear {
		return time.Time{}
	}
	return nominal.In(out)
}

// NextN returns up to n successive fire times after `after`, each computed
// from the previous one as Temporal's scheduler does. The list is shorter if
// the schedule runs out (see Next). It exists for previews such as
// `activity-core next -n 10`.
func (s *Schedule) NextN(after time.Time, loc *time.Location, n int) []time.Time {
	if n <= 0 {
		return nil
	}
	out := make([]time.Time, 0, min(n, 1024))
	for len(out) < n {
		next := s.Next(after, loc)
		if next.IsZero() {
			break
		}
		out = append(out, next)
		after = next
	}
	return out
}

// nextIntervalTime is spec.go nextIntervalTime for @every.
func (s *Schedule) nextIntervalTime(ts int64) int64 {
	interval := max(int64(s.interval/time.Second), 1)
	phase := max(int64(s.phase/time.Second), 0)
	return (((ts-phase)/interval)+1)*interval + phase
}

func (s *Schedule) matchYear(y int) bool {
	return s.yearAll || s.year.has(y-minCalendarYear)
}

// calendarNext is calendar.go (*compiledCalendar).next, transcribed statement
// by statement, with the field predicates replaced by bit tests. Do not
// "simplify" it: its treatment of DST gaps and repeated hours (the dstoffset
// logic and the final Hour() check) is what this package promises to
// reproduce, quirks included.
func (s *Schedule) calendarNext(ts time.Time, tz *time.Location) time.Time {
	// set time zone
	ts = ts.In(tz)

	// get ymdhms from ts
	y, mo, d := ts.Date()
	h, m, sec := ts.Clock()
	dstoffset := 0 * time.Hour
	if ts.Add(-time.Hour).Hour() == h {
		// we're in the second copy of a dst repeated hour
		dstoffset = 1 * time.Hour
	}

	// looking for first matching time after ts, so add 1 second
	sec++

Outer:
	for {
		// normalize after carries
		if sec >= 60 {
			m, sec = m+1, 0
		}
		if m >= 60 {
			prev := time.Date(y, mo, d, h, 0, 0, 0, tz)
			h, m = h+1, 0
			next := time.Date(y, mo, d, h, 0, 0, 0, tz)
			// if we moved to the next hour but it's two hours later, then we
			// skipped over a dst repeated hour. try it again with an offset.
			if dstoffset == 0 && next.Sub(prev) > time.Hour {
				h = h - 1
				dstoffset = 1 * time.Hour
			} else {
				dstoffset = 0
			}
		}
		if h >= 24 {
			d, h = d+1, 0
		}
		if d > daysInMonth(mo, y) {
			mo, d = mo+1, 1
		}
		if mo > time.December {
			y, mo = y+1, time.January
		}
		if y > maxCalendarYear {
			break Outer
		}
		// try to match year, month, etc. from outside in
		if !s.matchYear(y) {
			y, mo, d, h, m, sec = y+1, time.January, 1, 0, 0, 0
			dstoffset = 0
			continue Outer
		}
		for !s.month.has(int(mo)) {
			mo, d, h, m, sec = mo+1, 1, 0, 0, 0
			dstoffset = 0
			if mo > time.December {
				continue Outer
			}
		}
		for !s.dom.has(d) || !s.dow.has(int(time.Date(y, mo, d, h, m, sec, 0, tz).Weekday())) {
			d, h, m, sec = d+1, 0, 0, 0
			dstoffset = 0
			if d > daysInMonth(mo, y) {
				continue Outer
			}
		}
		for !s.hour.has(h) {
			h, m, sec = h+1, 0, 0
			dstoffset = 0
			if h >= 24 {
				continue Outer
			}
		}
		for !s.minute.has(m) {
			m, sec = m+1, 0
			if m >= 60 {
				continue Outer
			}
		}
		for !s.second.has(sec) {
			sec = sec + 1
			if sec >= 60 {
				continue Outer
			}
		}
		// everything matches
		nextTs := time.Date(y, mo, d, h, m, sec, 0, tz)
		// we might have reached a nonexistent time that got jumped over by a
		// dst transition. we can tell if the hour is different from what we
		// think it should be.
		if nextTs.Hour() != h {
			h, m, sec = h+1, 0, 0
			continue Outer
		}
		return nextTs.Add(dstoffset)
	}

	// no more matching times (up to max we checked)
	return time.Time{}
}
