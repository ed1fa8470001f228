// Package gitsource reads definitions from git remotes: it parses source
// specs (folders and git+https, git+ssh, git+file URLs), fetches a ref into
// the data dir with the system's git (so credential helpers, ssh keys and
// known_hosts work) and exports the tree at the resolved commit for the
// definition loader. docs/git-sources.md says how and why.
package gitsource

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Kinds of source.
const (
	KindFolder = "folder"
	KindGit    = "git"
)

// Spec is one configured definition source: an entry of --definitions or
// ACTIVITY_DEFINITIONS, "[NAME=]DIR" or "[NAME=]git+SCHEME://…".
type Spec struct {
	// Name identifies the source in webhooks (/hooks/git/NAME), --source
	// and status: NAME= when given, else the repository's (or folder's)
	// last path element without ".git".
	Name string
	// Kind is KindFolder or KindGit.
	Kind string
	// Dir is a folder source's path, as configured.
	Dir string
	// Git is a git source's remote; nil for a folder.
	Git *Remote
}

// Remote is a git source's remote and parameters.
type Remote struct {
	// URL is what git fetches: https://…, ssh://… or file:///… (the
	// git+ prefix, the //path and the query removed).
	URL string
	// Path is the folder inside the repository holding the definitions,
	// slash-separated without leading or trailing slash; "" is the root.
	Path string
	// Ref is the branch, tag or commit followed (?ref=); "" follows the
	// remote's HEAD.
	Ref string
	// WebhookSecret names the allow-listed secret that signs this
	// source's push webhooks (?webhook_secret=NAME); "" refuses webhooks.
	WebhookSecret string
	// Interval is how often the source is polled (?interval=5m); 0 only
	// syncs it on webhooks, POST /admin/sync and the sync interval.
	Interval time.Duration
}

// String is the spec as configured with credentials redacted: safe for
// logs, status and the API.
func (s Spec) String() string { return s.Dir }

// ParseSpec parses one source spec. Errors name the spec (redacted) and
// what to write instead.
func ParseSpec(raw string) (Spec, error) {
	return Spec{}, errors.New("gitsource: ParseSpec is not implemented yet")
}

// ParseSpecs parses a --definitions list and checks that names are
// unique.
func ParseSpecs(raw []string) ([]Spec, error) {
	return nil, errors.New("gitsource: ParseSpecs is not implemented yet")
}

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
	Logger  *slog.Logger
}

// FetchTimeoutDefault bounds one fetch of one source.
const FetchTimeoutDefault = 2 * time.Minute

// Fetcher fetches git sources into the data dir. It is safe for
// concurrent use; fetches of one source are serialised.
type Fetcher struct {
	cfg FetcherConfig
}

// NewFetcher checks the configuration.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	return nil, errors.New("gitsource: NewFetcher is not implemented yet")
}

// Fetch fetches ref of the source (its configured Ref when ref is ""),
// resolves the commit and exports the source's Path at it. Errors say
// what failed (network, authentication, unknown ref, missing path) with
// credentials redacted.
func (f *Fetcher) Fetch(ctx context.Context, s Spec, ref string) (Snapshot, error) {
	return Snapshot{}, errors.New("gitsource: Fetch is not implemented yet")
}

// Load exports a commit already fetched (the last good one) without the
// network, so a source that cannot be fetched keeps its definitions.
func (f *Fetcher) Load(ctx context.Context, s Spec, sha string) (Snapshot, error) {
	return Snapshot{}, errors.New("gitsource: Load is not implemented yet")
}

// ExportRef exports path at ref of the local repository repoDir into dst
// (a new folder) and describes the commit: `plan --base REF` reads both
// sides of a change this way, offline.
func ExportRef(ctx context.Context, repoDir, ref, path, dst string) (Commit, error) {
	return Commit{}, errors.New("gitsource: ExportRef is not implemented yet")
}
