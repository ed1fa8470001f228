package plan

import (
	"strings"
	"testing"
)

// TestPlanRemovedDefinition: the change deletes one definition, adds
// another (an event one: no schedule) and edits a third's command; the
// working tree is the head.
func TestPlanRemovedDefinition(t *testing.T) {
	r := newRepo(t)
	r.commit("base", map[string]string{
		"automations/nightly.yaml": cron("ops.nightly", "15 1 * * *", "UTC"),
		"automations/legacy.yaml":  cron("ops.legacy-sync", "0 */6 * * *", "UTC"),
		"README.md":                "not a definition folder\n",
	})
	writeTree(t, r.dir, map[string]string{
		"automations/legacy.yaml":  "",
		"automations/nightly.yaml": strings.Replace(cron("ops.nightly", "15 1 * * *", "UTC"), "  cmd: /usr/local/bin/ops-nightly\n", "  cmd: /usr/local/bin/ops-nightly --full\n", 1),
		"automations/on-push.yaml": "id: ops.on-push\ntrigger:\n  trigger_type: event\n  event_type: git.push\ninstruction:\n  kind: shell\n  cmd: /usr/local/bin/deploy\n",
	})
	rep := build(t, Config{RepoDir: r.dir, Path: "automations", Base: "main"})

	if len(rep.Removed) != 1 || rep.Removed[0].ID != "ops.legacy-sync" || rep.Removed[0].File != "automations/legacy.yaml" {
		t.Errorf("removed = %+v", rep.Removed)
	}
	if len(rep.Added) != 1 || rep.Added[0].ID != "ops.on-push" {
		t.Errorf("added = %+v", rep.Added)
	}
	if len(rep.Changed) != 1 || rep.Changed[0].Fields[0].Path != "instruction.cmd" {
		t.Errorf("changed = %+v", rep.Changed)
	}
	if len(rep.Schedules) != 1 || !rep.Schedules[0].Unchanged {
		t.Errorf("schedules = %+v: only ops.nightly, unchanged", rep.Schedules)
	}
	golden(t, "removed.md.golden", markdown(t, rep))
}

// TestPlanHeldNotRemoved: a definition whose file breaks in the head is
// held, not removed, and the error names file:line:col inside the repo.
func TestPlanHeldNotRemoved(t *testing.T) {
	r := newRepo(t)
	r.commit("base", map[string]string{"defs/a.yaml": cron("team.a", "0 1 * * *", "UTC")})
	r.commit("break it", map[string]string{"defs/a.yaml": cron("team.a", "0 25 * * *", "UTC")})
	rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "HEAD~1", HeadRef: "HEAD"})
	if len(rep.Removed) != 0 || len(rep.Held) != 1 {
		t.Errorf("removed %+v held %+v: a broken file holds its definition", rep.Removed, rep.Held)
	}
	if len(rep.Errors) == 0 || !strings.HasPrefix(rep.Errors[0].Error(), "defs/a.yaml:4:") || !rep.Failed(false) {
		t.Errorf("errors = %v, want defs/a.yaml:4:…", rep.Errors)
	}
}

// TestPlanBadRefs: an unknown base, a ref starting with '-' and a head
// without the definitions folder are clear errors.
func TestPlanBadRefs(t *testing.T) {
	r := newRepo(t)
	r.commit("base", map[string]string{"defs/a.yaml": cron("team.a", "0 1 * * *", "UTC")})
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Base: "no-such-branch", HeadRef: "HEAD", Path: "defs"}, `ref "no-such-branch" is not a commit`},
		{Config{Base: "--output=/tmp/x", HeadRef: "HEAD", Path: "defs"}, "may not be empty or start with '-'"},
		{Config{Base: "HEAD", HeadRef: "HEAD", Path: "elsewhere"}, "elsewhere does not exist at HEAD (check --path)"},
	} {
		c.cfg.RepoDir, c.cfg.Now = r.dir, now
		_, err := Build(t.Context(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestPlanHeadFolder: --head DIR reads any folder, named as given; a
// --path missing at the base means everything is added.
func TestPlanHeadFolder(t *testing.T) {
	r := newRepo(t)
	r.commit("base", map[string]string{"README.md": "no definitions yet\n"})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.yaml": cron("team.a", "0 1 * * *", "UTC")})
	rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "main", HeadDir: dir})
	if rep.Head.Ref != dir || rep.Head.Commit != "" || len(rep.Added) != 1 || rep.Added[0].File != dir+"/a.yaml" {
		t.Errorf("head %+v added %+v", rep.Head, rep.Added)
	}
	if !strings.Contains(rep.Base.Note, "defs does not exist at main") {
		t.Errorf("base note = %q", rep.Base.Note)
	}
}
