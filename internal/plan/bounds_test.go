package plan

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestPlanBounds: a change adding 110 jobs that fire every minute is
// analysed within bounds: 100 schedules, fires cut at firesMax, collisions
// counted over collisionFiresMax fires, a comment GitHub accepts.
func TestPlanBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("counts millions of fires")
	}
	r := newRepo(t)
	r.commit("base", map[string]string{"defs/keep.yaml": cron("team.keep", "0 1 * * *", "UTC")})
	files := map[string]string{}
	for i := range 110 {
		id := fmt.Sprintf("flood.job-%03d", i)
		files["defs/"+id+".yaml"] = cron(id, "* * * * *", "UTC")
	}
	r.commit("flood", files)
	rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "HEAD~1", HeadRef: "HEAD"})
	if len(rep.Schedules) != schedulesMax || rep.SchedulesLeftOut != 10 {
		t.Errorf("%d schedules, %d left out; want %d and 10", len(rep.Schedules), rep.SchedulesLeftOut, schedulesMax)
	}
	if tm := rep.Schedules[0].After; len(tm.Fires) != firesMax || !tm.Truncated {
		t.Errorf("%d fires, truncated %v; want %d, cut", len(tm.Fires), tm.Truncated, firesMax)
	}
	if rep.CollisionsNote == "" {
		t.Error("110 jobs every minute for 30 days is past collisionFiresMax: the note is missing")
	}
	checkFireBudget(t, rep)
}

// checkFireBudget: the first two schedules spend the 20,000 fires listed,
// every other keeps its first three; what is left out is counted, and the
// JSON stays a few MB (it was 120).
func checkFireBudget(t *testing.T, rep *Report) {
	t.Helper()
	want := []int{firesMax, firesMax, firesShown}
	for i, s := range rep.Schedules[:3] {
		if n := len(s.After.Fires); n != want[i] || s.After.FiresLeftOut != firesMax-n || s.After.count() != firesMax {
			t.Errorf("schedule %d lists %d fires, %d left out; want %d, %d", i, n, s.After.FiresLeftOut, want[i], firesMax-want[i])
		}
	}
	if want := (schedulesMax - 2) * (firesMax - firesShown); rep.FiresLeftOut != want {
		t.Errorf("fires left out = %d, want %d", rep.FiresLeftOut, want)
	}
	// 23 whole jobs fit collisionFiresMax: each minute of the day has one
	// set of 23 or 24 jobs, 2,880 groups.
	if len(rep.Collisions) != collisionsListed || rep.CollisionsLeftOut != 2880-collisionsListed {
		t.Errorf("%d collisions listed, %d left out; want %d, %d", len(rep.Collisions), rep.CollisionsLeftOut, collisionsListed, 2880-collisionsListed)
	}
	size := len(jsonOf(t, rep))
	t.Logf("JSON: %d bytes", size)
	if size > 4<<20 {
		t.Errorf("JSON is %d bytes, want at most 4 MiB", size)
	}
	md := string(markdown(t, rep))
	if !strings.Contains(md, "After: 10000 fires (list cut); first") || strings.Count(md, "After: 10000 fires") != strings.Count(md, "\n#### ") {
		t.Errorf("the markdown counts fires left out of the JSON: every schedule says 10000 fires")
	}
}

// TestMarkdownCut: a comment past markdownMax is cut at a line and says so.
func TestMarkdownCut(t *testing.T) {
	rep := &Report{Base: Side{Ref: "main"}, Head: Side{Ref: "HEAD"}}
	for i := range 2000 {
		rep.Added = append(rep.Added, Definition{ID: fmt.Sprintf("team.job-%04d", i), File: fmt.Sprintf("defs/job-%04d.yaml", i), Trigger: "cron 0 3 * * * (UTC)"})
	}
	rep.finish()
	var b bytes.Buffer
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if len(out) > markdownMax+100 || !strings.HasSuffix(out, "cut at 60000 characters: run with --format json for everything.\n") {
		t.Errorf("markdown is %d characters, ends %q", len(out), out[len(out)-100:])
	}
}

// TestPlanListFires: the budget is spent in order, every list keeps its first
// three, a midnight move counts two fires, and what is cut is counted
// where it was cut and in all.
func TestPlanListFires(t *testing.T) {
	fires := func(n int) []fire { return make([]fire, n) }
	rep := &Report{Schedules: []schedule{{
		Before:         &Timing{Fires: fires(10)},
		After:          &Timing{Fires: fires(10), DST: []dstDay{{Fires: fires(5)}}},
		AcrossMidnight: make([]move, 10),
	}}}
	rep.listFires(12)
	s := rep.Schedules[0]
	got := []int{len(s.Before.Fires), s.Before.FiresLeftOut, len(s.After.Fires), s.After.FiresLeftOut,
		len(s.After.DST[0].Fires), s.After.DST[0].FiresLeftOut, len(s.AcrossMidnight), s.AcrossMidnightLeftOut, rep.FiresLeftOut}
	want := []int{10, 0, 3, 7, 3, 2, 3, 7, 7 + 2 + 14}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed/left out = %v, want %v", got, want)
	}
	if s.After.count() != 10 {
		t.Errorf("count = %d, want 10 (listed or not)", s.After.count())
	}
}
