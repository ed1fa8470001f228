package store

import (
	"context"
	"time"
)

// Origin is where a definition version came from: its source and, for a
// git source, the commit it was read at (docs/git-sources.md#provenance).
// Folder sources set only Source and Path.
//
// UpsertDefinitions records the origin it is given only with a new
// version (Created, Updated, or Restored with new content): on that
// version and on the definition. An unchanged hash writes nothing, so
// the same content read again at a newer commit, or from a moved file,
// keeps the origin of the commit that introduced it, like git blame.
// Definition.Origin is therefore always its current version's Origin,
// and stays nil for a version stored before origins were recorded until
// the content next changes. A stored origin that cannot be decoded is
// logged and read as nil; the definition is still listed.
type Origin struct {
	// Source is the source's name (NAME=URL, or the last path element).
	Source string `json:"source"`
	// Commit is the full SHA of the commit the source was read at; empty
	// for a folder source.
	Commit     string     `json:"commit,omitempty"`
	CommitTime *time.Time `json:"commit_time,omitempty"`
	// Author is the commit's author as "Name <email>".
	Author string `json:"author,omitempty"`
	// Path is the file's path inside the source (the repository for a git
	// source), slash-separated.
	Path string `json:"path"`
}

// SourceState is what a sync last learned of one configured source, kept
// so a failing source keeps its last good commit and status can say why
// (docs/git-sources.md#status).
type SourceState struct {
	// Name is the source's name, unique in a deployment.
	Name string `json:"name"`
	// Kind is SourceKindGit or SourceKindFolder.
	Kind string `json:"kind"`
	// URL is the source as configured, with any credentials redacted
	// (SaveSourceState redacts a URL's password again, in case).
	URL string `json:"url"`
	// Ref is the ref the source follows as configured (a branch, a tag or
	// HEAD); PinnedRef, when set, is the commit an operator pinned it to
	// with sync --source NAME --ref SHA, and wins over Ref.
	Ref       string `json:"ref,omitempty"`
	PinnedRef string `json:"pinned_ref,omitempty"`
	// Commit is the last commit read successfully (the last good one),
	// with its time, author and subject; empty for a folder source.
	Commit        string     `json:"commit,omitempty"`
	CommitTime    *time.Time `json:"commit_time,omitempty"`
	CommitAuthor  string     `json:"commit_author,omitempty"`
	CommitSubject string     `json:"commit_subject,omitempty"`
	// FetchedAt is the last attempt to read the source, OKAt the last one
	// that succeeded; LastError is the last attempt's error, empty after a
	// success.
	FetchedAt *time.Time `json:"fetched_at,omitempty"`
	OKAt      *time.Time `json:"ok_at,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

// The kinds of source.
const (
	SourceKindGit    = "git"
	SourceKindFolder = "folder"
)

// SourceStore keeps per-source state across syncs and processes.
type SourceStore interface {
	// SaveSourceState inserts or replaces the state of s.Name. An empty
	// Name or an unknown Kind is ErrInvalid.
	SaveSourceState(ctx context.Context, s SourceState) error
	// GetSourceState returns one source's state, or ErrNotFound.
	GetSourceState(ctx context.Context, name string) (SourceState, error)
	// ListSourceStates returns every source's state, sorted by name
	// (bytewise). A state that cannot be decoded is logged and skipped.
	ListSourceStates(ctx context.Context) ([]SourceState, error)
}
