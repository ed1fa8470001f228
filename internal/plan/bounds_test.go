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
