package plan

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
)

// Report is the plan, as `plan --format json` prints it
// (docs/cutover.md#plan). Lists are sorted: definitions by id, warnings
// by kind then id, collisions by size then time.
type Report struct {
	Base Side `json:"base"`
	Head Side `json:"head"`
	// Window is the span fire times were computed over.
	Window window `json:"window"`
	// Summary is one line: counts of everything below.
	Summary string `json:"summary"`

	Added   []Definition `json:"added"`
	Changed []change     `json:"changed"`
	Removed []Definition `json:"removed"`
	// Held are base definitions missing from the head because their file
	// has errors there: not removed, not applied either.
	Held []Definition `json:"held"`

	// Errors are the head side's problems (file:line:col); any makes the
	// plan fail.
	Errors []*definition.Error `json:"errors"`
	// Warnings fail the plan only with --fail-on warning.
	Warnings []warning `json:"warnings"`

	Schedules []schedule `json:"schedules"`
	// SchedulesLeftOut counts schedules past the first schedulesMax (100),
	// not analysed.
	SchedulesLeftOut int `json:"schedules_left_out,omitempty"`
	// FiresLeftOut counts the fires the schedules have in the window but
	// do not list: past Config.FiresListed (FiresListedDefault) in all,
	// each list keeps only its first three (a midnight move counts two).
	// Counts in the schedules say where.
	FiresLeftOut int         `json:"fires_left_out,omitempty"`
	Collisions   []collision `json:"collisions"`
	// CollisionsNote says when collisions were counted over part of the
	// head only (too many fires).
	CollisionsNote string `json:"collisions_note,omitempty"`
	// CollisionsLeftOut counts the collisions past the first 1,000 listed
	// (and warned about).
	CollisionsLeftOut int     `json:"collisions_left_out,omitempty"`
	Overlap           overlap `json:"overlap"`
}

// Side names one side of the change.
type Side struct {
	// Ref is the ref as given, or the folder read.
	Ref string `json:"ref"`
	// Commit is the resolved commit; empty for a folder.
	Commit        string     `json:"commit,omitempty"`
	CommitTime    *time.Time `json:"commit_time,omitempty"`
	CommitAuthor  string     `json:"commit_author,omitempty"`
	CommitSubject string     `json:"commit_subject,omitempty"`
	Definitions   int        `json:"definitions"`
	Note          string     `json:"note,omitempty"`
}

// Window is [From, To) over which fires are listed.
type window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Days int       `json:"days"`
}

// Definition names a definition added, removed or held.
type Definition struct {
	ID      string `json:"id"`
	File    string `json:"file"`
	Trigger string `json:"trigger"`
}

// Change is a definition on both sides with different canonical JSON.
type change struct {
	ID     string        `json:"id"`
	File   string        `json:"file"`
	Fields []fieldChange `json:"fields"`
}

// FieldChange is one changed leaf of the canonical JSON; Before or After
// is "" when the field is absent on that side.
type fieldChange struct {
	Path   string `json:"path"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Warning kinds.
const (
	warnDefinition = "definition"
	warnDST        = "dst"
	warnCollision  = "collision"
	warnOverlap    = "overlap"
)

// Warning is something valid that is probably not meant.
type warning struct {
	Kind         string `json:"kind"`
	DefinitionID string `json:"definition_id,omitempty"`
	Message      string `json:"message"`
}

// WriteJSON writes the report indented, with <, > and & as themselves
// (authors' "Name <email>").
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func newReport(cfg *Config, base, head *side) *Report {
	from := cfg.Now.UTC()
	r := &Report{
		Base:   describe(base),
		Head:   describe(head),
		Window: window{From: from, To: from.AddDate(0, 0, cfg.Days), Days: cfg.Days},
		Added:  []Definition{}, Changed: []change{}, Removed: []Definition{}, Held: []Definition{},
		Errors: head.errs, Warnings: []warning{}, Schedules: []schedule{}, Collisions: []collision{},
	}
	if r.Errors == nil {
		r.Errors = []*definition.Error{}
	}
	return r
}

func describe(s *side) Side {
	out := Side{Ref: s.Label, Definitions: len(s.defs), Note: s.Note}
	if c := s.Commit; c != nil {
		t := c.Time
		out.Commit, out.CommitTime, out.CommitAuthor, out.CommitSubject = c.SHA, &t, c.Author, c.Subject
	}
	return out
}

// diff fills Added, Changed, Removed and Held, and the definition
// warnings of what the change adds or changes.
func (r *Report) diff(base, head *side) {
	for _, id := range sortedIDs(head.defs) {
		h := head.defs[id]
		b, ok := base.defs[id]
		switch {
		case !ok:
			r.Added = append(r.Added, named(h))
		case string(b.CanonicalJSON()) != string(h.CanonicalJSON()):
			r.Changed = append(r.Changed, change{ID: id, File: h.Source.File, Fields: fieldChanges(b, h)})
		default:
			continue
		}
		for _, w := range h.Warnings {
			r.Warnings = append(r.Warnings, warning{Kind: warnDefinition, DefinitionID: id, Message: w.Error()})
		}
	}
	for _, id := range sortedIDs(base.defs) {
		if _, ok := head.defs[id]; ok {
			continue
		}
		b := base.defs[id]
		if head.heldIDs[id] || head.heldFiles[b.Source.File] {
			r.Held = append(r.Held, named(b))
			continue
		}
		r.Removed = append(r.Removed, named(b))
	}
}

func named(d *definition.Definition) Definition {
	return Definition{ID: d.ID, File: d.Source.File, Trigger: triggerText(d)}
}

// triggerText is a trigger in a few words: "cron 0 3 * * * (Europe/Berlin)".
func triggerText(d *definition.Definition) string {
	t := d.Trigger
	var s string
	switch t.Type {
	case definition.TriggerCron:
		s = fmt.Sprintf("cron %s (%s)", t.CronExpression, cmp.Or(t.Timezone, "UTC"))
	case definition.TriggerOnce:
		s = fmt.Sprintf("once at %s", t.RunAt.In(t.Location()).Format(time.RFC3339))
	case definition.TriggerEvent:
		s = "event " + t.EventType
	default:
		s = t.Type
	}
	if !d.Enabled {
		s += ", disabled"
	}
	return s
}

// fieldChanges lists the leaves of the canonical JSON that differ, by
// dotted path ("trigger.cron_expression", "instruction.args[1]").
func fieldChanges(b, h *definition.Definition) []fieldChange {
	var bv, hv any
	_ = json.Unmarshal(b.CanonicalJSON(), &bv)
	_ = json.Unmarshal(h.CanonicalJSON(), &hv)
	var out []fieldChange
	walkDiff("", bv, hv, &out)
	return out
}

func walkDiff(p string, b, h any, out *[]fieldChange) {
	bm, bok := b.(map[string]any)
	hm, hok := h.(map[string]any)
	if bok && hok {
		keys := map[string]bool{}
		for k := range bm {
			keys[k] = true
		}
		for k := range hm {
			keys[k] = true
		}
		for _, k := range sortedIDs(keys) {
			walkDiff(join(p, k), bm[k], hm[k], out)
		}
		return
	}
	ba, bok := b.([]any)
	ha, hok := h.([]any)
	if bok && hok && len(ba) == len(ha) {
		for i := range ba {
			walkDiff(fmt.Sprintf("%s[%d]", p, i), ba[i], ha[i], out)
		}
		return
	}
	bs, hs := jsonText(b), jsonText(h)
	if bs != hs {
		*out = append(*out, fieldChange{Path: p, Before: bs, After: hs})
	}
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// jsonText is a value as compact JSON; "" when absent.
func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedIDs[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// finish sorts the warnings and writes the summary line.
func (r *Report) finish() {
	order := map[string]int{warnDefinition: 0, warnDST: 1, warnOverlap: 2, warnCollision: 3}
	sort.SliceStable(r.Warnings, func(i, j int) bool {
		a, b := r.Warnings[i], r.Warnings[j]
		if order[a.Kind] != order[b.Kind] {
			return order[a.Kind] < order[b.Kind]
		}
		return a.DefinitionID < b.DefinitionID
	})
	parts := []string{
		fmt.Sprintf("%d added", len(r.Added)),
		fmt.Sprintf("%d changed", len(r.Changed)),
		fmt.Sprintf("%d removed", len(r.Removed)),
	}
	if len(r.Held) > 0 {
		parts = append(parts, fmt.Sprintf("%d held by errors", len(r.Held)))
	}
	parts = append(parts, count(len(r.Errors), "error"), count(len(r.Warnings), "warning"))
	r.Summary = strings.Join(parts, ", ")
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
