package gitsource

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Commit describes the commit a source was read at.
type Commit struct {
	SHA     string
	Time    time.Time
	Author  string // "Name <email>"
	Subject string
}

// Snapshot is a git source's definitions at one commit, exported to a
// read-only folder the definition loader reads like any other.
type Snapshot struct {
	Source string
	Commit Commit
	// Dir is the exported folder: the source's Path at Commit.
	Dir string
	// Skipped lists the tree's entries left out of Dir (symlinks,
	// submodules), for a warning.
	Skipped []string
}

// FetcherConfig configures a Fetcher.
type FetcherConfig struct {
	// Dir is where fetched repositories and exported snapshots live
	// (ACTIVITY_DATA_DIR/git); required.
	Dir string
	// Git is the git binary ("git" on PATH when empty).
	Git string
	// Timeout bounds one fetch (FetchTimeoutDefault when 0).
	Timeout time.Duration
	// MaxRepoBytes bounds a source's repository after a fetch
	// (RepoMaxBytesDefault when 0).
	MaxRepoBytes int64
	Logger       *slog.Logger
}

// FetchTimeoutDefault bounds one fetch of one source.
const fetchTimeoutDefault = 2 * time.Minute

// waitDelay bounds how long a killed git's pipes may stay open.
const waitDelay = 5 * time.Second

// Sentinel errors a caller may tell apart.
var (
	// ErrPathNotFound is a source Path missing at the fetched commit.
	ErrPathNotFound = errors.New("path not found")
	// ErrNotFetched is a commit Load cannot find in the local copy.
	errNotFetched = errors.New("commit not fetched")
)

// Refs in each bare repository that keep the current and the previous
// snapshot's commits from git gc.
const (
	refCurrent  = "refs/activity/current"
	refPrevious = "refs/activity/previous"
)

// Fetcher fetches git sources into the data dir. It is safe for
// concurrent use; fetches of one source are serialised.
type Fetcher struct {
	cfg   FetcherConfig
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// NewFetcher checks the configuration.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	if cfg.Dir == "" {
		return nil, errors.New("gitsource: FetcherConfig.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("gitsource: data dir: %w", err)
	}
	cfg.Dir = dir
	cfg.Git = cmp.Or(cfg.Git, "git")
	cfg.Timeout = cmp.Or(cfg.Timeout, fetchTimeoutDefault)
	cfg.MaxRepoBytes = cmp.Or(cfg.MaxRepoBytes, repoMaxBytesDefault)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := exec.LookPath(cfg.Git); err != nil {
		return nil, fmt.Errorf("gitsource: git sources need git: %w", err)
	}
	return &Fetcher{cfg: cfg, locks: map[string]*sync.Mutex{}}, nil
}

// lock serialises work on one source; it returns the unlock.
func (f *Fetcher) lock(name string) func() {
	f.mu.Lock()
	l, ok := f.locks[name]
	if !ok {
		l = &sync.Mutex{}
		f.locks[name] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (f *Fetcher) repoDir(name string) string  { return filepath.Join(f.cfg.Dir, name, "repo.git") }
func (f *Fetcher) treesDir(name string) string { return filepath.Join(f.cfg.Dir, name, "trees") }

// local runs git in a source's bare repository with every transport off.
func (f *Fetcher) local(name string) gitRun {
	return gitRun{bin: f.cfg.Git, dir: f.repoDir(name)}
}

// remote runs git in a source's bare repository with its transport on;
// it returns the URL to give git, without credentials (remoteURL).
func (f *Fetcher) remote(s Spec) (gitRun, string, error) {
	argURL, config, err := remoteURL(s.Git.URL)
	if err != nil {
		return gitRun{}, "", err
	}
	scheme, _, _ := strings.Cut(s.Git.URL, "://")
	return gitRun{bin: f.cfg.Git, dir: f.repoDir(s.Name), scheme: scheme, url: s.Git.URL, config: config}, argURL, nil
}

// Fetch fetches ref of the source (its configured Ref when ref is ""),
// resolves the commit and exports the source's Path at it, and records
// it as the source's current commit (refs/activity/current; the one
// before becomes refs/activity/previous; other snapshots are pruned).
// Errors say what failed (network, authentication, unknown ref, missing
// path) with credentials redacted.
func (f *Fetcher) Fetch(ctx context.Context, s Spec, ref string) (Snapshot, error) {
	snap, err := f.fetch(ctx, s, ref, true)
	return snap, f.hidePaths(s.Name, err)
}

// FetchDryRun is Fetch for a dry-run sync: it records nothing, so the
// commits a real sync left current and previous stay protected from git
// gc and no snapshot is pruned.
func (f *Fetcher) FetchDryRun(ctx context.Context, s Spec, ref string) (Snapshot, error) {
	snap, err := f.fetch(ctx, s, ref, false)
	return snap, f.hidePaths(s.Name, err)
}

func (f *Fetcher) fetch(ctx context.Context, s Spec, ref string, record bool) (Snapshot, error) {
	if s.Kind != KindGit || s.Git == nil {
		return Snapshot{}, fmt.Errorf("gitsource: source %s is not a git source", s.Name)
	}
	ref = cmp.Or(ref, s.Git.Ref, "HEAD")
	if err := CheckRef(ref); err != nil {
		return Snapshot{}, fmt.Errorf("gitsource: source %s: %w", s.Name, err)
	}
	defer f.lock(s.Name)()
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	if err := f.ensureRepo(ctx, s.Name); err != nil {
		return Snapshot{}, fmt.Errorf("gitsource: source %s: %w", s.Name, err)
	}
	f.removePartialFetch(s.Name)
	sha, err := f.fetchRef(ctx, s, ref)
	if err == nil {
		err = f.checkSize(ctx, s.Name)
	}
	if err != nil {
		f.removePartialFetch(s.Name)
		return Snapshot{}, fmt.Errorf("gitsource: source %s: fetching %s from %s: %w", s.Name, ref, s.String(), hint(err))
	}
	snap, err := f.snapshot(ctx, s, sha)
	if err != nil {
		return Snapshot{}, err
	}
	if record {
		f.advance(ctx, s.Name, sha)
	}
	return snap, nil
}

// Load exports a commit already fetched (the last good one) without the
// network, so a source that cannot be fetched keeps its definitions.
func (f *Fetcher) Load(ctx context.Context, s Spec, sha string) (Snapshot, error) {
	snap, err := f.load(ctx, s, sha)
	return snap, f.hidePaths(s.Name, err)
}

func (f *Fetcher) load(ctx context.Context, s Spec, sha string) (Snapshot, error) {
	if s.Kind != KindGit || s.Git == nil {
		return Snapshot{}, fmt.Errorf("gitsource: source %s is not a git source", s.Name)
	}
	if !isSHA(sha) {
		return Snapshot{}, fmt.Errorf("gitsource: source %s: %q is not a full commit SHA", s.Name, sha)
	}
	defer f.lock(s.Name)()
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	if _, err := f.local(s.Name).output(ctx, "cat-file", "-e", sha+"^{commit}"); err != nil {
		return Snapshot{}, fmt.Errorf("gitsource: source %s: %w: %s is not in its local copy; fetch it with sync --source %s --ref %s",
			s.Name, errNotFetched, sha[:7], s.Name, sha)
	}
	return f.snapshot(ctx, s, sha)
}

// ensureRepo creates the source's bare repository on first use, in
// folders only our user may read (made 0700 again if they were not: the
// data dir holds every fetched commit, private or not).
func (f *Fetcher) ensureRepo(ctx context.Context, name string) error {
	repo := f.repoDir(name)
	if err := os.MkdirAll(filepath.Dir(repo), 0o700); err != nil {
		return err
	}
	for _, dir := range []string{f.cfg.Dir, filepath.Dir(repo)} {
		if err := os.Chmod(dir, 0o700); err != nil {
			f.cfg.Logger.Warn("gitsource: making the data dir private", "source", name, "err", f.hidePaths(name, err))
		}
	}
	if _, err := os.Stat(filepath.Join(repo, "HEAD")); err == nil {
		return nil
	}
	_, err := gitRun{bin: f.cfg.Git}.output(ctx, "init", "--bare", "--quiet", "--shared=0600", "--", repo)
	return err
}

// snapshot describes sha and exports the source's Path at it, reusing a
// snapshot folder already written.
func (f *Fetcher) snapshot(ctx context.Context, s Spec, sha string) (Snapshot, error) {
	local := f.local(s.Name)
	c, err := readCommit(ctx, local, sha)
	if err != nil {
		return Snapshot{}, fmt.Errorf("gitsource: source %s: %w", s.Name, err)
	}
	snap := Snapshot{Source: s.Name, Commit: c, Dir: filepath.Join(f.treesDir(s.Name), treeName(sha, s.Git.Path))}
	if _, err := os.Stat(snap.Dir); err == nil {
		snap.Skipped = skippedEntries(ctx, local, sha, s.Git.Path)
		return snap, nil
	}
	if err := os.MkdirAll(f.treesDir(s.Name), 0o700); err != nil {
		return Snapshot{}, err
	}
	opt := extractOptions{fileMode: 0o400, maxBytes: treeMaxBytes, maxCount: treeMaxEntries}
	snap.Skipped, err = export(ctx, local, sha, s.Git.Path, s.Name, snap.Dir, opt)
	if err != nil {
		return Snapshot{}, fmt.Errorf("gitsource: source %s: %w", s.Name, err)
	}
	if len(snap.Skipped) > 0 {
		f.cfg.Logger.Warn("gitsource: entries not exported (only files and folders are)", "source", s.Name, "commit", sha[:7], "skipped", snap.Skipped)
	}
	return snap, nil
}

// treeName is a snapshot folder's name: the commit, and a hash of the
// path when it is not the root, so a changed path is exported anew.
func treeName(sha, path string) string {
	if path == "" {
		return sha
	}
	sum := sha256.Sum256([]byte(path))
	return sha + "-" + hex.EncodeToString(sum[:4])
}

// advance records sha as the source's current commit (the one before it
// becomes the previous) and prunes every other snapshot folder.
func (f *Fetcher) advance(ctx context.Context, name, sha string) {
	local := f.local(name)
	cur, _ := local.output(ctx, "rev-parse", "--verify", "--quiet", refCurrent)
	cur = strings.TrimSpace(cur)
	if cur != sha {
		if isSHA(cur) {
			_, _ = local.output(ctx, "update-ref", refPrevious, cur)
		}
		if _, err := local.output(ctx, "update-ref", refCurrent, sha); err != nil {
			f.cfg.Logger.Warn("gitsource: recording the current commit", "source", name, "err", err)
		}
	}
	prev, _ := local.output(ctx, "rev-parse", "--verify", "--quiet", refPrevious)
	keep := map[string]bool{sha: true, strings.TrimSpace(prev): true}
	entries, _ := os.ReadDir(f.treesDir(name))
	for _, e := range entries {
		if n := e.Name(); len(n) < 40 || !keep[n[:40]] {
			if err := removeTree(filepath.Join(f.treesDir(name), e.Name())); err != nil {
				f.cfg.Logger.Warn("gitsource: pruning an old snapshot", "source", name, "dir", e.Name(), "err", err)
			}
		}
	}
}

// skippedEntries lists what an export of path at sha leaves out (every
// entry that is neither a file nor a folder), for a snapshot reused
// without exporting; nil when git cannot say.
func skippedEntries(ctx context.Context, g gitRun, sha, path string) []string {
	treeish := sha
	if path != "" {
		treeish += ":" + path
	}
	out, err := g.output(ctx, "ls-tree", "-r", "-z", treeish)
	if err != nil {
		return nil
	}
	var skipped []string
	for _, rec := range strings.Split(out, "\x00") {
		meta, name, ok := strings.Cut(rec, "\t")
		if ok && !strings.HasPrefix(meta, "100") {
			skipped = append(skipped, name)
		}
	}
	return skipped
}

// hidePaths words a Fetch or Load error for status and the API, which
// need not learn the server's paths: the source's folder becomes
// "git:NAME", the rest of the data dir "(git data dir)". errors.Is and
// errors.As still see the error underneath.
func (f *Fetcher) hidePaths(name string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	hidden := strings.ReplaceAll(msg, filepath.Join(f.cfg.Dir, name), "git:"+name)
	hidden = strings.ReplaceAll(hidden, f.cfg.Dir, "(git data dir)")
	if hidden == msg {
		return err
	}
	return &hiddenPathsError{msg: hidden, err: err}
}

// hiddenPathsError is an error with another message.
type hiddenPathsError struct {
	msg string
	err error
}

func (e *hiddenPathsError) Error() string { return e.msg }
func (e *hiddenPathsError) Unwrap() error { return e.err }

// removePartialFetch deletes what a git fetch stopped part-way (by the
// timeout, say) leaves in the repository: the pack it was receiving and
// its index. Left alone they would add up fetch after fetch, past the
// size cap, which only a finished fetch is measured against.
func (f *Fetcher) removePartialFetch(name string) {
	for _, pattern := range []string{"objects/pack/tmp_*", "objects/incoming-*", "shallow.lock"} {
		matches, _ := filepath.Glob(filepath.Join(f.repoDir(name), pattern))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				f.cfg.Logger.Warn("gitsource: could not remove a partial fetch", "source", name, "path", filepath.Base(m), "err", err)
			}
		}
	}
}
