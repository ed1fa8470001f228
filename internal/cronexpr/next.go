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
// by statement (its loop's carries are calCursor.normalize, its field
// matching matchFrom), with the field predicates replaced by bit tests. Do not
// "simplify" it: its treatment of DST gaps and repeated hours (the dstoffset
// logic and the final Hour() check) is what this package promises to
// reproduce, quirks included.
func (s *Schedule) calendarNext(ts time.Time, tz *time.Location) time.Time {
	// set time zone
	ts = ts.In(tz)

	// get ymdhms from ts
	c := &calCursor{tz: tz}
	c.y, c.mo, c.d = ts.Date()
	c.h, c.m, c.sec = ts.Clock()
	if ts.Add(-time.Hour).Hour() == c.h {
		// we're in the second copy of a dst repeated hour
		c.dstoffset = 1 * time.Hour
	}

	// looking for first matching time after ts, so add 1 second
	c.sec++

	for {
		c.normalize()
		if c.y > maxCalendarYear {
			// no more matching times (up to max we checked)
			return time.Time{}
		}
		if !s.matchFrom(c) {
			continue
		}
		// everything matches
		nextTs := time.Date(c.y, c.mo, c.d, c.h, c.m, c.sec, 0, tz)
		// we might have reached a nonexistent time that got jumped over by a
		// dst transition. we can tell if the hour is different from what we
		// think it should be.
		if nextTs.Hour() != c.h {
			c.h, c.m, c.sec = c.h+1, 0, 0
			continue
		}
		return nextTs.Add(c.dstoffset)
	}
}

// calCursor is calendarNext's position: a wall-clock time in tz, and the
// offset that puts it in the second copy of an hour a DST change repeats.
type calCursor struct {
	y            int
	mo           time.Month
	d, h, m, sec int
	dstoffset    time.Duration
	tz           *time.Location
}

// normalize carries the fields that ran over into the next larger one.
func (c *calCursor) normalize() {
	if c.sec >= 60 {
		c.m, c.sec = c.m+1, 0
	}
	if c.m >= 60 {
		prev := time.Date(c.y, c.mo, c.d, c.h, 0, 0, 0, c.tz)
		c.h, c.m = c.h+1, 0
		next := time.Date(c.y, c.mo, c.d, c.h, 0, 0, 0, c.tz)
		// if we moved to the next hour but it's two hours later, then we
		// skipped over a dst repeated hour. try it again with an offset.
		if c.dstoffset == 0 && next.Sub(prev) > time.Hour {
			c.h = c.h - 1
			c.dstoffset = 1 * time.Hour
		} else {
			c.dstoffset = 0
		}
	}
	if c.h >= 24 {
		c.d, c.h = c.d+1, 0
	}
	if c.d > daysInMonth(c.mo, c.y) {
		c.mo, c.d = c.mo+1, 1
	}
	if c.mo > time.December {
		c.y, c.mo = c.y+1, time.January
	}
}

// matchFrom moves c forward to the first time whose fields all match,
// trying year, month, etc. from outside in. It returns false when a field
// ran over: c must be normalized and the match tried again.
func (s *Schedule) matchFrom(c *calCursor) bool {
	if !s.matchYear(c.y) {
		c.y, c.mo, c.d, c.h, c.m, c.sec = c.y+1, time.January, 1, 0, 0, 0
		c.dstoffset = 0
		return false
	}
	for !s.month.has(int(c.mo)) {
		c.mo, c.d, c.h, c.m, c.sec = c.mo+1, 1, 0, 0, 0
		c.dstoffset = 0
		if c.mo > time.December {
			return false
		}
	}
	for !s.dom.has(c.d) || !s.dow.has(int(time.Date(c.y, c.mo, c.d, c.h, c.m, c.sec, 0, c.tz).Weekday())) {
		c.d, c.h, c.m, c.sec = c.d+1, 0, 0, 0
		c.dstoffset = 0
		if c.d > daysInMonth(c.mo, c.y) {
			return false
		}
	}
	for !s.hour.has(c.h) {
		c.h, c.m, c.sec = c.h+1, 0, 0
		c.dstoffset = 0
		if c.h >= 24 {
			return false
		}
	}
	for !s.minute.has(c.m) {
		c.m, c.sec = c.m+1, 0
		if c.m >= 60 {
			return false
		}
	}
	for !s.second.has(c.sec) {
		c.sec = c.sec + 1
		if c.sec >= 60 {
			return false
		}
	}
	return true
}
