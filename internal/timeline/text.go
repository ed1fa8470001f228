package timeline

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coulomb/activity-core/internal/store"
)

// TimeFormat is how the text timeline writes times: UTC, to the second.
const TimeFormat = "2006-01-02 15:04:05Z"

func fmtTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// lineMax bounds one free-text part of a line (an error, a reason, a
// note); the JSON keeps it whole.
const lineMax = 300

// oneLine makes stored text fit one terminal line: whitespace runs become
// one space, control characters (a terminal escape in a command's error)
// become U+FFFD, and it is cut at lineMax runes.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, s)
	return clip(s, lineMax)
}

// printable replaces the control characters of s (a version's diff names
// spec paths, which a payload's keys make free text) with U+FFFD, so no
// line of the text timeline is a terminal escape.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// kindWidth pads the kind column.
const kindWidth = 12

// WriteText writes the story for a person: a header with the window and
// the state now, then one line per item, "time  kind  summary", oldest
// first, every time in UTC.
func (s *Story) WriteText(w io.Writer) error {
	var b strings.Builder
	until := "now"
	if s.Until != nil {
		until = fmtTime(*s.Until)
	}
	fmt.Fprintf(&b, "%s: %d item%s from %s to %s, oldest first (times UTC)\n", printable(s.DefinitionID), len(s.Items), plural(len(s.Items)), fmtTime(s.Since), until)
	if s.Now != nil {
		writeNow(&b, s.Now)
	}
	if s.LeftOut > 0 {
		fmt.Fprintf(&b, "… %d earlier item%s left out: narrow --since or raise --limit\n", s.LeftOut, plural(s.LeftOut))
	}
	for _, it := range s.Items {
		fmt.Fprintf(&b, "%s  %-*s  %s\n", fmtTime(it.At), kindWidth, printable(it.Kind), printable(it.Summary))
	}
	if len(s.Items) == 0 {
		b.WriteString("nothing happened in this window: no version, pause, run, miss or alert (widen it with --since 30d)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeNow(b *strings.Builder, now *Now) {
	if now.Schedule != "" {
		fmt.Fprintf(b, "schedule now: %s\n", oneLine(now.Schedule))
	}
	h := now.Health
	if h == nil {
		return
	}
	line := "health now: " + string(h.State)
	if h.ConsecutiveFailures > 0 {
		line += ", " + strconv.Itoa(h.ConsecutiveFailures) + " consecutive failure" + plural(h.ConsecutiveFailures)
	}
	if h.LastSuccessAt != nil {
		line += ", last success " + fmtTime(*h.LastSuccessAt)
	} else {
		line += ", no success recorded"
	}
	fmt.Fprintln(b, line)
	for _, p := range h.Problems {
		fmt.Fprintf(b, "  %s since %s: %s\n", p.Kind, fmtTime(p.Since), oneLine(p.Reason))
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ProblemLine is one problem as `activity-core problems` and the
// dashboard's Problems page word it.
func ProblemLine(p store.Problem) string {
	s := string(p.Kind) + " since " + fmtTime(p.Since) + ": " + oneLine(p.Reason)
	if p.RunID != "" {
		s += " (run " + p.RunID + ")"
	}
	return s
}
