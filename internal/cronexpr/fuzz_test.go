package cronexpr

import (
	"testing"
	"time"
)

var fuzzZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"}

// FuzzParse checks that the parsers never panic. For every expression Parse or
// ParseTemporal accepts, it also checks the following:
//   - String() parses again, with the same parser, to an equivalent Schedule;
//   - whatever Parse accepts, ParseTemporal accepts with the same meaning;
//   - Next terminates and NextN is strictly increasing from `after`;
//   - in UTC, every fire time matches the calendar on the wall clock. (In zones
//     with DST, Temporal's repeated-hour rule can fire at a wall time that does
//     not match, e.g. "30 1 * * *" at 02:30 CEST; see the package docs.)
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"0 0 * * *", "*/15 9-17 * * mon-fri", "@daily", "@annually", "0 0 1 * mon", "30 2 * * *",
		"0 0 * * 1-7", "0 0 * * 5#3", "5/15 * * * *", "0 0 30 2 *", "0 22-2 * * *", "0 0 * sept thurs",
		"TZ=Europe/Berlin 30 1 * * *", "CRON_TZ=America/New_York 0 0 0 * * * 2027", "@every 1d/6h",
		"@everyday 5m", "0 0 * * * # comment", "1,,2 * * * *", "*/0 * * * *", "0 0 L * *", "",
	} {
		f.Add(seed, int64(1774749600), uint8(1))
	}
	locs := make([]*time.Location, len(fuzzZones))
	for i, z := range fuzzZones {
		locs[i] = mustLoad(f, z)
	}
	f.Fuzz(func(t *testing.T, expr string, afterUnix int64, zoneIdx uint8) {
		_ = VixieDifference(expr)
		loc := locs[int(zoneIdx)%len(locs)]
		// keep `after` within 1900-2200 so the check below stays meaningful
		after := time.Unix(-2208988800+((afterUnix%9467107200)+9467107200)%9467107200, 0)

		ps, perr := Parse(expr)
		ts, terr := ParseTemporal(expr)
		if perr == nil {
			if terr != nil {
				t.Fatalf("Parse accepts %q but ParseTemporal rejects it: %v", expr, terr)
			}
			if !sameSchedule(ps, ts) {
				t.Fatalf("Parse and ParseTemporal disagree on %q: %v vs %v", expr, ps, ts)
			}
			checkSchedule(t, Parse, ps, after, loc)
		}
		if terr == nil {
			checkSchedule(t, ParseTemporal, ts, after, loc)
		}
	})
}

func checkSchedule(t *testing.T, parse func(string) (*Schedule, error), s *Schedule, after time.Time, loc *time.Location) {
	t.Helper()
	str := s.String()
	s2, err := parse(str)
	if err != nil {
		t.Fatalf("String() = %q does not parse again: %v", str, err)
	}
	if !sameSchedule(s, s2) {
		t.Fatalf("String() = %q parses to a different schedule: %q", str, s2.String())
	}
	zone := loc
	if s.loc != nil {
		zone = s.loc
	}
	prev := after
	for _, next := range s.NextN(after, loc, 3) {
		if !next.After(prev) {
			t.Fatalf("%q: NextN after %v returned %v, not after %v", str, after, next, prev)
		}
		if !s.isInterval && zone == time.UTC && !s.matchesWall(next.In(zone)) {
			t.Fatalf("%q: fire time %v does not match the calendar in %v", str, next.In(zone), zone)
		}
		prev = next
	}
}
