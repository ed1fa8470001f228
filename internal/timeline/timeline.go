// Package timeline tells one definition's story (docs/alerting.md#the-timeline):
// what touched it, from the store's timeline entries (versions with the
// field-by-field diff of their specs, removals, pauses and resumes,
// problems, recoveries, notifications), merged with its runs (fired,
// skipped, outcome, missed), oldest first and bounded.
//
// It answers "why didn't my job run last night?": `activity-core why ID`,
// GET /api/v1/definitions/{id}/timeline and the definition page all show
// a Story built here, as text (one line per item) or JSON.
package timeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// Store is what a story is read from; every store.Store has it.
type Store interface {
	GetDefinitionVersion(ctx context.Context, id string, version int) (store.DefinitionVersion, error)
	ListTimeline(ctx context.Context, f store.TimelineFilter) ([]store.TimelineEntry, error)
	ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error)
}

// Item kinds beyond the store's entry kinds (store.TimelineVersion …):
// what a run left. A run that executed gives two items, fired and its
// outcome (its status); a skip or a miss gives one.
const (
	kindFired   = "fired"
	kindSkipped = "skipped"
	kindMissed  = "missed"
)

// Limits of Query.Limit: the store's timeline limits.
const (
	limitDefault = store.TimelineLimitDefault
	LimitMax     = store.TimelineLimitMax
	// SinceDefault is how far back a story goes when no since is given.
	SinceDefault = 7 * 24 * time.Hour
	// changesMax bounds the changes kept for one version.
	changesMax = 100
	// entryPagesMax bounds the timeline pages read to find the newest
	// entries of a window holding more than Limit.
	entryPagesMax = 20
	// runPagesMax bounds the pages of runs read for one story.
	runPagesMax = 20
)

// Query selects a story.
type Query struct {
	DefinitionID string
	// Since and Until bound the window, [Since, Until); a zero Until is
	// no end.
	Since, Until time.Time
	// Limit bounds the items: 0 or less is LimitDefault, at most
	// LimitMax. When the window holds more, the newest are kept (the
	// question is usually about last night) and LeftOut counts the rest.
	Limit int
}

// Item is one line of the story.
type Item struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	// Summary is the line a person reads, without the time and kind.
	Summary string `json:"summary"`
	// Actor is who did it: sync, operator, auto-pause, detector, notifier.
	Actor string `json:"actor,omitempty"`
	RunID string `json:"run_id,omitempty"`
	// Version and Previous, for a version item.
	Version  int `json:"version,omitempty"`
	Previous int `json:"previous,omitempty"`
	// Changes is the field-by-field diff of a version from the previous.
	Changes []change `json:"changes,omitempty"`
	// Origin is where a version item's version came from (the commit and
	// its author for a git source; docs/git-sources.md#provenance).
	Origin *store.Origin `json:"origin,omitempty"`
	// Run is what a run item's run recorded.
	Run *runFacts `json:"run,omitempty"`
	// Detail is the store entry's detail, as stored.
	Detail json.RawMessage `json:"detail,omitempty"`

	rank int    // orders items at the same instant
	key  string // then this
}

// RunFacts is what the story tells of a run (never its output).
type runFacts struct {
	Status      store.RunStatus  `json:"status"`
	Trigger     store.RunTrigger `json:"trigger"`
	Version     int              `json:"definition_version,omitempty"`
	ScheduledAt *time.Time       `json:"scheduled_at,omitempty"`
	StartedAt   *time.Time       `json:"started_at,omitempty"`
	FinishedAt  *time.Time       `json:"finished_at,omitempty"`
	SkipReason  string           `json:"skip_reason,omitempty"`
	Stage       store.RunStage   `json:"stage,omitempty"`
	ExitCode    *int             `json:"exit_code,omitempty"`
	Error       string           `json:"error,omitempty"`
	// MissedCount, MissedFirst and MissedLast: a missed record stands for
	// consecutive missed fires with the same reason.
	MissedCount int        `json:"missed_count,omitempty"`
	MissedFirst *time.Time `json:"missed_first,omitempty"`
	MissedLast  *time.Time `json:"missed_last,omitempty"`
}

// Now is the definition's state when the story was told, which a window
// may not show (a pause older than since): the API fills it.
type Now struct {
	// Schedule is the schedule state in words: "active", "paused by
	// operator: disk full (until …)".
	Schedule string                  `json:"schedule,omitempty"`
	Health   *store.DefinitionHealth `json:"health,omitempty"`
}

// Story is one definition's timeline.
type Story struct {
	DefinitionID string     `json:"definition_id"`
	Since        time.Time  `json:"since"`
	Until        *time.Time `json:"until,omitempty"`
	Now          *Now       `json:"now,omitempty"`
	// Items, oldest first.
	Items []Item `json:"items"`
	// LeftOut is how many older items of the window were left out to keep
	// Limit (at least that many when the store had even more).
	LeftOut int `json:"left_out,omitempty"`
}

// Build reads a definition's story from the store.
func Build(ctx context.Context, st Store, q Query) (*Story, error) {
	if q.DefinitionID == "" {
		return nil, fmt.Errorf("%w: timeline: no definition id", store.ErrInvalid)
	}
	q.Limit = min(cmp.Or(max(q.Limit, 0), limitDefault), LimitMax)
	q.Since, q.Until = q.Since.UTC(), q.Until.UTC()
	entries, entriesLeft, err := newestEntries(ctx, st, q)
	if err != nil {
		return nil, fmt.Errorf("reading the timeline of %s: %w", q.DefinitionID, err)
	}
	runs, runsLeft, err := windowRuns(ctx, st, q)
	if err != nil {
		return nil, fmt.Errorf("reading the runs of %s: %w", q.DefinitionID, err)
	}
	items := make([]Item, 0, len(entries)+2*len(runs))
	versions := versionCache{st: st, id: q.DefinitionID, versions: map[int]store.DefinitionVersion{}}
	for _, e := range entries {
		items = append(items, entryItem(ctx, &versions, e))
	}
	for _, r := range runs {
		for _, it := range runItems(r) {
			if inWindow(it.At, q) {
				items = append(items, it)
			}
		}
	}
	if err := versions.err; err != nil {
		return nil, err
	}
	sortItems(items)
	s := &Story{DefinitionID: q.DefinitionID, Since: q.Since, Items: items, LeftOut: entriesLeft}
	if runsLeft {
		s.LeftOut++ // at least one older run not read
	}
	if !q.Until.IsZero() {
		s.Until = &q.Until
	}
	if over := len(items) - q.Limit; over > 0 {
		s.Items = slices.Clone(items[over:])
		s.LeftOut += over
	}
	return s, nil
}

func inWindow(t time.Time, q Query) bool {
	return !t.Before(q.Since) && (q.Until.IsZero() || t.Before(q.Until))
}

// sortItems orders items oldest first; at one instant a change to the
// definition comes before a fire, a fire before its outcome, and an
// outcome before the problem and the notification it caused.
func sortItems(items []Item) {
	slices.SortStableFunc(items, func(a, b Item) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.rank, b.rank), strings.Compare(a.key, b.key))
	})
}

// entryPage is how many entries one read of the timeline asks for; a
// variable so tests can page with small windows.
var entryPage = LimitMax

// newestEntries reads the window's timeline entries; when it holds more
// than q.Limit, it pages forward and keeps the newest q.Limit, and says
// how many it dropped.
func newestEntries(ctx context.Context, st Store, q Query) ([]store.TimelineEntry, int, error) {
	f := store.TimelineFilter{DefinitionID: q.DefinitionID, Since: q.Since, Until: q.Until, Limit: entryPage}
	var kept []store.TimelineEntry
	dropped := 0
	seen := map[int64]bool{}
	for range entryPagesMax {
		page, err := st.ListTimeline(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		fresh := 0
		for _, e := range page {
			if !seen[e.ID] {
				seen[e.ID] = true
				kept = append(kept, e)
				fresh++
			}
		}
		if over := len(kept) - q.Limit; over > 0 {
			kept, dropped = kept[over:], dropped+over
		}
		if len(page) < f.Limit {
			return kept, dropped, nil
		}
		// Entries at the last instant may continue on the next page: read
		// from that instant again and skip the ones seen. A whole page at
		// one instant moves on a microsecond (the store's precision),
		// leaving the rest of that instant out.
		f.Since = page[len(page)-1].At
		if fresh == 0 || f.Since.Equal(page[0].At) {
			f.Since, dropped = f.Since.Add(time.Microsecond), dropped+1
		}
	}
	return kept, dropped + 1, nil // more than entryPagesMax pages: at least one more
}

// windowRuns reads the runs created in the window, newest first, at most
// q.Limit of them (each gives at least one item). Runs newer than Until
// are skipped a page at a time, and at most runPagesMax pages are read,
// so a window long ago costs a bounded number of reads: more says the
// window's older runs were not all reached.
func windowRuns(ctx context.Context, st Store, q Query) (out []store.Run, more bool, err error) {
	f := store.RunFilter{DefinitionID: q.DefinitionID, Limit: min(q.Limit, store.RunListLimitMax)}
	if !q.Until.IsZero() {
		f.Limit = store.RunListLimitMax
	}
	for range runPagesMax {
		page, err := st.ListRuns(ctx, f)
		if err != nil {
			return nil, false, err
		}
		for _, r := range page.Runs {
			if r.CreatedAt.Before(q.Since) {
				return out, false, nil
			}
			if !q.Until.IsZero() && !r.CreatedAt.Before(q.Until) {
				continue
			}
			out = append(out, r)
			if len(out) == q.Limit {
				return out, false, nil
			}
		}
		if page.Next == "" {
			return out, false, nil
		}
		f.Before = page.Next
	}
	return out, true, nil
}

// versionCache reads each stored version once.
type versionCache struct {
	st       Store
	id       string
	versions map[int]store.DefinitionVersion
	err      error
}

// get returns a stored version, the zero value when it is not stored
// (err is kept for errors other than not found).
func (c *versionCache) get(ctx context.Context, v int) store.DefinitionVersion {
	if dv, ok := c.versions[v]; ok {
		return dv
	}
	dv, err := c.st.GetDefinitionVersion(ctx, c.id, v)
	if err != nil && !errors.Is(err, store.ErrNotFound) && c.err == nil {
		c.err = fmt.Errorf("reading version %d of %s: %w", v, c.id, err)
	}
	c.versions[v] = dv
	return dv
}

// spec returns a version's spec, nil when it is not stored.
func (c *versionCache) spec(ctx context.Context, v int) json.RawMessage {
	return c.get(ctx, v).Spec
}

// origin returns where a version came from, nil when unknown.
func (c *versionCache) origin(ctx context.Context, v int) *store.Origin {
	return c.get(ctx, v).Origin
}
