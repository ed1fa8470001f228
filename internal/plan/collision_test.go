package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestPlanCollisions: 13 jobs at 03:00 UTC every day, and the change adds
// a 14th; 5 more share Monday 04:00 UTC; 4 at 05:00 stay under the
// threshold.
func TestPlanCollisions(t *testing.T) {
	r := newRepo(t)
	files := map[string]string{}
	for i := 1; i <= 13; i++ {
		id := fmt.Sprintf("hub.sweep-%02d", i)
		files["defs/"+id+".yaml"] = cron(id, "0 3 * * *", "UTC")
	}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("hub.weekly-%d", i)
		files["defs/"+id+".yaml"] = cron(id, "0 4 * * mon", "UTC")
	}
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("hub.quiet-%d", i)
		files["defs/"+id+".yaml"] = cron(id, "0 5 * * *", "UTC")
	}
	r.commit("base", files)
	r.commit("one more nightly sweep", map[string]string{"defs/hub.sweep-14.yaml": cron("hub.sweep-14", "0 3 * * *", "UTC")})
	rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "HEAD~1", HeadRef: "HEAD"})

	if len(rep.Collisions) != 2 {
		t.Fatalf("collisions = %+v, want 03:00 daily and 04:00 on Mondays", rep.Collisions)
	}
	daily, weekly := rep.Collisions[0], rep.Collisions[1]
	if daily.UTC != "03:00" || daily.Jobs != 14 || daily.Recurrence != "daily" || len(daily.Dates) != 30 || !daily.Changed {
		t.Errorf("daily collision = %+v", daily)
	}
	if !slices.Contains(daily.IDs, "hub.sweep-14") {
		t.Errorf("the added job is not among the colliding ones: %v", daily.IDs)
	}
	if weekly.UTC != "04:00" || weekly.Jobs != 5 || weekly.Recurrence != "every Monday" || weekly.Changed {
		t.Errorf("weekly collision = %+v", weekly)
	}
	if msg := daily.Message(); !strings.HasPrefix(msg, "14 jobs at 03:00 UTC (daily): ") || !strings.HasSuffix(msg, "and 4 more") {
		t.Errorf("message = %q", msg)
	}
	if !rep.Failed(true) || rep.Failed(false) {
		t.Error("collisions are warnings: they fail the plan only with --fail-on warning")
	}
	golden(t, "collision.md.golden", markdown(t, rep))
}

// TestPlanCollisionThreshold: raising the threshold above the crowd
// silences it.
func TestPlanCollisionThreshold(t *testing.T) {
	r := newRepo(t)
	files := map[string]string{}
	for i := 1; i <= 6; i++ {
		id := fmt.Sprintf("hub.job-%d", i)
		files["defs/"+id+".yaml"] = cron(id, "*/30 * * * *", "UTC")
	}
	r.commit("base", files)
	if rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "HEAD", HeadRef: "HEAD", CollisionThreshold: 7}); len(rep.Collisions) != 0 {
		t.Errorf("threshold 7, 6 jobs: collisions = %+v", rep.Collisions)
	}
	rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "HEAD", HeadRef: "HEAD", CollisionThreshold: 6, Days: 2})
	if len(rep.Collisions) != 48 || rep.Collisions[0].Recurrence != "daily" {
		t.Errorf("6 jobs every 30 minutes over 2 days: %d collisions, want 48 daily ones", len(rep.Collisions))
	}
}
