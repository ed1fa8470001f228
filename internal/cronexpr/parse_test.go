package cronexpr

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		expr, want string // want is String()
	}{
		{"0 0 * * *", "0 0 * * *"},
		{"  30   2 * * *  ", "30 2 * * *"},
		{"0\t0 * *\u00a0*", "0 0 * * *"}, // strings.Fields splits on any Unicode space, as Temporal does
		{"*/15 9-17 * * mon-fri", "*/15 9-17 * * 1-5"},
		{"0 0 * * MON-FRI", "0 0 * * 1-5"},
		{"@hourly", "@hourly"},
		{"@daily", "@daily"},
		{"@midnight", "@daily"},
		{"@weekly", "@weekly"},
		{"@monthly", "@monthly"},
		{"@yearly", "@yearly"},
		{"@annually", "@yearly"},
		{"@daily # nightly export", "@daily # nightly export"},
		{"0 0 1 * mon", "0 0 1 * 1"},
		{"0 0 * * 7", "0 0 * * 0"},
		{"0 0 * * 0,7", "0 0 * * 0"},
		{"0 0 * * sun", "0 0 * * 0"},
		{"0 0 * * 5-7", "0 0 * * 0,5,6"},
		{"0 0 * * sat,sun", "0 0 * * 0,6"},
		{"0 0 * * 0-7", "0 0 * * *"},
		{"0 0 * * 1-7,0", "0 0 * * *"}, // Sunday listed separately, so 1-7 losing it does not matter
		{"0 0 * * 1-5/2", "0 0 * * 1-5/2"},
		{"0 0 * * */2", "0 0 * * */2"},
		{"0 0 * JAN,Feb,march *", "0 0 * 1-3 *"},
		{"0 0 * sept thurs", "0 0 * 9 4"},
		{"0 0 * * mo,tu", "0 0 * * 1,2"},
		{"5/15 * * * *", "5-50/15 * * * *"},
		{"0-30/10 * * * *", "0-30/10 * * * *"},
		{"1,2,3,5 * * * *", "1-3,5 * * * *"},
		{"0 */2 * * *", "0 */2 * * *"},
		{"0 0 1,15 * *", "0 0 1,15 * *"},
		{"59 23 31 12 *", "59 23 31 12 *"},
		{"0 0 29 2 *", "0 0 29 2 *"},
		{"0 0 31 * *", "0 0 31 * *"},
		{"+5 007 * * *", "5 7 * * *"}, // strconv.Atoi, as in Temporal's parseValue
		{"0 0 * * 5 #3", "0 0 * * 5 # 3"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.expr, err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.expr, got, tt.want)
			}
			// Everything Parse accepts, Temporal accepts with the same meaning.
			ts, err := ParseTemporal(tt.expr)
			if err != nil {
				t.Fatalf("ParseTemporal(%q) error: %v", tt.expr, err)
			}
			if !sameSchedule(s, ts) {
				t.Errorf("Parse and ParseTemporal disagree on %q: %v vs %v", tt.expr, s, ts)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := "0 0 * * * # " + strings.Repeat("x", 201)
	tests := []struct {
		expr, field, want string // want is Error()
	}{
		{"", "", "empty expression: expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily"},
		{"   ", "", "empty expression: expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily"},
		{"# just a comment", "", "empty expression (only a comment): expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily"},
		{"0 0 * *", "", "expected 5 fields, got 4"},
		{"daily", "", "expected 5 fields, got 1"},
		{"0 0 * * * * * *", "", "expected 5 fields, got 8"},
		{"0 0 * * * 2026", "", "6-field form is not supported: activity-core uses 5 fields (minute hour day-of-month month day-of-week)"},
		{"0 0 0 * * * *", "", "7-field form is not supported: activity-core uses 5 fields (minute hour day-of-month month day-of-week)"},
		{"TZ=Europe/Berlin 0 0 * * *", "", "TZ= prefix is not allowed: use the timezone field"},
		{"CRON_TZ=Europe/Berlin 0 0 * * *", "", "CRON_TZ= prefix is not allowed: use the timezone field"},
		{"tz=UTC 0 0 * * *", "", "tz= prefix is not allowed: use the timezone field"},
		{"@every 5m", "", `@every is not supported: activity-core schedules are calendar-based; use 5 fields (e.g. "*/15 * * * *") or a macro`},
		{"@everyday 5m", "", `@every is not supported: activity-core schedules are calendar-based; use 5 fields (e.g. "*/15 * * * *") or a macro`},
		{"@reboot", "", "unknown macro \"@reboot\": use one of " + macroList},
		{"@Daily", "", `unknown macro "@Daily": macros are lowercase (write "@daily")`},
		{"@daily 5", "", `macro @daily must be used alone, got "@daily 5"`},
		{"0 24 * * *", "hour", "hour: 24 is out of range 0-23"},
		{"60 0 * * *", "minute", "minute: 60 is out of range 0-59"},
		{"0 0 0 * *", "day-of-month", "day-of-month: 0 is out of range 1-31"},
		{"0 0 32 * *", "day-of-month", "day-of-month: 32 is out of range 1-31"},
		{"0 0 * 13 *", "month", "month: 13 is out of range 1-12"},
		{"0 0 * * 8", "day-of-week", "day-of-week: 8 is out of range 0-7"},
		{"99999999999999999999 * * * *", "minute", "minute: 99999999999999999999 is out of range 0-59"},
		{"0 0 * * mox", "day-of-week", `day-of-week: unknown name "mox"`},
		{"0 0 * foo *", "month", `month: unknown name "foo"`},
		{"0 0 * ja *", "month", `month: "ja" is too short: month names need at least 3 letters (e.g. jan)`},
		{"0 0 * * m", "day-of-week", `day-of-week: "m" is too short: day names need at least 2 letters (e.g. mo or mon)`},
		{"0 jan * * *", "hour", `hour: "jan" is not a number (names are allowed only in month and day-of-week)`},
		{"0 1e * * *", "hour", `hour: "1e" is not a number`},
		{"0 22-2 * * *", "hour", `hour: range "22-2" ends before it starts (ranges cannot wrap around; write "22-23,0-2" instead)`},
		{"0 0 * * sat-sun", "day-of-week", `day-of-week: range "sat-sun" ends before it starts (ranges cannot wrap around; write "6,0" instead)`},
		{"0 0 * nov-feb *", "month", `month: range "nov-feb" ends before it starts (ranges cannot wrap around; write "11-12,1-2" instead)`},
		{"0 22-2/2 * * *", "hour", `hour: range "22-2" ends before it starts (ranges cannot wrap around)`},
		{"0 0 ? * *", "day-of-month", "day-of-month: ? is not supported by Temporal: use *"},
		{"0 0 L * *", "day-of-month", `day-of-month: "L" is not supported: Temporal has no L or W (last day / nearest weekday) syntax`},
		{"0 0 15W * *", "day-of-month", `day-of-month: "15W" is not supported: Temporal has no L or W (last day / nearest weekday) syntax`},
		{"0 0 * * 5L", "day-of-week", `day-of-week: "5L" is not supported: Temporal has no L or W (last day / nearest weekday) syntax`},
		{"0 0 * * 5#3", "day-of-week", `day-of-week: "5#3": Temporal starts a comment at '#', so this would be read as "5"; there is no nth-weekday (#) syntax, and a comment must be separated by a space`},
		{"0 0 * * *#x", "day-of-week", `day-of-week: "*#x": Temporal starts a comment at '#', so this would be read as "*"; there is no nth-weekday (#) syntax, and a comment must be separated by a space`},
		{"1,,2 * * * *", "minute", `minute: empty list element in "1,,2"`},
		{"1, * * * *", "minute", `minute: empty list element in "1,"`},
		{"*/0 * * * *", "minute", `minute: step 0 in "*/0" must be at least 1`},
		{"*/-1 * * * *", "minute", `minute: step -1 in "*/-1" must be at least 1`},
		{"*/x * * * *", "minute", `minute: step "x" in "*/x" is not a number`},
		{"5/ * * * *", "minute", `minute: "5/" is missing the step after /`},
		{"/5 * * * *", "minute", `minute: "/5" is missing a start value before the /: write */5`},
		{"1/2/3 * * * *", "minute", `minute: "1/2/3" has more than one /`},
		{"1-2-3 * * * *", "minute", `minute: "1-2-3" has more than one - (negative numbers are not allowed)`},
		{"-5 * * * *", "minute", `minute: "-5" is missing the start of the range (negative numbers are not allowed)`},
		{"5- * * * *", "minute", `minute: "5-" is missing the end of the range`},
		{"*-5 * * * *", "minute", `minute: "*-5" is not a valid range: * cannot be part of a range`},
		{"0 0 30 2 *", "day-of-month", `day-of-month: "30" never occurs in month "2", so the schedule would never fire (Temporal accepts it but never runs it)`},
		{"0 0 31 apr,jun *", "day-of-month", `day-of-month: "31" never occurs in month "apr,jun", so the schedule would never fire (Temporal accepts it but never runs it)`},
		{"0 0 * * 1-7", "day-of-week", `day-of-week: "1-7" would not include Sunday: Temporal reads a day-of-week range 1-7 as 1-6; write * or 0-6 for every day`},
		{"0 0 * * mon-7", "day-of-week", `day-of-week: "mon-7" would not include Sunday: Temporal reads a day-of-week range 1-7 as 1-6; write * or 0-6 for every day`},
		{"0 0 * * 1/1", "day-of-week", `day-of-week: "1/1" would not include Sunday: Temporal reads a day-of-week range 1-7 as 1-6; write * or 0-6 for every day`},
		{long, "comment", "comment: comment is too long: 201 bytes, Temporal allows at most 200"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error %q", tt.expr, s, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T is not *Error", tt.expr, err)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%q) error\n got: %s\nwant: %s", tt.expr, err, tt.want)
			}
			if e.Field != tt.field {
				t.Errorf("Parse(%q) Field = %q, want %q", tt.expr, e.Field, tt.field)
			}
		})
	}
}

func TestParseTemporal(t *testing.T) {
	valid := []struct{ expr, want string }{
		{"0 0 * * * 2026", "0 0 * * * 2026"},
		{"0 0 * * * *", "0 0 * * *"},
		{"0 0 0 * * * *", "0 0 * * *"},
		{"30 0 0 * * * *", "30 0 0 * * * *"},
		{"0 0 * * * 2026-2030/2", "0 0 * * * 2026-2030/2"},
		{"0 0 1 1 * 2000-2100", "0 0 1 1 * 2000-2100"}, // explicit, unlike "*"
		{"TZ=Europe/Berlin 30 2 * * *", "TZ=Europe/Berlin 30 2 * * *"},
		{"CRON_TZ=UTC @daily # nightly", "TZ=UTC @daily # nightly"},
		{"TZ= 0 0 * * *", "0 0 * * *"}, // empty zone: the spec's zone is used
		{"@every 90m", "@every 1h30m0s"},
		{"@every 1d/6h", "@every 24h0m0s/6h0m0s"},
		{"@every 5m # comments are dropped for intervals", "@every 5m0s"},
		{"@everyday 5m", "@every 5m0s"},                 // Temporal only checks the "@every" prefix
		{"TZ=Europe/Berlin @every 1h", "@every 1h0m0s"}, // Temporal drops the zone of an @every
		{"0 0 30 2 *", "0 0 30 2 *"},                    // accepted, never fires
		{"0 0 * * 1-7", "0 0 * * 1-6"},                  // Sunday dropped
		{"0 0 * * 5#3", "0 0 * * 5 # 3"},                // '#' starts a comment
		{"0 0 * * 1/2", "0 0 * * 0,1,3,5"},              // 1,3,5,7 with 7 = Sunday
		{"0 0 * * 2-7/5", "0 0 * * 0,2"},                // 2,7
		{"0 0 * apr\u0130l *", "0 0 * 4 *"},             // strings.ToLower("İ") == "i", as in Temporal
		{"0 0 1 * * # " + strings.Repeat("x", 200), "0 0 1 * * # " + strings.Repeat("x", 200)},
	}
	for _, tt := range valid {
		s, err := ParseTemporal(tt.expr)
		if err != nil {
			t.Errorf("ParseTemporal(%q) error: %v", tt.expr, err)
			continue
		}
		if got := s.String(); got != tt.want {
			t.Errorf("ParseTemporal(%q).String() = %q, want %q", tt.expr, got, tt.want)
		}
	}

	invalid := []struct{ expr, want string }{
		{"TZ=UTC", "TZ= prefix must be followed by a space and the schedule fields"},
		{"TZ=UTC\t0 0 * * *", "expected 5 to 7 fields, got 4"}, // the zone ends at the first ASCII space: "UTC\t0"
		{"TZ=Nope/Zone 0 0 * * *", `timezone: unknown time zone "Nope/Zone" in TZ= prefix`},
		{"@every", `@every needs an interval, e.g. "@every 15m" or "@every 1d/2h"`},
		{"@every  5m", `@every: invalid interval " 5m" (use a duration such as 90s, 15m, 2h or 1d)`},
		{"@every x", `@every: invalid interval "x" (use a duration such as 90s, 15m, 2h or 1d)`},
		{"@every 1h/x", `@every: invalid phase "x" (use a duration such as 30s, 5m or 1h)`},
		{"@every 0.5s", "@every: interval 500ms is too small: the minimum is 1s"},
		{"@every 1h/-1m", "@every: phase -1m0s is negative"},
		{"@every 1h/1h", "@every: phase 1h0m0s must be less than the interval 1h0m0s"},
		{"0 0 * * * 1999", "year: 1999 is out of range 2000-2100"},
		{"0 0 * * * 2101", "year: 2101 is out of range 2000-2100"},
		{"60 0 0 * * * *", "second: 60 is out of range 0-59"},
		{"0 0 * *", "expected 5 to 7 fields, got 4"},
		{"0 0 * * * * * *", "expected 5 to 7 fields, got 8"},
		{"@reboot", `unknown macro "@reboot": use one of ` + macroList + ", or @every"},
		{"0 0 1 * * # " + strings.Repeat("x", 201), "comment: comment is too long: 201 bytes, Temporal allows at most 200"},
	}
	for _, tt := range invalid {
		s, err := ParseTemporal(tt.expr)
		if err == nil {
			t.Errorf("ParseTemporal(%q) = %v, want error %q", tt.expr, s, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseTemporal(%q) error\n got: %s\nwant: %s", tt.expr, err, tt.want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	if got := (&Error{Field: "hour", Msg: "24 is out of range 0-23"}).Error(); got != "hour: 24 is out of range 0-23" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Error{Msg: "expected 5 fields, got 4"}).Error(); got != "expected 5 fields, got 4" {
		t.Errorf("Error() = %q", got)
	}
}

func TestAccessors(t *testing.T) {
	s, err := ParseTemporal("CRON_TZ=Europe/Berlin 0 9 * * mon-fri # standup")
	if err != nil {
		t.Fatal(err)
	}
	if s.Timezone() != "Europe/Berlin" || s.Comment() != "standup" {
		t.Errorf("Timezone() = %q, Comment() = %q", s.Timezone(), s.Comment())
	}
	var nilSched *Schedule
	if nilSched.String() != "" || nilSched.Timezone() != "" || nilSched.Comment() != "" || !nilSched.Next(epochMinusOneSecond, nil).IsZero() {
		t.Error("nil *Schedule methods should return zero values")
	}
}

// sameSchedule compares the meaning of two schedules (not the *time.Location
// pointer, which LoadLocation does not cache).
func sameSchedule(a, b *Schedule) bool {
	return a.second == b.second && a.minute == b.minute && a.hour == b.hour && a.dom == b.dom &&
		a.month == b.month && a.dow == b.dow && a.year == b.year && a.yearAll == b.yearAll &&
		a.isInterval == b.isInterval && a.interval == b.interval && a.phase == b.phase &&
		a.macro == b.macro && a.tzName == b.tzName && a.comment == b.comment
}
