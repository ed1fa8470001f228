package importer

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// calendarShorthands are systemd's named calendar events (systemd.time(7)).
var calendarShorthands = map[string]string{
	"minutely":     "*-*-* *:*:00",
	"hourly":       "*-*-* *:00:00",
	"daily":        "*-*-* 00:00:00",
	"monthly":      "*-*-01 00:00:00",
	"weekly":       "Mon *-*-* 00:00:00",
	"yearly":       "*-01-01 00:00:00",
	"annually":     "*-01-01 00:00:00",
	"quarterly":    "*-01,04,07,10-01 00:00:00",
	"semiannually": "*-01,07-01 00:00:00",
}

var weekdayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// errInexpressible marks a valid calendar event that a 5-field cron
// expression cannot say.
type errInexpressible struct{ msg string }

func (e *errInexpressible) Error() string { return e.msg }

func inexpressible(format string, args ...any) error {
	return &errInexpressible{fmt.Sprintf(format, args...)}
}

// parseCalendar reads an OnCalendar= value (systemd.time(7), "Calendar
// Events": [WEEKDAYS] [DATE] [TIME] [ZONE]) into cron sets. zone is "" when
// the event names none. An event cron cannot express (seconds other than
// :00, years, ~ last days) is an *errInexpressible.
func parseCalendar(spec string) (sc schedule, zone string, err error) {
	toks := strings.Fields(spec)
	if len(toks) == 0 {
		return sc, "", fmt.Errorf("empty calendar event")
	}
	if toks, zone, err = calendarZone(toks); err != nil {
		return sc, "", err
	}
	if len(toks) == 1 {
		if full, ok := calendarShorthands[strings.ToLower(toks[0])]; ok {
			toks = strings.Fields(full)
		}
	}
	sc.fields[4] = fieldDow.all()
	if isWeekdaySpec(toks[0]) {
		if sc.fields[4], err = parseWeekdays(toks[0]); err != nil {
			return sc, "", err
		}
		toks = toks[1:]
	}
	date, clock := "*-*-*", "00:00:00"
	switch len(toks) {
	case 0:
	case 1:
		if strings.Contains(toks[0], ":") {
			clock = toks[0]
		} else {
			date = toks[0]
		}
	case 2:
		date, clock = toks[0], toks[1]
	default:
		return sc, "", fmt.Errorf("expected [WEEKDAYS] [DATE] [TIME] [ZONE], got %d parts", len(toks)+1)
	}
	if err := parseCalendarDate(date, &sc); err != nil {
		return sc, "", err
	}
	if err := parseCalendarTime(clock, &sc); err != nil {
		return sc, "", err
	}
	return sc, zone, nil
}

// calendarZone takes a trailing time zone off the event's parts.
func calendarZone(toks []string) ([]string, string, error) {
	if len(toks) < 2 {
		return toks, "", nil
	}
	last := toks[len(toks)-1]
	// A date starts with a digit or '*' and a time holds ':', so a last
	// part that starts with a letter is a zone (weekdays come first).
	if c := last[0]; (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') && !strings.Contains(last, ":") {
		if _, lerr := time.LoadLocation(last); lerr != nil || last == "Local" {
			return nil, "", fmt.Errorf("%q is not a time zone systemd or activity-core knows (use an IANA name such as Europe/Berlin)", last)
		}
		return toks[:len(toks)-1], last, nil
	}
	return toks, "", nil
}

// parseCalendarDate reads YEAR-MONTH-DAY or MONTH-DAY into the month and
// day-of-month sets of sc.
func parseCalendarDate(date string, sc *schedule) (err error) {
	if strings.Contains(date, "~") {
		return inexpressible("%q counts days back from the end of the month (~); cron has no last-day syntax", date)
	}
	dp := strings.Split(date, "-")
	switch len(dp) {
	case 2:
		dp = append([]string{"*"}, dp...)
	case 3:
	default:
		return fmt.Errorf("date %q: expected YEAR-MONTH-DAY or MONTH-DAY", date)
	}
	if dp[0] != "*" {
		if _, err := parseCalendarComponent(dp[0], "year", 1970, 2199); err != nil {
			return err
		}
		return inexpressible("year %q: cron has no year field, so the schedule would repeat every year (for a single date, write trigger_type: once with run_at)", dp[0])
	}
	if sc.fields[3], err = parseCalendarComponent(dp[1], "month", 1, 12); err != nil {
		return err
	}
	if sc.fields[2], err = parseCalendarComponent(dp[2], "day", 1, 31); err != nil {
		return err
	}
	return nil
}

// parseCalendarTime reads HOUR:MINUTE[:SECOND] into the hour and minute
// sets of sc. The seconds must be 0: cron fires on whole minutes.
func parseCalendarTime(clock string, sc *schedule) (err error) {
	tp := strings.Split(clock, ":")
	switch len(tp) {
	case 2:
		tp = append(tp, "00")
	case 3:
	default:
		return fmt.Errorf("time %q: expected HOUR:MINUTE[:SECOND]", clock)
	}
	if sc.fields[1], err = parseCalendarComponent(tp[0], "hour", 0, 23); err != nil {
		return err
	}
	if sc.fields[0], err = parseCalendarComponent(tp[1], "minute", 0, 59); err != nil {
		return err
	}
	sec := tp[2]
	if whole, frac, ok := strings.Cut(sec, "."); ok && strings.Trim(frac, "0") == "" {
		sec = whole
	}
	if strings.Contains(sec, ".") {
		return inexpressible("second %q: cron fires on whole minutes, not at fractions of a second", tp[2])
	}
	secs, err := parseCalendarComponent(sec, "second", 0, 59)
	if err != nil {
		return err
	}
	if secs != 1 { // only second 0
		return inexpressible("second %q: cron fires once a minute at :00; this event fires at other seconds", tp[2])
	}
	return nil
}

// isWeekdaySpec reports whether tok looks like "Mon..Fri,Sun".
func isWeekdaySpec(tok string) bool {
	if tok == "" || !(tok[0] >= 'a' && tok[0] <= 'z' || tok[0] >= 'A' && tok[0] <= 'Z') {
		return false
	}
	if _, ok := calendarShorthands[strings.ToLower(tok)]; ok {
		return false
	}
	for _, r := range tok {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == ',' || r == '.') {
			return false
		}
	}
	return true
}

// parseWeekdays reads "Mon..Fri,Sun"; ranges run Monday to Sunday and
// cannot wrap, as in systemd.
func parseWeekdays(tok string) (set, error) {
	var s set
	for _, item := range strings.Split(tok, ",") {
		a, b, isRange := strings.Cut(item, "..")
		from, err := weekday(a)
		if err != nil {
			return 0, err
		}
		to := from
		if isRange {
			if to, err = weekday(b); err != nil {
				return 0, err
			}
		}
		// systemd orders Monday (1) .. Sunday (7).
		mf, mt := (from+6)%7+1, (to+6)%7+1
		if mf > mt {
			return 0, fmt.Errorf("weekday range %q runs backwards (systemd ranges run Mon..Sun and cannot wrap)", item)
		}
		for d := mf; d <= mt; d++ {
			s.add(d % 7)
		}
	}
	return s, nil
}

func weekday(name string) (int, error) {
	low := strings.ToLower(name)
	for i, full := range weekdayNames {
		if low == full || low == full[:3] {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a weekday (Mon, Tue, … or Monday, Tuesday, …)", name)
}

// parseCalendarComponent reads one date or time component: a list of *,
// V, A..B, V/R or A..B/R items. "*" takes no repetition in systemd.
func parseCalendarComponent(text, name string, lo, hi int) (set, error) {
	var s set
	for _, item := range strings.Split(text, ",") {
		base, repText, hasRep := strings.Cut(item, "/")
		rep := 1
		if hasRep {
			n, err := strconv.Atoi(repText)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("%s %q: repetition %q must be a positive whole number", name, item, repText)
			}
			rep = n
		}
		var from, to int
		switch {
		case base == "*":
			if hasRep {
				return 0, fmt.Errorf("%s %q: systemd does not accept a repetition after * (write %d/%d)", name, item, lo, rep)
			}
			from, to = lo, hi
		case strings.Contains(base, ".."):
			a, b, _ := strings.Cut(base, "..")
			var err error
			if from, err = calendarNumber(a, name, lo, hi); err != nil {
				return 0, err
			}
			if to, err = calendarNumber(b, name, lo, hi); err != nil {
				return 0, err
			}
			if from > to {
				return 0, fmt.Errorf("%s range %q runs backwards", name, base)
			}
		default:
			v, err := calendarNumber(base, name, lo, hi)
			if err != nil {
				return 0, err
			}
			from, to = v, v
			if hasRep {
				to = hi
			}
		}
		if name == "year" {
			continue // years do not fit a set; the caller only needs validity
		}
		for v := from; v <= to; v += rep {
			s.add(v)
		}
	}
	return s, nil
}

func calendarNumber(tok, name string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(tok)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", name, tok)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s %d is out of range %d-%d", name, n, lo, hi)
	}
	return n, nil
}
