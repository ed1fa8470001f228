package cronexpr

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error is returned by Parse and ParseTemporal. It exists so that validators
// and the CLI can show which part of the expression is wrong (Field) separately
// from what is wrong with it (Msg).
type Error struct {
	// Field is "second", "minute", "hour", "day-of-month", "month",
	// "day-of-week", "year", "comment" or "timezone", or "" when the problem
	// is not specific to one field (field count, macros, prefixes, @every).
	Field string
	// Msg is a human-readable explanation, usually with a hint about what to
	// write instead.
	Msg string
}

// Error returns "field: msg", or just msg when Field is empty.
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Schedule is a parsed cron expression. It exists so that an expression is
// parsed and validated once and can then be asked for its fire times (Next,
// NextN) and its normalized text (String) any number of times. A Schedule is
// immutable and safe for concurrent use.
type Schedule struct {
	// Calendar part (unused when isInterval). Bit v of each set means value v
	// matches; day-of-week uses 0-6 (Sunday = 0), and years use bit y-2000.
	second, minute, hour, dom, month, dow bitset
	year                                  bitset
	yearAll                               bool // year "*": every year, even outside 2000-2100

	// Interval part (@every), used when isInterval.
	isInterval      bool
	interval, phase time.Duration

	macro   string // canonical macro name ("@daily") when written as a macro
	tzName  string // zone from a TZ=/CRON_TZ= prefix (ParseTemporal only)
	loc     *time.Location
	comment string
}

// Timezone returns the zone name from a "TZ=" or "CRON_TZ=" prefix, or "" if
// there was no prefix. Only ParseTemporal accepts such prefixes. Next uses this
// zone in preference to its loc argument, as Temporal does.
func (s *Schedule) Timezone() string {
	if s == nil {
		return ""
	}
	return s.tzName
}

// Comment returns the text after the first '#', trimmed. Temporal stores it as
// the calendar's comment, and the text round-trips through String.
func (s *Schedule) Comment() string {
	if s == nil {
		return ""
	}
	return s.comment
}

// Field names in the order of the 5-field form; used for error messages.
var fiveFieldNames = [5]string{"minute", "hour", "day-of-month", "month", "day-of-week"}

const fiveFieldHint = "activity-core uses 5 fields (minute hour day-of-month month day-of-week)"

// Macros in Temporal's handlePredefinedCronStrings (calendar.go), mapped to
// their expansion. Lookup is exact and case-sensitive, as in Temporal.
var macroExpansion = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// canonicalMacro maps aliases to the name String prints.
var canonicalMacro = map[string]string{
	"@yearly":   "@yearly",
	"@annually": "@yearly",
	"@monthly":  "@monthly",
	"@weekly":   "@weekly",
	"@daily":    "@daily",
	"@midnight": "@daily",
	"@hourly":   "@hourly",
}

const macroList = "@hourly, @daily, @weekly, @monthly, @yearly (aliases: @midnight, @annually)"

// Parse parses an expression in the activity-core dialect: exactly five fields
// (minute hour day-of-month month day-of-week), or one of the macros @hourly,
// @daily, @weekly, @monthly and @yearly (and Temporal's aliases @midnight and
// @annually), optionally followed by whitespace and a "# comment".
//
// Parse exists because activity-core definitions deliberately allow only this
// subset of Temporal's dialect: the time zone belongs in the definition's
// timezone field, and seconds, years and @every intervals are not part of the
// product. Everything Parse accepts, Temporal accepts with the same meaning.
// Parse also rejects the three forms that Temporal accepts but reads
// surprisingly (see the package documentation): day/month pairs that never
// occur, day-of-week 1-7, and a '#' attached to a field.
//
// Errors are always *Error.
func Parse(expr string) (*Schedule, error) {
	if err := precheckActivityCore(expr); err != nil {
		return nil, err
	}
	p, err := parseTemporal(expr)
	if err != nil {
		return nil, err
	}
	if p.sundayDropped != "" {
		return nil, errorf("day-of-week", "%q would not include Sunday: Temporal reads a day-of-week range 1-7 as 1-6; write * or 0-6 for every day", p.sundayDropped)
	}
	if !p.sched.isInterval && !p.sched.canEverFire() {
		return nil, errorf("day-of-month", "%q never occurs in month %q, so the schedule would never fire (Temporal accepts it but never runs it)", p.fields[2], p.fields[3])
	}
	return p.sched, nil
}

// precheckActivityCore rejects everything outside the activity-core dialect
// with a message that says what to write instead. What passes is a 5-field
// expression or a known macro (plus comment), which parseTemporal then reads
// exactly as Temporal does.
func precheckActivityCore(expr string) *Error {
	t := strings.TrimSpace(expr)
	if t == "" {
		return errorf("", "empty expression: expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily")
	}
	for _, prefix := range []string{"TZ=", "CRON_TZ="} {
		if len(t) >= len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) {
			return errorf("", "%s prefix is not allowed: use the timezone field", t[:len(prefix)])
		}
	}
	body := t
	if i := strings.IndexByte(t, '#'); i >= 0 {
		body = strings.TrimSpace(t[:i])
		if i > 0 {
			if r, _ := utf8.DecodeLastRuneInString(t[:i]); !unicode.IsSpace(r) {
				// The '#' is attached to a token, e.g. "5#3" (Quartz's nth weekday).
				tok, before := gluedToken(t, i)
				toks := strings.Fields(t[:i])
				field := ""
				if !strings.HasPrefix(toks[0], "@") && len(toks) <= len(fiveFieldNames) {
					field = fiveFieldNames[len(toks)-1]
				}
				return errorf(field, "%q: Temporal starts a comment at '#', so this would be read as %q; there is no nth-weekday (#) syntax, and a comment must be separated by a space", tok, before)
			}
		}
	}
	toks := strings.Fields(body)
	if len(toks) == 0 {
		return errorf("", "empty expression (only a comment): expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily")
	}
	if first := toks[0]; strings.HasPrefix(first, "@") {
		if strings.HasPrefix(first, "@every") {
			return errorf("", "@every is not supported: activity-core schedules are calendar-based; use 5 fields (e.g. \"*/15 * * * *\") or a macro")
		}
		if _, ok := macroExpansion[first]; !ok {
			if lower := strings.ToLower(first); macroExpansion[lower] != "" {
				return errorf("", "unknown macro %q: macros are lowercase (write %q)", first, lower)
			}
			return errorf("", "unknown macro %q: use one of %s", first, macroList)
		}
		if len(toks) > 1 {
			return errorf("", "macro %s must be used alone, got %q", first, body)
		}
		return nil
	}
	switch n := len(toks); n {
	case 5:
		return nil
	case 6, 7:
		return errorf("", "%d-field form is not supported: %s", n, fiveFieldHint)
	default:
		return errorf("", "expected 5 fields, got %d", n)
	}
}

// ParseTemporal parses the whole Temporal CronString dialect. It accepts 5, 6
// (with a trailing year) or 7 (second minute hour day-of-month month
// day-of-week year) fields, "@every D[/phase]", the macros, a "TZ=zone " or
// "CRON_TZ=zone " prefix, and a comment after the first '#'. It exists for
// importers and diagnostics that must accept exactly what a Temporal server
// accepts (v1.32.1, service/worker/scheduler/calendar.go parseCronString, plus
// the checks in spec.go canonicalizeSpec). Definitions should use Parse.
//
// A zone prefix is loaded with time.LoadLocation, as Temporal's SpecBuilder
// does, and an unknown zone is an error. Errors are always *Error.
func ParseTemporal(expr string) (*Schedule, error) {
	p, err := parseTemporal(expr)
	if err != nil {
		return nil, err
	}
	return p.sched, nil
}

// parsed carries a Schedule plus what VixieDifference and Parse need to know
// about how it was written.
type parsed struct {
	sched       *Schedule
	fields      []string // field texts as written (after macro expansion); nil for @every
	hadTZ       bool
	hadEvery    bool
	hadHash     bool
	gluedHash   string // token with an attached '#', e.g. "5#3"
	gluedBefore string // the part of that token before '#', e.g. "5"

	sundayDropped string   // dow item such as "1-7" that loses Sunday in Temporal
	stepNoRange   []string // items like "5/15"
	longNames     []string // month/day names that are not the 3-letter abbreviation
}

// parseTemporal mirrors parseCronString (calendar.go), then the validation
// that canonicalizeSpec and the SpecBuilder apply (spec.go).
func parseTemporal(expr string) (*parsed, *Error) {
	p := &parsed{sched: &Schedule{}}
	c, tzName, tzPrefix, err := p.splitZone(strings.TrimSpace(expr))
	if err != nil {
		return nil, err
	}
	c, comment := p.splitComment(c)

	// handle @every intervals; Temporal drops the zone and comment for these.
	if strings.HasPrefix(c, "@every") {
		p.hadEvery = true
		iv, ph, err := parseEvery(c)
		if err != nil {
			return nil, err
		}
		p.sched.isInterval = true
		p.sched.interval, p.sched.phase = iv, ph
		return p, nil
	}

	// handle @hourly, etc.
	if exp, ok := macroExpansion[c]; ok {
		p.sched.macro = canonicalMacro[c]
		c = exp
	}
	fields, err := splitFields(c)
	if err != nil {
		return nil, err
	}
	p.fields = strings.Fields(c)
	if err := p.parseFields(fields); err != nil {
		return nil, err
	}

	// spec.go validateStructuredCalendar: maxCommentLen = 200 (bytes).
	if len(comment) > maxCommentLen {
		return nil, errorf("comment", "comment is too long: %d bytes, Temporal allows at most %d", len(comment), maxCommentLen)
	}
	p.sched.comment = comment

	// spec.go: the cron zone becomes the spec's TimezoneName, which the
	// SpecBuilder loads with time.LoadLocation.
	if tzName != "" {
		loc, lerr := time.LoadLocation(tzName)
		if lerr != nil {
			return nil, errorf("timezone", "unknown time zone %q in %s prefix", tzName, tzPrefix)
		}
		p.sched.tzName, p.sched.loc = tzName, loc
	}
	return p, nil
}

// splitZone splits a TZ= or CRON_TZ= prefix off c (calendar.go
// parseCronString): the zone's name and the prefix as written.
func (p *parsed) splitZone(c string) (rest, tzName, tzPrefix string, err *Error) {
	if !strings.HasPrefix(c, "TZ=") && !strings.HasPrefix(c, "CRON_TZ=") {
		return c, "", "", nil
	}
	tzPrefix = c[:strings.IndexByte(c, '=')+1]
	tz, rest, found := strings.Cut(c, " ")
	if !found {
		return "", "", "", errorf("", "%s prefix must be followed by a space and the schedule fields", tzPrefix)
	}
	_, tzName, _ = strings.Cut(tz, "=")
	p.hadTZ = true
	return rest, tzName, tzPrefix, nil
}

// splitComment splits a # comment off c, noting a '#' glued to a field.
func (p *parsed) splitComment(c string) (rest, comment string) {
	if i := strings.IndexByte(c, '#'); i >= 0 {
		p.hadHash = true
		if i > 0 {
			if r, _ := utf8.DecodeLastRuneInString(c[:i]); !unicode.IsSpace(r) {
				p.gluedHash, p.gluedBefore = gluedToken(c, i)
			}
		}
	}
	rest, comment, _ = strings.Cut(c, "#")
	return strings.TrimSpace(rest), strings.TrimSpace(comment)
}

// cronFields are the seven fields of a calendar expression, in order:
// second, minute, hour, day of month, month, day of week, year.
type cronFields [7]string

// splitFields spreads 5 to 7 fields over the seven, defaulting the second
// to 0 and the year to *.
func splitFields(c string) (cronFields, *Error) {
	toks := strings.Fields(c)
	f := cronFields{"0", "", "", "", "", "", "*"}
	switch len(toks) {
	case 5, 6:
		copy(f[1:], toks)
	case 7:
		copy(f[:], toks)
	default:
		if len(toks) == 1 && strings.HasPrefix(toks[0], "@") {
			if lower := strings.ToLower(toks[0]); macroExpansion[lower] != "" {
				return f, errorf("", "unknown macro %q: macros are lowercase (write %q)", toks[0], lower)
			}
			return f, errorf("", "unknown macro %q: use one of %s, or @every", toks[0], macroList)
		}
		if len(toks) > 1 && macroExpansion[toks[0]] != "" {
			return f, errorf("", "macro %s must be used alone, got %q", toks[0], c)
		}
		if len(toks) == 0 {
			return f, errorf("", "empty expression: expected 5 to 7 fields or a macro such as @daily")
		}
		return f, errorf("", "expected 5 to 7 fields, got %d", len(toks))
	}
	return f, nil
}

// parseFields parses the seven fields into the schedule
// (parseCalendarToStructured: same fields, ranges and defaults).
func (p *parsed) parseFields(f cronFields) *Error {
	s := p.sched
	var err *Error
	if s.second, _, err = p.parseField(f[0], fieldSecond); err != nil {
		return err
	}
	if s.minute, _, err = p.parseField(f[1], fieldMinute); err != nil {
		return err
	}
	if s.hour, _, err = p.parseField(f[2], fieldHour); err != nil {
		return err
	}
	if s.dom, _, err = p.parseField(f[3], fieldDom); err != nil {
		return err
	}
	if s.month, _, err = p.parseField(f[4], fieldMonth); err != nil {
		return err
	}
	if s.dow, _, err = p.parseField(f[5], fieldDow); err != nil {
		return err
	}
	if s.year, s.yearAll, err = p.parseField(f[6], fieldYear); err != nil {
		return err
	}
	if p.sundayDropped != "" && s.dow.has(0) {
		p.sundayDropped = "" // Sunday is listed separately, e.g. "1-7,0"
	}
	return nil
}

const maxCommentLen = 200 // calendar.go maxCommentLen

// gluedToken returns the whitespace-delimited token of s that contains the
// '#' at index i, and the part of it before the '#'.
func gluedToken(s string, i int) (token, before string) {
	start := strings.LastIndexFunc(s[:i], unicode.IsSpace) + 1
	if start > 0 {
		_, size := utf8.DecodeRuneInString(s[start-1:])
		start += size - 1
	}
	end := len(s)
	if j := strings.IndexFunc(s[i:], unicode.IsSpace); j >= 0 {
		end = i + j
	}
	return s[start:end], s[start:i]
}

// canEverFire reports whether some selected day-of-month exists in some
// selected month (February counts as 29 days). It ignores day-of-week and year,
// which is enough to catch dates such as Feb 30 or Apr 31.
func (s *Schedule) canEverFire() bool {
	for m := 1; m <= 12; m++ {
		if !s.month.has(m) {
			continue
		}
		limit := daysInMonth(time.Month(m), 2000) // 2000 is a leap year
		for d := 1; d <= limit; d++ {
			if s.dom.has(d) {
				return true
			}
		}
	}
	return false
}

// String returns the normalized expression. Fields are printed as numbers
// (names become numbers, Sunday is 0, lists are sorted, and runs become ranges
// or */n steps). Macros are printed as their canonical names (@annually becomes
// @yearly, @midnight becomes @daily), followed by " # comment" if there was a
// comment. A Schedule from ParseTemporal keeps its extra fields, its "TZ="
// prefix and its @every interval. It exists so that validators can show and
// store one canonical spelling. Parsing String() again with the same parser
// gives an equivalent Schedule.
func (s *Schedule) String() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	if s.tzName != "" {
		b.WriteString("TZ=" + s.tzName + " ")
	}
	switch {
	case s.isInterval:
		b.WriteString("@every " + s.interval.String())
		if s.phase != 0 {
			b.WriteString("/" + s.phase.String())
		}
	case s.macro != "":
		b.WriteString(s.macro)
	default:
		parts := []string{
			render(s.minute, fieldMinute, false),
			render(s.hour, fieldHour, false),
			render(s.dom, fieldDom, false),
			render(s.month, fieldMonth, false),
			render(s.dow, fieldDow, false),
		}
		secondIsZero := s.second == bitset{1, 0}
		switch {
		case !secondIsZero:
			parts = append([]string{render(s.second, fieldSecond, false)}, parts...)
			parts = append(parts, render(s.year, fieldYear, s.yearAll))
		case !s.yearAll:
			parts = append(parts, render(s.year, fieldYear, false))
		}
		b.WriteString(strings.Join(parts, " "))
	}
	if s.comment != "" && !s.isInterval {
		b.WriteString(" # " + s.comment)
	}
	return b.String()
}
