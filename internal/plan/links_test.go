package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanRefusesLinksOut: a working tree or --head folder holding a
// symbolic link that leads out of it (to a file, a folder, nowhere, or
// out through a link inside) refuses the plan, naming the link and never
// its target; links that stay inside are still followed.
func TestPlanRefusesLinksOut(t *testing.T) {
	outside := t.TempDir()
	secretFile := filepath.Join(outside, "runner-secret.yaml")
	writeTree(t, outside, map[string]string{"runner-secret.yaml": "id: [ hunter2\n", "conf/x.yaml": cron("x.y", "0 1 * * *", "UTC")})
	for name, c := range map[string]struct{ link, target string }{
		"file":     {"defs/evil.yaml", secretFile},
		"folder":   {"defs/etc", filepath.Join(outside, "conf")},
		"dangling": {"defs/gone.yaml", filepath.Join(outside, "no-such.yaml")},
		"root":     {"defs/all", "/"},
		"relative": {"defs/up.yaml", "../../" + filepath.Base(outside) + "/runner-secret.yaml"},
		"via dot":  {".hidden/leak.yaml", secretFile},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("base", map[string]string{"defs/a.yaml": cron("team.a", "0 1 * * *", "UTC")})
			mustLink(t, c.target, filepath.Join(r.dir, c.link))
			if name == "via dot" { // reached through a link inside the repo
				mustLink(t, "../.hidden", filepath.Join(r.dir, "defs", "shared"))
			}
			_, err := Build(context.Background(), Config{RepoDir: r.dir, Path: "defs", Base: "main", Now: now, TempDir: t.TempDir()})
			if !errors.Is(err, errLink) || !strings.Contains(err.Error(), "defs/") {
				t.Fatalf("err = %v, want ErrLink naming the link", err)
			}
			if strings.Contains(err.Error(), outside) || strings.Contains(err.Error(), "runner-secret") {
				t.Errorf("the error shows the target: %v", err)
			}
			_, err = Build(context.Background(), Config{RepoDir: r.dir, Path: "defs", Base: "main", HeadDir: filepath.Join(r.dir, "defs"), Now: now, TempDir: t.TempDir()})
			if !errors.Is(err, errLink) || strings.Contains(err.Error(), outside) {
				t.Errorf("--head DIR: err = %v, want ErrLink without the target", err)
			}
		})
	}
}

// TestPlanFollowsLinksInside: a link to a folder elsewhere in the
// checkout is followed as the loader follows it.
func TestPlanFollowsLinksInside(t *testing.T) {
	r := newRepo(t)
	r.commit("base", map[string]string{"defs/a.yaml": cron("team.a", "0 1 * * *", "UTC"), "shared/b.yaml": cron("team.b", "0 2 * * *", "UTC")})
	mustLink(t, "../shared", filepath.Join(r.dir, "defs", "shared"))
	rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "main"})
	if len(rep.Added) != 1 || rep.Added[0].ID != "team.b" {
		t.Errorf("added = %+v, want team.b through the link", rep.Added)
	}
}

func mustLink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
