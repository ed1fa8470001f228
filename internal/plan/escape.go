package plan

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Everything a pull request controls (file names, refs, field values,
// messages that quote them) reaches the markdown through text or code:
// a PR comment must not be re-shaped, folded, or made to notify anyone
// by what it reports on.

// wordJoiner follows every '@' so "@team" notifies nobody.
const wordJoiner = "\u2060"

// flatten replaces what could start a new line or reorder text (control
// characters, line and paragraph separators, bidi overrides, invalid
// UTF-8) with U+FFFD, and breaks @mentions.
func flatten(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsControl(r), r == '\u2028', r == '\u2029',
			r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
			b.WriteRune(utf8.RuneError)
		case r == '@':
			b.WriteString("@" + wordJoiner)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdPunct are escaped with a backslash outside code spans: what can
// start emphasis, links, images, headings, tables, strikethrough or code.
const mdPunct = "\\`*_{}[]#+!|~"

// text is an untrusted string as markdown text: flattened, markdown
// punctuation backslash-escaped, and <, > and & as HTML entities, so it
// renders as itself and never as markup.
func text(s string) string {
	var b strings.Builder
	rs := []rune(flatten(s))
	for i, r := range rs {
		switch {
		case r == '_' && i > 0 && i+1 < len(rs) && alnum(rs[i-1]) && alnum(rs[i+1]):
			b.WriteRune(r) // between letters or digits it cannot emphasize (GFM)
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case strings.ContainsRune(mdPunct, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// code is an untrusted string as a code span: flattened, fenced by more
// backticks than its longest run of them, padded with a space when it
// starts or ends with a backtick or a space (CommonMark strips one).
func code(s string) string {
	s = flatten(s)
	if s == "" {
		return "` `"
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.ContainsAny(s[:1], "` ") || strings.ContainsAny(s[len(s)-1:], "` ") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// cellCode is code for a table cell, where '|' ends the cell even in a
// code span unless escaped (GFM).
func cellCode(s string) string {
	return strings.ReplaceAll(code(s), "|", `\|`)
}

func alnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func longestRun(s string, c byte) int {
	longest, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] != c {
			n = 0
			continue
		}
		n++
		longest = max(longest, n)
	}
	return longest
}
