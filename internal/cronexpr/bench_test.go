package cronexpr

import (
	"testing"
	"time"
)

func BenchmarkParse(b *testing.B) {
	exprs := []string{"0 0 * * *", "*/15 9-17 * * mon-fri", "@daily", "0,30 8-18/2 1-7 jan-jun,sept 1-5 # report"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Parse(exprs[i%len(exprs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	loc := mustLoad(b, "Europe/Berlin")
	s, err := Parse("*/15 9-17 * * mon-fri")
	if err != nil {
		b.Fatal(err)
	}
	after := time.Date(2026, 10, 23, 17, 50, 0, 0, loc) // Friday evening, DST weekend ahead
	b.ReportAllocs()
	for b.Loop() {
		if s.Next(after, loc).IsZero() {
			b.Fatal("no next time")
		}
	}
}

// BenchmarkNextNever measures the worst case: a spec that never fires makes
// the search run to the end of 2100 (Temporal's limit).
func BenchmarkNextNever(b *testing.B) {
	s, err := ParseTemporal("0 0 30 2 *")
	if err != nil {
		b.Fatal(err)
	}
	after := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if !s.Next(after, time.UTC).IsZero() {
			b.Fatal("unexpected fire")
		}
	}
}
