package syncer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport/gittest"
)

const (
	ann = "Ann Author <ann@example.test>"
	bob = "Bob Builder <bob@example.test>"
)

// gitSyncer is a syncer over sources (specs) with a real fetcher, and a
// schedules stage that records what it was given.
func gitSyncer(t testing.TB, st store.Store, sources ...string) (*Syncer, *[]store.Definition) {
	t.Helper()
	f, err := gitsource.NewFetcher(gitsource.FetcherConfig{Dir: filepath.Join(t.TempDir(), "git")})
	if err != nil {
		t.Fatal(err)
	}
	var planned []store.Definition
	s, err := New(Config{Store: st, Sources: sources, Fetcher: f, Schedules: func(_ context.Context, _ bool, p []store.Definition) (ScheduleCounts, []Action, []Error, error) {
		planned = p
		return ScheduleCounts{}, nil, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, &planned
}

func gitSpec(name string, r *gittest.Repo, path string) string {
	return name + "=git+" + r.FileURL() + "//" + path
}

func mustDef(t *testing.T, st store.Store, id string) store.Definition {
	t.Helper()
	d, err := st.GetDefinition(context.Background(), id)
	if err != nil {
		t.Fatalf("definition %s: %v", id, err)
	}
	return d
}

func mustState(t *testing.T, st store.Store, name string) store.SourceState {
	t.Helper()
	s, err := st.(store.SourceStore).GetSourceState(context.Background(), name)
	if err != nil {
		t.Fatalf("state of %s: %v", name, err)
	}
	return s
}

func sourceResult(t *testing.T, res *Result, name string) SourceResult {
	t.Helper()
	for _, s := range res.Sources {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no source %s in %+v", name, res.Sources)
	return SourceResult{}
}

// TestGitSourceFailsAlone: two git sources; when one cannot be fetched it
// keeps its last good commit and definitions, its state says why, and the
// other syncs.
func TestGitSourceFailsAlone(t *testing.T) {
	st := newStore(t)
	alpha, beta := gittest.NewRepo(t), gittest.NewRepo(t)
	a1 := alpha.Commit(map[string]string{"defs/a.yaml": cronDef("team.alpha", "0 * * * *")}, ann, "alpha job")
	alpha.Push()
	b1 := beta.Commit(map[string]string{"ops/b.yaml": cronDef("team.beta", "0 * * * *")}, bob, "beta job")
	beta.Push()
	s, _ := gitSyncer(t, st, gitSpec("alpha", alpha, "defs"), gitSpec("beta", beta, "ops"))

	res := mustRun(t, s, DefaultOptions())
	if !res.OK() || res.Definitions.Upserted != 2 {
		t.Fatalf("first sync: %+v %+v", res.Definitions, res.Errors)
	}
	a := mustDef(t, st, "team.alpha")
	if a.SourceDir != "git:alpha" || a.SourceFile != "alpha:defs/a.yaml" {
		t.Errorf("alpha stored from %q in %q, want alpha:defs/a.yaml in git:alpha", a.SourceFile, a.SourceDir)
	}
	if o := a.Origin; o == nil || o.Source != "alpha" || o.Commit != a1 || o.Author != ann || o.Path != "defs/a.yaml" || o.CommitTime == nil {
		t.Errorf("alpha origin %+v, want alpha %s by %s at defs/a.yaml", a.Origin, a1, ann)
	}
	if got := sourceResult(t, res, "beta"); got.Commit != b1 || got.Kind != gitsource.KindGit || got.Kept || got.Error != "" {
		t.Errorf("beta result %+v, want commit %s", got, b1)
	}

	// alpha's remote disappears; beta moves on.
	if err := os.Rename(alpha.Bare, alpha.Bare+".gone"); err != nil {
		t.Fatal(err)
	}
	b2 := beta.Commit(map[string]string{"ops/b.yaml": cronDef("team.beta", "30 * * * *")}, ann, "beta at half past")
	beta.Push()
	res = mustRun(t, s, DefaultOptions())

	ra := sourceResult(t, res, "alpha")
	if !ra.Kept || ra.Commit != a1 || !strings.Contains(ra.Error, "fetch failed") {
		t.Errorf("alpha result %+v, want kept %s with the fetch error", ra, a1)
	}
	if rb := sourceResult(t, res, "beta"); rb.Commit != b2 || rb.Previous != b1 {
		t.Errorf("beta result %+v, want %s → %s", rb, b1, b2)
	}
	if res.Definitions.Removed != 0 || mustDef(t, st, "team.alpha").Removed() {
		t.Errorf("alpha's definition was removed: %+v", res.Definitions)
	}
	b := mustDef(t, st, "team.beta")
	if b.Version != 2 || b.Origin == nil || b.Origin.Commit != b2 || b.Origin.Author != ann {
		t.Errorf("beta v%d origin %+v, want v2 from %s by %s", b.Version, b.Origin, b2, ann)
	}
	sa := mustState(t, st, "alpha")
	if sa.Commit != a1 || sa.LastError == "" || sa.OKAt == nil || sa.FetchedAt == nil || !sa.FetchedAt.After(*sa.OKAt) {
		t.Errorf("alpha state %+v, want last good %s, an error, fetched after its last ok", sa, a1)
	}
	if sb := mustState(t, st, "beta"); sb.Commit != b2 || sb.LastError != "" || sb.CommitAuthor != ann || sb.CommitSubject != "beta at half past" {
		t.Errorf("beta state %+v, want %s by %s", sb, b2, ann)
	}
	// Back again: alpha is read and its error cleared.
	if err := os.Rename(alpha.Bare+".gone", alpha.Bare); err != nil {
		t.Fatal(err)
	}
	res = mustRun(t, s, DefaultOptions())
	if ra := sourceResult(t, res, "alpha"); ra.Kept || ra.Error != "" || ra.Commit != a1 {
		t.Errorf("alpha back: %+v", ra)
	}
	if sa := mustState(t, st, "alpha"); sa.LastError != "" {
		t.Errorf("alpha error kept after a good fetch: %q", sa.LastError)
	}
}

// TestGitSourceNeverFetchedRemovesNothing: a git source that fails with no
// last good commit is a source error and its stored definitions stay.
func TestGitSourceNeverFetchedRemovesNothing(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.UpsertDefinitions(ctx, store.Definition{ID: "team.kept", ContentHash: "h", Spec: []byte(`{"id":"team.kept"}`),
		SourceFile: "ghost:defs/kept.yaml", SourceDir: "git:ghost", Enabled: true, TriggerType: store.TriggerEvent}); err != nil {
		t.Fatal(err)
	}
	s, _ := gitSyncer(t, st, "ghost=git+file://"+filepath.Join(t.TempDir(), "missing.git")+"//defs")
	res := mustRun(t, s, DefaultOptions())
	if res.OK() || len(res.Errors) == 0 || res.Errors[0].File != "ghost" || !strings.Contains(res.Errors[0].Message, "nothing from it was changed") {
		t.Fatalf("want a source error naming ghost, got %+v", res.Errors)
	}
	if mustDef(t, st, "team.kept").Removed() || res.Definitions.Removed != 0 {
		t.Error("a source that was never fetched removed a definition")
	}
	if sg := mustState(t, st, "ghost"); sg.LastError == "" || sg.Commit != "" || sg.OKAt != nil {
		t.Errorf("ghost state %+v, want an error and no commit", sg)
	}
}

// TestGitFileNamesInErrors: errors name "NAME:path/in/repo", never the
// snapshot folder.
func TestGitFileNamesInErrors(t *testing.T) {
	st := newStore(t)
	r := gittest.NewRepo(t)
	r.Symlink("bad.yaml", "defs/link.yaml")
	r.Commit(map[string]string{"defs/bad.yaml": "id: team.bad\ntrigger: {trigger_type: cron, cron_expression: \"61 * * * *\"}\ninstruction: {kind: shell, cmd: x}\n"}, ann, "bad")
	r.Push()
	s, _ := gitSyncer(t, st, gitSpec("ops", r, "defs"))
	res := mustRun(t, s, DefaultOptions())
	if len(res.Errors) != 1 || res.Errors[0].File != "ops:defs/bad.yaml" || res.Errors[0].Line == 0 {
		t.Fatalf("want one error in ops:defs/bad.yaml with a line, got %+v", res.Errors)
	}
	if strings.Contains(res.Errors[0].Message, "trees") {
		t.Errorf("snapshot folder in %q", res.Errors[0].Message)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].File != "ops" || !strings.Contains(res.Warnings[0].Message, "link.yaml") {
		t.Errorf("want a warning naming the symbolic link left out, got %+v", res.Warnings)
	}
}

// TestPinRollbackAndFollow: a dry run shows the move to an older commit
// and pins nothing; the pin rolls back and sticks; follow restores.
func TestPinRollbackAndFollow(t *testing.T) {
	st := newStore(t)
	r := gittest.NewRepo(t)
	c1 := r.Commit(map[string]string{"x.yaml": cronDef("team.x", "0 * * * *")}, ann, "hourly")
	c2 := r.Commit(map[string]string{"x.yaml": cronDef("team.x", "5 * * * *")}, bob, "at five past")
	r.Push()
	s, _ := gitSyncer(t, st, "ops=git+"+r.FileURL())
	mustRun(t, s, DefaultOptions())
	if d := mustDef(t, st, "team.x"); d.Version != 1 || d.Origin.Commit != c2 {
		t.Fatalf("first sync: v%d from %+v", d.Version, d.Origin)
	}

	dry := DefaultOptions()
	dry.DryRun, dry.Source, dry.Ref = true, "ops", c1
	res := mustRun(t, s, dry)
	src := sourceResult(t, res, "ops")
	if src.Commit != c1 || src.Previous != c2 || src.PinnedRef != c1 {
		t.Errorf("dry run source %+v, want %s → %s pinned", src, c2, c1)
	}
	want := Action{Stage: StageDefinitions, ID: "team.x", Action: "update", Reason: "content changed: v1 → v2 from " + c1[:7]}
	if !slices.Contains(res.Actions, want) {
		t.Errorf("dry run actions %+v, want %+v", res.Actions, want)
	}
	if d := mustDef(t, st, "team.x"); d.Version != 1 {
		t.Errorf("dry run stored v%d", d.Version)
	}
	if ss := mustState(t, st, "ops"); ss.PinnedRef != "" || ss.Commit != c2 {
		t.Errorf("dry run saved state %+v", ss)
	}

	pin := dry
	pin.DryRun = false
	mustRun(t, s, pin)
	d := mustDef(t, st, "team.x")
	if d.Version != 2 || d.Origin.Commit != c1 || d.Origin.Author != ann || !strings.Contains(mustSpec(t, st, "team.x"), `"0 * * * *"`) {
		t.Errorf("after the pin: v%d from %+v", d.Version, d.Origin)
	}
	if ss := mustState(t, st, "ops"); ss.PinnedRef != c1 || ss.Commit != c1 {
		t.Errorf("pinned state %+v, want pinned to %s", ss, c1)
	}
	// A new commit upstream: a plain sync stays on the pin.
	c3 := r.Commit(map[string]string{"x.yaml": cronDef("team.x", "10 * * * *")}, bob, "at ten past")
	r.Push()
	res = mustRun(t, s, DefaultOptions())
	if src := sourceResult(t, res, "ops"); src.Commit != c1 || src.PinnedRef != c1 || res.Definitions.Upserted != 0 {
		t.Errorf("pinned sync moved: %+v %+v", src, res.Definitions)
	}
	follow := DefaultOptions()
	follow.Source, follow.Ref = "ops", refFollow
	res = mustRun(t, s, follow)
	if src := sourceResult(t, res, "ops"); src.Commit != c3 || src.PinnedRef != "" || src.Previous != c1 {
		t.Errorf("follow: %+v, want %s → %s unpinned", src, c1, c3)
	}
	if ss := mustState(t, st, "ops"); ss.PinnedRef != "" || ss.Commit != c3 {
		t.Errorf("state after follow %+v", ss)
	}
	if d := mustDef(t, st, "team.x"); d.Version != 3 || d.Origin.Commit != c3 {
		t.Errorf("after follow: v%d from %+v", d.Version, d.Origin)
	}
}

// TestSyncOneSource: only the chosen source is read and changes; the
// others' definitions stay as stored, and a dry run's schedules stage
// still sees them.
func TestSyncOneSource(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f.yaml"), cronDef("team.folder", "0 * * * *"))
	r := gittest.NewRepo(t)
	r.Commit(map[string]string{"g.yaml": cronDef("team.git", "0 * * * *")}, ann, "g")
	r.Push()
	s, planned := gitSyncer(t, st, "local="+dir, "ops=git+"+r.FileURL())
	if got := s.FolderSources(); !slices.Equal(got, []string{dir}) {
		t.Errorf("dev --watch would poll %v, want only the folder", got)
	}
	mustRun(t, s, DefaultOptions())

	// Both change; only ops is synced.
	if err := os.Remove(filepath.Join(dir, "f.yaml")); err != nil {
		t.Fatal(err)
	}
	c2 := r.Commit(map[string]string{"g.yaml": cronDef("team.git", "15 * * * *")}, ann, "quarter past")
	r.Push()
	one := DefaultOptions()
	one.Source, one.DryRun = "ops", true
	res := mustRun(t, s, one)
	if len(res.Sources) != 1 || res.Sources[0].Name != "ops" {
		t.Fatalf("a one-source sync read %+v", res.Sources)
	}
	ids := []string{}
	for _, d := range *planned {
		ids = append(ids, d.ID)
	}
	if !slices.Equal(ids, []string{"team.folder", "team.git"}) {
		t.Errorf("the schedules stage was planned %v, want both sources' definitions", ids)
	}
	one.DryRun = false
	res = mustRun(t, s, one)
	if res.Definitions.Removed != 0 || res.Definitions.Upserted != 1 || mustDef(t, st, "team.folder").Removed() {
		t.Errorf("one-source sync touched another source: %+v", res.Definitions)
	}
	if d := mustDef(t, st, "team.git"); d.Origin.Commit != c2 {
		t.Errorf("ops not synced: %+v", d.Origin)
	}
	if f := mustDef(t, st, "team.folder"); f.Origin == nil || f.Origin.Source != "local" || f.Origin.Path != "f.yaml" || f.Origin.Commit != "" || f.SourceDir != dir {
		t.Errorf("folder definition %q origin %+v", f.SourceDir, f.Origin)
	}
	// An id another source holds is refused, not taken over.
	write(t, filepath.Join(dir, "f.yaml"), cronDef("team.folder", "0 * * * *"))
	r.Commit(map[string]string{"dup.yaml": cronDef("team.folder", "1 * * * *")}, ann, "dup")
	r.Push()
	res = mustRun(t, s, one)
	if len(res.Errors) != 1 || res.Errors[0].File != "ops:dup.yaml" || !strings.Contains(res.Errors[0].Message, "already defined in") {
		t.Errorf("want the duplicate refused, got %+v", res.Errors)
	}
	if f := mustDef(t, st, "team.folder"); f.SourceDir != dir {
		t.Errorf("the folder's definition moved to %s", f.SourceDir)
	}
}

// TestSourceOptionsRefused: each bad combination is refused with the
// reason, before anything is fetched.
func TestSourceOptionsRefused(t *testing.T) {
	st := newStore(t)
	r := gittest.NewRepo(t)
	s, _ := gitSyncer(t, st, "local="+t.TempDir(), "ops=git+"+r.FileURL())
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Definitions: true, Source: "nope"}, `unknown source "nope": the configured sources are local, ops`},
		{Options{Definitions: true, Ref: "main"}, "ref needs a source"},
		{Options{Definitions: true, Source: "local", Ref: "main"}, `source "local" is a folder`},
		{Options{Definitions: true, Source: "ops", Ref: "--upload-pack=x"}, "starts with '-'"},
	} {
		_, err := s.Run(context.Background(), tc.opts)
		var oe *OptionsError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// TestBadSpecsRefused: New names the bad spec, and a git source needs a
// fetcher.
func TestBadSpecsRefused(t *testing.T) {
	st := newStore(t)
	_, err := New(Config{Store: st, Sources: []string{"ops=git+ftp://example.test/x.git"}})
	if err == nil || !strings.Contains(err.Error(), "ftp") {
		t.Errorf("bad scheme: %v", err)
	}
	_, err = New(Config{Store: st, Sources: []string{"a=/srv/one", "a=/srv/two"}})
	if err == nil || !strings.Contains(err.Error(), `"a"`) && !strings.Contains(err.Error(), " a ") {
		t.Errorf("duplicate names: %v", err)
	}
	_, err = New(Config{Store: st, Sources: []string{"ops=git+https://example.test/ops.git"}})
	if err == nil || !strings.Contains(err.Error(), "Fetcher") {
		t.Errorf("git source without a fetcher: %v", err)
	}
}

// TestPinByBranchAndFailedPins: naming the configured branch unpins; a pin
// that cannot be fetched is an error that says so (an abbreviated SHA with
// the fix), and leaves the source where it was.
func TestPinByBranchAndFailedPins(t *testing.T) {
	st := newStore(t)
	r := gittest.NewRepo(t)
	c1 := r.Commit(map[string]string{"x.yaml": cronDef("team.x", "0 * * * *")}, ann, "hourly")
	c2 := r.Commit(map[string]string{"x.yaml": cronDef("team.x", "5 * * * *")}, bob, "at five past")
	r.Push()
	s, _ := gitSyncer(t, st, "ops=git+"+r.FileURL()+"?ref="+gittest.Branch)
	mustRun(t, s, DefaultOptions())
	pin := DefaultOptions()
	pin.Source, pin.Ref = "ops", c1
	if res := mustRun(t, s, pin); !res.OK() {
		t.Fatalf("pin: %+v", res.Errors)
	}
	for _, ref := range []string{c2[:7], "no-such-branch"} {
		bad := DefaultOptions()
		bad.Source, bad.Ref = "ops", ref
		res := mustRun(t, s, bad)
		if res.OK() || res.Errors[0].File != "ops" || !strings.Contains(res.Errors[0].Message, "pinning it to "+ref+" failed, nothing was pinned") {
			t.Errorf("pin to %s: errors %+v, want one saying nothing was pinned", ref, res.Errors)
		}
		if abbreviated := strings.Contains(res.Errors[0].Message, "give all 40 hex digits"); abbreviated != (ref == c2[:7]) {
			t.Errorf("pin to %s: the abbreviated-commit hint is %v in %q", ref, abbreviated, res.Errors[0].Message)
		}
		if ss := mustState(t, st, "ops"); ss.PinnedRef != c1 || ss.Commit != c1 {
			t.Errorf("after the failed pin to %s: state %+v, want still pinned to %s", ref, ss, c1)
		}
	}
	unpin := DefaultOptions()
	unpin.Source, unpin.Ref = "ops", gittest.Branch
	res := mustRun(t, s, unpin)
	if src := sourceResult(t, res, "ops"); !res.OK() || src.Commit != c2 || src.PinnedRef != "" {
		t.Errorf("--ref %s: %+v %+v, want %s followed again", gittest.Branch, src, res.Errors, c2)
	}
	if ss := mustState(t, st, "ops"); ss.PinnedRef != "" || ss.Commit != c2 {
		t.Errorf("state after --ref %s: %+v", gittest.Branch, ss)
	}
}

// TestDryRunPinKeepsLastGoodProtected: dry-run pins fetch and export but
// leave the fetcher's refs on the commit the store says is current.
func TestDryRunPinKeepsLastGoodProtected(t *testing.T) {
	st := newStore(t)
	r := gittest.NewRepo(t)
	c1 := r.Commit(map[string]string{"x.yaml": cronDef("team.x", "0 * * * *")}, ann, "hourly")
	r.Push()
	dir := filepath.Join(t.TempDir(), "git")
	f, err := gitsource.NewFetcher(gitsource.FetcherConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Sources: []string{"ops=git+" + r.FileURL()}, Fetcher: f})
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, s, Options{Definitions: true})
	for _, cron := range []string{"5 * * * *", "10 * * * *"} {
		sha := r.Commit(map[string]string{"x.yaml": cronDef("team.x", cron)}, bob, cron)
		r.Push()
		res := mustRun(t, s, Options{Definitions: true, DryRun: true, Source: "ops", Ref: sha})
		if src := sourceResult(t, res, "ops"); src.Commit != sha {
			t.Fatalf("dry run read %+v, want %s", src, sha)
		}
	}
	repo := filepath.Join(dir, "ops", "repo.git")
	if cur := strings.TrimSpace(gittest.Run(t, repo, "rev-parse", "refs/activity/current")); cur != c1 {
		t.Errorf("refs/activity/current = %s after dry runs, want the stored %s", cur, c1)
	}
	if ss := mustState(t, st, "ops"); ss.Commit != c1 || ss.PinnedRef != "" {
		t.Errorf("state %+v, want %s unpinned", ss, c1)
	}
}
