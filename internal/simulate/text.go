package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coulomb/activity-core/internal/engine"
)

// TextOptions shapes the human-readable output.
type TextOptions struct {
	// Trace prints the decision trace even when there are expectations
	// (then, by default, only the pass/fail lines are printed).
	Trace bool
}

// maxTextValue clips long values (payloads, context JSON) in text output;
// JSON output is never clipped.
const maxTextValue = 300

// WriteText prints the report for a terminal or a CI log: problems first
// (file:line: message, as validate prints them), then the traces, the
// fires, the expectation lines and a summary line.
func WriteText(w io.Writer, rep *Report, opts TextOptions) {
	for _, p := range rep.Problems {
		fmt.Fprintln(w, p.Error())
	}
	for _, p := range rep.Warnings {
		fmt.Fprintf(w, "%s (warning)\n", p.Error())
	}
	if len(rep.Problems)+len(rep.Warnings) > 0 {
		fmt.Fprintln(w)
	}
	if rep.Expectations == nil || opts.Trace {
		for _, tr := range rep.Events {
			writeEvent(w, tr)
		}
	}
	if rep.At != nil {
		writeAt(w, rep.At)
	}
	if x := rep.Expectations; x != nil {
		for _, r := range x.Results {
			fmt.Fprintln(w, r.String())
		}
		if len(x.Results) > 0 {
			fmt.Fprintln(w)
		}
	}
	c := rep.Counts
	verdict := "ok"
	if !rep.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "%s: %d definition%s (%d event, %d cron, %d once), %d event%s",
		verdict, c.Event+c.Cron+c.Once, plural(c.Event+c.Cron+c.Once), c.Event, c.Cron, c.Once, c.Events, plural(c.Events))
	if x := rep.Expectations; x != nil {
		fmt.Fprintf(w, ", %d expectation%s passed, %d failed", x.Passed, plural(x.Passed), x.Failed)
	}
	if n := len(rep.Problems); n > 0 {
		fmt.Fprintf(w, ", %d problem%s", n, plural(n))
	}
	fmt.Fprintln(w)
}

func writeEvent(w io.Writer, tr EventTrace) {
	ev := tr.Event
	when := ev.Time.UTC().Format(time.RFC3339)
	if !ev.TimeGiven {
		when += " (no time on the line: now)"
	}
	fmt.Fprintf(w, "event %s (%s:%d): %s at %s\n", ev.ID, ev.File, ev.Line, ev.Subject, when)
	fmt.Fprintf(w, "  payload: %s\n", clipText(string(ev.Payload)))
	if len(tr.Definitions) == 0 {
		fmt.Fprintln(w, "  (no event definitions loaded)")
	}
	runs := 0
	for _, dt := range tr.Definitions {
		if dt.Runs() {
			runs++
		}
		writeDefinition(w, dt)
	}
	fmt.Fprintf(w, "  => %d of %d event definitions would run\n\n", runs, len(tr.Definitions))
}

var outcomeText = map[string]string{
	OutcomeRuns:           "RUNS",
	OutcomeNotMatched:     "no match",
	OutcomeRuleFalse:      "matched, rule false: skipped",
	OutcomeRuleError:      "matched, rule fails: the run fails",
	OutcomeContextMissing: "matched, FIXTURE MISSING",
}

func writeDefinition(w io.Writer, dt DefinitionTrace) {
	if dt.Outcome == OutcomeNotMatched {
		fmt.Fprintf(w, "  %s: no match (%s): %s\n", dt.DefinitionID, dt.Match.Stage, dt.Reason)
		return
	}
	fmt.Fprintf(w, "  %s: %s\n", dt.DefinitionID, outcomeText[dt.Outcome])
	m := dt.Match
	fmt.Fprintf(w, "    match: subject matches %s", m.EventType)
	for _, f := range m.Filters {
		fmt.Fprintf(w, "; %s %s matches %s", f.Path, quoteAll(f.Values), quoteAll(f.Patterns))
	}
	if m.ChainDepth > 0 {
		fmt.Fprintf(w, "; chain depth %d", m.ChainDepth)
	}
	fmt.Fprintln(w)
	for _, c := range dt.Context {
		src := c.Kind
		if c.URL != "" {
			src += " " + c.URL
		}
		if c.Missing {
			fmt.Fprintf(w, "    context %s (%s): NO FIXTURE\n", c.Bind, src)
			continue
		}
		fmt.Fprintf(w, "    context %s (%s) = %s   [%s from %s]\n", c.Bind, src, clipText(string(c.Value)), c.Key, c.From)
	}
	if r := dt.Rule; r != nil {
		for _, e := range r.Expressions {
			fmt.Fprintf(w, "    rule %s: %s\n", exprValue(e.Result, e.Error), e.Expression)
		}
		for _, e := range dt.Unreached {
			fmt.Fprintf(w, "    rule %s (not reached: the engine stops at the first false): %s\n", exprValue(e.Result, e.Error), e.Expression)
		}
		if r.Error != "" && len(r.Expressions) == 0 {
			fmt.Fprintf(w, "    rule error: %s\n", r.Error)
		}
	} else if dt.RulePassed != nil {
		fmt.Fprintln(w, "    rule: none (always passes)")
	}
	if dt.Reason != "" {
		fmt.Fprintf(w, "    => %s\n", dt.Reason)
	}
	if dt.Instruction != nil {
		writeInstruction(w, dt.Instruction)
	}
	for _, name := range slices.Sorted(maps.Keys(dt.NotAllowedEnv)) {
		fmt.Fprintf(w, "    the run would fail: ${env:%s}: %s\n", name, dt.NotAllowedEnv[name])
	}
	if len(dt.UnresolvedEnv) > 0 {
		fmt.Fprintf(w, "    note: ${env:%s} resolved by the worker at run time (give --env NAME=VALUE to preview it redacted)\n", strings.Join(dt.UnresolvedEnv, "}, ${env:"))
	}
}

// writeInstruction writes what a run would start.
func writeInstruction(w io.Writer, in *engine.PlannedInstruction) {
	fmt.Fprintf(w, "    would run: %s, timeout %s\n", in.Kind, in.Timeout)
	switch {
	case in.Cmd != "":
		fmt.Fprintf(w, "      cmd (/bin/sh -c): %s\n", in.Cmd)
	case len(in.Args) > 0:
		fmt.Fprintf(w, "      args (no shell): %s\n", quoteAll(in.Args))
	}
	if in.Workdir != "" {
		fmt.Fprintf(w, "      workdir: %s\n", in.Workdir)
	}
	for i, e := range in.Env {
		label := "      env:"
		if i > 0 {
			label = "          "
		}
		fmt.Fprintf(w, "%s %s\n", label, clipText(e))
	}
	if in.URL != "" {
		fmt.Fprintf(w, "      %s %s", in.Method, in.URL)
		if len(in.ExpectStatus) > 0 {
			fmt.Fprintf(w, " (expect %v)", in.ExpectStatus)
		}
		fmt.Fprintln(w)
		for _, k := range slices.Sorted(maps.Keys(in.Headers)) {
			fmt.Fprintf(w, "      header %s: %s\n", k, in.Headers[k])
		}
		if in.Body != nil {
			fmt.Fprintf(w, "      body: %s\n", clipText(jsonText(in.Body)))
		}
	}
	if in.Subject != "" {
		fmt.Fprintf(w, "      publish to %s: %s\n", in.Subject, clipText(jsonText(in.Payload)))
	}
}

func exprValue(b *bool, errText string) string {
	switch {
	case errText != "":
		return "ERROR " + errText
	case b == nil:
		return "?"
	case *b:
		return "true"
	}
	return "false"
}

func writeAt(w io.Writer, rep *AtReport) {
	win := rep.Window
	if win.Instant {
		fmt.Fprintf(w, "at %s: the minute %s to %s\n", win.Text, win.Start.UTC().Format(time.RFC3339), win.End.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "window %s: %s to %s (%s)\n", win.Text, win.Start.UTC().Format(time.RFC3339), win.End.UTC().Format(time.RFC3339), win.End.Sub(win.Start))
	}
	var quiet []string
	for _, d := range rep.Definitions {
		if d.Count == 0 {
			q := fmt.Sprintf("%s (%s)", d.DefinitionID, d.Schedule)
			if !d.Enabled {
				q = fmt.Sprintf("%s (disabled)", d.DefinitionID)
			}
			quiet = append(quiet, q)
			continue
		}
		capped := ""
		if d.CountCapped {
			capped = " or more"
		}
		fmt.Fprintf(w, "  FIRES %s: %s%s, %s in %s\n", d.DefinitionID, fireCount(d.Count), capped, d.Schedule, d.Timezone)
		tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
		utc := d.Timezone == "UTC"
		for _, f := range d.Fires {
			if utc {
				fmt.Fprintf(tw, "      %s\n", f.UTC)
				continue
			}
			lt, _ := time.Parse(time.RFC3339, f.Local)
			loc, err := time.LoadLocation(d.Timezone)
			if err == nil {
				lt = lt.In(loc)
			}
			fmt.Fprintf(tw, "      %s\t%s\n", lt.Format("Mon 2006-01-02 15:04:05 MST (-07:00)"), f.UTC)
		}
		tw.Flush()
		if d.Count > len(d.Fires) {
			fmt.Fprintf(w, "      … %d more\n", d.Count-len(d.Fires))
		}
		if d.Note != "" {
			fmt.Fprintf(w, "      note: %s\n", d.Note)
		}
	}
	if len(quiet) > 0 {
		fmt.Fprintf(w, "  no fire: %s\n", strings.Join(quiet, ", "))
	}
	fmt.Fprintln(w)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	if len(q) == 1 {
		return q[0]
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func clipText(s string) string {
	if len(s) <= maxTextValue {
		return s
	}
	return s[:maxTextValue] + "…"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
