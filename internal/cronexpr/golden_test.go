package cronexpr

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTemporalGolden replays testdata/temporal_golden.tsv. Temporal server
// v1.32.1's own code produced that file (see testdata/temporal-oracle/main.go).
// It holds curated DST and quirk cases plus randomly generated expressions in
// zones with unusual DST rules. The test checks that ParseTemporal accepts
// exactly the expressions Temporal accepts and that NextN returns exactly
// Temporal's nominal times. It also checks that Parse never accepts something
// Temporal rejects and that, when Parse accepts, it agrees with Temporal.
func TestTemporalGolden(t *testing.T) {
	f, err := os.Open("testdata/temporal_golden.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines, accepted := 0, 0
	for sc.Scan() {
		lines++
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 5 {
			t.Fatalf("line %d: %d columns", lines, len(cols))
		}
		zone, result := cols[0], cols[4]
		expr, err := strconv.Unquote(cols[1])
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		after := mustTime(t, cols[2])
		n, _ := strconv.Atoi(cols[3])
		var loc *time.Location
		if zone != "" {
			loc = mustLoad(t, zone)
		}

		s, perr := ParseTemporal(expr)
		ps, aerr := Parse(expr)
		if result == "ERR" {
			if perr == nil {
				t.Errorf("line %d: ParseTemporal(%q) accepted; Temporal rejects it", lines, expr)
			}
			if aerr == nil {
				t.Errorf("line %d: Parse(%q) accepted; Temporal rejects it", lines, expr)
			}
			continue
		}
		accepted++
		if perr != nil {
			t.Errorf("line %d: ParseTemporal(%q): %v; Temporal accepts it", lines, expr, perr)
			continue
		}
		want := result
		if want == "none" {
			want = ""
		}
		check := func(name string, s *Schedule) {
			var got []string
			for _, ts := range s.NextN(after, loc, n) {
				got = append(got, ts.UTC().Format(time.RFC3339))
			}
			if g := strings.Join(got, " "); g != want {
				t.Errorf("line %d: %s(%q) in %q after %s:\n got: %s\nwant: %s", lines, name, expr, zone, cols[2], g, want)
			}
		}
		check("ParseTemporal", s)
		if aerr == nil {
			check("Parse", ps)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 1000 || accepted < 500 {
		t.Fatalf("golden file too small: %d lines, %d accepted", lines, accepted)
	}
}
