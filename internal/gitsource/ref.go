package gitsource

import (
	"fmt"
	"regexp"
	"strings"
)

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// IsSHA reports whether ref is a full commit SHA (40 lower-case hex).
func isSHA(ref string) bool { return shaRE.MatchString(ref) }

// CheckRef checks that ref is a ref name git accepts (the rules of git
// check-ref-format, one-level names allowed) or a full SHA, and that it
// cannot be read as an option.
func CheckRef(ref string) error {
	if isSHA(ref) {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("ref %q is not a valid ref name: %s", ref, why)
	}
	switch {
	case ref == "":
		return bad("empty")
	case strings.HasPrefix(ref, "-"):
		return bad("it starts with '-'")
	case ref == "@":
		return bad("it is @")
	case strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") || strings.Contains(ref, "//"):
		return bad("empty path component")
	case strings.HasSuffix(ref, "."):
		return bad("it ends with '.'")
	case strings.Contains(ref, ".."):
		return bad("it contains '..'")
	case strings.Contains(ref, "@{"):
		return bad("it contains '@{'")
	case strings.ContainsFunc(ref, func(r rune) bool {
		return r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r)
	}):
		return bad("it contains a space, a control character or one of ~^:?*[\\")
	}
	for _, c := range strings.Split(ref, "/") {
		if strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock") {
			return bad("a component starts with '.' or ends with '.lock'")
		}
	}
	return nil
}
