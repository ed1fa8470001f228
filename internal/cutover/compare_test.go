package cutover

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// daily returns a fire per day of the fixture week at h:m UTC, skipping
// the days given.
func daily(h, m int, status string, skip ...int) []Fire {
	var out []Fire
	for d := range 7 {
		if containsInt(skip, d) {
			continue
		}
		out = append(out, Fire{At: weekStart.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute), RunID: fmt.Sprintf("r%d", d), Status: status})
	}
	return out
}

func legacyOf(fires []Fire, shift time.Duration, exit int) []LegacyRun {
	var out []LegacyRun
	for _, f := range fires {
		out = append(out, LegacyRun{At: f.At.Add(shift), Exit: &exit})
	}
	return out
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

var week = Window{Since: weekStart.Add(-time.Hour), Until: weekStart.AddDate(0, 0, 7), Tolerance: ToleranceDefault}

func report(legacy []LegacyRun, fires []Fire) (Report, string) {
	r := NewReport(Report{DefinitionID: "t.cleanup", Legacy: "file:times", Window: week, LegacyZone: "Europe/Berlin", DefinitionZone: "UTC"}, legacy, fires)
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		panic(err)
	}
	return r, b.String()
}

func TestReportAgrees(t *testing.T) {
	fires := daily(2, 0, "shadow")
	r, out := report(legacyOf(fires, 3*time.Second, 0), fires)
	if !r.OK || len(r.Pairs) != 7 || r.Pairs[0].Offset != -3*time.Second {
		t.Fatalf("not OK:\n%s", out)
	}
	if !strings.Contains(out, "OK: all 7 runs pair within 2m0s") {
		t.Errorf("output does not say it agrees:\n%s", out)
	}
}

func TestReportMissedLegacyRun(t *testing.T) {
	fires := daily(2, 0, "succeeded")
	legacy := legacyOf(daily(2, 0, "", 2), time.Second, 0) // no legacy run on Wednesday
	r, out := report(legacy, fires)
	if r.OK || len(r.FireOnly) != 1 || len(r.LegacyOnly) != 0 || r.Shift != nil {
		t.Fatalf("want one fire without a legacy run:\n%s", out)
	}
	if !strings.Contains(out, "1 fire without a legacy run within 2m0s: Wed 2026-11-25T02:00:00Z") {
		t.Errorf("the day is not named:\n%s", out)
	}
}

func TestReportHourOffset(t *testing.T) {
	fires := daily(3, 0, "shadow")                         // 0 3 * * * in UTC
	legacy := legacyOf(fires, -time.Hour+4*time.Second, 0) // 0 3 * * * in Europe/Berlin, winter
	r, out := report(legacy, fires)
	if r.OK || r.Shift == nil || r.Shift.Hours != 1 || r.Shift.Pairs != 7 {
		t.Fatalf("want a 1h shift:\n%s", out)
	}
	want := "the definition fires 1h later than the legacy job: a time zone mistake? (legacy in host zone Europe/Berlin, definition in UTC; 7 of 7 runs pair when shifted)"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	r, _ = report(legacyOf(fires, 2*time.Hour, 0), fires)
	if r.Shift == nil || r.Shift.Hours != -2 || !strings.Contains(strings.Join(r.Why, "\n"), "fires 2h earlier") {
		t.Errorf("a definition 2h early: %+v", r.Why)
	}
}

func TestReportNoShiftWhenMostPair(t *testing.T) {
	fires := daily(3, 0, "shadow")
	legacy := legacyOf(fires[:5], time.Second, 0)
	legacy = append(legacy, legacyOf(fires[5:], -time.Hour, 0)...)
	r, out := report(legacy, fires)
	if r.Shift != nil || len(r.Pairs) != 5 || len(r.LegacyOnly) != 2 || len(r.FireOnly) != 2 {
		t.Errorf("5 of 7 pair: no zone diagnosis, 2 unpaired each side:\n%s", out)
	}
}

func TestReportPairsNearestOnce(t *testing.T) {
	base := weekStart.Add(12 * time.Hour)
	fires := []Fire{{At: base, RunID: "a"}, {At: base.Add(90 * time.Second), RunID: "b"}}
	legacy := []LegacyRun{{At: base.Add(80 * time.Second)}, {At: base.Add(100 * time.Second)}}
	r, out := report(legacy, fires)
	// Greedy in time order: the first legacy run takes b (10 s away), the
	// second finds a 100 s away, within the tolerance.
	if len(r.Pairs) != 2 || r.Pairs[0].Fire.RunID != "b" || r.Pairs[1].Fire.RunID != "a" || !r.OK {
		t.Errorf("pairs:\n%s", out)
	}
}

func TestReportStatusesAndOutcomes(t *testing.T) {
	fires := daily(2, 0, "succeeded")
	fires[1].Status = "missed"
	fires[1].Decision = "no worker polling pool state-hub"
	fires[2].Status = "skipped"
	fires[2].Decision = "rule false: hub_health.status == 'ok'"
	legacy := legacyOf(fires, time.Second, 0)
	one := 1
	legacy[3].Exit = &one
	r, out := report(legacy, fires)
	if r.OK || len(r.Why) != 1 || !strings.Contains(r.Why[0], "the definition missed 1 fire the legacy job ran: Tue 2026-11-24T02:00:00Z") {
		t.Errorf("a missed fire fails the report alone: %v\n%s", r.Why, out)
	}
	for _, want := range []string{"legacy exit 1, run succeeded", "rule false: hub_health.status == 'ok'", "the definition missed this fire"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestReportEmptySidesAndEdges(t *testing.T) {
	r, _ := report(nil, daily(2, 0, "succeeded"))
	if r.OK || !strings.Contains(strings.Join(r.Why, "\n"), "no legacy runs since") {
		t.Errorf("no legacy runs: %v", r.Why)
	}
	r, _ = report(legacyOf(daily(2, 0, ""), 0, 0), nil)
	if r.OK || !strings.Contains(strings.Join(r.Why, "\n"), "no fires of t.cleanup since") {
		t.Errorf("no fires: %v", r.Why)
	}
	// A legacy run just inside the window whose fire came just before it.
	edge := []LegacyRun{{At: week.Since.Add(30 * time.Second)}}
	r, out := report(append(edge, legacyOf(daily(2, 0, ""), 0, 0)...), daily(2, 0, "succeeded"))
	if !r.OK || r.AtEdges != 1 || !strings.Contains(out, "1 unpaired run within 2m0s of the window's ends not counted") {
		t.Errorf("edge:\n%s", out)
	}
}
