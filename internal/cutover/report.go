package cutover

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what `activity-core cutover report` prints.
type Report struct {
	DefinitionID string `json:"definition_id"`
	// Legacy names the legacy side as given (journal:UNIT, …).
	Legacy string `json:"legacy"`
	Window
	// LegacyZone is the zone the legacy job's schedule is read in (the
	// host's); DefinitionZone the definition's trigger.timezone.
	LegacyZone     string `json:"legacy_zone"`
	DefinitionZone string `json:"definition_zone"`
	LegacyRuns     int    `json:"legacy_runs"`
	Fires          int    `json:"fires"`
	// OtherRuns counts the definition's manual and event runs, which are
	// not fires of its schedule and are left out.
	OtherRuns int      `json:"other_runs,omitempty"`
	Notes     []string `json:"notes,omitempty"`
	comparison
	// OK is true when every run on each side has its partner within the
	// tolerance and the definition missed none of them.
	OK bool `json:"ok"`
	// Why lists what makes the report fail.
	Why []string `json:"why,omitempty"`
}

// NewReport compares and decides.
func NewReport(r Report, legacy []LegacyRun, fires []Fire) Report {
	r.LegacyRuns, r.Fires = len(legacy), len(fires)
	r.comparison = compare(legacy, fires, r.Window)
	if r.LegacyRuns == 0 {
		r.Why = append(r.Why, fmt.Sprintf("no legacy runs since %s: check the unit, file or --match", stamp(r.Since)))
	}
	if r.Fires == 0 {
		r.Why = append(r.Why, fmt.Sprintf("no fires of %s since %s: is it synced and scheduled (activity-core why %s)?", r.DefinitionID, stamp(r.Since), r.DefinitionID))
	}
	if s := r.Shift; s != nil {
		r.Why = append(r.Why, r.shiftText())
	}
	if n := len(r.LegacyOnly); n > 0 {
		r.Why = append(r.Why, fmt.Sprintf("%d legacy run%s without a fire within %s: %s", n, plural(n), r.Tolerance, days(legacyTimes(r.LegacyOnly))))
	}
	if n := len(r.FireOnly); n > 0 {
		r.Why = append(r.Why, fmt.Sprintf("%d fire%s without a legacy run within %s: %s", n, plural(n), r.Tolerance, days(fireTimes(r.FireOnly))))
	}
	var missed []time.Time
	for _, p := range r.Pairs {
		if p.Fire.Status == "missed" {
			missed = append(missed, p.Fire.At)
		}
	}
	if len(missed) > 0 {
		r.Why = append(r.Why, fmt.Sprintf("the definition missed %d fire%s the legacy job ran: %s", len(missed), plural(len(missed)), days(missed)))
	}
	r.OK = len(r.Why) == 0
	return r
}

// shiftText is the time zone diagnosis.
func (r Report) shiftText() string {
	h, dir := r.Shift.Hours, "later"
	if h < 0 {
		h, dir = -h, "earlier"
	}
	return fmt.Sprintf("the definition fires %dh %s than the legacy job: a time zone mistake? (legacy in host zone %s, definition in %s; %d of %d runs pair when shifted)",
		h, dir, r.LegacyZone, r.DefinitionZone, r.Shift.Pairs, max(r.LegacyRuns, r.Fires))
}

// WriteText prints the report for people; times are UTC.
func (r Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "cutover report: %s against %s\n", r.DefinitionID, r.Legacy)
	fmt.Fprintf(w, "window:     %s to %s (times in UTC), tolerance %s\n", stamp(r.Since), stamp(r.Until), r.Tolerance)
	fmt.Fprintf(w, "zones:      legacy %s, definition %s\n", r.LegacyZone, r.DefinitionZone)
	fmt.Fprintf(w, "runs:       %d legacy, %d fires", r.LegacyRuns, r.Fires)
	if r.OtherRuns > 0 {
		fmt.Fprintf(w, " (%d manual or event run%s left out)", r.OtherRuns, plural(r.OtherRuns))
	}
	fmt.Fprintln(w)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note:       %s\n", n)
	}
	if r.AtEdges > 0 {
		fmt.Fprintf(w, "note:       %d unpaired run%s within %s of the window's ends not counted\n", r.AtEdges, plural(r.AtEdges), r.Tolerance)
	}
	r.writePairs(w)
	r.writeUnpaired(w)
	if r.OK {
		fmt.Fprintf(w, "\nOK: all %d runs pair within %s\n", len(r.Pairs), r.Tolerance)
		return nil
	}
	fmt.Fprintln(w, "\nFAIL:")
	for _, why := range r.Why {
		fmt.Fprintf(w, "  - %s\n", why)
	}
	return nil
}

func (r Report) writePairs(w io.Writer) {
	fmt.Fprintf(w, "\npaired (%d):\n", len(r.Pairs))
	if len(r.Pairs) == 0 {
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  LEGACY\tFIRE\tOFFSET\tLEGACY EXIT\tRUN\tSTATUS\tNOTE")
	for _, p := range r.Pairs {
		note := p.Disagree
		if note == "" {
			note = p.Fire.Decision
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", day(p.Legacy.At), stamp(p.Fire.At), offset(p.Offset), p.Legacy.Outcome(), p.Fire.RunID, p.Fire.Status, oneLine(note))
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		_, _ = io.WriteString(w, strings.TrimRight(line, " \n")+strings.Repeat("\n", strings.Count(line, "\n")))
	}
}

func (r Report) writeUnpaired(w io.Writer) {
	fmt.Fprintf(w, "\nlegacy only (%d):\n", len(r.LegacyOnly))
	for _, l := range r.LegacyOnly {
		line := fmt.Sprintf("  %s  %s", day(l.At), l.Outcome())
		if l.Where != "" {
			line += "  (" + l.Where + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\ndefinition only (%d):\n", len(r.FireOnly))
	for _, f := range r.FireOnly {
		line := fmt.Sprintf("  %s  run %s  %s", day(f.At), f.RunID, f.Status)
		if f.Decision != "" {
			line += "  " + oneLine(f.Decision)
		}
		fmt.Fprintln(w, line)
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// day is a time with its weekday, so a missed day is easy to name.
func day(t time.Time) string { return t.UTC().Format("Mon 2006-01-02T15:04:05Z") }

// days names up to five times with their weekdays.
func days(ts []time.Time) string {
	var parts []string
	for i, t := range ts {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ts)-5))
			break
		}
		parts = append(parts, day(t))
	}
	return strings.Join(parts, ", ")
}

func legacyTimes(runs []LegacyRun) []time.Time {
	out := make([]time.Time, len(runs))
	for i, r := range runs {
		out[i] = r.At
	}
	return out
}

func fireTimes(fires []Fire) []time.Time {
	out := make([]time.Time, len(fires))
	for i, f := range fires {
		out[i] = f.At
	}
	return out
}

func offset(d time.Duration) string {
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 80 {
		return string(r[:79]) + "…"
	}
	return s
}
