// Package secret is the boundary between definitions and the worker's
// secrets. A definition's ${env:NAME} resolves only names the operator
// allowed: a file NAME in ACTIVITY_SECRETS_DIR (one file per secret, as
// Docker, Kubernetes and systemd's LoadCredential= mount them), or an
// environment variable matching ACTIVITY_SECRET_ENV. activity-core's own
// settings (ACTIVITY_*, and the TEMPORAL_* and NATS_* aliases of its
// engine settings) are never secrets, whatever the list says. Redaction of output is best effort; this list is the boundary.
// See docs/security.md#secrets.
package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// maxFileSize bounds one secret file: secrets are tokens and keys, not data.
const maxFileSize = 64 << 10

// reservedPrefixes name the variables that configure activity-core and its
// engines (the temporal and nats CLIs' names are aliases of its own); no
// allow-list can reach them.
var reservedPrefixes = []string{"ACTIVITY_", "TEMPORAL_", "NATS_"}

var (
	namePattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	patternPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\*?$`)
)

// ErrNotAllowed is returned for a name outside the allow-list.
var ErrNotAllowed = errors.New("secret not allowed")

// errNotSet is returned for an allowed name that has no value on this
// machine.
var errNotSet = errors.New("secret not set")

// Config is the operator's allow-list.
type Config struct {
	// Dir is ACTIVITY_SECRETS_DIR: every regular file directly inside it is
	// a secret named after the file.
	Dir string
	// Env is ACTIVITY_SECRET_ENV: comma-separated variable names, each
	// either exact (HUB_TOKEN) or a prefix ending in * (HUB_*).
	Env string
	// LookupEnv reads the worker's environment (os.LookupEnv when nil).
	LookupEnv func(string) (string, bool)
}

// AllowList resolves allowed secrets. The zero value allows nothing.
type AllowList struct {
	dir      string
	exact    map[string]bool
	prefixes []string
	lookup   func(string) (string, bool)
}

// New checks the configuration: a pattern that is malformed, a bare *, or
// one that reaches a reserved prefix is refused with the setting named.
func New(cfg Config) (*AllowList, error) {
	l := &AllowList{dir: cfg.Dir, exact: map[string]bool{}, lookup: cfg.LookupEnv}
	if l.lookup == nil {
		l.lookup = os.LookupEnv
	}
	for _, p := range strings.Split(cfg.Env, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			continue
		case p == "*":
			return nil, fmt.Errorf("ACTIVITY_SECRET_ENV: a bare * would allow every variable of the worker; name the variables (HUB_TOKEN) or a prefix (HUB_*)")
		case !patternPattern.MatchString(p):
			return nil, fmt.Errorf("ACTIVITY_SECRET_ENV: %q is not a variable name or a PREFIX_* pattern", p)
		case reservedPrefix(p) != "" || reservesAll(p):
			return nil, fmt.Errorf("ACTIVITY_SECRET_ENV: %q would allow activity-core's own settings (%s*), which are never secrets", p, cmpOr(reservedPrefix(p), reservedPrefixes[0]))
		}
		if name, ok := strings.CutSuffix(p, "*"); ok {
			l.prefixes = append(l.prefixes, name)
		} else {
			l.exact[p] = true
		}
	}
	if cfg.Dir != "" {
		st, err := os.Stat(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("ACTIVITY_SECRETS_DIR: %v", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("ACTIVITY_SECRETS_DIR: %s is not a directory", cfg.Dir)
		}
	}
	return l, nil
}

// reservesAll reports a prefix pattern short enough to match a reserved
// name (A*, ACT*, TEMP*).
func reservesAll(p string) bool {
	prefix, ok := strings.CutSuffix(p, "*")
	if !ok {
		return false
	}
	for _, r := range reservedPrefixes {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

func reservedPrefix(name string) string {
	for _, r := range reservedPrefixes {
		if strings.HasPrefix(name, r) {
			return r
		}
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Empty reports whether the list allows nothing.
func (l *AllowList) Empty() bool {
	return l == nil || (l.dir == "" && len(l.exact) == 0 && len(l.prefixes) == 0)
}

// Check says whether name may be referenced: nil, or an error wrapping
// ErrNotAllowed that says how to allow it. It does not read the value, so
// sync and validate can call it.
func (l *AllowList) Check(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: %q is not a variable name", ErrNotAllowed, name)
	}
	if r := reservedPrefix(name); r != "" {
		return fmt.Errorf("%w: %s is one of activity-core's own settings (%s*), which definitions can never read", ErrNotAllowed, name, r)
	}
	if l != nil && l.envAllowed(name) {
		return nil
	}
	if l != nil && l.dir != "" {
		if _, err := os.Stat(filepath.Join(l.dir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not in the operator's allow-list: add it to ACTIVITY_SECRET_ENV (%s or a PREFIX_* pattern) or put a file named %s in ACTIVITY_SECRETS_DIR%s", ErrNotAllowed, name, name, name, l.dirNote())
}

func (l *AllowList) dirNote() string {
	if l == nil || l.dir == "" {
		return ""
	}
	return " (" + l.dir + ")"
}

func (l *AllowList) envAllowed(name string) bool {
	if l.exact[name] {
		return true
	}
	for _, p := range l.prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Resolve returns the value of an allowed secret: the file in the secrets
// directory when there is one, else the allowed environment variable. The
// error wraps ErrNotAllowed or ErrNotSet and names the secret.
func (l *AllowList) Resolve(name string) (string, error) {
	if err := l.Check(name); err != nil {
		return "", err
	}
	if l.dir != "" {
		v, ok, err := readFile(filepath.Join(l.dir, name))
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", name, err)
		}
		if ok {
			return v, nil
		}
	}
	if l.envAllowed(name) {
		if v, ok := l.lookup(name); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: %s is allowed but has no value on this worker (no file %s in ACTIVITY_SECRETS_DIR, no such environment variable)", errNotSet, name, name)
}

// readFile reads one secret file: a regular file (symlinks followed, as
// Kubernetes mounts them) of at most MaxFileSize bytes. One trailing
// newline is dropped, since editors and `echo` add one.
func readFile(path string) (string, bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if !st.Mode().IsRegular() {
		return "", false, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return "", false, err
	}
	if len(b) > maxFileSize {
		return "", false, fmt.Errorf("%s is over %d bytes", path, maxFileSize)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	return s, true, nil
}
