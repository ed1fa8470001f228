package definition

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Glob is a compiled filter pattern. `*` matches any run of characters
// (including none, and including '/' and '.': payload values are not file
// paths), `?` matches exactly one character, and `\` makes the next
// character literal. Everything else matches itself. Matching is linear in
// the length of the value times the pattern, never exponential.
type Glob struct {
	pattern string
	toks    []globTok
}

type globTok struct {
	star, one bool
	r         rune
}

// CompileGlob checks and compiles a filter pattern.
func CompileGlob(pattern string) (Glob, error) {
	if pattern == "" {
		return Glob{}, errors.New(`glob is empty: use "*" to match any value`)
	}
	g := Glob{pattern: pattern}
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\\':
			if i+1 >= len(rs) {
				return Glob{}, fmt.Errorf("glob %q ends with a lone backslash", pattern)
			}
			i++
			g.toks = append(g.toks, globTok{r: rs[i]})
		case '*':
			if n := len(g.toks); n == 0 || !g.toks[n-1].star {
				g.toks = append(g.toks, globTok{star: true})
			}
		case '?':
			g.toks = append(g.toks, globTok{one: true})
		default:
			g.toks = append(g.toks, globTok{r: r})
		}
	}
	return g, nil
}

// String returns the pattern as written.
func (g Glob) String() string { return g.pattern }

// Match reports whether the whole of s matches the pattern. It is the
// classic wildcard algorithm that remembers only the last star.
func (g Glob) Match(s string) bool {
	ti, si := 0, 0
	starTok, starPos := -1, 0
	for si < len(s) {
		r, size := utf8.DecodeRuneInString(s[si:])
		if ti < len(g.toks) {
			t := g.toks[ti]
			switch {
			case t.star:
				starTok, starPos = ti, si
				ti++
				continue
			case t.one || t.r == r:
				ti++
				si += size
				continue
			}
		}
		if starTok < 0 {
			return false
		}
		// Let the last star swallow one more character and retry.
		_, size = utf8.DecodeRuneInString(s[starPos:])
		starPos += size
		si = starPos
		ti = starTok + 1
	}
	for ti < len(g.toks) && g.toks[ti].star {
		ti++
	}
	return ti == len(g.toks)
}
