// Command temporal-oracle regenerates ../temporal_golden.tsv from Temporal's
// own schedule code, so that the cronexpr tests compare against what a real
// Temporal server computes rather than against our reading of it.
//
// It is not part of the activity-core build (testdata is ignored by the go
// tool). To regenerate:
//
//	cd $(mktemp -d) && cp <repo>/internal/cronexpr/testdata/temporal-oracle/main.go .
//	go mod init oracle && go get go.temporal.io/server@v1.32.1 && go mod tidy
//	go run . > <repo>/internal/cronexpr/testdata/temporal_golden.tsv
//
// Each line: zone, Go-quoted expression, after (RFC 3339), n, then either
// "ERR" (Temporal rejects the expression) or up to n nominal fire times in UTC
// ("none" if there are none). For expressions with a TZ= prefix the zone
// column is empty: Temporal takes the zone from the prefix.
package main

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"

	schedulepb "go.temporal.io/api/schedule/v1"
	"go.temporal.io/server/service/worker/scheduler"
)

var zones = []string{"UTC", "Europe/Berlin", "America/New_York", "US/Pacific", "Australia/Lord_Howe", "Asia/Beirut",
	"America/Santiago", "America/Asuncion", "Cuba", "Europe/London", "Asia/Kolkata", "Pacific/Chatham", "America/Havana",
	"Africa/Casablanca", "Asia/Tehran", "Europe/Dublin", "Antarctica/Troll", "Pacific/Apia", "America/St_Johns"}

var atoms = []string{"*", "0", "1", "2", "3", "5", "7", "6", "12", "15", "23", "24", "29", "30", "31", "59", "60", "2000", "2026", "2100",
	"jan", "feb", "sept", "december", "ma", "mar", "mon", "sun", "su", "th", "thurs", "sat", "fri", "tu", "L", "?", "W", "+5", "05", "", "-1", "x", "İ", "aprİl"}

func randItem(r *rand.Rand) string {
	a := atoms[r.Intn(len(atoms))]
	switch r.Intn(6) {
	case 0:
		a = a + "-" + atoms[r.Intn(len(atoms))]
	case 1:
		a = a + "/" + fmt.Sprint(r.Intn(8))
	case 2:
		a = a + "-" + atoms[r.Intn(len(atoms))] + "/" + fmt.Sprint(1+r.Intn(5))
	}
	return a
}

func randField(r *rand.Rand, kind int) string {
	// mostly sane values per kind
	if r.Intn(3) > 0 {
		switch kind {
		case 0, 1: // sec, minute
			return []string{"0", "*", "30", "*/15", "0,30", "5/20", "59", "0-10/3", "*/7"}[r.Intn(9)]
		case 2:
			return []string{"*", "0", "1", "2", "3", "1,2", "2-3", "*/2", "1-3", "0-4/2", "22-2", "23", "1/3"}[r.Intn(13)]
		case 3:
			return []string{"*", "1", "15", "31", "30", "29", "*/2", "1-7", "8-14", "13"}[r.Intn(10)]
		case 4:
			return []string{"*", "2", "feb", "3", "10-11", "*/3", "mar,oct,nov", "11", "apr"}[r.Intn(9)]
		case 5:
			return []string{"*", "0", "7", "1-7", "mon", "sun", "1-5", "5-7", "6-7", "mon-fri", "sat-sun", "1/1", "0-7", "*/2", "fri"}[r.Intn(15)]
		case 6:
			return []string{"*", "2026", "2026-2030", "2027/2", "2099-2100", "1999", "2100"}[r.Intn(7)]
		}
	}
	n := 1 + r.Intn(3)
	items := make([]string, n)
	for i := range items {
		items[i] = randItem(r)
	}
	return strings.Join(items, ",")
}

func randExpr(r *rand.Rand) string {
	switch r.Intn(20) {
	case 0:
		return []string{"@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@annually", "@midnight", "@Daily", "@reboot", "@every 1h", "@every 90m/30m", "@every 1d/1h", "@every 0.5s", "@every 1h/1h", "@everyday 5m", "@every", "@every  5m", "@every 1.5d/-1m", "@daily # c", "@hourly 5"}[r.Intn(20)]
	case 1:
		return "TZ=" + zones[r.Intn(len(zones))] + " " + fmt.Sprintf("%s %s * * *", randField(r, 1), randField(r, 2))
	}
	nf := []int{5, 5, 5, 5, 6, 7, 4, 8}[r.Intn(8)]
	var kinds []int
	switch nf {
	case 5:
		kinds = []int{1, 2, 3, 4, 5}
	case 6:
		kinds = []int{1, 2, 3, 4, 5, 6}
	case 7:
		kinds = []int{0, 1, 2, 3, 4, 5, 6}
	default:
		kinds = make([]int, nf)
		for i := range kinds {
			kinds[i] = r.Intn(7)
		}
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = randField(r, k)
		if parts[i] == "" {
			parts[i] = "*"
		}
	}
	e := strings.Join(parts, " ")
	switch r.Intn(12) {
	case 0:
		e += " # comment"
	case 1:
		e += "#3"
	case 2:
		e = "  " + e + "\t"
	case 3:
		e += " # " + strings.Repeat("x", 199+r.Intn(3))
	}
	return e
}

// transitions returns instants near DST transitions for zone in 2026/2027.
func nearTransitions(loc *time.Location) []time.Time {
	var out []time.Time
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, off := t.In(loc).Zone()
	for t.Year() < 2028 {
		t2 := t.Add(time.Hour)
		_, off2 := t2.In(loc).Zone()
		if off2 != off {
			out = append(out, t2)
		}
		off = off2
		t = t2
	}
	return out
}

type golden struct {
	zone, expr string
	after      time.Time
	n          int
}

func curated() []golden {
	d := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	var out []golden
	// DST: Europe/Berlin 2026-03-29 (02:00 CET -> 03:00 CEST) and 2026-10-25
	// (03:00 CEST -> 02:00 CET); America/New_York 2026-03-08 and 2026-11-01.
	for _, c := range []struct{ zone, after string }{
		{"Europe/Berlin", "2026-03-28T20:00:00Z"},
		{"Europe/Berlin", "2026-10-24T20:00:00Z"},
		{"America/New_York", "2026-03-07T23:00:00Z"},
		{"America/New_York", "2026-10-31T23:00:00Z"},
	} {
		for _, e := range []string{"0 * * * *", "30 * * * *", "30 2 * * *", "30 1 * * *", "0 2 * * *", "0 3 * * *",
			"30 1,2 * * *", "*/20 1-3 * * *", "@daily", "@hourly", "0 0 * * *", "59 1 * * *", "0 1-3 * * *", "0 */2 * * *", "15 2 * * sun"} {
			out = append(out, golden{c.zone, e, d(c.after), 8})
		}
	}
	for _, e := range []string{"0 0 1 * mon", "0 0 13 * fri", "0 12 * * 1-5", "0 0 * * 1-7", "0 0 * * 7", "0 0 * * 0,7",
		"0 0 * * sun", "0 0 * * 5-7", "0 0 * * 1/1", "*/15 9-17 * * mon-fri", "5/15 * * * *", "0 0 30 2 *", "0 0 29 2 *",
		"0 0 31 * *", "0 0 * * 5#3", "0 9 * jan-mar *", "0 0 1 */3 *", "0 0 29 2 mon", "@weekly", "@monthly", "@yearly",
		"@annually", "@midnight", "@every 90m", "@every 1d/6h", "@every 7d", "0 0 0 1 1 * 2099-2100", "30 2 * * * 2026",
		"TZ=Europe/Berlin 30 2 * * *", "CRON_TZ=America/New_York 30 1 * * *"} {
		zone := "UTC"
		if strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ=") {
			zone = ""
		}
		out = append(out, golden{zone, e, d("2026-01-01T00:00:00Z"), 8})
	}
	out = append(out, golden{"UTC", "0 0 1 1 *", d("2099-06-01T00:00:00Z"), 4})
	out = append(out, golden{"America/New_York", "0 0 1 1 *", d("2099-06-01T00:00:00Z"), 4})
	out = append(out, golden{"UTC", "@every 1h", d("2100-12-31T21:30:00Z"), 4})
	out = append(out, golden{"UTC", "0 0 * * *", d("1960-01-01T00:00:00Z"), 2})
	return out
}

func main() {
	r := rand.New(rand.NewSource(20260329))
	b := scheduler.NewSpecBuilder(func() int { return 0 }, func() int { return 0 })
	cases := curated()
	locs := map[string]*time.Location{}
	for _, z := range zones {
		l, err := time.LoadLocation(z)
		if err != nil {
			panic(err)
		}
		locs[z] = l
	}
	accepted := 0
	for i := 0; i < 100000 && len(cases) < 2500; i++ {
		expr := randExpr(r)
		zone := zones[r.Intn(len(zones))]
		if strings.HasPrefix(strings.TrimSpace(expr), "TZ=") {
			zone = ""
		}
		_, err := b.NewCompiledSpec(&schedulepb.ScheduleSpec{CronString: []string{expr}, TimezoneName: zone})
		if err == nil {
			accepted++
		} else if r.Intn(3) > 0 {
			continue // keep roughly one rejected case per accepted one
		}
		var after time.Time
		if zone != "" && r.Intn(2) == 0 {
			tr := nearTransitions(locs[zone])
			if len(tr) > 0 {
				after = tr[r.Intn(len(tr))].Add(time.Duration(r.Intn(4*3600)-3*3600) * time.Second)
			}
		}
		if after.IsZero() {
			after = time.Unix(1767225600+r.Int63n(3*365*86400), 0).UTC() // 2026-2028
		}
		cases = append(cases, golden{zone, expr, after.UTC(), 5})
	}
	for _, c := range cases {
		cs, err := b.NewCompiledSpec(&schedulepb.ScheduleSpec{CronString: []string{c.expr}, TimezoneName: c.zone})
		result := "ERR"
		if err == nil {
			var times []string
			a := c.after
			for k := 0; k < c.n; k++ {
				res, err := cs.GetNextTime("", a)
				if err != nil {
					panic(err)
				}
				if res.Nominal.IsZero() {
					break
				}
				times = append(times, res.Nominal.UTC().Format(time.RFC3339))
				a = res.Nominal
			}
			result = strings.Join(times, " ")
			if result == "" {
				result = "none"
			}
		}
		fmt.Printf("%s\t%s\t%s\t%d\t%s\n", c.zone, strconv.Quote(c.expr), c.after.Format(time.RFC3339), c.n, result)
	}
}
