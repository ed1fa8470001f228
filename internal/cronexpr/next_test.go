package cronexpr

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time.Parse(%q): %v", s, err)
	}
	return ts
}

type nextCase struct {
	zone, expr, after string
	want              []string // RFC 3339 in the zone: the offset pins the exact instant
}

func runNextCases(t *testing.T, parse func(string) (*Schedule, error), cases []nextCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(fmt.Sprintf("%s/%s/%s", tt.zone, tt.expr, tt.after), func(t *testing.T) {
			loc := mustLoad(t, tt.zone)
			s, err := parse(tt.expr)
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.expr, err)
			}
			got := s.NextN(mustTime(t, tt.after), loc, len(tt.want))
			var gotS []string
			for _, g := range got {
				if g.Location() != loc {
					t.Errorf("result %v is in %v, want %v", g, g.Location(), loc)
				}
				gotS = append(gotS, g.Format(time.RFC3339))
			}
			if fmt.Sprint(gotS) != fmt.Sprint(tt.want) {
				t.Errorf("NextN(%s)\n got: %v\nwant: %v", tt.after, gotS, tt.want)
			}
		})
	}
}

// The expected instants are what Temporal server v1.32.1 computes (they also
// appear in testdata/temporal_golden.tsv); see the package documentation.
func TestNextDST(t *testing.T) {
	runNextCases(t, Parse, []nextCase{
		// Europe/Berlin spring forward 2026-03-29: 02:00 CET -> 03:00 CEST.
		{"Europe/Berlin", "0 * * * *", "2026-03-29T00:30:00+01:00",
			[]string{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"}},
		{"Europe/Berlin", "@hourly", "2026-03-29T00:30:00+01:00",
			[]string{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"}},
		{"Europe/Berlin", "30 2 * * *", "2026-03-28T12:00:00+01:00", // 02:30 does not exist on the 29th: skipped
			[]string{"2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"}},
		{"Europe/Berlin", "30 1 * * *", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T01:30:00+01:00", "2026-03-30T01:30:00+02:00"}},
		{"Europe/Berlin", "@daily", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}},

		// Europe/Berlin fall back 2026-10-25: 03:00 CEST -> 02:00 CET.
		{"Europe/Berlin", "0 * * * *", "2026-10-25T00:30:00+02:00", // no 02:00 CET (01:00Z)
			[]string{"2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00", "2026-10-25T04:00:00+01:00"}},
		{"Europe/Berlin", "30 2 * * *", "2026-10-25T00:00:00+02:00", // once, in the second (CET) copy
			[]string{"2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00"}},
		{"Europe/Berlin", "30 1 * * *", "2026-10-25T00:00:00+02:00", // Temporal also fires at 02:30 CEST
			[]string{"2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T01:30:00+01:00"}},
		{"Europe/Berlin", "30 1,2 * * *", "2026-10-25T00:00:00+02:00",
			[]string{"2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T01:30:00+01:00"}},
		{"Europe/Berlin", "*/20 1-3 * * *", "2026-10-25T01:50:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:20:00+01:00", "2026-10-25T03:40:00+01:00", "2026-10-26T01:00:00+01:00"}},
		{"Europe/Berlin", "@daily", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"}},

		// America/New_York spring forward 2026-03-08: 02:00 EST -> 03:00 EDT.
		{"America/New_York", "0 * * * *", "2026-03-08T00:30:00-05:00",
			[]string{"2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"}},
		{"America/New_York", "30 2 * * *", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"}},
		{"America/New_York", "@daily", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"}},

		// America/New_York fall back 2026-11-01: 02:00 EDT -> 01:00 EST.
		{"America/New_York", "0 * * * *", "2026-11-01T00:30:00-04:00", // both 01:00s
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"}},
		{"America/New_York", "30 1 * * *", "2026-11-01T00:00:00-04:00", // twice
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"}},
		{"America/New_York", "30 1 * * *", "2026-11-01T01:10:00-05:00", // starting inside the second copy
			[]string{"2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"}},
		{"America/New_York", "30 2 * * *", "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T02:30:00-05:00", "2026-11-02T02:30:00-05:00"}},
		{"America/New_York", "@daily", "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"}},
	})
}

func TestNextDSTHourlyCounts(t *testing.T) {
	// Number of hourly fires during the local calendar day of the transition.
	tests := []struct {
		zone, day string
		want      int
	}{
		{"Europe/Berlin", "2026-03-29", 23},
		{"Europe/Berlin", "2026-10-25", 24}, // a 25-hour day, but 02:00 CET is skipped
		{"America/New_York", "2026-03-08", 23},
		{"America/New_York", "2026-11-01", 25},
	}
	s, err := Parse("@hourly")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		loc := mustLoad(t, tt.zone)
		day, err := time.ParseInLocation("2006-01-02", tt.day, loc)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for prev, ts := day.Add(-time.Second), s.Next(day.Add(-time.Second), loc); ts.Format("2006-01-02") == tt.day; prev, ts = ts, s.Next(ts, loc) {
			if !ts.After(prev) || n > 30 {
				t.Fatalf("%s %s: Next(%v) = %v does not advance", tt.zone, tt.day, prev, ts)
			}
			n++
		}
		if n != tt.want {
			t.Errorf("%s %s: %d hourly fires, want %d", tt.zone, tt.day, n, tt.want)
		}
	}
}

func TestNextSemantics(t *testing.T) {
	runNextCases(t, Parse, []nextCase{
		// day-of-month AND day-of-week: the 1st of a month that is a Monday.
		{"UTC", "0 0 1 * mon", "2026-01-01T00:00:00Z",
			[]string{"2026-06-01T00:00:00Z", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"}},
		// first Monday of the month
		{"UTC", "0 9 1-7 * mon", "2026-01-01T00:00:00Z",
			[]string{"2026-01-05T09:00:00Z", "2026-02-02T09:00:00Z", "2026-03-02T09:00:00Z"}},
		{"UTC", "0 0 13 * fri", "2026-01-01T00:00:00Z",
			[]string{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z", "2026-11-13T00:00:00Z"}},
		// steps and ranges
		{"UTC", "*/15 9-17 * * mon-fri", "2026-01-02T17:40:00Z", // Friday evening -> Monday
			[]string{"2026-01-02T17:45:00Z", "2026-01-05T09:00:00Z", "2026-01-05T09:15:00Z"}},
		{"UTC", "5/15 * * * *", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:05:00Z", "2026-01-01T00:20:00Z", "2026-01-01T00:35:00Z", "2026-01-01T00:50:00Z", "2026-01-01T01:05:00Z"}},
		{"UTC", "0 22-23,0-1 * * *", "2026-01-01T12:00:00Z",
			[]string{"2026-01-01T22:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T00:00:00Z", "2026-01-02T01:00:00Z", "2026-01-02T22:00:00Z"}},
		{"UTC", "0 0 1 */3 *", "2026-01-15T00:00:00Z",
			[]string{"2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		// names
		{"UTC", "0 12 * feb-mar sun", "2026-01-01T00:00:00Z",
			[]string{"2026-02-01T12:00:00Z", "2026-02-08T12:00:00Z"}},
		{"UTC", "0 12 * * thurs", "2026-01-01T12:00:00Z", // strictly after
			[]string{"2026-01-08T12:00:00Z"}},
		// Sunday as 0, 7 and sun (2026-01-04 is a Sunday)
		{"UTC", "0 0 * * 0", "2026-01-01T00:00:00Z", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"UTC", "0 0 * * 7", "2026-01-01T00:00:00Z", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"UTC", "0 0 * * sun", "2026-01-01T00:00:00Z", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"UTC", "0 0 * * 5-7", "2026-01-01T00:00:00Z",
			[]string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"}},
		// Feb 29 only in leap years; day 31 only in long months
		{"UTC", "0 0 29 2 *", "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"UTC", "0 0 31 * *", "2026-03-31T00:00:00Z", []string{"2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"}},
		// macros
		{"UTC", "@weekly", "2026-01-01T00:00:00Z", []string{"2026-01-04T00:00:00Z"}},
		{"UTC", "@monthly", "2026-01-01T00:00:00Z", []string{"2026-02-01T00:00:00Z"}},
		{"UTC", "@yearly", "2026-01-01T00:00:00Z", []string{"2027-01-01T00:00:00Z"}},
		// other zones
		{"Asia/Kolkata", "30 9 * * *", "2026-01-01T00:00:00Z", []string{"2026-01-01T09:30:00+05:30"}},
	})

	// Temporal-dialect quirks.
	runNextCases(t, ParseTemporal, []nextCase{
		// 1-7 loses Sunday 2026-01-04
		{"UTC", "0 0 * * 1-7", "2026-01-01T00:00:00Z",
			[]string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z"}},
		// "5#3" is "5" plus a comment: every Friday
		{"UTC", "0 0 * * 5#3", "2026-01-01T00:00:00Z", []string{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"}},
		{"UTC", "30 0 0 1 1 * 2027", "2026-01-01T00:00:00Z", []string{"2027-01-01T00:00:30Z"}},
		// intervals count from the Unix epoch
		{"UTC", "@every 90m", "2026-01-01T00:00:00Z", []string{"2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"}},
		{"UTC", "@every 1d/6h", "2026-01-01T07:00:00Z", []string{"2026-01-02T06:00:00Z"}},
		{"America/New_York", "@every 1d", "2026-03-07T12:00:00-05:00", // 00:00Z every day, whatever the zone
			[]string{"2026-03-07T19:00:00-05:00", "2026-03-08T20:00:00-04:00"}},
	})
}

func TestNextStrictlyAfterAndSubSecond(t *testing.T) {
	s, err := Parse("0 12 * * *")
	if err != nil {
		t.Fatal(err)
	}
	at := mustTime(t, "2026-05-01T12:00:00Z")
	tests := []struct {
		after time.Time
		want  string
	}{
		{at.Add(-time.Nanosecond), "2026-05-01T12:00:00Z"},
		{at, "2026-05-02T12:00:00Z"},
		{at.Add(500 * time.Millisecond), "2026-05-02T12:00:00Z"},
	}
	for _, tt := range tests {
		if got := s.Next(tt.after, time.UTC).Format(time.RFC3339Nano); got != tt.want {
			t.Errorf("Next(%v) = %s, want %s", tt.after, got, tt.want)
		}
	}
}

func TestNextBounds(t *testing.T) {
	// Temporal never fires after 2100 (calendar.go maxCalendarYear; spec.go
	// GetNextTime checks the UTC year).
	s, _ := Parse("0 0 1 1 *")
	got := s.NextN(mustTime(t, "2099-06-01T00:00:00Z"), time.UTC, 4)
	if len(got) != 1 || got[0].Format(time.RFC3339) != "2100-01-01T00:00:00Z" {
		t.Errorf("NextN after 2099-06 = %v, want only 2100-01-01", got)
	}
	iv, _ := ParseTemporal("@every 1h")
	got = iv.NextN(mustTime(t, "2100-12-31T21:30:00Z"), nil, 4)
	if len(got) != 2 {
		t.Errorf("@every 1h near the end of 2100: %v, want 2 results", got)
	}

	// Temporal starts searching no earlier than 1969-12-31T23:59:59Z.
	d, _ := Parse("@daily")
	if got := d.Next(mustTime(t, "1960-01-01T00:00:00Z"), time.UTC); got.Format(time.RFC3339) != "1970-01-01T00:00:00Z" {
		t.Errorf("Next(1960) = %v, want 1970-01-01T00:00:00Z", got)
	}

	if got := s.NextN(time.Now(), nil, 0); got != nil {
		t.Errorf("NextN(n=0) = %v, want nil", got)
	}
}

func TestNextNeverFiresIsBounded(t *testing.T) {
	for _, expr := range []string{"0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"} {
		s, err := ParseTemporal(expr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for _, after := range []string{"1970-01-01T00:00:00Z", "2026-01-01T00:00:00Z"} {
			if got := s.Next(mustTime(t, after), time.UTC); !got.IsZero() {
				t.Errorf("%q: Next(%s) = %v, want zero", expr, after, got)
			}
		}
		// The search visits each month of each year up to 2100 once; even from
		// 1970 that is a few thousand cheap steps. Generous bound for slow CI.
		if d := time.Since(start); d > time.Second {
			t.Errorf("%q: never-matching search took %v", expr, d)
		}
	}
}

func TestNextZoneSelection(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	after := mustTime(t, "2026-01-10T00:00:00Z")

	// nil loc means UTC.
	s, _ := Parse("0 12 * * *")
	if got := s.Next(after, nil); got.Format(time.RFC3339) != "2026-01-10T12:00:00Z" || got.Location() != time.UTC {
		t.Errorf("Next(nil loc) = %v (%v)", got, got.Location())
	}
	// A TZ= prefix (ParseTemporal) wins over loc; the result is still in loc.
	tz, err := ParseTemporal("TZ=Europe/Berlin 0 12 * * *")
	if err != nil {
		t.Fatal(err)
	}
	if got := tz.Next(after, ny); got.Format(time.RFC3339) != "2026-01-10T06:00:00-05:00" {
		t.Errorf("Next(TZ=Europe/Berlin, loc=NY) = %s, want 12:00 Berlin = 06:00 New York", got.Format(time.RFC3339))
	}
	if got := tz.Next(after, nil); got.Format(time.RFC3339) != "2026-01-10T12:00:00+01:00" {
		t.Errorf("Next(TZ=Europe/Berlin, nil) = %s", got.Format(time.RFC3339))
	}
}

// TestNextBruteForce checks the field-by-field search against a plain scan of
// every minute in zones without DST, where Temporal's algorithm has no quirks.
func TestNextBruteForce(t *testing.T) {
	exprs := []string{
		"* * * * *", "*/7 * * * *", "0 0 1 * mon", "0 9 1-7 * mon", "30 4 * * 0", "15 */5 * * 1-5",
		"0 0 29 * *", "59 23 31 * *", "0 12 * feb,nov fri", "1-5/2 1,13 */10 * sat", "@weekly", "@monthly",
	}
	r := rand.New(rand.NewSource(1))
	for _, zone := range []string{"UTC", "Asia/Kolkata"} {
		loc := mustLoad(t, zone)
		for _, expr := range exprs {
			s, err := Parse(expr)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				after := time.Unix(1767225600+r.Int63n(2*365*86400), int64(r.Intn(1e9))).In(loc)
				got := s.Next(after, loc)
				want := bruteNext(s, after, loc, 40*24*60)
				if !want.IsZero() && !got.Equal(want) {
					t.Errorf("%s %q after %v: Next = %v, brute force = %v", zone, expr, after, got, want)
				}
			}
		}
	}
}

func bruteNext(s *Schedule, after time.Time, loc *time.Location, maxMinutes int) time.Time {
	ts := after.Truncate(time.Minute).Add(time.Minute)
	for i := 0; i < maxMinutes; i++ {
		if s.matchesWall(ts.In(loc)) {
			return ts
		}
		ts = ts.Add(time.Minute)
	}
	return time.Time{}
}

// matchesWall is calendar.go (*compiledCalendar).matches on the wall clock.
func (s *Schedule) matchesWall(t time.Time) bool {
	y, mo, d := t.Date()
	h, m, sec := t.Clock()
	return s.matchYear(y) && s.month.has(int(mo)) && s.dom.has(d) && s.dow.has(int(t.Weekday())) &&
		s.hour.has(h) && s.minute.has(m) && s.second.has(sec)
}
