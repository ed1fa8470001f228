package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coulomb/activity-core/internal/config"
)

// tokensRecheckEvery is how often, at most, the tokens file's mtime is
// looked at: a request costs no stat beyond that.
const tokensRecheckEvery = 3 * time.Second

// The principals of the two simple tokens (docs/run-control.md#who-did-what).
const (
	principalAdmin = "admin"
	principalRead  = "read"
)

// tokenEntry is one known token: who it is, by the SHA-256 of the token.
type tokenEntry struct {
	p    Principal
	hash [32]byte
}

// tokens resolves bearer tokens to principals: ACTIVITY_ADMIN_TOKEN,
// ACTIVITY_READ_TOKEN and the lines of ACTIVITY_TOKENS_FILE, re-read when
// its mtime changes; a bad re-read keeps the last good set and logs.
type tokens struct {
	static []tokenEntry
	path   string
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	file      []tokenEntry
	mtime     time.Time
	checkedAt time.Time
}

// newTokens loads the tokens file, if any; a bad file at start is an
// error (the process refuses to start rather than lock people out).
func newTokens(adminTok, readTok, path string, log *slog.Logger, now func() time.Time) (*tokens, error) {
	t := &tokens{path: path, log: log, now: now}
	if adminTok != "" {
		t.static = append(t.static, tokenEntry{Principal{Name: principalAdmin, Role: RoleAdmin}, sha256.Sum256([]byte(adminTok))})
	}
	if readTok != "" {
		t.static = append(t.static, tokenEntry{Principal{Name: principalRead, Role: RoleRead}, sha256.Sum256([]byte(readTok))})
	}
	if path == "" {
		return t, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	file, err := t.load()
	if err != nil {
		return nil, err
	}
	t.file, t.mtime, t.checkedAt = file, fi.ModTime(), now()
	return t, nil
}

// load reads the tokens file. A line that reuses the name or the token of
// ACTIVITY_ADMIN_TOKEN or ACTIVITY_READ_TOKEN is an error: the audit
// would name two holders alike.
func (t *tokens) load() ([]tokenEntry, error) {
	es, err := config.LoadTokensFile(t.path)
	if err != nil {
		return nil, err
	}
	out := make([]tokenEntry, len(es))
	for i, e := range es {
		for _, st := range t.static {
			if st.p.Name == e.Name || st.hash == e.Hash {
				return nil, fmt.Errorf("%s: %s: the name or token of the simple %s token (ACTIVITY_%s_TOKEN): give it another name and token",
					t.path, e.Name, st.p.Name, strings.ToUpper(st.p.Name))
			}
		}
		out[i] = tokenEntry{Principal{Name: e.Name, Role: Role(e.Role)}, e.Hash}
	}
	return out, nil
}

// configured reports whether any token is known.
func (t *tokens) configured() bool {
	return len(t.static) > 0 || len(t.current()) > 0
}

// resolve returns the principal of a token. It compares the token's
// SHA-256 with every entry in constant time, so the time taken says
// nothing about which entry came close.
func (t *tokens) resolve(token string) (Principal, bool) {
	if token == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(token))
	var found Principal
	ok := 0
	for _, set := range [][]tokenEntry{t.static, t.current()} {
		for _, e := range set {
			if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
				found, ok = e.p, 1
			}
		}
	}
	return found, ok == 1
}

// current returns the file's entries, re-reading the file when its mtime
// moved (looked at most every tokensRecheckEvery).
func (t *tokens) current() []tokenEntry {
	if t.path == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if now.Sub(t.checkedAt) < tokensRecheckEvery {
		return t.file
	}
	t.checkedAt = now
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		// Taking the file away revokes its tokens: a revocation never
		// waits for a restart.
		if len(t.file) > 0 {
			t.log.Error("adminapi: tokens file is gone: its tokens no longer work", "file", t.path)
		}
		t.file, t.mtime = nil, time.Time{}
		return nil
	}
	if err != nil {
		t.log.Error("adminapi: tokens file unreadable, keeping the last good tokens", "file", t.path, "error", err)
		return t.file
	}
	if fi.ModTime().Equal(t.mtime) {
		return t.file
	}
	file, err := t.load()
	if err != nil {
		t.file = t.stillListed(t.file)
		t.log.Error("adminapi: tokens file refused: keeping the last good tokens it still lists, adding none", "error", err, "tokens", len(t.file))
		t.mtime = fi.ModTime() // log once per change, not per request
		return t.file
	}
	t.file, t.mtime = file, fi.ModTime()
	t.log.Info("adminapi: tokens file re-read", "file", t.path, "tokens", len(file))
	return t.file
}

// holds reports whether a token named p.Name with role p.Role is still
// known: a dashboard session checks it, so a token taken out of the file
// or given a lesser role ends its sessions (docs/run-control.md#sessions).
func (t *tokens) holds(p Principal) bool {
	for _, set := range [][]tokenEntry{t.static, t.current()} {
		for _, e := range set {
			if e.p.Name == p.Name && e.p.Role == p.Role {
				return true
			}
		}
	}
	return false
}

// stillListed keeps the entries of old that a valid line of the current
// file still gives, with the same name and role: a refused re-read
// applies removals and downgrades (a revocation must not wait for the
// rest of the file to be right) but no additions.
func (t *tokens) stillListed(old []tokenEntry) []tokenEntry {
	data, err := os.ReadFile(t.path)
	if err != nil {
		return old
	}
	listed := map[[32]byte]Principal{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if es, err := config.ParseTokens(t.path, strings.NewReader(line)); err == nil && len(es) == 1 {
			listed[es[0].Hash] = Principal{Name: es[0].Name, Role: Role(es[0].Role)}
		}
	}
	var out []tokenEntry
	for _, e := range old {
		if p, ok := listed[e.hash]; ok && p == e.p {
			out = append(out, e)
		}
	}
	return out
}
