package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/store"
)

// startedRunID reads the run id "run" printed.
func startedRunID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`started run (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in %q", out)
	}
	return m[1]
}

// TestRunWithInputs: typed inputs go to the server as given, are checked
// and recorded; the run waits visibly for a worker of its pool; the note
// and the named token reach the audit.
func TestRunWithInputs(t *testing.T) {
	a := newRunctlAPI(t)
	// A comma does not split --input: "full,fast" reaches the server as
	// one value, which the enum refuses.
	code, out, errOut := a.as(t, a.alice, "run", "team.sweep", "--input", "repo=org/hub", "--input", "mode=full,fast")
	if code != ExitFailure || !strings.Contains(errOut, "\n  mode: ") || !strings.Contains(errOut, "full,fast") {
		t.Fatalf("a value with a comma: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = a.as(t, a.alice, "run", "team.sweep", "--input", "repo=org/hub; rm -rf /", "-i", "depth=5", "--note", "after the migration")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	id := startedRunID(t, out)
	reqs := a.runner.requests()
	got := reqs[len(reqs)-1]
	if got.RunID != id || got.Pool != "b" || got.Inputs["repo"] != "org/hub; rm -rf /" || got.Inputs["depth"] != int64(5) || got.Inputs["mode"] != "fast" {
		t.Errorf("the runner was asked %+v", got)
	}

	code, out, _ = a.as(t, a.read, "runs", "show", id)
	for _, want := range []string{"status:   pending (waiting for a worker in pool b)", "pool:     b", "inputs:\n  depth  5\n  mode   \"fast\"\n  repo   \"org/hub; rm -rf /\"\n"} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("runs show: want %q in\n%s", want, out)
		}
	}
	code, out, _ = a.as(t, a.read, "runs", "list", "--status", "pending")
	if code != ExitOK || !regexp.MustCompile(`(?m)^`+id+` +team.sweep +manual +pending +b +- +- +waiting for a worker in pool b$`).MatchString(out) {
		t.Errorf("runs list shows the pool and the wait:\n%s", out)
	}

	code, out, _ = a.as(t, a.read, "audit", "--action", "run", "--run", id)
	if code != ExitOK || !regexp.MustCompile(`(?m) alice +operate +api +run +run `+id+` +ok +after the migration$`).MatchString(out) || !strings.HasSuffix(out, "\n1 record\n") {
		t.Errorf("audit names alice and her note:\n%s", out)
	}
}

// TestRunRefusedInputs: a bad pair is refused on the command line; bad
// values are refused by the server, every field named.
func TestRunRefusedInputs(t *testing.T) {
	a := newRunctlAPI(t)
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--input", "depth"}, ExitUsage, []string{"--input: input depth: want name=value"}},
		{[]string{"--input", "=5"}, ExitUsage, []string{`has no name before '='`}},
		{[]string{"-i", "repo=a", "-i", "repo=b"}, ExitUsage, []string{"input repo: is given twice"}},
		{[]string{"-i", "depth=x", "-i", "colour=red"}, ExitFailure, []string{
			"server answered 400 bad_request: refused 3 fields:\n",
			"\n  colour: ", "\n  depth: want an integer", "\n  repo: is required and has no default\n"}},
		{[]string{"-i", "repo=org/hub", "-i", "mode=slow"}, ExitFailure, []string{"\n  mode: "}},
	} {
		code, out, errOut := a.as(t, a.alice, append([]string{"run", "team.sweep"}, tc.args...)...)
		for _, want := range tc.want {
			if code != tc.code || !strings.Contains(errOut, want) {
				t.Errorf("run %q: exit %d, want %d saying %q\n%s%s", tc.args, code, tc.code, want, out, errOut)
			}
		}
	}
	if n := len(a.runner.requests()); n != 0 {
		t.Errorf("refused runs reached the runner %d times", n)
	}
	code, _, errOut := a.as(t, a.read, "run", "team.sweep", "-i", "repo=org/hub")
	if code != ExitFailure || !strings.Contains(errOut, "this endpoint needs the operate role; token read has read") {
		t.Errorf("read token: exit %d %s", code, errOut)
	}
}

// TestRunWaitExitCodes: run --wait exits by the run's final status.
func TestRunWaitExitCodes(t *testing.T) {
	a := newRunctlAPI(t)
	for id, want := range map[string]int{"team.succeeds": ExitOK, "team.fails": ExitFailure, "team.skips": ExitRunSkipped,
		"team.times-out": exitRunTimedOut, "team.cancels": exitRunCanceled} {
		code, out, errOut := a.as(t, a.admin, "run", id, "--wait")
		if code != want || !strings.Contains(out, "--- stdout (last 64 KiB) ---\nhi\n") {
			t.Errorf("run %s --wait: exit %d, want %d\n%s%s", id, code, want, out, errOut)
		}
	}
	code, _, errOut := a.as(t, a.admin, "run", "team.sweep", "-i", "repo=x", "--wait", "--timeout", "1s")
	if code != ExitWaitTimeout || !strings.Contains(errOut, "did not finish within 1s") {
		t.Errorf("a run that waits for a worker: exit %d %s", code, errOut)
	}
}

// TestRunsCancel: an operator cancels with a note; the run shows who and
// why; a finished run, a missing run and a read token are refused.
func TestRunsCancel(t *testing.T) {
	a := newRunctlAPI(t)
	_, out, _ := a.as(t, a.alice, "run", "team.sweep", "-i", "repo=org/hub")
	id := startedRunID(t, out)
	code, out, errOut := a.as(t, a.read, "runs", "cancel", id)
	if code != ExitFailure || !strings.Contains(errOut, "needs the operate role") {
		t.Errorf("read token: exit %d %s%s", code, out, errOut)
	}
	code, out, errOut = a.as(t, a.alice, "runs", "cancel", id, "--note", "wrong\nbranch")
	if code != ExitOK || !strings.Contains(out, "run "+id+" of team.sweep canceled by alice before a worker began it\n") {
		t.Fatalf("cancel: exit %d\n%s%s", code, out, errOut)
	}
	if len(a.canceler.canceled) != 1 || a.canceler.canceled[0] != id {
		t.Errorf("Temporal was asked to cancel %v", a.canceler.canceled)
	}
	_, out, _ = a.as(t, a.read, "runs", "show", id)
	if !strings.Contains(out, "cancel:   canceled by alice: wrong branch\n") || !strings.Contains(out, "status:   canceled\n") {
		t.Errorf("runs show of a pending run canceled before any worker began it:\n%s", out)
	}

	// The workflow ends: the engine records the run canceled.
	r, err := a.st.GetRun(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	r.Status, r.FinishedAt = store.RunCanceled, &runctlNow
	if _, err := a.st.UpdateRun(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	_, out, _ = a.as(t, a.read, "runs", "show", id)
	if !strings.Contains(out, "status:   canceled\n") || !strings.Contains(out, "cancel:   canceled by alice: wrong branch\n") {
		t.Errorf("runs show after:\n%s", out)
	}
	_, out, _ = a.as(t, a.read, "runs", "list")
	if !regexp.MustCompile(`(?m)^` + id + ` .* canceled +b .* canceled by alice: wrong branch$`).MatchString(out) {
		t.Errorf("runs list:\n%s", out)
	}
	code, _, errOut = a.as(t, a.alice, "runs", "cancel", id)
	if code != ExitFailure || !strings.Contains(errOut, "409 conflict: run "+id+" already canceled") {
		t.Errorf("cancel again: exit %d %s", code, errOut)
	}
	code, _, errOut = a.as(t, a.alice, "runs", "cancel", "no-such-run")
	if code != ExitFailure || !strings.Contains(errOut, "404") {
		t.Errorf("missing run: exit %d %s", code, errOut)
	}
	_, out, _ = a.as(t, a.read, "audit", "--action", "cancel", "--format", "json")
	var page auditPage
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Records) != 4 {
		t.Fatalf("audit of the cancels: %v\n%s", err, out)
	}
	outcomes := map[string]int{}
	for _, rec := range page.Records {
		outcomes[rec.Actor+" "+rec.Outcome]++
	}
	if outcomes["alice ok"] != 1 || outcomes["alice refused"] != 2 || outcomes["read refused"] != 1 {
		t.Errorf("audit outcomes %v", outcomes)
	}
}

// TestRunsRerun: a rerun repeats the recorded inputs on a new run and
// says so in the audit; with --wait it exits by the new run's status.
func TestRunsRerun(t *testing.T) {
	a := newRunctlAPI(t)
	_, out, _ := a.as(t, a.alice, "run", "team.sweep", "-i", "repo=org/hub", "-i", "depth=7")
	first := startedRunID(t, out)
	code, out, errOut := a.as(t, a.alice, "runs", "rerun", first, "--note", "flaky network")
	if code != ExitOK || !strings.Contains(out, " with the inputs of run "+first+"\n") {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, errOut)
	}
	second := startedRunID(t, out)
	reqs := a.runner.requests()
	if len(reqs) != 2 || reqs[1].RunID != second || reqs[1].RerunOf != first || reqs[1].Inputs["depth"] != int64(7) || reqs[1].Inputs["repo"] != "org/hub" {
		t.Errorf("rerun asked %+v", reqs)
	}
	_, out, _ = a.as(t, a.read, "audit", "--run", second, "--format", "json")
	if !strings.Contains(out, `"rerun_of":"`+first+`"`) || !strings.Contains(out, `"note":"flaky network"`) {
		t.Errorf("audit of the rerun:\n%s", out)
	}

	_, out, _ = a.as(t, a.admin, "run", "team.skips")
	code, out, errOut = a.as(t, a.admin, "runs", "rerun", startedRunID(t, out), "--wait")
	if code != ExitRunSkipped || !strings.Contains(out, "status:   skipped") {
		t.Errorf("rerun --wait of a skipping definition: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = a.as(t, a.admin, "runs", "rerun", "no-such-run")
	if code != ExitFailure || !strings.Contains(errOut, "404") {
		t.Errorf("missing run: exit %d %s", code, errOut)
	}
}

// TestBackfill: the dry run lists the fires of [from, to) in the zone
// and in UTC and starts nothing; the real one asks Temporal for exactly
// that window; times without an offset are read in the definition's zone.
func TestBackfill(t *testing.T) {
	a := newRunctlAPI(t)
	window := []string{"--from", "2026-12-01T08:00:00Z", "--to", "2026-12-01T10:00:00Z"}
	code, out, errOut := a.as(t, a.alice, append([]string{"backfill", "team.sweep", "--dry-run", "--overlap", "skip"}, window...)...)
	if code != ExitOK || !strings.Contains(out, "dry run (nothing was started): backfill of team.sweep over [2026-12-01T08:00:00Z, 2026-12-01T10:00:00Z), zone Europe/Berlin, overlap skip\n") ||
		!strings.Contains(out, "2026-12-01T09:00:00+01:00  2026-12-01T08:00:00Z\n") || !strings.Contains(out, "2026-12-01T10:45:00+01:00  2026-12-01T09:45:00Z\n") ||
		!strings.HasSuffix(out, "\n8 fires would run; run again without --dry-run to start them\n") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "\noverlap skip: a fire that comes while the previous run is still going is dropped by Temporal") {
		t.Errorf("a skip backfill does not say its fires may be dropped:\n%s", out)
	}
	if n := len(a.backfiller.called()); n != 0 {
		t.Fatalf("a dry run reached Temporal %d times", n)
	}

	code, out, errOut = a.as(t, a.alice, "backfill", "team.sweep", "--from", "2026-12-01 09:00", "--to", "2026-12-01 11:00", "--note", "hub outage")
	if code != ExitOK || !strings.HasSuffix(out, "\n8 fires sent to Temporal; their runs record trigger backfill: activity-core runs list --definition team.sweep\n") {
		t.Fatalf("backfill: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "overlap skip:") {
		t.Errorf("a buffer_all backfill warns about skip:\n%s", out)
	}
	calls := a.backfiller.called()
	want := backfillCall{"team.sweep", time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), "buffer_all"}
	if len(calls) != 1 || calls[0].id != want.id || !calls[0].from.Equal(want.from) || !calls[0].to.Equal(want.to) || calls[0].overlap != want.overlap {
		t.Errorf("Temporal was asked %+v, want %+v", calls, want)
	}

	code, out, _ = a.as(t, a.alice, append([]string{"backfill", "team.sweep", "--dry-run", "--format", "json"}, window...)...)
	var plan adminapi.BackfillPlan
	if code != ExitOK || json.Unmarshal([]byte(out), &plan) != nil || len(plan.Fires) != 8 || !plan.DryRun || plan.Started {
		t.Errorf("json: exit %d %s", code, out)
	}
	_, out, _ = a.as(t, a.read, "audit", "--action", "backfill")
	if !strings.Contains(out, "\n3 records\n") || !strings.Contains(out, "hub outage") {
		t.Errorf("each backfill, dry or not, is audited:\n%s", out)
	}
}

// TestBackfillRefused: what the server refuses comes back with its
// reason; nothing reaches Temporal.
func TestBackfillRefused(t *testing.T) {
	a := newRunctlAPI(t)
	for _, tc := range []struct {
		token string
		args  []string
		want  string
	}{
		{a.alice, []string{"team.sweep", "--from", "2026-12-01T11:00:00Z", "--to", "2026-12-01T13:00:00Z"}, "is in the future"},
		{a.alice, []string{"team.sweep", "--from", "2026-11-01T00:00:00Z", "--to", "2026-12-01T00:00:00Z"}, "narrow"},
		{a.alice, []string{"team.succeeds", "--from", "2026-12-01T08:00:00Z", "--to", "2026-12-01T10:00:00Z"}, "cron"},
		{a.alice, []string{"team.nope", "--from", "2026-12-01 08:00", "--to", "2026-12-01 10:00"}, "404"},
		{a.read, []string{"team.sweep", "--from", "2026-12-01T08:00:00Z", "--to", "2026-12-01T10:00:00Z", "--dry-run"}, "needs the operate role"},
	} {
		code, out, errOut := a.as(t, tc.token, append([]string{"backfill"}, tc.args...)...)
		if code != ExitFailure || !strings.Contains(errOut, tc.want) {
			t.Errorf("backfill %q: exit %d, want 1 saying %q\n%s%s", tc.args, code, tc.want, out, errOut)
		}
	}
	if n := len(a.backfiller.called()); n != 0 {
		t.Errorf("refused backfills reached Temporal %d times", n)
	}
}

// TestWorkers: each pool in use with its workers and backlog, and what to
// do about a pool nobody polls.
func TestWorkers(t *testing.T) {
	a := newRunctlAPI(t)
	code, out, errOut := a.as(t, a.read, "workers")
	if code != ExitOK {
		t.Fatalf("exit %d %s%s", code, out, errOut)
	}
	for _, want := range []string{
		"pool b (task queue activity-core.b): 1 definition, 0 workers, backlog ?\n  no worker polls it: its runs wait (start one: activity-core serve --roles worker --pools b)\n",
		"pool default (task queue activity-core): 5 definitions, 1 worker, backlog 2\n",
		"  4242@host-a  host-a  2026-12-01T11:59:57Z (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in\n%s", want, out)
		}
	}
	code, out, _ = a.as(t, a.read, "workers", "--format", "json")
	var doc struct{ Pools []adminapi.PoolStatus }
	if code != ExitOK || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Pools) != 2 || len(doc.Pools[0].Workers) != 0 {
		t.Errorf("json: exit %d %s", code, out)
	}
}

// TestDefinitionsShowInputs: the pool, the inputs a run takes, what the
// trigger sets, and a command line to start one.
func TestDefinitionsShowInputs(t *testing.T) {
	a := newRunctlAPI(t)
	code, out, errOut := a.as(t, a.read, "definitions", "show", "team.sweep")
	if code != ExitOK {
		t.Fatalf("exit %d %s%s", code, out, errOut)
	}
	for _, want := range []string{
		"pool:   b (run_on; see activity-core workers)\n",
		"inputs:\n  repo   string            required  org/name of the repository\n  depth  int               default 3\n  mode   enum (fast|full)  default \"fast\"\n",
		"  trigger sets repo = \"org/hub\"\n",
		"  run it: activity-core run team.sweep --input repo=VALUE\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in\n%s", want, out)
		}
	}
	_, out, _ = a.as(t, a.read, "definitions", "show", "team.succeeds")
	if !strings.Contains(out, "pool:   default (") || strings.Contains(out, "inputs:") {
		t.Errorf("a definition without run_on or inputs:\n%s", out)
	}
}

// TestAuditFilters: filters narrow the list, and a page says how to get
// the next.
func TestAuditFilters(t *testing.T) {
	a := newRunctlAPI(t)
	for range 3 {
		a.as(t, a.admin, "run", "team.succeeds")
	}
	a.as(t, a.alice, "run", "team.fails", "--note", "by hand")
	code, out, errOut := a.as(t, a.read, "audit", "--limit", "2")
	m := regexp.MustCompile(`more: --before (\S+)`).FindStringSubmatch(out)
	if code != ExitOK || m == nil || !strings.Contains(out, "\n2 records\n") || !strings.Contains(out, " alice ") {
		t.Fatalf("first page: exit %d\n%s%s", code, out, errOut)
	}
	_, out, _ = a.as(t, a.read, "audit", "--limit", "2", "--before", m[1])
	if !strings.Contains(out, "\n2 records\n") || strings.Contains(out, " alice ") {
		t.Errorf("second page:\n%s", out)
	}
	_, out, _ = a.as(t, a.read, "audit", "--actor", "admin", "--definition", "team.succeeds")
	if !strings.Contains(out, "\n3 records\n") {
		t.Errorf("--actor admin --definition team.succeeds:\n%s", out)
	}
	_, out, _ = a.as(t, a.read, "audit", "--actor", "nobody")
	if !strings.HasSuffix(out, "\n0 records\n") {
		t.Errorf("--actor nobody:\n%s", out)
	}
}

// TestRunsShowBackfill: a run a backfill started names the fire time it
// stands for.
func TestRunsShowBackfill(t *testing.T) {
	a := newRunctlAPI(t)
	fire := time.Date(2026, 12, 1, 8, 15, 0, 0, time.UTC)
	if _, err := a.st.CreateRun(t.Context(), store.Run{ID: "bf-1", DefinitionID: "team.sweep", DefinitionVersion: 1, Trigger: store.RunTriggerBackfill,
		Status: store.RunSucceeded, Pool: "b", ScheduledAt: &fire, StartedAt: &runctlNow, FinishedAt: &runctlNow, Inputs: []byte(`{"repo":"org/hub"}`)}); err != nil {
		t.Fatal(err)
	}
	_, out, _ := a.as(t, a.read, "runs", "show", "bf-1")
	if !strings.Contains(out, "trigger:  backfill of the fire at 2026-12-01T08:15:00Z\n") || !strings.Contains(out, "scheduled: 2026-12-01T08:15:00Z\n") {
		t.Errorf("runs show:\n%s", out)
	}
	_, out, _ = a.as(t, a.read, "runs", "list", "--definition", "team.sweep")
	if !regexp.MustCompile(`(?m)^bf-1 +team.sweep +backfill +succeeded +b `).MatchString(out) {
		t.Errorf("runs list:\n%s", out)
	}
}
