package syncer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/store"
)

// refFollow, as Options.Ref, unpins a source: it follows its configured
// ref again (docs/git-sources.md#pinning-and-rollback).
const refFollow = "follow"

// gitSourceDirPrefix starts the store SourceDir of a git source's
// definitions ("git:NAME"): a snapshot folder changes with every commit,
// the source's name does not.
const gitSourceDirPrefix = "git:"

// OptionsError is a sync request that cannot be honoured (an unknown
// source, a ref without a source); the API answers it with 400.
type OptionsError struct{ Msg string }

func (e *OptionsError) Error() string { return e.Msg }

// CheckOptions refuses what Run cannot do: an unknown Source, Ref without
// Source, Ref on a folder source, a ref that looks like an option.
func (s *Syncer) CheckOptions(opts Options) error {
	if opts.Source == "" {
		if opts.Ref != "" {
			return &OptionsError{"ref needs a source: pin one source at a time (sync --source NAME --ref SHA)"}
		}
		return nil
	}
	sp, ok := s.spec(opts.Source)
	if !ok {
		return &OptionsError{fmt.Sprintf("unknown source %q: the configured sources are %s", opts.Source, strings.Join(s.SourceNames(), ", "))}
	}
	if opts.Ref == "" {
		return nil
	}
	if sp.Kind != gitsource.KindGit {
		return &OptionsError{fmt.Sprintf("source %q is a folder: only git sources can be pinned to a ref", sp.Name)}
	}
	if opts.Ref != refFollow {
		if err := gitsource.CheckRef(opts.Ref); err != nil {
			return &OptionsError{fmt.Sprintf("%v: give a full commit SHA, a branch or a tag (or %q to unpin)", err, refFollow)}
		}
	}
	return nil
}

// SourceNames returns the configured sources' names, in configured order.
func (s *Syncer) SourceNames() []string {
	names := make([]string, len(s.specs))
	for i, sp := range s.specs {
		names[i] = sp.Name
	}
	return names
}

// Specs returns the parsed source specs, in configured order.
func (s *Syncer) Specs() []gitsource.Spec { return slices.Clone(s.specs) }

func (s *Syncer) spec(name string) (gitsource.Spec, bool) {
	for _, sp := range s.specs {
		if sp.Name == name {
			return sp, true
		}
	}
	return gitsource.Spec{}, false
}

// sourceDir is the store SourceDir of a source's definitions: a folder's
// configured path (as before git sources), "git:NAME" for a git source.
func sourceDir(sp gitsource.Spec) string {
	if sp.Kind == gitsource.KindGit {
		return gitSourceDirPrefix + sp.Name
	}
	return sp.Dir
}

// readSource is one source as this sync read it.
type readSource struct {
	spec gitsource.Spec
	// dir is the folder the loader reads: the configured folder or the
	// snapshot's; empty when a git source has no snapshot at all.
	dir  string
	snap *gitsource.Snapshot
	prev store.SourceState
	// pin is the PinnedRef the source has after this sync.
	pin    string
	result SourceResult
	// fetchErr is the fetch's error (the source may still be loaded from
	// its last good commit); fatal is set when nothing could be loaded.
	fetchErr error
	fatal    error
	// pinErr is set when a pin or unpin asked of this source failed.
	pinErr error
}

// readSources fetches the chosen sources (every one, or opts.Source).
func (s *Syncer) readSources(ctx context.Context, opts Options) []*readSource {
	var out []*readSource
	for _, sp := range s.specs {
		if opts.Source != "" && sp.Name != opts.Source {
			continue
		}
		rs := &readSource{spec: sp, result: SourceResult{Name: sp.Name, Kind: sp.Kind}}
		if sp.Kind == gitsource.KindGit {
			s.fetchGit(ctx, rs, opts)
		} else {
			rs.dir = sp.Dir
		}
		out = append(out, rs)
	}
	return out
}

// fetchGit fetches a git source at its pin, the ref asked for, or its
// configured ref; when that fails it loads the last good commit instead.
func (s *Syncer) fetchGit(ctx context.Context, rs *readSource, opts Options) {
	if st, err := s.sources.GetSourceState(ctx, rs.spec.Name); err == nil {
		rs.prev = st
	} else if !errors.Is(err, store.ErrNotFound) {
		rs.fatal = fmt.Errorf("reading the source's last state: %v (nothing from this source was changed)", err)
		rs.result.Error = rs.fatal.Error()
		return
	}
	rs.pin = rs.prev.PinnedRef
	ref := rs.pin
	pinning := opts.Source == rs.spec.Name && opts.Ref != ""
	follow := pinning && follows(rs.spec, opts.Ref)
	if pinning {
		ref, rs.pin = opts.Ref, ""
		if follow {
			ref = ""
		}
	}
	fetch := s.cfg.Fetcher.Fetch
	if opts.DryRun {
		fetch = s.cfg.Fetcher.FetchDryRun // leaves the last good commit protected
	}
	snap, err := fetch(ctx, rs.spec, ref)
	if err == nil {
		if pinning && !follow {
			rs.pin = snap.Commit.SHA
		}
		rs.useSnapshot(snap)
		return
	}
	rs.fetchErr = err
	if pinning {
		rs.pinErr = pinError(opts.Ref, follow, err)
	}
	rs.pin = rs.prev.PinnedRef
	rs.result.Error = "fetch failed: " + err.Error()
	if rs.prev.Commit == "" {
		rs.fatal = fmt.Errorf("%v; no commit of this source was ever read, so nothing from it was changed", err)
		return
	}
	snap, lerr := s.cfg.Fetcher.Load(ctx, rs.spec, rs.prev.Commit)
	if lerr != nil {
		rs.fatal = fmt.Errorf("%v; loading the last good commit %s failed too: %v (nothing from this source was changed)", err, short(rs.prev.Commit), lerr)
		rs.result.Error = rs.fatal.Error()
		return
	}
	rs.useSnapshot(snap)
	rs.result.Kept = true
}

// follows reports whether ref, asked of a source, means "follow the
// configured ref again": refFollow, or the configured ref itself (HEAD
// when the spec names none), so `--ref main` unpins a source that follows
// main (docs/git-sources.md#pinning-and-rollback).
func follows(sp gitsource.Spec, ref string) bool {
	return ref == refFollow || (sp.Git != nil && ref == cmp.Or(sp.Git.Ref, "HEAD"))
}

// pinError says why a pin (or an unpin) asked for did not happen: the sync
// fails with it, so a rollback script does not go on as if it had.
func pinError(ref string, follow bool, err error) error {
	what := "pinning it to " + ref
	if follow {
		what = "following its configured ref again"
	}
	hint := ""
	if abbreviatedSHA.MatchString(ref) {
		hint = fmt.Sprintf("; %s looks like an abbreviated commit: give all 40 hex digits (git rev-parse %s)", ref, ref)
	}
	return fmt.Errorf("%s failed, nothing was pinned: %v%s", what, err, hint)
}

// abbreviatedSHA matches what looks like a commit abbreviated: a remote
// serves only full SHAs, branches and tags.
var abbreviatedSHA = regexp.MustCompile(`^[0-9a-f]{4,39}$`)

func (rs *readSource) useSnapshot(snap gitsource.Snapshot) {
	rs.snap, rs.dir = &snap, snap.Dir
	rs.result.Commit = snap.Commit.SHA
	rs.result.PinnedRef = rs.pin
	if rs.prev.Commit != "" && rs.prev.Commit != snap.Commit.SHA {
		rs.result.Previous = rs.prev.Commit
	}
}

// short is a commit's abbreviated SHA, as git prints it.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// loadedSources is what the definitions and event-types stages work on:
// the loader's result with git sources' snapshot paths rewritten to
// "NAME:path/in/repo", and each definition's origin.
type loadedSources struct {
	*definition.Result
	read    []*readSource
	origins map[*definition.Definition]*store.Origin
}

// load reads the fetched sources' folders in one pass (so duplicate ids
// across sources are found) and rewrites what came from snapshots.
func (s *Syncer) load(read []*readSource) *loadedSources {
	var dirs []string
	var loadedFrom []*readSource
	for _, rs := range read {
		if rs.dir != "" {
			dirs = append(dirs, rs.dir)
			loadedFrom = append(loadedFrom, rs)
		}
	}
	ls := &loadedSources{
		Result: definition.LoadWith(dirs, definition.LoadOptions{DefaultsFile: s.cfg.AlertDefaults}),
		read:   read, origins: map[*definition.Definition]*store.Origin{},
	}
	for i, sr := range ls.Sources {
		rs := loadedFrom[i]
		if rs.snap != nil {
			rewriteSnapshot(ls.Result, sr, rs)
		}
		for _, d := range sr.Definitions {
			ls.origins[d] = originOf(rs, d.Source.File)
		}
	}
	for _, rs := range read {
		if rs.fatal != nil {
			// Nothing to load: the stages skip a source with Err, so none
			// of its definitions is removed.
			ls.Sources = append(ls.Sources, &definition.SourceResult{Dir: sourceDir(rs.spec), Err: rs.fatal})
		}
	}
	return ls
}

// originOf is where a definition read from file came from.
func originOf(rs *readSource, file string) *store.Origin {
	if rs.snap == nil {
		rel, err := filepath.Rel(rs.spec.Dir, file)
		if err != nil || rs.spec.Dir == file {
			rel = filepath.Base(file)
		}
		return &store.Origin{Source: rs.spec.Name, Path: filepath.ToSlash(rel)}
	}
	c := rs.snap.Commit
	o := &store.Origin{Source: rs.spec.Name, Commit: c.SHA, Author: c.Author, Path: strings.TrimPrefix(file, rs.spec.Name+":")}
	if !c.Time.IsZero() {
		t := c.Time.UTC()
		o.CommitTime = &t
	}
	return o
}

// rewriteSnapshot renames what the loader read from a snapshot folder:
// the source becomes "git:NAME" and each file "NAME:path/in/repo", in
// definitions, event types, errors and the sets the stages consult.
func rewriteSnapshot(res *definition.Result, sr *definition.SourceResult, rs *readSource) {
	rw := snapshotRewriter(rs)
	sr.Dir = sourceDir(rs.spec)
	for i := range sr.Files {
		sr.Files[i] = rw(sr.Files[i])
	}
	for i := range sr.Unreadable {
		sr.Unreadable[i] = rw(sr.Unreadable[i])
	}
	failed := make(map[string]bool, len(sr.FailedFiles))
	for f, v := range sr.FailedFiles {
		failed[rw(f)] = v
	}
	sr.FailedFiles = failed
	for _, d := range sr.Definitions {
		d.Source.Dir, d.Source.File = sr.Dir, rw(d.Source.File)
		for _, w := range d.Warnings {
			rewriteError(w, rs.dir, rw)
		}
	}
	for _, et := range sr.EventTypes {
		et.Source.Dir, et.Source.File = sr.Dir, rw(et.Source.File)
	}
	for _, e := range res.SourceErrors {
		rewriteError(e, rs.dir, rw)
	}
	for _, e := range res.Errors {
		rewriteError(e, rs.dir, rw)
	}
}

// snapshotRewriter maps a path under the snapshot folder to
// "NAME:path/in/repo" and leaves other paths alone.
func snapshotRewriter(rs *readSource) func(string) string {
	root := filepath.Clean(rs.dir)
	return func(p string) string {
		if p != root && !strings.HasPrefix(p, root+string(filepath.Separator)) {
			return p
		}
		rel, _ := filepath.Rel(root, p)
		inRepo := path.Join(rs.spec.Git.Path, filepath.ToSlash(rel))
		if inRepo == "." {
			inRepo = ""
		}
		return rs.spec.Name + ":" + inRepo
	}
}

func rewriteError(e *definition.Error, root string, rw func(string) string) {
	e.File = rw(e.File)
	if strings.Contains(e.Message, root) {
		e.Message = strings.ReplaceAll(e.Message, root, rw(root))
	}
}

// saveStates records each source's state after a real sync
// (docs/git-sources.md#status). A failure is logged: the sync itself
// happened.
func (s *Syncer) saveStates(ctx context.Context, ls *loadedSources, res *Result) {
	if s.sources == nil {
		return
	}
	now := s.cfg.Now().UTC()
	for _, rs := range ls.read {
		st := s.nextState(rs, ls, now)
		if err := s.sources.SaveSourceState(context.WithoutCancel(ctx), st); err != nil {
			s.log.Warn("syncer: storing the source's state failed", "source", rs.spec.Name, "error", err)
		}
	}
}

// nextState is what the sync learned of one source.
func (s *Syncer) nextState(rs *readSource, ls *loadedSources, now time.Time) store.SourceState {
	st := rs.prev
	st.Name, st.Kind, st.URL = rs.spec.Name, rs.spec.Kind, rs.spec.String()
	st.Ref = ""
	if rs.spec.Git != nil {
		st.Ref = rs.spec.Git.Ref
	}
	st.PinnedRef = rs.pin
	st.FetchedAt = &now
	if rs.snap != nil && rs.fetchErr == nil {
		c := rs.snap.Commit
		st.Commit, st.CommitAuthor, st.CommitSubject = c.SHA, c.Author, c.Subject
		st.CommitTime = nil
		if !c.Time.IsZero() {
			t := c.Time.UTC()
			st.CommitTime = &t
		}
	}
	st.LastError = rs.result.Error
	if rs.spec.Kind == gitsource.KindFolder {
		for _, sr := range ls.Sources {
			if sr.Dir == rs.spec.Dir && sr.Err != nil {
				st.LastError = sr.Err.Error()
			}
		}
	}
	if st.LastError == "" {
		st.OKAt = &now
	}
	return st
}
