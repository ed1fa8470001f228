package timeline

import (
	"fmt"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// OriginLine says where a definition version came from, for people: "v7
// from a1b2c3d (ops:automations/x.yaml) by Ann <ann@x> at
// 2026-12-01T10:00:00Z" for a git source, "v3 from defs:x.yaml" for a
// folder; "" without an origin (docs/git-sources.md#provenance).
func OriginLine(version int, o *store.Origin) string {
	if o == nil {
		return ""
	}
	if o.Commit == "" {
		return printable(fmt.Sprintf("v%d from %s:%s", version, o.Source, o.Path))
	}
	line := fmt.Sprintf("v%d from %s (%s:%s)", version, ShortSHA(o.Commit), o.Source, o.Path)
	if o.Author != "" {
		line += " by " + o.Author
	}
	if o.CommitTime != nil {
		line += " at " + o.CommitTime.UTC().Format(time.RFC3339)
	}
	return printable(line)
}

// OriginFrom is the short form a version item carries: " from a1b2c3d by
// Ann <ann@x>" for a git source's version, "" otherwise.
func OriginFrom(o *store.Origin) string {
	if o == nil || o.Commit == "" {
		return ""
	}
	s := " from " + ShortSHA(o.Commit)
	if o.Author != "" {
		s += " by " + o.Author
	}
	return printable(s)
}

// ShortSHA is a commit's abbreviated SHA, as git prints it.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
