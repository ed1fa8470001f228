package cronexpr

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// bitset holds the matching values of one field: bit v-field.base is set when
// value v matches. 128 bits cover every field, including years 2000-2100.
type bitset [2]uint64

func (b *bitset) add(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

func (b bitset) has(i int) bool {
	if i < 0 || i >= 128 {
		return false
	}
	return b[i>>6]&(1<<(uint(i)&63)) != 0
}

// parseMode mirrors calendar.go parseMode: which names a field accepts.
type parseMode int

const (
	modeInt   parseMode = iota // decimal integers only
	modeYear                   // like modeInt, but "*" means "every year" (no restriction at all)
	modeMonth                  // also month-name prefixes of at least 3 letters
	modeDow                    // also day-name prefixes of at least 2 letters; 7 is Sunday
)

type field struct {
	name     string
	min, max int
	base     int // value stored at bit 0
	mode     parseMode
}

// Ranges from calendar.go parseCalendarToStructured.
var (
	fieldSecond = &field{"second", 0, 59, 0, modeInt}
	fieldMinute = &field{"minute", 0, 59, 0, modeInt}
	fieldHour   = &field{"hour", 0, 23, 0, modeInt}
	fieldDom    = &field{"day-of-month", 1, 31, 0, modeInt}
	fieldMonth  = &field{"month", 1, 12, 0, modeMonth}
	fieldDow    = &field{"day-of-week", 0, 7, 0, modeDow}
	fieldYear   = &field{"year", minCalendarYear, maxCalendarYear, minCalendarYear, modeYear}
)

const (
	minCalendarYear = 2000 // calendar.go minCalendarYear
	maxCalendarYear = 2100 // calendar.go maxCalendarYear
)

// calendar.go monthStrings / dowStrings.
var (
	monthNames = [...]string{"january", "february", "march", "april", "may", "june", "july",
		"august", "september", "october", "november", "december"}
	dowNames = [...]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
)

// parseField mirrors calendar.go makeRange (including its handling of 7 as
// Sunday) followed by iterateRanges/makeBitMatcher. It accepts exactly the
// strings makeRange accepts. all reports the year special case "*" (no
// restriction).
func (p *parsed) parseField(text string, f *field) (set bitset, all bool, _ *Error) {
	s := strings.TrimSpace(text)
	if s == "*" && f.mode == modeYear {
		return set, true, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		part, step, hasStep, err := splitStep(item, f)
		if err != nil {
			return set, false, err
		}
		start, end, err := p.bounds(part, item, s, f, step, hasStep)
		if err != nil {
			return set, false, err
		}

		// makeRange's special handling for Sunday, verbatim: 7 becomes 0 by
		// adding a separate {Start: 0} range, but only when the range actually
		// reaches 7 and (step > 1 or start > 1). For 1-7 neither branch adds
		// 0, and the range becomes 1-6: Temporal drops Sunday.
		if f.mode == modeDow && end == 7 {
			if (7-start)%step == 0 && (step > 1 || step == 1 && start > 1) {
				set.add(0)
				if start == 7 {
					continue
				}
			} else if step == 1 && start == 1 && p.sundayDropped == "" {
				p.sundayDropped = item
			}
			end = 6
		}
		for v := start; v <= end; v += step {
			set.add(v - f.base)
		}
	}
	return set, false, nil
}

// splitStep splits a list item into its range and its /step (1 when it
// has none).
func splitStep(item string, f *field) (part string, step int, hasStep bool, _ *Error) {
	switch strings.Count(item, "/") {
	case 0:
		return item, 1, false, nil
	case 1:
		before, after, _ := strings.Cut(item, "/")
		if after == "" {
			return "", 0, false, errorf(f.name, "%q is missing the step after /", item)
		}
		n, err := strconv.Atoi(after)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return "", 0, false, errorf(f.name, "step %s in %q is too large", after, item)
			}
			return "", 0, false, errorf(f.name, "step %q in %q is not a number", after, item)
		}
		if n < 1 {
			return "", 0, false, errorf(f.name, "step %s in %q must be at least 1", after, item)
		}
		return before, n, true, nil
	default:
		return "", 0, false, errorf(f.name, "%q has more than one /", item)
	}
}

// bounds are the first and last value of an item's range (part, the item
// without its step; s is the whole field, for errors).
func (p *parsed) bounds(part, item, s string, f *field, step int, hasStep bool) (start, end int, _ *Error) {
	start, end = f.min, f.max
	if part == "*" {
		return start, end, nil
	}
	if strings.Contains(part, "-") {
		if strings.Count(part, "-") > 1 {
			return 0, 0, errorf(f.name, "%q has more than one - (negative numbers are not allowed)", item)
		}
		a, b, _ := strings.Cut(part, "-")
		switch a {
		case "":
			return 0, 0, errorf(f.name, "%q is missing the start of the range (negative numbers are not allowed)", item)
		case "*":
			return 0, 0, errorf(f.name, "%q is not a valid range: * cannot be part of a range", item)
		}
		var verr valueErr
		if start, verr = p.value(a, f); verr != vOK {
			return 0, 0, badValue(a, f, verr)
		}
		if b == "" {
			return 0, 0, errorf(f.name, "%q is missing the end of the range", item)
		}
		if end, verr = p.value(b, f); verr != vOK {
			return 0, 0, badValue(b, f, verr)
		}
		if end < start {
			return 0, 0, wrapError(part, start, end, f, hasStep)
		}
		return start, end, nil
	}
	if part == "" {
		if hasStep {
			return 0, 0, errorf(f.name, "%q is missing a start value before the /: write */%d", item, step)
		}
		return 0, 0, errorf(f.name, "empty list element in %q", s)
	}
	var verr valueErr
	if start, verr = p.value(part, f); verr != vOK {
		return 0, 0, badValue(part, f, verr)
	}
	if !hasStep {
		// if / is present, a single value is treated as that value to
		// the end. otherwise a single value is just the single value.
		return start, start, nil
	}
	p.stepNoRange = append(p.stepNoRange, item)
	return start, end, nil
}

type valueErr int

const (
	vOK valueErr = iota
	vOutOfRange
	vSyntax
)

// value mirrors calendar.go parseValue with min/max = the field's range:
// names are tried first (month: at least 3 bytes, day: at least 2 bytes; any
// case-insensitive prefix of the English name, first match wins), then
// strconv.Atoi.
func (p *parsed) value(tok string, f *field) (int, valueErr) {
	s := tok
	switch {
	case f.mode == modeMonth && len(s) >= 3:
		s = strings.ToLower(s)
		for i, name := range monthNames {
			if strings.HasPrefix(name, s) {
				p.noteName(tok)
				return i + 1, vOK
			}
		}
	case f.mode == modeDow && len(s) >= 2:
		s = strings.ToLower(s)
		for i, name := range dowNames {
			if strings.HasPrefix(name, s) {
				p.noteName(tok)
				return i, vOK
			}
		}
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, vOutOfRange
		}
		return 0, vSyntax
	}
	if i < f.min || i > f.max {
		return i, vOutOfRange
	}
	return i, vOK
}

// noteName records names that crontab would not accept. Crontab accepts only
// the three-letter abbreviations.
func (p *parsed) noteName(tok string) {
	if len(tok) != 3 {
		p.longNames = append(p.longNames, tok)
	}
}

// badValue explains why value() rejected tok.
func badValue(tok string, f *field, verr valueErr) *Error {
	if verr == vOutOfRange {
		return errorf(f.name, "%s is out of range %d-%d", tok, f.min, f.max)
	}
	switch {
	case tok == "?":
		return errorf(f.name, "? is not supported by Temporal: use *")
	case (f == fieldDom || f == fieldDow) && isLastOrWeekday(tok):
		return errorf(f.name, "%q is not supported: Temporal has no L or W (last day / nearest weekday) syntax", tok)
	case f.mode == modeMonth && startsWithLetter(tok):
		if len(tok) < 3 {
			return errorf(f.name, "%q is too short: month names need at least 3 letters (e.g. jan)", tok)
		}
		return errorf(f.name, "unknown name %q", tok)
	case f.mode == modeDow && startsWithLetter(tok):
		if len(tok) < 2 {
			return errorf(f.name, "%q is too short: day names need at least 2 letters (e.g. mo or mon)", tok)
		}
		return errorf(f.name, "unknown name %q", tok)
	case startsWithLetter(tok) && (f == fieldMinute || f == fieldHour || f == fieldSecond || f == fieldDom || f == fieldYear):
		return errorf(f.name, "%q is not a number (names are allowed only in month and day-of-week)", tok)
	}
	return errorf(f.name, "%q is not a number", tok)
}

func startsWithLetter(s string) bool {
	return s != "" && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z')
}

// isLastOrWeekday matches Quartz-style L, W, LW, 15W, 5L.
func isLastOrWeekday(tok string) bool {
	u := strings.ToUpper(tok)
	switch u {
	case "L", "W", "LW":
		return true
	}
	if len(u) < 2 || (u[len(u)-1] != 'L' && u[len(u)-1] != 'W') {
		return false
	}
	for _, c := range u[:len(u)-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// wrapError explains a range such as 22-2 or sat-sun and, when there is no
// step, suggests the equivalent list.
func wrapError(rng string, start, end int, f *field, hasStep bool) *Error {
	if hasStep {
		return errorf(f.name, "range %q ends before it starts (ranges cannot wrap around)", rng)
	}
	hi := f.max
	if f.mode == modeDow {
		hi = 6
	}
	piece := func(a, b int) string {
		if a == b {
			return strconv.Itoa(a)
		}
		return fmt.Sprintf("%d-%d", a, b)
	}
	var suggestion string
	if f.mode == modeDow && start == 7 {
		suggestion = piece(0, end)
	} else {
		suggestion = piece(start, hi) + "," + piece(f.min, end)
	}
	return errorf(f.name, "range %q ends before it starts (ranges cannot wrap around; write %q instead)", rng, suggestion)
}

// render prints a field's set canonically: "*", "*/n", "a-b/n", or a sorted
// list of values and runs "a-b". It never prints 7 for day-of-week and never
// prints names. all is the year-only "*" special case.
func render(b bitset, f *field, all bool) string {
	if all {
		return "*"
	}
	hi := f.max
	if f.mode == modeDow {
		hi = 6
	}
	var vals []int
	for v := f.min; v <= hi; v++ {
		if b.has(v - f.base) {
			vals = append(vals, v)
		}
	}
	if f.mode != modeYear && len(vals) == hi-f.min+1 {
		return "*"
	}
	if n := len(vals); n >= 3 {
		k := vals[1] - vals[0]
		arithmetic := k > 1
		for i := 2; arithmetic && i < n; i++ {
			arithmetic = vals[i]-vals[i-1] == k
		}
		if arithmetic {
			if vals[0] == f.min && vals[n-1]+k > hi {
				return fmt.Sprintf("*/%d", k)
			}
			return fmt.Sprintf("%d-%d/%d", vals[0], vals[n-1], k)
		}
	}
	var parts []string
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
			j++
		}
		switch j - i {
		case 0:
			parts = append(parts, strconv.Itoa(vals[i]))
		case 1:
			parts = append(parts, strconv.Itoa(vals[i]), strconv.Itoa(vals[j]))
		default:
			parts = append(parts, fmt.Sprintf("%d-%d", vals[i], vals[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// parseEvery mirrors calendar.go parseCronStringInterval followed by
// spec.go validateInterval.
func parseEvery(c string) (interval, phase time.Duration, _ *Error) {
	// split after @every (at the first ASCII space, as Temporal does)
	_, rest, found := strings.Cut(c, " ")
	if !found {
		return 0, 0, errorf("", "@every needs an interval, e.g. \"@every 15m\" or \"@every 1d/2h\"")
	}
	// allow @every 14h/3h
	iv, ph, _ := strings.Cut(rest, "/")
	interval, err := temporalParseDuration(iv)
	if err != nil {
		return 0, 0, errorf("", "@every: invalid interval %q (use a duration such as 90s, 15m, 2h or 1d)", iv)
	}
	if ph != "" {
		if phase, err = temporalParseDuration(ph); err != nil {
			return 0, 0, errorf("", "@every: invalid phase %q (use a duration such as 30s, 5m or 1h)", ph)
		}
	}
	switch {
	case interval < time.Second:
		return 0, 0, errorf("", "@every: interval %s is too small: the minimum is 1s", interval)
	case phase < 0:
		return 0, 0, errorf("", "@every: phase %s is negative", phase)
	case phase >= interval:
		return 0, 0, errorf("", "@every: phase %s must be less than the interval %s", phase, interval)
	}
	return interval, phase, nil
}

// reDays is timestamp.reDays from Temporal's common/primitives/timestamp.
var reDays = regexp.MustCompile(`(\d+(\.\d*)?|(\.\d+))d`)

// temporalParseDuration mirrors timestamp.ParseDuration: time.ParseDuration
// plus the unit "d" (exactly 24 hours).
func temporalParseDuration(s string) (time.Duration, error) {
	s = reDays.ReplaceAllStringFunc(s, func(v string) string {
		fv, err := strconv.ParseFloat(strings.TrimSuffix(v, "d"), 64)
		if err != nil {
			return v // will cause time.ParseDuration to return an error
		}
		return fmt.Sprintf("%fh", 24*fv)
	})
	return time.ParseDuration(s)
}

// daysInMonth is calendar.go daysInMonth.
func daysInMonth(m time.Month, y int) int {
	if m == time.February {
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	const bits = 0b1010110101010
	return 30 + (bits>>m)&1
}
