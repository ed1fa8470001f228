package syncer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport/teststore"
)

func newStore(t testing.TB) store.Store { return teststore.SQLite(t) }

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func cronDef(id, cron string) string {
	return fmt.Sprintf("id: %s\ntrigger: {trigger_type: cron, cron_expression: %q}\ninstruction: {kind: shell, cmd: echo %s}\n", id, cron, id)
}

func newSyncer(t testing.TB, st store.Store, sources ...string) *Syncer {
	t.Helper()
	s, err := New(Config{Store: st, Sources: sources, Schedules: func(context.Context, bool, []store.Definition) (ScheduleCounts, []Action, []Error, error) {
		return ScheduleCounts{}, nil, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRun(t testing.TB, s *Syncer, opts Options) *Result {
	t.Helper()
	res, err := s.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDefinitionsLifecycle(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "hourly.yaml"), cronDef("coulomb.report-hourly", "0 * * * *"))
	write(t, filepath.Join(dir, "nightly.yaml"), cronDef("coulomb.nightly", "0 3 * * *"))
	s := newSyncer(t, st, dir)
	ctx := context.Background()

	res := mustRun(t, s, DefaultOptions())
	if res.Definitions != (DefinitionCounts{Scanned: 2, Upserted: 2}) || !res.OK() {
		t.Fatalf("first sync: %+v %+v", res.Definitions, res.Errors)
	}
	// Repeating with no change reports zero upserts.
	res = mustRun(t, s, DefaultOptions())
	if res.Definitions != (DefinitionCounts{Scanned: 2, Unchanged: 2}) || len(res.Actions) != 0 {
		t.Fatalf("no-change sync: %+v %+v", res.Definitions, res.Actions)
	}
	// The seed 000 rename: hourly -> daily under a new id.
	os.Remove(filepath.Join(dir, "hourly.yaml"))
	write(t, filepath.Join(dir, "daily.yaml"), cronDef("coulomb.report-daily", "0 6 * * *"))
	// Reformatting a file is not a change.
	write(t, filepath.Join(dir, "nightly.yaml"), "# comment\n"+cronDef("coulomb.nightly", "0 3 * * *"))
	res = mustRun(t, s, DefaultOptions())
	if res.Definitions != (DefinitionCounts{Scanned: 2, Upserted: 1, Unchanged: 1, Removed: 1}) {
		t.Fatalf("rename: %+v", res.Definitions)
	}
	gone, err := st.GetDefinition(ctx, "coulomb.report-hourly")
	if err != nil || !gone.Removed() {
		t.Fatalf("hourly not tombstoned: %+v %v", gone, err)
	}
	// Restored when the file comes back.
	write(t, filepath.Join(dir, "hourly.yaml"), cronDef("coulomb.report-hourly", "0 * * * *"))
	res = mustRun(t, s, DefaultOptions())
	if res.Definitions.Upserted != 1 || res.Actions[0].Action != "restore" {
		t.Fatalf("restore: %+v %+v", res.Definitions, res.Actions)
	}
	if last, err := st.LastSyncResult(ctx); err != nil || last.SyncID != res.SyncID || !last.OK {
		t.Errorf("result not stored: %+v %v", last, err)
	}
}

// TestBadFileKeepsLastGoodVersion: an invalid file is reported with its
// position and the definition it held keeps its last good version.
func TestBadFileKeepsLastGoodVersion(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "job.yaml")
	write(t, file, cronDef("team.job", "0 1 * * *"))
	write(t, filepath.Join(dir, "other.yaml"), cronDef("team.other", "0 2 * * *"))
	s := newSyncer(t, st, dir)
	mustRun(t, s, DefaultOptions())
	before, _ := st.GetDefinition(context.Background(), "team.job")

	for name, broken := range map[string]string{
		"semantic": cronDef("team.job", "0 25 * * *"),
		"syntax":   "id: team.job\ntrigger: [unclosed\n",
	} {
		write(t, file, broken)
		write(t, filepath.Join(dir, "other.yaml"), cronDef("team.other", "0 4 * * *"))
		res := mustRun(t, s, DefaultOptions())
		if res.Definitions.Invalid != 1 || res.Definitions.Removed != 0 || len(res.Errors) != 1 {
			t.Fatalf("%s: %+v %+v", name, res.Definitions, res.Errors)
		}
		e := res.Errors[0]
		if e.File != file || e.Line == 0 || e.Stage != StageDefinitions {
			t.Errorf("%s: error %+v", name, e)
		}
		after, err := st.GetDefinition(context.Background(), "team.job")
		if err != nil || after.Removed() || after.ContentHash != before.ContentHash {
			t.Errorf("%s: last good version lost: %+v %v", name, after, err)
		}
		// The good file next to it still synced.
		if other, _ := st.GetDefinition(context.Background(), "team.other"); !strings.Contains(string(other.Spec), "0 4 * * *") {
			t.Errorf("%s: a bad file blocked another", name)
		}
		write(t, filepath.Join(dir, "other.yaml"), cronDef("team.other", "0 2 * * *"))
	}
}

// TestMissingSourceRemovesNothing: a checkout caught mid-update must not
// wipe its definitions.
func TestMissingSourceRemovesNothing(t *testing.T) {
	st := newStore(t)
	dir := filepath.Join(t.TempDir(), "checkout")
	write(t, filepath.Join(dir, "a.yaml"), cronDef("team.a", "0 1 * * *"))
	s := newSyncer(t, st, dir)
	mustRun(t, s, DefaultOptions())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, s, DefaultOptions())
	if res.OK() || res.Definitions.Removed != 0 || !strings.Contains(res.Errors[0].Message, "does not exist") || res.Errors[0].File != dir {
		t.Fatalf("%+v %+v", res.Definitions, res.Errors)
	}
	if d, _ := st.GetDefinition(context.Background(), "team.a"); d.Removed() {
		t.Errorf("definition removed although its source was unreadable")
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), cronDef("team.a", "0 1 * * *"))
	write(t, filepath.Join(dir, "b.yaml"), cronDef("team.b", "0 1 * * *"))
	s := newSyncer(t, st, dir)
	mustRun(t, s, DefaultOptions())
	write(t, filepath.Join(dir, "a.yaml"), cronDef("team.a", "0 2 * * *"))
	os.Remove(filepath.Join(dir, "b.yaml"))
	write(t, filepath.Join(dir, "c.yaml"), cronDef("team.c", "0 1 * * *"))

	plan := mustRun(t, s, Options{Definitions: true, Schedules: true, DryRun: true})
	if plan.Definitions != (DefinitionCounts{Scanned: 2, Upserted: 2, Removed: 1}) || !plan.DryRun {
		t.Fatalf("plan: %+v", plan.Definitions)
	}
	if b, _ := st.GetDefinition(context.Background(), "team.b"); b.Removed() {
		t.Errorf("dry run removed b")
	}
	if _, err := st.GetDefinition(context.Background(), "team.c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("dry run created c")
	}
	applied := mustRun(t, s, DefaultOptions())
	if applied.Definitions != plan.Definitions {
		t.Errorf("plan %+v differs from what the sync did %+v", plan.Definitions, applied.Definitions)
	}
}

func TestErrorsBounded(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	for i := range 60 {
		write(t, filepath.Join(dir, fmt.Sprintf("bad-%02d.yaml", i)), "id: x\n")
	}
	s, _ := New(Config{Store: st, Sources: []string{dir}})
	res := mustRun(t, s, Options{Definitions: true})
	if len(res.Errors) != maxErrorsDefault || res.ErrorsDropped == 0 || res.Definitions.Invalid != 60 {
		t.Errorf("errors %d dropped %d invalid %d", len(res.Errors), res.ErrorsDropped, res.Definitions.Invalid)
	}
}

// TestStagesIndependent: a failing schedules stage does not stop the
// definitions stage, and is reported.
func TestStagesIndependent(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), cronDef("team.a", "0 1 * * *"))
	s, _ := New(Config{Store: st, Sources: []string{dir}, Schedules: func(context.Context, bool, []store.Definition) (ScheduleCounts, []Action, []Error, error) {
		return ScheduleCounts{}, nil, nil, errors.New("temporal: connection refused")
	}})
	res := mustRun(t, s, DefaultOptions())
	if res.Definitions.Upserted != 1 || len(res.Errors) != 1 || res.Errors[0].Stage != StageSchedules {
		t.Errorf("%+v %+v", res.Definitions, res.Errors)
	}
	if last, _ := st.LastSuccessfulSync(context.Background()); last.SyncID == res.SyncID {
		t.Errorf("a sync with errors counted as successful")
	}
}

// TestConcurrentSyncsSerialize: syncs started together run one at a time
// (the stage function would see overlap otherwise) and all complete.
func TestConcurrentSyncsSerialize(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), cronDef("team.a", "0 1 * * *"))
	var inside, overlaps, calls atomic.Int32
	s, _ := New(Config{Store: st, Sources: []string{dir}, Schedules: func(context.Context, bool, []store.Definition) (ScheduleCounts, []Action, []Error, error) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer inside.Add(-1)
		calls.Add(1)
		return ScheduleCounts{}, nil, nil, nil
	}})
	var wg sync.WaitGroup
	upserts := atomic.Int32{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Run(context.Background(), DefaultOptions())
			if err != nil {
				t.Error(err)
				return
			}
			upserts.Add(int32(res.Definitions.Upserted))
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 || calls.Load() != 8 || upserts.Load() != 1 {
		t.Errorf("overlaps %d calls %d upserts %d", overlaps.Load(), calls.Load(), upserts.Load())
	}
}

func TestEventTypesAndWarnings(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "event-types/pushed.yaml"), "name: org.repo.pushed\n")
	write(t, filepath.Join(dir, "event-types/broken.yaml"), "name: org.repo.*\n")
	write(t, filepath.Join(dir, "on-push.yaml"), "id: t.push\ntrigger: {trigger_type: event, event_type: org.repo.*}\ninstruction: {kind: shell, cmd: x}\n")
	write(t, filepath.Join(dir, "typo.yaml"), "id: t.typo\ntrigger: {trigger_type: event, event_type: org.repo.pusshed}\ninstruction: {kind: shell, cmd: x}\n")
	s := newSyncer(t, st, dir)
	res := mustRun(t, s, Options{Definitions: true, EventTypes: true})
	if res.EventTypes.Upserted != 1 || res.Definitions.Upserted != 2 || res.Definitions.Invalid != 0 {
		t.Fatalf("%+v %+v", res.EventTypes, res.Definitions)
	}
	if len(res.Errors) != 1 || res.Errors[0].Stage != StageEventTypes {
		t.Errorf("errors %+v", res.Errors)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].DefinitionID != "t.typo" {
		t.Errorf("warnings %+v", res.Warnings)
	}
	os.Remove(filepath.Join(dir, "event-types/pushed.yaml"))
	res = mustRun(t, s, Options{EventTypes: true})
	if res.EventTypes.Removed != 1 {
		t.Errorf("event type not removed: %+v", res.EventTypes)
	}
}

// TestUnreadableFolderKeepsDefinitions: a folder inside a source that
// cannot be read (here a link that now loops: tests run as root, which
// ignores permissions) keeps every definition stored from it, and their
// schedules; the rest of the source syncs, and the error is reported.
func TestUnreadableFolderKeepsDefinitions(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	team := filepath.Join(t.TempDir(), "team")
	write(t, filepath.Join(team, "job.yaml"), cronDef("team.job", "0 1 * * *"))
	write(t, filepath.Join(team, "deep", "other.yaml"), cronDef("team.other", "0 2 * * *"))
	write(t, filepath.Join(dir, "top.yaml"), cronDef("team.top", "0 3 * * *"))
	write(t, filepath.Join(dir, "gone.yaml"), cronDef("team.gone", "0 4 * * *"))
	link := filepath.Join(dir, "team")
	if err := os.Symlink(team, link); err != nil {
		t.Fatal(err)
	}
	var scheduled []string
	s, err := New(Config{Store: st, Sources: []string{dir}, Schedules: func(ctx context.Context, _ bool, _ []store.Definition) (ScheduleCounts, []Action, []Error, error) {
		// As the projection does: a schedule for every live definition.
		live, err := st.ListDefinitions(ctx, store.DefinitionFilter{})
		scheduled = scheduled[:0]
		for _, d := range live {
			if !d.Removed() {
				scheduled = append(scheduled, d.ID)
			}
		}
		return ScheduleCounts{}, nil, nil, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res := mustRun(t, s, DefaultOptions()); !res.OK() || res.Definitions.Upserted != 4 {
		t.Fatalf("first sync: %+v %+v", res.Definitions, res.Errors)
	}

	// The folder becomes unreadable, and a file beside it really goes.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("team", link); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, s, DefaultOptions())
	if len(res.Errors) != 1 || res.Errors[0].File != link || !strings.Contains(res.Errors[0].Message, "cannot follow symbolic link") {
		t.Fatalf("errors = %+v", res.Errors)
	}
	if res.Definitions.Removed != 1 {
		t.Errorf("removed %d, want 1 (only team.gone): %+v", res.Definitions.Removed, res.Actions)
	}
	for _, id := range []string{"team.job", "team.other"} {
		d, err := st.GetDefinition(context.Background(), id)
		if err != nil || d.Removed() {
			t.Errorf("%s under the unreadable folder was removed: %v", id, err)
		}
	}
	if strings.Join(scheduled, ",") != "team.job,team.other,team.top" {
		t.Errorf("schedules after the sync: %v", scheduled)
	}

	// A dry run plans the same.
	plan := mustRun(t, s, Options{Definitions: true, Schedules: true, DryRun: true})
	if plan.Definitions.Removed != 0 {
		t.Errorf("dry run plans to remove %d", plan.Definitions.Removed)
	}
}

// TestSourceErrorsFirstAndNeverDropped: 60 bad files overflow the cap; the
// unreadable folder's error still comes first, and the cap counts only the
// per-file errors.
func TestSourceErrorsFirstAndNeverDropped(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	for i := range 60 {
		write(t, filepath.Join(dir, fmt.Sprintf("bad-%02d.yaml", i)), "id: x\n")
	}
	if err := os.Symlink("zz-loop", filepath.Join(dir, "zz-loop")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	s, _ := New(Config{Store: st, Sources: []string{dir, missing}, MaxErrors: 10})
	res := mustRun(t, s, Options{Definitions: true, EventTypes: true})
	// Each bad file has three problems (no id pattern, trigger, instruction).
	if len(res.Errors) != 12 || res.ErrorsDropped != 60*3-10 {
		t.Fatalf("errors %d dropped %d, want 12 and %d", len(res.Errors), res.ErrorsDropped, 60*3-10)
	}
	if res.Errors[0].File != filepath.Join(dir, "zz-loop") || res.Errors[1].File != missing {
		t.Errorf("source errors are not first: %+v", res.Errors[:3])
	}
	for _, e := range res.Errors[2:] {
		if !strings.Contains(e.File, "bad-") {
			t.Errorf("unexpected error %+v", e)
		}
	}
}

// TestSecretsOutsideAllowList: a definition that references a secret the
// operator did not allow is invalid at sync, its last good version kept.
func TestSecretsOutsideAllowList(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "job.yaml")
	withEnv := func(name string) string {
		return fmt.Sprintf("id: team.job\ntrigger: {trigger_type: cron, cron_expression: \"0 1 * * *\"}\ninstruction:\n  kind: shell\n  cmd: echo\n  env: {T: \"${env:%s}\"}\n", name)
	}
	write(t, file, withEnv("HUB_TOKEN"))
	allow, err := secret.New(secret.Config{Env: "HUB_*"})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := New(Config{Store: st, Sources: []string{dir}, Secrets: allow})
	if res := mustRun(t, s, Options{Definitions: true}); !res.OK() || res.Definitions.Upserted != 1 {
		t.Fatalf("allowed secret refused: %+v", res.Errors)
	}
	before, _ := st.GetDefinition(context.Background(), "team.job")

	for _, name := range []string{"ACTIVITY_POSTGRES_URL", "HOME"} {
		write(t, file, withEnv(name))
		res := mustRun(t, s, Options{Definitions: true})
		if len(res.Errors) != 1 {
			t.Fatalf("%s: errors = %+v", name, res.Errors)
		}
		e := res.Errors[0]
		if e.File != file || e.Line != 6 || e.Field != "instruction.env.T" || e.DefinitionID != "team.job" ||
			!strings.HasPrefix(e.Message, "secret "+name+" is not allowed: ") || res.Definitions.Invalid != 1 {
			t.Errorf("%s: error %+v", name, e)
		}
		after, err := st.GetDefinition(context.Background(), "team.job")
		if err != nil || after.Removed() || after.ContentHash != before.ContentHash {
			t.Errorf("%s: last good version lost: %v", name, err)
		}
	}
}
