package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/storeopen"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// planRepo makes a git repository with two commits: base files, then
// head files ("" removes a file).
func planRepo(t *testing.T, base, head map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=Ann", "GIT_AUTHOR_EMAIL=ann@example.com", "GIT_COMMITTER_NAME=Ann", "GIT_COMMITTER_EMAIL=ann@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q", "-b", "main")
	for _, files := range []map[string]string{base, head} {
		for name, content := range files {
			p := filepath.Join(dir, name)
			if content == "" {
				_ = os.Remove(p)
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run("add", "-A")
		run("commit", "-q", "--allow-empty", "-m", "step")
	}
	return dir
}

func cronDef(id, expr string) string {
	return fmt.Sprintf("id: %s\ntrigger:\n  trigger_type: cron\n  cron_expression: %q\ninstruction:\n  kind: shell\n  cmd: /bin/true\n", id, expr)
}

// runPlan runs `activity-core plan` with args in repo dir.
func runPlan(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"plan", "--repo", dir, "--path", "defs", "--now", "2026-03-15T00:00:00Z"}, args...)
	code = mainIO(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestPlanCommandExits: errors in the head exit 1 with file:line:col;
// a collision exits 1 only with --fail-on warning; an unknown base ref
// is a usage error that names it.
func TestPlanCommandExits(t *testing.T) {
	t.Setenv("ACTIVITY_DATABASE_URL", "")
	crowd := map[string]string{}
	for i := range 5 {
		crowd[fmt.Sprintf("defs/j%d.yaml", i)] = cronDef(fmt.Sprintf("team.j%d", i), "0 3 * * *")
	}
	dir := planRepo(t, map[string]string{"defs/a.yaml": cronDef("team.a", "0 1 * * *")}, crowd)

	code, out, _ := runPlan(t, dir, "--base", "HEAD~1", "--head", "HEAD")
	if code != ExitOK || !strings.Contains(out, "5 jobs at 03:00 UTC (daily)") {
		t.Errorf("collision without --fail-on warning: exit %d, want 0 and the collision:\n%s", code, out)
	}
	if code, _, _ := runPlan(t, dir, "--base", "HEAD~1", "--head", "HEAD", "--fail-on", "warning"); code != ExitFailure {
		t.Errorf("collision with --fail-on warning: exit %d, want 1", code)
	}
	if code, out, _ := runPlan(t, dir, "--base", "HEAD~1", "--head", "HEAD", "--collision-threshold", "6", "--fail-on", "warning"); code != ExitOK {
		t.Errorf("5 jobs under a threshold of 6: exit %d\n%s", code, out)
	}

	writeDef(t, filepath.Join(dir, "defs", "a.yaml"), cronDef("team.a", "0 25 * * *"))
	code, out, _ = runPlan(t, dir, "--base", "HEAD")
	if code != ExitFailure || !strings.Contains(out, "`defs/a.yaml:4:") || !strings.Contains(out, "hour") {
		t.Errorf("an invalid working tree file: exit %d, want 1 and defs/a.yaml:4:…:\n%s", code, out)
	}

	code, _, stderr := runPlan(t, dir, "--base", "nope")
	if code != ExitUsage || !strings.Contains(stderr, `ref "nope" is not a commit`) {
		t.Errorf("unknown base: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runPlan(t, dir, "--base=-x")
	if code != ExitUsage || !strings.Contains(stderr, "start with '-'") {
		t.Errorf("base starting with '-': exit %d, stderr %q", code, stderr)
	}

	// Secrets are checked only against an allow-list; without one, a
	// changed definition that names one gets validate's warning.
	withSecret := strings.Replace(cronDef("team.a", "0 2 * * *"), "cmd: /bin/true", "cmd: /bin/true\n  env: {TOKEN: '${env:HUB_TOKEN}'}", 1)
	writeDef(t, filepath.Join(dir, "defs", "a.yaml"), withSecret)
	t.Setenv("ACTIVITY_SECRET_ENV", "")
	if code, out, _ := runPlan(t, dir, "--base", "HEAD"); code != ExitOK || !strings.Contains(out, "secrets HUB_TOKEN not checked: no allow-list given") {
		t.Errorf("a secret without an allow-list: exit %d, want 0 and the warning:\n%s", code, out)
	}
	if code, out, _ := runPlan(t, dir, "--base", "HEAD", "--secret-env", "HUB_TOKEN"); code != ExitOK || strings.Contains(out, "HUB_TOKEN not checked") {
		t.Errorf("a secret the allow-list holds: exit %d, want 0 and no warning:\n%s", code, out)
	}

	// A bare clone has no working tree to be the head: it asks for --head.
	bare := filepath.Join(t.TempDir(), "bare.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	code, out, stderr = runPlan(t, bare, "--base", "HEAD~1")
	if code != ExitUsage || !strings.Contains(stderr, "is a bare repository") || !strings.Contains(stderr, "--head REF") || out != "" {
		t.Errorf("bare repository without --head: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if code, out, _ = runPlan(t, bare, "--base", "HEAD~1", "--head", "HEAD"); code != ExitOK || !strings.Contains(out, "5 jobs at 03:00 UTC") {
		t.Errorf("bare repository with --head: exit %d\n%s", code, out)
	}
}

func writeDef(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPlanCommandJSONAndCwd: with no --repo the repository is the one the
// current folder is in, and --format json prints the documented report.
func TestPlanCommandJSONAndCwd(t *testing.T) {
	dir := planRepo(t, map[string]string{"defs/a.yaml": cronDef("team.a", "0 1 * * *")}, map[string]string{"defs/a.yaml": cronDef("team.a", "0 2 * * *")})
	t.Chdir(filepath.Join(dir, "defs"))
	var out, errb bytes.Buffer
	code := mainIO(context.Background(), []string{"plan", "--path", "defs", "--base", "HEAD~1", "--now", "2026-03-15T00:00:00Z", "--format", "json", "--database-url", ""}, strings.NewReader(""), &out, &errb)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep struct {
		Changed []struct {
			ID     string `json:"id"`
			Fields []struct{ Path, Before, After string }
		} `json:"changed"`
		Overlap struct {
			Note string `json:"note"`
		} `json:"overlap"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Changed) != 1 || rep.Changed[0].Fields[0].After != `"0 2 * * *"` {
		t.Errorf("changed = %+v", rep.Changed)
	}
	if !strings.Contains(rep.Overlap.Note, "not checked") {
		t.Errorf("overlap note = %q", rep.Overlap.Note)
	}
}

// TestPlanCommandOverlap: a schedule tightened to every 10 minutes, with
// run history at 6 minutes a run, warns with the numbers; a store that
// cannot be reached is said and the plan carries on.
func TestPlanCommandOverlap(t *testing.T) {
	dir := planRepo(t, map[string]string{"defs/poll.yaml": cronDef("team.poll", "0 * * * *")}, map[string]string{"defs/poll.yaml": cronDef("team.poll", "*/10 * * * *")})
	stores := map[string]string{"sqlite": "sqlite://" + filepath.Join(t.TempDir(), "plan.db")}
	if os.Getenv(testsupport.PostgresURLEnv) != "" {
		stores["postgres"] = testsupport.PostgresSchema(t, "plantest")
	} else {
		t.Log("ACTIVITY_TEST_POSTGRES_URL is not set: overlap is checked on SQLite only")
	}
	for name, dbURL := range stores {
		t.Run(name, func(t *testing.T) {
			seedRuns(t, dbURL, "team.poll", 20, 6*time.Minute)
			code, out, _ := runPlan(t, dir, "--base", "HEAD~1", "--head", "HEAD", "--database-url", dbURL, "--fail-on", "warning")
			if code != ExitFailure || !strings.Contains(out, "p95 duration 6m0s of the last 20 finished runs is 60% of the shortest interval 10m0s") {
				t.Errorf("exit %d, want 1 and the overlap warning:\n%s", code, out)
			}
		})
	}
	code, out, _ := runPlan(t, dir, "--base", "HEAD~1", "--head", "HEAD", "--database-url", "postgres://nobody:hunter2@127.0.0.1:1/none?connect_timeout=2")
	if code != ExitOK || !strings.Contains(out, "overlap risk not checked: store unreachable") || strings.Contains(out, "hunter2") {
		t.Errorf("unreachable store: exit %d, want 0, the note and no password:\n%s", code, out)
	}
}

// seedRuns records n finished runs of id lasting d each.
func seedRuns(t *testing.T, dbURL, id string, n int, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	st, err := storeopen.Open(ctx, dbURL, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	migrated(t, st)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		s, f := start.Add(time.Duration(i)*time.Hour), start.Add(time.Duration(i)*time.Hour+d)
		if _, err := st.CreateRun(ctx, store.Run{ID: fmt.Sprintf("r-%d", i), DefinitionID: id, Trigger: store.RunTriggerCron, Status: store.RunSucceeded, StartedAt: &s, FinishedAt: &f}); err != nil {
			t.Fatal(err)
		}
	}
	// A run still going is not history.
	s := start.Add(time.Duration(n) * time.Hour)
	if _, err := st.CreateRun(ctx, store.Run{ID: "r-running", DefinitionID: id, Trigger: store.RunTriggerCron, Status: store.RunRunning, StartedAt: &s}); err != nil {
		t.Fatal(err)
	}
}

// TestPlanCommandLinkOut: a working tree link out of the checkout fails
// the plan, prints no comment, names the link and not its target.
func TestPlanCommandLinkOut(t *testing.T) {
	t.Setenv("ACTIVITY_DATABASE_URL", "")
	dir := planRepo(t, map[string]string{"defs/a.yaml": cronDef("team.a", "0 1 * * *")}, nil)
	outside := t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "id_rsa"), filepath.Join(dir, "defs", "key.yaml")); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runPlan(t, dir, "--base", "HEAD")
	if code != ExitFailure || out != "" || !strings.Contains(stderr, `"defs/key.yaml" is a symbolic link`) || strings.Contains(stderr, outside) {
		t.Errorf("exit %d, stdout %q, stderr %q: want 1, nothing, the link and not its target", code, out, stderr)
	}
}
