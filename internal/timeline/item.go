package timeline

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// Ranks order items at one instant.
const (
	rankChange = iota // version, removed, restored, paused, resumed
	rankFired
	rankOutcome // skipped, missed, succeeded, failed, …
	rankProblem
	rankRecovered
	rankNotification
)

func entryRank(kind string) int {
	switch kind {
	case store.TimelineProblem:
		return rankProblem
	case store.TimelineRecovered:
		return rankRecovered
	case store.TimelineNotification:
		return rankNotification
	}
	return rankChange
}

// entryItem turns a store entry into an item; a version entry gets the
// diff of its spec from the previous version.
func entryItem(ctx context.Context, versions *versionCache, e store.TimelineEntry) Item {
	it := Item{At: e.At.UTC(), Kind: e.Kind, Summary: oneLine(e.Summary), Actor: e.Actor, RunID: e.RunID, Detail: e.Detail,
		rank: entryRank(e.Kind), key: fmt.Sprintf("e%020d", e.ID)}
	switch e.Kind {
	case store.TimelineVersion:
		versionItem(ctx, versions, &it)
	case store.TimelinePaused, store.TimelineResumed:
		pauseItem(&it)
	case store.TimelineProblem, store.TimelineRecovered:
		problemItem(&it)
	}
	it.Summary = cmp.Or(it.Summary, e.Kind)
	return it
}

func versionItem(ctx context.Context, versions *versionCache, it *Item) {
	var d struct {
		Version  int `json:"version"`
		Previous int `json:"previous"`
	}
	if json.Unmarshal(it.Detail, &d) != nil || d.Version < 1 {
		return // keep the stored summary
	}
	it.Version, it.Previous = d.Version, d.Previous
	it.Origin = versions.origin(ctx, d.Version)
	from := OriginFrom(it.Origin)
	if d.Previous < 1 {
		it.Summary = fmt.Sprintf("v%d%s created", d.Version, from)
		return
	}
	next, prev := versions.spec(ctx, d.Version), versions.spec(ctx, d.Previous)
	if next == nil || prev == nil {
		it.Summary = fmt.Sprintf("v%d%s (was v%d): the versions are not both stored, no diff", d.Version, from, d.Previous)
		return
	}
	it.Changes = modeChanges(diff(prev, next))
	if len(it.Changes) > changesMax {
		it.Changes = it.Changes[:changesMax]
	}
	it.Summary = fmt.Sprintf("v%d%s (was v%d): %s", d.Version, from, d.Previous, changesText(it.Changes))
}

// changesShown bounds the changes one text line names.
const changesShown = 4

func changesText(cs []change) string {
	if len(cs) == 0 {
		return "no field changed (only the content hash)"
	}
	parts := make([]string, 0, changesShown+1)
	for i, c := range cs {
		if i == changesShown {
			parts = append(parts, fmt.Sprintf("and %d more (--format json lists them)", len(cs)-changesShown))
			break
		}
		parts = append(parts, c.String())
	}
	return strings.Join(parts, "; ")
}

// pauseItem names who paused, the note and until when the entry's detail
// holds the pause (store.OperatorPause) and its summary does not.
func pauseItem(it *Item) {
	var p struct {
		Note  string     `json:"note"`
		By    string     `json:"by"`
		Until *time.Time `json:"until"`
	}
	if json.Unmarshal(it.Detail, &p) != nil {
		return
	}
	if p.By != "" && it.Kind == store.TimelinePaused {
		it.Actor = p.By
	}
	if it.Kind == store.TimelineResumed || it.Summary != "" && it.Summary != it.Kind {
		return
	}
	s := "paused by " + cmp.Or(p.By, "operator")
	if p.Note != "" {
		s += ": " + oneLine(p.Note)
	}
	if p.Until != nil {
		s += " (until " + fmtTime(*p.Until) + ")"
	}
	it.Summary = s
}

// problemItem writes a problem's kind, reason and run when the entry's
// summary is empty.
func problemItem(it *Item) {
	var p store.Problem
	if json.Unmarshal(it.Detail, &p) != nil || p.Kind == "" {
		return
	}
	it.RunID = cmp.Or(it.RunID, p.RunID)
	if it.Summary != "" && it.Summary != it.Kind {
		return
	}
	if it.Kind == store.TimelineRecovered {
		it.Summary = fmt.Sprintf("%s since %s is over", p.Kind, fmtTime(p.Since))
		return
	}
	it.Summary = string(p.Kind) + ": " + oneLine(p.Reason)
}

// runItems is what one run tells: fired and its outcome, or one skip or
// miss.
func runItems(r store.Run) []Item {
	facts := &runFacts{Status: r.Status, Trigger: r.Trigger, Version: r.DefinitionVersion, ScheduledAt: r.ScheduledAt, StartedAt: r.StartedAt,
		FinishedAt: r.FinishedAt, SkipReason: r.SkipReason, Stage: r.Stage, ExitCode: r.ExitCode, Error: r.Error}
	base := Item{RunID: r.ID, Run: facts, key: "r" + r.ID}
	switch r.Status {
	case store.RunMissed:
		return []Item{missedItem(base, r)}
	case store.RunSkipped:
		it := base
		it.At, it.Kind, it.rank = firstTime(r.StartedAt, &r.CreatedAt), kindSkipped, rankOutcome
		it.Summary = fmt.Sprintf("run %s (%s) skipped: %s", r.ID, triggerText(r), oneLine(cmp.Or(r.SkipReason, "no reason recorded")))
		return []Item{it}
	}
	fired := base
	fired.At, fired.Kind, fired.rank = firstTime(r.StartedAt, &r.CreatedAt), kindFired, rankFired
	fired.Summary = fmt.Sprintf("run %s fired (%s)", r.ID, triggerText(r))
	if !r.Status.Terminal() {
		fired.Summary += ", " + string(r.Status)
		return []Item{fired}
	}
	out := base
	out.At, out.Kind, out.rank = firstTime(r.FinishedAt, &r.UpdatedAt), string(r.Status), rankOutcome
	out.Summary = outcomeText(r)
	return []Item{fired, out}
}

func missedItem(it Item, r store.Run) Item {
	it.At, it.Kind, it.rank = firstTime(r.ScheduledAt, &r.CreatedAt), kindMissed, rankOutcome
	var d struct {
		First *time.Time `json:"first"`
		Last  *time.Time `json:"last"`
		Count int        `json:"count"`
	}
	_ = json.Unmarshal(r.TriggerDetail, &d)
	it.Run.MissedCount, it.Run.MissedFirst, it.Run.MissedLast = max(d.Count, 1), d.First, d.Last
	if d.First != nil {
		it.At = d.First.UTC()
	}
	reason := oneLine(cmp.Or(r.SkipReason, "no reason recorded"))
	if d.Count > 1 && d.First != nil && d.Last != nil {
		it.Summary = fmt.Sprintf("missed %d fires, %s to %s: %s", d.Count, fmtTime(*d.First), fmtTime(*d.Last), reason)
	} else {
		it.Summary = fmt.Sprintf("missed the %s fire: %s", fmtTime(it.At), reason)
	}
	return it
}

func triggerText(r store.Run) string {
	s := string(r.Trigger)
	if r.ScheduledAt != nil && (r.StartedAt == nil || !r.ScheduledAt.Equal(*r.StartedAt)) {
		s += ", scheduled " + fmtTime(*r.ScheduledAt)
	}
	if r.Trigger == store.RunTriggerEvent {
		var d struct {
			Event struct {
				Subject string `json:"subject"`
			} `json:"event"`
		}
		if json.Unmarshal(r.TriggerDetail, &d) == nil && d.Event.Subject != "" {
			s += " " + oneLine(d.Event.Subject)
		}
	}
	if r.DefinitionVersion > 0 {
		s += ", v" + strconv.Itoa(r.DefinitionVersion)
	}
	return s
}

func outcomeText(r store.Run) string {
	s := "run " + r.ID + " " + string(r.Status)
	if r.Stage != store.StageNone {
		s += " at stage " + string(r.Stage)
	}
	if r.ExitCode != nil {
		s += ", exit " + strconv.Itoa(*r.ExitCode)
	}
	if r.StartedAt != nil && r.FinishedAt != nil {
		s += " after " + r.FinishedAt.Sub(*r.StartedAt).Round(time.Millisecond).String()
	}
	if r.Error != "" {
		s += ": " + oneLine(r.Error)
	} else if r.SkipReason != "" {
		s += ": " + oneLine(r.SkipReason)
	}
	return s
}

func firstTime(ts ...*time.Time) time.Time {
	for _, t := range ts {
		if t != nil && !t.IsZero() {
			return t.UTC()
		}
	}
	return time.Time{}
}
