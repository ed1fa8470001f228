package definition

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ValidateSubjectPattern checks a NATS subject pattern as event_type takes
// it: dot-separated tokens, `*` matching one token and `>` matching the
// rest, only as whole tokens and `>` only last.
func ValidateSubjectPattern(s string) error {
	return validateSubject(s, true)
}

// ValidateSubject checks a concrete NATS subject (no wildcards), as publish
// and event-type names take it.
func ValidateSubject(s string) error {
	return validateSubject(s, false)
}

func validateSubject(s string, wildcards bool) error {
	if s == "" {
		return errors.New("subject is empty")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("subject %q contains whitespace", s)
	}
	if strings.HasPrefix(s, "$") || strings.HasPrefix(s, "_INBOX.") {
		return fmt.Errorf("subject %q is a NATS system subject ($JS, $SYS, $KV… are the server's APIs, _INBOX. another client's replies), not an event: activity-core publishes and listens with its own identity, so these are refused", s)
	}
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return fmt.Errorf("subject %q has an empty token (check for a leading, trailing or double dot)", s)
		case tok == "*" || tok == ">":
			if !wildcards {
				return fmt.Errorf("subject %q may not contain wildcards here", s)
			}
			if tok == ">" && i != len(tokens)-1 {
				return fmt.Errorf("subject %q: '>' may only be the last token", s)
			}
		case strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("subject %q: wildcards '*' and '>' must be whole tokens (e.g. org.*.pushed)", s)
		}
	}
	return nil
}

// SubjectMatches reports whether a NATS subject pattern (`*` matches one
// token, `>` one or more) matches a concrete subject.
func SubjectMatches(pattern, subject string) bool {
	return SubjectTokensMatch(strings.Split(pattern, "."), strings.Split(subject, "."))
}

// SubjectTokensMatch is SubjectMatches on subjects already split at dots,
// for callers that match one subject against many patterns.
func SubjectTokensMatch(pattern, subject []string) bool {
	for i, p := range pattern {
		if p == ">" {
			return len(subject) > i
		}
		if i >= len(subject) || (p != "*" && p != subject[i]) {
			return false
		}
	}
	return len(pattern) == len(subject)
}

// validateFieldPath checks a filter's dotted payload path.
func validateFieldPath(p string) error {
	if p == "" {
		return errors.New("field path is empty")
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return fmt.Errorf("field path %q has an empty segment", p)
		}
	}
	return nil
}

// validateURL checks an http(s) URL; ${env:NAME} references may stand in
// for any part of it, so they are replaced by a placeholder first.
func validateURL(raw string) error {
	probe := envRefPattern.ReplaceAllString(raw, "x")
	u, err := url.Parse(probe)
	if err != nil {
		return fmt.Errorf("%q is not a valid URL: %v", raw, errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q must be an http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

var locCache sync.Map

// loadLocation is time.LoadLocation with a cache: loading 10,000 files in
// the same zone should read the zone database once.
func loadLocation(name string) (*time.Location, error) {
	if v, ok := locCache.Load(name); ok {
		return v.(*time.Location), nil
	}
	if name == "" || name == "Local" {
		return nil, errors.New("not an IANA zone")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locCache.Store(name, loc)
	return loc, nil
}

// Location returns the trigger's time zone, UTC when none is set.
func (t *Trigger) Location() *time.Location {
	if t.Timezone == "" {
		return time.UTC
	}
	loc, err := loadLocation(t.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}
