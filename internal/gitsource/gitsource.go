// Package gitsource reads definitions from git remotes: it parses source
// specs (folders and git+https, git+ssh, git+file URLs), fetches a ref into
// the data dir with the system's git (so credential helpers, ssh keys and
// known_hosts work) and exports the tree at the resolved commit for the
// definition loader. docs/git-sources.md says how and why.
package gitsource

import "time"

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
