package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/cli"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
	"github.com/coulomb/activity-core/internal/testsupport/gittest"
	"github.com/coulomb/activity-core/internal/timeline"
)

// cutoverDefID is seed 002's stale-task cleanup, the runbook's daily job
// (docs/cutover.md#runbook-seed-002s-state-hub).
const cutoverDefID = "the-custodian.state-hub-stale-task-cleanup"

// cutoverDefPath is where the definition lives in the definitions
// repository; the source reads the automations folder.
const cutoverDefPath = "automations/state-hub-stale-task-cleanup.yaml"

// cutoverDef is the cleanup as the runbook's step 1 leaves it: the seed's
// schedule and command with the checkout as the STATE_HUB_DIR setting,
// the hub's health check and rule, and the given mode. Its command
// leaves a marker in the checkout, so whether it ran is a file.
func cutoverDef(mode string) string {
	return `id: ` + cutoverDefID + `
description: |
  Daily sweep that cancels tasks still wait|todo|progress inside
  finished or archived workstreams (seed 002's crontab line).
mode: ` + mode + `
trigger:
  trigger_type: cron
  cron_expression: "0 3 * * *"
  timezone: UTC
context:
  - kind: state_hub.health
    bind: hub_health
rule:
  when:
    - "hub_health.status == 'ok'"
instruction:
  kind: shell
  cmd: >-
    cd "$STATE_HUB_DIR" &&
    touch cleanup-ran
  env: {STATE_HUB_DIR: "${env:STATE_HUB_DIR}"}
`
}

// TestCutoverFlow walks docs/cutover.md#runbook-seed-002s-state-hub end to
// end on real git, the embedded Temporal and NATS and a whole
// activity-core process: seed 002's cleanup is migrated as its steps say.
// Its definition comes from a git repository served by git http-backend
// and is synced by a signed GitHub push webhook (step 1); in shadow mode a
// run records what it would have run and runs nothing (step 2); a week of
// fires (a backfill) against the legacy job's times makes a cutover report
// that passes, and a legacy log that disagrees makes one that fails (step
// 3); a one-line commit switches it to active, the timeline shows the
// switch with the commit, and a run now executes (step 4). Each step goes
// back: pinning the source to the first commit puts the definition back in
// shadow, and following main again restores active (step 5).
func TestCutoverFlow(t *testing.T) {
	for _, tool := range []string{"git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the cutover flow needs real git (%v)", tool, err)
		}
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(gitExecPath(t)), "git-http-backend")); err != nil {
		t.Skipf("git http-backend is not installed: the cutover flow serves the repository with it (%v)", err)
	}
	const (
		secretValue = "it-cutover-hook-secret-0123456789"
		source      = "defs"
	)
	// The state hub: its checkout (where the command leaves its marker)
	// and its health endpoint, which the rule reads.
	hubDir := t.TempDir()
	marker := filepath.Join(hubDir, "cleanup-ran")
	var healthChecks atomic.Int64
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/state/health" {
			http.NotFound(w, r)
			return
		}
		healthChecks.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	t.Cleanup(hub.Close)

	// The definitions repository, before the migration: no automations.
	repo := gittest.NewRepo(t)
	repo.Commit(map[string]string{"README.md": "state hub automations\n", "automations/.keep": ""}, "Ann Author <ann@example.com>", "start the definitions repository")
	repo.Push()
	remote := repo.ServeHTTP(t)

	t.Setenv("IT_CUTOVER_HOOK", secretValue)
	t.Setenv("STATE_HUB_DIR", hubDir)
	in := startWith(t, temporalSrv.Address(), func(o *app.Options) {
		o.Sync.DefinitionPaths = []string{source + "=git+" + remote + "//automations?ref=main&webhook_secret=IT_CUTOVER_HOOK"}
		o.Sync.DataDir = t.TempDir()
		o.Secrets.SecretEnv = "IT_CUTOVER_HOOK,STATE_HUB_DIR"
		o.Engines.StateHubURL = hub.URL
	})
	if code := in.call("GET", "/api/v1/definitions/"+cutoverDefID, "", nil); code != http.StatusNotFound {
		t.Fatalf("before the import commit the definition exists: GET %d, want 404", code)
	}

	// Step 1, import: the shadow definition is committed and pushed, and
	// the forge's signed webhook syncs it.
	shadowSHA := repo.Commit(map[string]string{cutoverDefPath: cutoverDef("shadow")}, "Cleo Cutover <cleo@example.com>", "import the stale-task cleanup in shadow mode")
	repo.Push()
	in.pushHook(t, source, secretValue, shadowSHA)
	def := in.waitDefinition(t, "the webhook's sync stores the shadow definition", func(d cutoverDefView) error {
		if d.mode() != "shadow" {
			return fmt.Errorf("mode %q, want shadow", d.mode())
		}
		return nil
	})
	if def.Version != 1 || def.Origin == nil || def.Origin.Source != source || def.Origin.Commit != shadowSHA ||
		def.Origin.Author != "Cleo Cutover <cleo@example.com>" || def.Origin.Path != cutoverDefPath || def.Origin.CommitTime == nil {
		t.Fatalf("after the import: version %d, origin %+v; want v1 from %s by Cleo Cutover at %s", def.Version, def.Origin, shadowSHA, cutoverDefPath)
	}
	in.waitSchedules(map[string]bool{cutoverDefID: false})
	st := in.sourceState(t, source)
	if st.Commit != shadowSHA || st.PinnedRef != "" {
		t.Fatalf("sync status of %s after the import: commit %s pinned %q, want %s, following main", source, st.Commit, st.PinnedRef, shadowSHA)
	}
	code, out, errOut := in.cli(t, "definitions", "show", cutoverDefID)
	if wantOrigin := "origin: v1 from " + timeline.ShortSHA(shadowSHA) + " (defs:" + cutoverDefPath + ") by Cleo Cutover <cleo@example.com>"; code != cli.ExitOK || !strings.Contains(out, wantOrigin) {
		t.Errorf("definitions show: exit %d, want 0 and %q:\n%s%s", code, wantOrigin, out, errOut)
	}

	// Step 2, shadow: a run gathers the context and evaluates the rule,
	// records what it would have run, and runs nothing.
	checksBefore := healthChecks.Load()
	shadowRun := in.runNow(t, cutoverDefID)
	if shadowRun.Status != store.RunShadow || shadowRun.DefinitionVersion != 1 || shadowRun.Trigger != store.RunTriggerManual {
		t.Fatalf("a run in shadow mode: status %s, version %d, trigger %s; want shadow of v1, manual (error %q)", shadowRun.Status, shadowRun.DefinitionVersion, shadowRun.Trigger, shadowRun.Error)
	}
	var plan store.ShadowPlan
	if err := json.Unmarshal(shadowRun.ShadowPlan, &plan); err != nil {
		t.Fatalf("the shadow run's plan: %v: %s", err, shadowRun.ShadowPlan)
	}
	wantArgv := []string{"/bin/sh", "-c", `cd "$STATE_HUB_DIR" && touch cleanup-ran`}
	if !slices.Equal(plan.Argv, wantArgv) {
		t.Errorf("shadow plan argv %q, want %q", plan.Argv, wantArgv)
	}
	if !slices.Contains(plan.EnvNames, "STATE_HUB_DIR (${env:STATE_HUB_DIR})") || !slices.Contains(plan.EnvNames, "PATH") {
		t.Errorf("shadow plan env names %q lack STATE_HUB_DIR (${env:STATE_HUB_DIR}) or PATH", plan.EnvNames)
	}
	for _, n := range plan.EnvNames {
		if strings.Contains(n, hubDir) {
			t.Errorf("shadow plan env names hold a value: %q", n)
		}
	}
	if healthChecks.Load() == checksBefore || !bytes.Contains(shadowRun.ContextSnapshot, []byte(`"ok"`)) || len(shadowRun.RuleOutcome) == 0 {
		t.Errorf("the shadow run did not gather its context and evaluate its rule: %d health checks, context %s, rule %s",
			healthChecks.Load()-checksBefore, shadowRun.ContextSnapshot, shadowRun.RuleOutcome)
	}
	if shadowRun.ExitCode != nil || shadowRun.Stdout != "" {
		t.Errorf("the shadow run has a process's traces: exit code set %v, stdout %q", shadowRun.ExitCode != nil, shadowRun.Stdout)
	}
	assertNoMarker(t, marker, "after the shadow run")

	// Step 3, the report: a week of the schedule's fires (a backfill of
	// the seven 03:00 UTC fires up to the last one) against the legacy
	// crontab's times. Backfills of a shadow definition are shadow runs.
	now := time.Now().UTC()
	last := now.Truncate(24 * time.Hour).Add(3 * time.Hour)
	if last.Add(time.Minute).After(now) {
		last = last.AddDate(0, 0, -1)
	}
	from, to := last.AddDate(0, 0, -6), last.Add(time.Minute)
	fires := in.backfill(t, cutoverDefID, from, to)
	if len(fires) != 7 {
		t.Fatalf("a backfill of %s to %s plans %d fires, want 7: %v", from.Format(time.RFC3339), to.Format(time.RFC3339), len(fires), fires)
	}
	week := in.waitFires(t, cutoverDefID, fires)
	for _, r := range week {
		if r.Status != store.RunShadow || r.Trigger != store.RunTriggerBackfill || len(r.ShadowPlan) == 0 {
			t.Errorf("fire %s: status %s trigger %s (plan %s), want a shadow backfill run with its plan", r.ScheduledAt, r.Status, r.Trigger, r.ShadowPlan)
		}
	}
	assertNoMarker(t, marker, "after a week of shadow fires")

	legacy := func(name string, skip int, shift time.Duration) string {
		var b strings.Builder
		b.WriteString("# cleanup_stale_tasks.py, 0 3 * * * on a UTC host\n")
		for i, f := range fires {
			if i == skip {
				continue
			}
			fmt.Fprintf(&b, "%s 0\n", f.Add(4*time.Second+shift).Format(time.RFC3339))
		}
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	report := func(file string, extra ...string) (int, string, string) {
		return in.cli(t, append([]string{"cutover", "report", cutoverDefID, "--legacy", "file:" + file, "--zone", "UTC",
			"--since", from.Add(-time.Hour).Format(time.RFC3339), "--until", last.Add(time.Hour).Format(time.RFC3339)}, extra...)...)
	}
	code, out, errOut = report(legacy("times.txt", -1, 0))
	if code != cli.ExitOK || !strings.Contains(out, "runs:       7 legacy, 7 fires (1 manual or event run left out)") || !strings.Contains(out, "paired (7)") {
		t.Fatalf("cutover report on matching times: exit %d, want 0 with 7 pairs and the manual run left out:\n%s%s", code, out, errOut)
	}
	code, out, _ = report(legacy("times.txt", -1, 0), "--format", "json")
	var rep struct {
		OK    bool              `json:"ok"`
		Pairs []json.RawMessage `json:"pairs"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != cli.ExitOK || !rep.OK || len(rep.Pairs) != 7 {
		t.Errorf("cutover report --format json on matching times: exit %d, %v, ok %v, %d pairs\n%s", code, err, rep.OK, len(rep.Pairs), out)
	}
	missed := fires[3]
	code, out, errOut = report(legacy("missed.txt", 3, 0))
	wantMissed := "1 fire without a legacy run within 2m0s: " + missed.Format("Mon 2006-01-02T15:04:05Z")
	if code != cli.ExitFailure || !strings.Contains(out, "FAIL:") || !strings.Contains(out, wantMissed) {
		t.Errorf("cutover report with a legacy run missing: exit %d, want 1 naming %q:\n%s%s", code, wantMissed, out, errOut)
	}
	code, out, errOut = report(legacy("shifted.txt", -1, -time.Hour))
	if code != cli.ExitFailure || !strings.Contains(out, "the definition fires 1h later than the legacy job") {
		t.Errorf("cutover report against a legacy job an hour earlier: exit %d, want 1 naming the 1h shift:\n%s%s", code, out, errOut)
	}

	// Step 4, active: the cutover is a one-line change, pushed and synced
	// by the webhook; the timeline shows the switch with its commit, and a
	// run now executes.
	activeSHA := repo.Commit(map[string]string{cutoverDefPath: cutoverDef("active")}, "Dan Deployer <dan@example.com>", "cut the stale-task cleanup over: mode active")
	repo.Push()
	if stat := strings.Fields(repo.Git("diff", "--numstat", shadowSHA, activeSHA)); len(stat) != 3 || stat[0] != "1" || stat[1] != "1" || stat[2] != cutoverDefPath {
		t.Fatalf("the cutover commit is not a one-line change: numstat %q", stat)
	}
	in.pushHook(t, source, secretValue, activeSHA)
	def = in.waitDefinition(t, "the webhook's sync switches the definition to active", func(d cutoverDefView) error {
		if d.mode() != "active" {
			return fmt.Errorf("mode %q, want active", d.mode())
		}
		return nil
	})
	if def.Version != 2 || def.Origin == nil || def.Origin.Commit != activeSHA || def.Origin.Author != "Dan Deployer <dan@example.com>" {
		t.Fatalf("after the cutover commit: version %d, origin %+v; want v2 from %s by Dan Deployer", def.Version, def.Origin, activeSHA)
	}
	in.assertModeSwitch(t, 2, 1, "shadow", "active", activeSHA)
	activeRun := in.runNow(t, cutoverDefID)
	if activeRun.Status != store.RunSucceeded || activeRun.DefinitionVersion != 2 || len(activeRun.ShadowPlan) != 0 {
		t.Fatalf("a run after the cutover: status %s, version %d, plan %s; want succeeded on v2 without a shadow plan (error %q, stderr %q)",
			activeRun.Status, activeRun.DefinitionVersion, activeRun.ShadowPlan, activeRun.Error, activeRun.Stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the active run succeeded but its command left no marker: %v", err)
	}

	// Step 5, back: pin the source to the import commit (a dry run first,
	// as docs/git-sources.md#pinning-and-rollback says): the definition is
	// in shadow again and nothing runs.
	code, out, errOut = in.cli(t, "sync", "--source", source, "--ref", shadowSHA, "--dry-run")
	if wantMove := source + ": " + timeline.ShortSHA(activeSHA) + " → " + timeline.ShortSHA(shadowSHA); code != cli.ExitOK || !strings.Contains(out, wantMove) {
		t.Errorf("sync --ref %s --dry-run: exit %d, want 0 and %q:\n%s%s", timeline.ShortSHA(shadowSHA), code, wantMove, out, errOut)
	}
	if d := in.definition(t); d.mode() != "active" || d.Version != 2 {
		t.Fatalf("a dry-run pin changed the definition: mode %s, version %d", d.mode(), d.Version)
	}
	code, out, errOut = in.cli(t, "sync", "--source", source, "--ref", shadowSHA)
	if code != cli.ExitOK || !strings.Contains(out, "(pinned)") {
		t.Fatalf("sync --source %s --ref %s: exit %d, want 0 and (pinned):\n%s%s", source, shadowSHA, code, out, errOut)
	}
	def = in.definition(t)
	if def.mode() != "shadow" || def.Version != 3 || def.Origin == nil || def.Origin.Commit != shadowSHA {
		t.Fatalf("after pinning %s: mode %s, version %d, origin %+v; want shadow, v3 from %s", timeline.ShortSHA(shadowSHA), def.mode(), def.Version, def.Origin, shadowSHA)
	}
	if st := in.sourceState(t, source); st.PinnedRef != shadowSHA || st.Commit != shadowSHA {
		t.Errorf("sync status while pinned: commit %s, pinned %q; want both %s", st.Commit, st.PinnedRef, shadowSHA)
	}
	in.assertModeSwitch(t, 3, 2, "active", "shadow", shadowSHA)
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	if r := in.runNow(t, cutoverDefID); r.Status != store.RunShadow || r.DefinitionVersion != 3 {
		t.Errorf("a run after the rollback: status %s, version %d; want shadow of v3", r.Status, r.DefinitionVersion)
	}
	assertNoMarker(t, marker, "after the rollback's run")

	// A push while pinned does not move the source (the webhook's sync
	// reads the pin).
	hooked := in.lastHookSync(t, source)
	nextSHA := repo.Commit(map[string]string{"README.md": "state hub automations, cut over\n"}, "Dan Deployer <dan@example.com>", "note the cutover")
	repo.Push()
	in.pushHook(t, source, secretValue, nextSHA)
	in.waitHookSync(t, source, hooked)
	if st := in.sourceState(t, source); st.Commit != shadowSHA || st.PinnedRef != shadowSHA {
		t.Errorf("a push while pinned moved the source: commit %s, pinned %q; want it kept at %s", timeline.ShortSHA(st.Commit), st.PinnedRef, timeline.ShortSHA(shadowSHA))
	}
	if d := in.definition(t); d.mode() != "shadow" || d.Version != 3 {
		t.Errorf("a push while pinned moved the definition: mode %s, version %d", d.mode(), d.Version)
	}

	// Forward again: follow main (--ref main,
	// docs/git-sources.md#pinning-and-rollback), and the definition is
	// active at main's commit (the README commit on top of the cutover:
	// the version records the commit it was read at).
	code, out, errOut = in.cli(t, "sync", "--source", source, "--ref", "main")
	if code != cli.ExitOK {
		t.Fatalf("sync --source %s --ref main: exit %d\n%s%s", source, code, out, errOut)
	}
	def = in.definition(t)
	if def.mode() != "active" || def.Version != 4 || def.Origin == nil || def.Origin.Commit != nextSHA {
		t.Fatalf("after following main again: mode %s, version %d, origin %+v; want active, v4 from %s", def.mode(), def.Version, def.Origin, nextSHA)
	}
	in.assertModeSwitch(t, 4, 3, "shadow", "active", nextSHA)
	if st := in.sourceState(t, source); st.PinnedRef != "" || st.Commit != nextSHA {
		t.Errorf("sync --ref main left the source pinned: status commit %s, pinned %q; want main's %s, not pinned (docs/cutover.md#trying-the-runbook-in-dev: \"--ref main\" follows the branch again)",
			timeline.ShortSHA(st.Commit), st.PinnedRef, timeline.ShortSHA(nextSHA))
	}
	// Following again means the next push moves it.
	hooked = in.lastHookSync(t, source)
	lastSHA := repo.Commit(map[string]string{"README.md": "state hub automations, cut over for good\n"}, "Dan Deployer <dan@example.com>", "after the cutover")
	repo.Push()
	in.pushHook(t, source, secretValue, lastSHA)
	in.waitHookSync(t, source, hooked)
	if st := in.sourceState(t, source); st.Commit != lastSHA || st.PinnedRef != "" {
		t.Errorf("a push after following main again: status commit %s, pinned %q; want %s, not pinned", timeline.ShortSHA(st.Commit), st.PinnedRef, timeline.ShortSHA(lastSHA))
	}
	if r := in.runNow(t, cutoverDefID); r.Status != store.RunSucceeded || r.DefinitionVersion != 4 {
		t.Errorf("a run after following main again: status %s, version %d; want succeeded on v4", r.Status, r.DefinitionVersion)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the run after following main again left no marker: %v", err)
	}
}

// cutoverDefView is GET /api/v1/definitions/{id} as this test reads it.
type cutoverDefView struct {
	store.Definition
}

// mode is the definition's mode: its spec's, active when absent.
func (d cutoverDefView) mode() string {
	var spec struct {
		Mode string `json:"mode"`
	}
	if json.Unmarshal(d.Spec, &spec) != nil {
		return "unreadable spec"
	}
	if spec.Mode == "" {
		return "active"
	}
	return spec.Mode
}

func gitExecPath(t *testing.T) string {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("git --exec-path: %v", err)
	}
	return string(out)
}

// pushHook sends the forge's signed push webhook for sha on main and
// checks it was queued.
func (in *instance) pushHook(t *testing.T, source, secret, sha string) {
	t.Helper()
	body := fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"name":"%s","default_branch":"main"},"pusher":{"name":"cleo"}}`,
		strings.Repeat("0", 40), sha, source)
	if code, ack := postHook(t, in.base+"/hooks/git/"+source, secret, body); code != http.StatusAccepted || !strings.Contains(ack, `"queued"`) {
		t.Fatalf("signed push webhook for %s: %d %s, want 202 queued", timeline.ShortSHA(sha), code, ack)
	}
}

// lastHookSync is the id of the newest audited sync the source's webhook
// made (0 for none); the audit record is written when the sync is done.
func (in *instance) lastHookSync(t *testing.T, source string) int64 {
	t.Helper()
	var audit struct {
		Records []store.AuditRecord `json:"records"`
	}
	if code := in.call("GET", "/api/v1/audit?actor=webhook:"+source, "", &audit); code != http.StatusOK {
		t.Fatalf("GET /api/v1/audit?actor=webhook:%s: %d", source, code)
	}
	var last int64
	for _, r := range audit.Records {
		if r.Action == store.AuditSync {
			last = max(last, r.ID)
		}
	}
	return last
}

// waitHookSync waits for a webhook sync of source newer than after.
func (in *instance) waitHookSync(t *testing.T, source string, after int64) {
	t.Helper()
	testsupport.Eventually(t, 10*time.Second, "the webhook's sync of "+source+" is done", func() error {
		if last := in.lastHookSync(t, source); last <= after {
			return fmt.Errorf("newest webhook sync audited: %d, the one before the push: %d", last, after)
		}
		return nil
	})
}

// definition reads the cleanup's definition.
func (in *instance) definition(t *testing.T) cutoverDefView {
	t.Helper()
	var d cutoverDefView
	if code := in.call("GET", "/api/v1/definitions/"+cutoverDefID, "", &d); code != http.StatusOK {
		t.Fatalf("GET /api/v1/definitions/%s: %d", cutoverDefID, code)
	}
	return d
}

// waitDefinition polls the cleanup's definition until ok accepts it.
func (in *instance) waitDefinition(t *testing.T, what string, ok func(cutoverDefView) error) cutoverDefView {
	t.Helper()
	var d cutoverDefView
	testsupport.Eventually(t, 10*time.Second, what, func() error {
		d = cutoverDefView{}
		if code := in.call("GET", "/api/v1/definitions/"+cutoverDefID, "", &d); code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/definitions/%s: %d", cutoverDefID, code)
		}
		return ok(d)
	})
	return d
}

// sourceState is the source's line of GET /admin/sync/status.
func (in *instance) sourceState(t *testing.T, name string) store.SourceState {
	t.Helper()
	var st adminapi.SyncStatus
	if code := in.call("GET", "/admin/sync/status", "", &st); code != http.StatusOK {
		t.Fatalf("GET /admin/sync/status: %d", code)
	}
	for _, s := range st.Sources {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("sync status has no source %s: %+v", name, st.Sources)
	return store.SourceState{}
}

// runNow starts a manual run through the API and waits for its end.
func (in *instance) runNow(t *testing.T, id string) store.Run {
	t.Helper()
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := in.call("POST", "/api/v1/definitions/"+id+"/run", "", &started); code != http.StatusAccepted {
		t.Fatalf("POST /api/v1/definitions/%s/run: %d", id, code)
	}
	return in.waitRun(started.RunID)
}

// backfill asks for the schedule's fires in [from, to) and returns them
// as the API planned them.
func (in *instance) backfill(t *testing.T, id string, from, to time.Time) []time.Time {
	t.Helper()
	body, _ := json.Marshal(adminapi.BackfillRequest{From: from, To: to, Note: "the shadow week"})
	var plan adminapi.BackfillPlan
	if code := in.call("POST", "/api/v1/definitions/"+id+"/backfill", string(body), &plan); code != http.StatusAccepted || !plan.Started {
		t.Fatalf("backfill %s: %d %+v, want 202 started", id, code, plan)
	}
	out := make([]time.Time, len(plan.Fires))
	for i, f := range plan.Fires {
		out[i] = f.UTC
	}
	return out
}

// waitFires waits until every fire has a finished run, and returns those
// runs in fire order.
func (in *instance) waitFires(t *testing.T, id string, fires []time.Time) []store.Run {
	t.Helper()
	var got []store.Run
	testsupport.Eventually(t, 60*time.Second, "a finished run for each backfilled fire", func() error {
		var page store.RunPage
		if code := in.call("GET", "/api/v1/runs?definition_id="+url.QueryEscape(id)+"&limit=100", "", &page); code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/runs: %d", code)
		}
		got = got[:0]
		for _, f := range fires {
			i := slices.IndexFunc(page.Runs, func(r store.Run) bool { return r.ScheduledAt != nil && r.ScheduledAt.Equal(f) })
			if i < 0 {
				return fmt.Errorf("no run for the fire at %s yet", f.Format(time.RFC3339))
			}
			if !page.Runs[i].Status.Terminal() {
				return fmt.Errorf("the run for %s is %s", f.Format(time.RFC3339), page.Runs[i].Status)
			}
			got = append(got, page.Runs[i])
		}
		return nil
	})
	return got
}

// assertModeSwitch checks the timeline's item for version: it says the
// mode switch first, and comes from commit.
func (in *instance) assertModeSwitch(t *testing.T, version, previous int, from, to, commit string) {
	t.Helper()
	var story timeline.Story
	if code := in.call("GET", "/api/v1/definitions/"+cutoverDefID+"/timeline", "", &story); code != http.StatusOK {
		t.Fatalf("GET timeline: %d", code)
	}
	i := slices.IndexFunc(story.Items, func(it timeline.Item) bool { return it.Kind == store.TimelineVersion && it.Version == version })
	if i < 0 {
		var have []string
		for _, it := range story.Items {
			have = append(have, it.Kind+": "+it.Summary)
		}
		t.Fatalf("the timeline has no item for v%d:\n%s", version, strings.Join(have, "\n"))
	}
	it := story.Items[i]
	wantSummary := fmt.Sprintf("v%d from %s by ", version, timeline.ShortSHA(commit))
	wantChange := fmt.Sprintf("mode: %s → %s", from, to)
	if it.Previous != previous || len(it.Changes) == 0 || it.Changes[0].Path != "mode" ||
		string(it.Changes[0].Old) != `"`+from+`"` || string(it.Changes[0].New) != `"`+to+`"` ||
		it.Origin == nil || it.Origin.Commit != commit || !strings.HasPrefix(it.Summary, wantSummary) || !strings.Contains(it.Summary, wantChange) {
		t.Errorf("timeline item of v%d: %q (previous %d, changes %+v, origin %+v); want %q…%q from v%d",
			version, it.Summary, it.Previous, it.Changes, it.Origin, wantSummary, wantChange, previous)
	}
}

// cli runs the activity-core command line against the instance, as an
// operator on the runbook would.
func (in *instance) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append(args, "--server", in.base, "--token", token)
	code := cli.Main(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// assertNoMarker fails when the command's marker exists.
func assertNoMarker(t *testing.T, marker, when string) {
	t.Helper()
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s the command's marker %s exists (or cannot be checked: %v): a shadow definition executed its command", when, marker, err)
	}
}
