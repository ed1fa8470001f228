package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/store"
)

// Cookie names. Both are scoped to the dashboard's path.
const (
	sessionCookie = "activity_ui_session"
	loginCookie   = "activity_ui_login"
)

// touchEvery is how stale a session's LastSeen may get before a request
// writes it again: a page view costs one store read, and one write a
// minute at most (docs/run-control.md#sessions).
const touchEvery = time.Minute

// session is one signed-in browser, as the request sees it. The store
// keeps the row under the SHA-256 of id, with the principal it signed in
// as; the token itself is never kept.
type session struct {
	// id is the cookie's value; row.IDHash is its hash.
	id  string
	row store.Session
	// flash is the message this page shows (taken from the row on a GET).
	flash string
}

func (s *session) principal() adminapi.Principal {
	return adminapi.Principal{Name: s.row.Actor, Role: adminapi.Role(s.row.Role), Surface: "ui"}
}

func (s *session) allows(need adminapi.Role) bool { return adminapi.Role(s.row.Role).Allows(need) }

// sessions are the dashboard's sessions in the store, so that api
// replicas sharing a store share them.
type sessions struct {
	st   store.RunControlStore
	idle time.Duration
	now  func() time.Time
}

func newSessions(st store.RunControlStore, idle time.Duration, now func() time.Time) *sessions {
	return &sessions{st: st, idle: idle, now: now}
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashID is what the store keys a session by: a leaked sessions table
// holds no cookie that would sign anyone in.
func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// create stores a new session for p, first deleting the expired ones
// (sign-ins are rate-limited, so this sweep is too).
func (ss *sessions) create(ctx context.Context, p adminapi.Principal) (*session, error) {
	now := ss.now()
	if _, err := ss.st.DeleteExpiredSessions(ctx, now); err != nil {
		return nil, err
	}
	id := randomID()
	row := store.Session{IDHash: hashID(id), Actor: p.Name, Role: string(p.Role), CSRF: randomID(),
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(ss.idle)}
	if err := ss.st.PutSession(ctx, row); err != nil {
		return nil, err
	}
	return &session{id: id, row: row}, nil
}

// idMax bounds the cookie value read: ids are 43 characters.
const idMax = 64

// get returns the request's live session, nil when it has none (no
// cookie, unknown, expired). A GET takes the flash; LastSeen moves at most
// once per touchEvery.
func (ss *sessions) get(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > idMax {
		return nil, nil //nolint:nilerr // no usable cookie means no session
	}
	ctx, now := r.Context(), ss.now()
	row, err := ss.st.GetSession(ctx, hashID(c.Value), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := &session{id: c.Value, row: row}
	switch {
	case r.Method == http.MethodGet && row.Flash != "":
		s.flash = row.Flash
		s.row.Flash, s.row.LastSeen, s.row.ExpiresAt = "", now, now.Add(ss.idle)
		err = ss.st.PutSession(ctx, s.row)
	case now.Sub(row.LastSeen) >= touchEvery:
		s.row.LastSeen, s.row.ExpiresAt = now, now.Add(ss.idle)
		err = ss.st.TouchSession(ctx, row.IDHash, now, s.row.ExpiresAt)
	}
	if errors.Is(err, store.ErrNotFound) { // signed out meanwhile
		return nil, nil
	}
	return s, err
}

// setFlash leaves a message for the session's next page.
func (ss *sessions) setFlash(ctx context.Context, s *session, msg string) error {
	row := s.row
	row.Flash = msg
	return ss.st.PutSession(ctx, row)
}

func (ss *sessions) drop(ctx context.Context, id string) error {
	return ss.st.DeleteSession(ctx, hashID(id))
}

// secureCookies reports whether the request reached the browser over
// TLS: directly, or through a proxy trusted to say so in
// X-Forwarded-Proto (its first value, the one the client used).
func secureCookies(r *http.Request, trustForwardedProto bool) bool {
	if r.TLS != nil {
		return true
	}
	if !trustForwardedProto {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}
