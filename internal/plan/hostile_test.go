package plan

import (
	"regexp"
	"strings"
	"testing"
)

// Strings a pull request author controls, built to reshape the comment.
const (
	hostileValue = "x` @acme/security-team ![pwn](https://attacker.example/p.png) `` <details><summary>hidden</summary> `"
	hostileFile  = "defs/a\n\n## :white_check_mark: Plan: no changes, safe to merge @acme-admins <img src=x onerror=alert(1)>\n\n<details><summary>x.yaml"
	hostileRef   = "feat`<details><summary>hidden</summary>@acme"
)

// TestPlanHostileMarkdown: field values, file names and the head ref are
// escaped, so the comment keeps its shape: no raw HTML, no live mention,
// link or image, no heading or table cell made by injected text.
func TestPlanHostileMarkdown(t *testing.T) {
	r := newRepo(t)
	r.commit("base", map[string]string{"defs/x.yaml": cron("team.x", "0 4 * * *", "UTC")})
	r.git("checkout", "-q", "-b", hostileRef)
	r.commit("hostile", map[string]string{
		"defs/x.yaml": cron("team.x", "0 4 * * *", "UTC") + "description: " + quoteYAML(hostileValue) + "\n",
		hostileFile:   cron("team.added", "0 5 * * *", "UTC"),
		"defs/b\n# Plan: fine @acme <details>.yaml": "id: [\n",
	})
	rep := build(t, Config{RepoDir: r.dir, Path: "defs", Base: "main", HeadRef: hostileRef})
	if len(rep.Changed) != 1 || len(rep.Added) != 1 || len(rep.Errors) == 0 {
		t.Fatalf("changed %d, added %d, errors %d: want 1, 1, some", len(rep.Changed), len(rep.Added), len(rep.Errors))
	}
	md := markdown(t, rep)
	golden(t, "hostile.md.golden", md)
	checkShape(t, string(md))
}

func quoteYAML(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

var headingLine = regexp.MustCompile("^(## activity-core plan: |### (Errors|Warnings|Added|Changed|Removed|Held by errors|Schedules|Collisions|Overlap risk)|#### `)")

// checkShape asserts what markdown may contain outside code spans.
func checkShape(t *testing.T, md string) {
	t.Helper()
	for i, line := range strings.Split(md, "\n") {
		out := outsideCode(line)
		switch {
		case strings.HasPrefix(strings.TrimLeft(line, " >"), "#") && !headingLine.MatchString(line):
			t.Errorf("line %d is a heading the plan does not write: %q", i+1, line)
		case strings.ContainsAny(out, "<>"):
			t.Errorf("line %d has raw HTML outside code: %q", i+1, line)
		case strings.ContainsAny(out, "[]!`"):
			t.Errorf("line %d has an unescaped link, image or backtick: %q", i+1, line)
		case strings.HasPrefix(line, "|") && strings.Count(out, "|") != 4:
			t.Errorf("line %d is a table row of other than 3 cells: %q", i+1, line)
		}
		if m := regexp.MustCompile("@[^\u2060]").FindString(line); m != "" {
			t.Errorf("line %d has a live mention: %q", i+1, line)
		}
	}
}

// outsideCode is line without its code spans (CommonMark: a run of n
// backticks closes at the next run of exactly n) and backslash escapes.
func outsideCode(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		switch {
		case line[i] == '\\' && i+1 < len(line):
			i += 2
		case line[i] == '`':
			n := longestRun(line[i:i+len(line[i:])-len(strings.TrimLeft(line[i:], "`"))], '`')
			end := closingRun(line[i+n:], n)
			if end < 0 {
				b.WriteString(line[i : i+n])
				i += n
				continue
			}
			i += n + end + n
		default:
			b.WriteByte(line[i])
			i++
		}
	}
	return b.String()
}

// closingRun is the offset in s of the first run of exactly n backticks.
func closingRun(s string, n int) int {
	for i := 0; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '`' {
			j++
		}
		if j-i == n {
			return i
		}
		i = j
	}
	return -1
}

// TestPlanCodeSpan: the fence outgrows every backtick run inside, and a
// value starting or ending with a backtick or space is padded.
func TestPlanCodeSpan(t *testing.T) {
	for in, want := range map[string]string{
		"main":       "`main`",
		"a`b":        "``a`b``",
		"`a``":       "``` `a`` ```",
		" a ":        "`  a  `",
		"":           "` `",
		"x\ny@z":     "`x\uFFFDy@\u2060z`",
		"a|b":        "`a|b`",
		"\u202Eevil": "`\uFFFDevil`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cell("a|b"); got != "`a\\|b`" {
		t.Errorf("cell(a|b) = %q", got)
	}
	if got := text("<b>*x*_y_ a_b [l](u) & @t #1"); got != "&lt;b&gt;\\*x\\*\\_y\\_ a_b \\[l\\](u) &amp; @\u2060t \\#1" {
		t.Errorf("text = %q", got)
	}
}
