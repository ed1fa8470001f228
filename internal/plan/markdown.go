package plan

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// What the markdown shows at most; the JSON has everything.
const (
	firesShown      = 3
	movesShown      = 3
	collisionsShown = 20
	// markdownMax keeps the comment under the 65,536 characters GitHub
	// takes.
	markdownMax = 60_000
)

// WriteMarkdown writes the report as a pull-request comment: a heading,
// the summary line, then a section per kind of finding, in a stable order.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## activity-core plan: %s → %s\n\n", sideName(r.Base), sideName(r.Head))
	fmt.Fprintf(&b, "**%s**\n", r.Summary)
	for _, s := range []Side{r.Base, r.Head} {
		if s.Note != "" {
			fmt.Fprintf(&b, "\n> %s\n", text(s.Note))
		}
	}
	r.mdErrors(&b)
	r.mdWarnings(&b)
	r.mdDefinitions(&b)
	r.mdSchedules(&b)
	r.mdCollisions(&b)
	r.mdOverlap(&b)
	out := b.String()
	for strings.Contains(out, "\n\n\n") {
		out = strings.ReplaceAll(out, "\n\n\n", "\n\n")
	}
	if len(out) > markdownMax {
		cut := strings.LastIndex(out[:markdownMax], "\n")
		out = out[:cut+1] + "\n… cut at " + fmt.Sprint(markdownMax) + " characters: run with --format json for everything.\n"
	}
	_, err := io.WriteString(w, out)
	return err
}

func sideName(s Side) string {
	if s.Commit == "" {
		return code(s.Ref)
	}
	return fmt.Sprintf("%s (%s)", code(s.Ref), text(s.Commit[:min(7, len(s.Commit))]))
}

func (r *Report) mdErrors(b *strings.Builder) {
	if len(r.Errors) == 0 {
		return
	}
	b.WriteString("\n### Errors\n\n")
	for _, e := range r.Errors {
		fmt.Fprintf(b, "- %s\n", code(e.Error()))
	}
}

// mdWarnings lists every warning but collisions, which have their section.
func (r *Report) mdWarnings(b *strings.Builder) {
	var lines []string
	for _, w := range r.Warnings {
		if w.Kind != warnCollision {
			lines = append(lines, fmt.Sprintf("- %s: %s\n", text(w.Kind), text(w.Message)))
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("\n### Warnings\n\n")
	b.WriteString(strings.Join(lines, ""))
}

func (r *Report) mdDefinitions(b *strings.Builder) {
	list := func(title string, defs []Definition) {
		if len(defs) == 0 {
			return
		}
		fmt.Fprintf(b, "\n### %s\n\n", title)
		for _, d := range defs {
			fmt.Fprintf(b, "- %s (%s): %s\n", code(d.ID), text(d.File), text(d.Trigger))
		}
	}
	list("Added", r.Added)
	if len(r.Changed) > 0 {
		b.WriteString("\n### Changed\n")
		for _, c := range r.Changed {
			fmt.Fprintf(b, "\n%s (%s)\n\n| field | before | after |\n|---|---|---|\n", code(c.ID), text(c.File))
			for _, f := range c.Fields {
				fmt.Fprintf(b, "| %s | %s | %s |\n", cellCode(f.Path), cell(f.Before), cell(f.After))
			}
		}
	}
	list("Removed", r.Removed)
	list("Held by errors (not removed, not applied)", r.Held)
}

// cell shows a JSON value in a table cell, cut at 120 characters.
func cell(v string) string {
	if v == "" {
		return "(none)"
	}
	if r := []rune(v); len(r) > 120 {
		v = string(r[:117]) + "..."
	}
	return cellCode(v)
}

func (r *Report) mdSchedules(b *strings.Builder) {
	if len(r.Schedules) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### Schedules, %d days from %s\n", r.Window.Days, r.Window.From.Format("2006-01-02 15:04 UTC"))
	for _, s := range r.Schedules {
		fmt.Fprintf(b, "\n#### %s: %s\n\n", code(s.ID), scheduleTitle(s))
		if s.Unchanged {
			fmt.Fprintf(b, "Schedule unchanged: %d fires.\n", s.After.count())
			continue
		}
		mdTiming(b, "Before", s.Before)
		mdTiming(b, "After", s.After)
		mdMoves(b, s.AcrossMidnight, s.AcrossMidnightLeftOut)
	}
	if r.SchedulesLeftOut > 0 {
		fmt.Fprintf(b, "\n%s more not analysed (at most %d a plan).\n", count(r.SchedulesLeftOut, "schedule"), schedulesMax)
	}
}

func scheduleTitle(s schedule) string {
	t := func(tm *Timing) string {
		if tm == nil {
			return "(none)"
		}
		out := fmt.Sprintf("%s %s", code(tm.Schedule), text(tm.Timezone))
		if !tm.Enabled {
			out += " (disabled)"
		}
		return out
	}
	if s.Before == nil || s.Unchanged {
		return t(s.After)
	}
	return t(s.Before) + " → " + t(s.After)
}

// mdTiming shows a side's count, first fires and every DST-day fire.
func mdTiming(b *strings.Builder, title string, tm *Timing) {
	if tm == nil {
		return
	}
	more := ""
	if tm.Truncated {
		more = " (list cut)"
	}
	fmt.Fprintf(b, "%s: %s%s", title, count(tm.count(), "fire"), more)
	if len(tm.Fires) > 0 {
		var first []string
		for _, f := range tm.Fires[:min(firesShown, len(tm.Fires))] {
			first = append(first, fireText(f))
		}
		fmt.Fprintf(b, "; first %s", strings.Join(first, ", "))
	}
	b.WriteString(".\n")
	for _, d := range tm.DST {
		fmt.Fprintf(b, "- DST day %s (%s):", text(d.Date), text(d.Change))
		var what []string
		for _, f := range d.Fires {
			what = append(what, "fires "+fireText(f))
		}
		if d.FiresLeftOut > 0 {
			what = append(what, fmt.Sprintf("%d more fires not listed", d.FiresLeftOut))
		}
		if len(d.Skipped) > 0 {
			what = append(what, fmt.Sprintf("**%s does not exist: no fire** (Temporal skips it)", wallList(d.Skipped)))
		}
		if len(d.Twice) > 0 {
			what = append(what, fmt.Sprintf("**%s fires twice**", wallList(d.Twice)))
		}
		if len(d.Extra) > 0 {
			what = append(what, fmt.Sprintf("**also fires at %s**", wallList(d.Extra)))
		}
		fmt.Fprintf(b, " %s\n", strings.Join(what, "; "))
	}
	b.WriteString("\n")
}

// fireText is "Sun 2026-03-29 03:00 CEST (01:00 UTC)", or the UTC time
// alone for a UTC schedule.
func fireText(f fire) string {
	local := f.t // in the definition's zone, with its abbreviation
	if local.IsZero() {
		local, _ = time.Parse(time.RFC3339, f.Local)
	}
	if local.Location() == time.UTC {
		return local.Format("Mon 2006-01-02 15:04 UTC")
	}
	utc := local.UTC().Format("15:04 UTC")
	if local.UTC().Day() != local.Day() {
		utc = local.UTC().Format("Mon 15:04 UTC")
	}
	return fmt.Sprintf("%s (%s)", local.Format("Mon 2006-01-02 15:04 MST"), utc)
}

func mdMoves(b *strings.Builder, moves []move, leftOut int) {
	if len(moves) == 0 {
		return
	}
	fmt.Fprintf(b, "**Across midnight:** %s change their local date, e.g.", count(len(moves)+leftOut, "fire"))
	for i, m := range moves[:min(movesShown, len(moves))] {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(b, "%s %s → %s", sep, fireText(m.Before), fireText(m.After))
	}
	b.WriteString(".\n")
}

func (r *Report) mdCollisions(b *strings.Builder) {
	if len(r.Collisions) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### Collisions: minutes where many jobs fire at once (whole head)\n\n")
	for _, c := range r.Collisions[:min(collisionsShown, len(r.Collisions))] {
		mark := ""
		if c.Changed {
			mark = " (includes a job this change adds or changes)"
		}
		fmt.Fprintf(b, "- %s%s\n", text(c.Message()), mark)
	}
	if n := len(r.Collisions) + r.CollisionsLeftOut - collisionsShown; n > 0 && r.CollisionsLeftOut > 0 {
		fmt.Fprintf(b, "- and %d more (--format json lists the first %d)\n", n, collisionsListed)
	} else if n > 0 {
		fmt.Fprintf(b, "- and %d more (see --format json)\n", n)
	}
	if r.CollisionsNote != "" {
		fmt.Fprintf(b, "\nNote: %s.\n", text(r.CollisionsNote))
	}
}

func (r *Report) mdOverlap(b *strings.Builder) {
	b.WriteString("\n### Overlap risk\n\n")
	if !r.Overlap.Checked {
		fmt.Fprintf(b, "%s\n", text(r.Overlap.Note))
		return
	}
	if len(r.Overlap.Checks) == 0 {
		b.WriteString("No changed schedule fires more than once in the window.\n")
		return
	}
	for _, c := range r.Overlap.Checks {
		switch {
		case c.Note != "":
			fmt.Fprintf(b, "- %s: every %s at least; %s\n", code(c.ID), c.Interval, text(c.Note))
		case c.Risk:
			fmt.Fprintf(b, "- %s: **p95 %s ≥ half the shortest interval %s** (%d runs)\n", code(c.ID), c.P95, c.Interval, c.Runs)
		default:
			fmt.Fprintf(b, "- %s: p95 %s, shortest interval %s (%d runs): fine\n", code(c.ID), c.P95, c.Interval, c.Runs)
		}
	}
}
