// Package repocheck holds tests over the repository's own text: that no
// file points at a document the repository does not have, and that every
// link into docs/ lands on a file and heading that exist. It has no code of
// its own; see docs/development.md#tests.
package repocheck

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The citation rule. A line cites a document the repository does not have
// when it contains:
//
//   - the section sign (U+00A7) anywhere: the old contract was cited by
//     section number, and nothing in this repository is numbered that way;
//   - the old contract's file name (SPEC, a dot, md; any case), or the
//     upper-case word SPEC followed by blanks and a section number;
//   - the word "issue" or "issues" (whole word, any case) followed by a
//     number, after blanks or after "#": issue-blank-7, Issue-#-12 and
//     issues-blank-7/8 all count (TestCitationRule spells them out).
//
// Not citations: "issues" or "an issue" in prose, "UNSPECIFIED" (SPEC is
// not a whole word there), and issue URLs such as
// https://github.com/org/repo/issues/12 (a slash, not a blank or "#",
// follows the word), which point at something a reader can open.
var citation = regexp.MustCompile(`\x{00A7}|(?i:\bspec\.md\b)|\bSPEC\s+\d+|(?i:\bissues?(\s+|\s*#\s*)\d+)`)

// scanned reports whether the file at rel (slash-separated, relative to the
// module root) is held to the citation rule: Go files, Markdown files,
// everything under deploy/ and examples/, the Makefile and .ci/run.
func scanned(rel string) bool {
	switch {
	case strings.HasSuffix(rel, ".go"), strings.HasSuffix(rel, ".md"):
		return true
	case strings.HasPrefix(rel, "deploy/"), strings.HasPrefix(rel, "examples/"):
		return true
	case rel == "Makefile", rel == ".ci/run":
		return true
	}
	return false
}

// skipDir reports whether the walk leaves a directory out, and why:
//
//   - hidden directories other than .ci (.git, and the data dir
//     ./.activity-core that `dev` writes, which holds fetched checkouts of
//     other repositories);
//   - testdata: inputs that tests read byte for byte (crontab files,
//     recorded Temporal histories, golden output, fuzz corpora); they are
//     data, not text a reader follows, and changing them changes tests;
//   - vendor and node_modules: other people's code, should one appear;
//   - bin: build output (.gitignore).
func skipDir(name string) bool {
	if strings.HasPrefix(name, ".") && name != "." && name != ".ci" {
		return true
	}
	switch name {
	case "testdata", "vendor", "node_modules", "bin":
		return true
	}
	return false
}

// moduleRoot finds the directory holding go.mod, from the test's working
// directory (the package directory) upward.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// repoFiles lists the files the checks read, relative to root and
// slash-separated, in walk order.
func repoFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return lines
}

// TestNoCitationsOfMissingDocuments fails, naming file:line, for every line
// that cites a document outside the repository (see citation).
func TestNoCitationsOfMissingDocuments(t *testing.T) {
	root := moduleRoot(t)
	n := 0
	for _, rel := range repoFiles(t, root) {
		if !scanned(rel) {
			continue
		}
		n++
		for i, line := range readLines(t, filepath.Join(root, rel)) {
			if m := citation.FindString(line); m != "" {
				t.Errorf("%s:%d: cites %q, a document this repository does not have; cite docs/<file>.md#<section> instead: %s",
					rel, i+1, m, strings.TrimSpace(line))
			}
		}
	}
	if n < 100 {
		t.Fatalf("scanned only %d files from %s: the walk is broken", n, root)
	}
}

func TestCitationRule(t *testing.T) {
	const sect = "\u00a7"
	// The cited words are kept apart from their numbers so that this file
	// passes its own rule.
	const word = "issue"
	const spec = "SPEC"
	cites := []string{
		"// As " + spec + " " + sect + "4 says",
		"see " + sect + "7",
		"the contract (" + spec + ".md)",
		"../shared/" + strings.ToLower(spec) + ".md",
		spec + " 4: sync",
		"// " + word + " 7 asked for it",
		"(" + strings.ToUpper(word) + " #12)",
		word + "s 7/8",
		word + "#3",
		"fixed in " + word + "  14's done-when",
	}
	fine := []string{
		"Known " + word + "s with the store",
		"an " + word + " a newcomer hits",
		"enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED",
		"https://github.com/temporalio/temporal/" + word + "s/1234",
		"spec hash",
		"the schedule's spec: 4 fields",
		word + "r 7", // not the whole word
		"tissue 5",
	}
	for _, s := range cites {
		if !citation.MatchString(s) {
			t.Errorf("citation rule misses %q", s)
		}
	}
	for _, s := range fine {
		if citation.MatchString(s) {
			t.Errorf("citation rule flags %q, which cites nothing", s)
		}
	}
}

// Links. Two forms are checked, in Go files, in README.md and in docs/:
//
//   - a path from the module root, docs/<file>.md or docs/<file>.md#<anchor>,
//     anywhere in a line (that is how comments and prose cite docs);
//   - a Markdown link [text](target) in README.md and docs/*.md whose target
//     is relative (no scheme, not starting with /): the file it names,
//     relative to the Markdown file, must exist, and an #anchor (or a bare
//     "#anchor", meaning the same file) must name one of its headings.
var (
	docsPath = regexp.MustCompile(`(^|[^A-Za-z0-9_./-])(docs/[A-Za-z0-9_.-]+\.md)(#[A-Za-z0-9_-]*)?`)
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading  = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	fence    = regexp.MustCompile("^\\s*(```|~~~)")
)

// anchor is GitHub's anchor for a heading's text: lower case, Markdown
// punctuation and every other character but letters, digits, spaces, "-"
// and "_" dropped, then each space turned into "-".
func anchor(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', r == '_':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r > 127 && (isLetter(r)):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isLetter(r rune) bool { return strings.ToLower(string(r)) != strings.ToUpper(string(r)) }

// anchors lists the anchors of a Markdown file's headings, outside code
// fences, with GitHub's -1, -2 suffixes for repeated headings.
func anchors(lines []string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range lines {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := anchor(m[1])
		if k := seen[a]; k > 0 {
			out[fmt.Sprintf("%s-%d", a, k)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

func TestDocLinksResolve(t *testing.T) {
	root := moduleRoot(t)
	cache := map[string]map[string]bool{} // slash path from root -> anchors; nil: no such file
	headingsOf := func(rel string) (map[string]bool, bool) {
		if a, ok := cache[rel]; ok {
			return a, a != nil
		}
		info, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			cache[rel] = nil
			return nil, false
		}
		a := map[string]bool{}
		if !info.IsDir() && strings.HasSuffix(rel, ".md") {
			a = anchors(readLines(t, filepath.Join(root, filepath.FromSlash(rel))))
		}
		cache[rel] = a
		return a, true
	}
	check := func(where, target, frag string) {
		a, ok := headingsOf(target)
		if !ok {
			t.Errorf("%s: links to %s, which does not exist", where, target)
			return
		}
		if frag == "" || frag == "#" {
			return
		}
		if !a[strings.TrimPrefix(frag, "#")] {
			t.Errorf("%s: links to %s%s, but %s has no heading with anchor %q", where, target, frag, target, frag[1:])
		}
	}
	for _, rel := range repoFiles(t, root) {
		isDoc := rel == "README.md" || (strings.HasPrefix(rel, "docs/") && strings.HasSuffix(rel, ".md"))
		if !isDoc && !strings.HasSuffix(rel, ".go") {
			continue
		}
		for i, line := range readLines(t, filepath.Join(root, rel)) {
			where := fmt.Sprintf("%s:%d", rel, i+1)
			for _, m := range docsPath.FindAllStringSubmatch(line, -1) {
				check(where, m[2], m[3])
			}
			if !isDoc {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target, frag, _ := strings.Cut(m[1], "#")
				if frag != "" {
					frag = "#" + frag
				}
				if strings.Contains(target, "://") || strings.HasPrefix(target, "/") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				if target == "" {
					target = rel
				} else {
					target = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(rel), target)))
				}
				check(where, target, frag)
			}
		}
	}
}

func TestAnchor(t *testing.T) {
	for text, want := range map[string]string{
		"Secrets: `${env:NAME}`":                                         "secrets-envname",
		"The checkout: STATE_HUB_DIR":                                    "the-checkout-state_hub_dir",
		"cli (`internal/cli`, `cmd/activity-core`)":                      "cli-internalcli-cmdactivity-core",
		"on_failure, retry, concurrency_key":                             "on_failure-retry-concurrency_key",
		"1. No-change sync vs one bare ListSchedules pass — budget 1.2x": "1-no-change-sync-vs-one-bare-listschedules-pass--budget-12x",
	} {
		if got := anchor(text); got != want {
			t.Errorf("anchor(%q) = %q, want %q", text, got, want)
		}
	}
	got := anchors([]string{"# A", "## A", "```", "# not a heading", "```", "## A"})
	want := []string{"a", "a-1", "a-2"}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("anchors = %v, want %v", keys, want)
	}
	if m := docsPath.FindStringSubmatch("see docs/run-control.md#placement."); m == nil || m[2] != "docs/run-control.md" || m[3] != "#placement" {
		t.Errorf("docsPath missed a citation: %q", m)
	}
	if docsPath.MatchString("https://example.com/x/docs/a.md") {
		t.Error("docsPath took a URL's path for a docs citation")
	}
}
