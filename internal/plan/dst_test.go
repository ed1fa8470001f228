package plan

import (
	"strings"
	"testing"
)

// TestPlanDSTCrossingChange: a Berlin job moved from 03:00 to 02:30, a
// wall time that does not exist on the last Sunday of March, and another
// moved from 00:30 to 23:30, which changes the date it runs on.
func TestPlanDSTCrossingChange(t *testing.T) {
	r := newRepo(t)
	r.commit("base", map[string]string{
		"defs/backup.yaml":  cron("team.backup", "0 3 * * *", "Europe/Berlin"),
		"defs/report.yaml":  cron("team.report", "30 0 * * *", "Europe/Berlin"),
		"defs/cleanup.yaml": cron("team.cleanup", "0 5 * * *", "UTC"),
	})
	r.git("checkout", "-q", "-b", "change")
	r.commit("move backup and report earlier", map[string]string{
		"defs/backup.yaml": cron("team.backup", "30 2 * * *", "Europe/Berlin"),
		"defs/report.yaml": cron("team.report", "30 23 * * *", "Europe/Berlin"),
	})
	rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "main", HeadRef: "change"})

	if len(rep.Changed) != 2 || rep.Changed[0].ID != "team.backup" {
		t.Fatalf("changed = %+v, want team.backup and team.report", rep.Changed)
	}
	f := rep.Changed[0].Fields
	if len(f) != 1 || f[0].Path != "trigger.cron_expression" || f[0].Before != `"0 3 * * *"` || f[0].After != `"30 2 * * *"` {
		t.Errorf("backup's field changes = %+v", f)
	}
	backup := rep.Schedules[0]
	for _, fire := range backup.After.Fires {
		if strings.HasPrefix(fire.Local, "2026-03-29") {
			t.Errorf("02:30 does not exist on 2026-03-29 in Berlin, yet a fire is listed: %s", fire.Local)
		}
	}
	if len(backup.After.DST) != 1 || strings.Join(backup.After.DST[0].Skipped, ",") != "02:30" {
		t.Errorf("after DST days = %+v, want 2026-03-29 with 02:30 skipped", backup.After.DST)
	}
	if n := len(backup.Before.Fires) - len(backup.After.Fires); n != 1 {
		t.Errorf("before %d fires, after %d: want one fewer after", len(backup.Before.Fires), len(backup.After.Fires))
	}
	if !hasWarning(rep, warnDST, "team.backup", "02:30 does not exist") {
		t.Errorf("no DST warning for team.backup: %+v", rep.Warnings)
	}
	report := rep.Schedules[1]
	if report.ID != "team.report" || len(report.AcrossMidnight) == 0 {
		t.Fatalf("team.report should move across midnight: %+v", report)
	}
	if m := report.AcrossMidnight[0]; m.Before.Local[:10] == m.After.Local[:10] {
		t.Errorf("a move across midnight keeps its date: %+v", m)
	}
	if len(rep.Errors) != 0 || rep.Failed(false) || !rep.Failed(true) {
		t.Errorf("errors %v; a DST warning fails only with --fail-on warning", rep.Errors)
	}
	golden(t, "dst.md.golden", markdown(t, rep))
	golden(t, "dst.json.golden", jsonOf(t, rep))
}

func hasWarning(rep *Report, kind, id, text string) bool {
	for _, w := range rep.Warnings {
		if w.Kind == kind && w.DefinitionID == id && strings.Contains(w.Message, text) {
			return true
		}
	}
	return false
}
