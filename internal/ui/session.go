package ui

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Cookie names. Both are scoped to the dashboard's path.
const (
	sessionCookie = "activity_ui_session"
	loginCookie   = "activity_ui_login"
)

// session is one signed-in browser. The token stays here, in the process's
// memory; the browser holds only id. A restart signs everyone out.
type session struct {
	id    string
	token string
	admin bool
	// csrf is the value every form of this session posts back.
	csrf string
	// flash is a one-shot message shown on the next page (after a
	// redirect).
	flash    string
	lastSeen time.Time
}

// sessions is the in-memory session table, bounded in size and idle time.
type sessions struct {
	mu   sync.Mutex
	m    map[string]*session
	idle time.Duration
	max  int
	now  func() time.Time
}

func newSessions(idle time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, idle: idle, max: max, now: now}
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) create(token string, admin bool) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.m {
		if now.Sub(s.lastSeen) > ss.idle {
			delete(ss.m, id)
		}
	}
	for len(ss.m) >= ss.max {
		var oldest *session
		for _, s := range ss.m {
			if oldest == nil || s.lastSeen.Before(oldest.lastSeen) {
				oldest = s
			}
		}
		delete(ss.m, oldest.id)
	}
	s := &session{id: randomID(), token: token, admin: admin, csrf: randomID(), lastSeen: now}
	ss.m[s.id] = s
	return s
}

// get returns the request's live session, or nil. The returned copy is the
// request's own; flash is taken (cleared) by the read.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[c.Value]
	if !ok {
		return nil
	}
	now := ss.now()
	if now.Sub(s.lastSeen) > ss.idle {
		delete(ss.m, s.id)
		return nil
	}
	s.lastSeen = now
	cp := *s
	if r.Method == http.MethodGet {
		s.flash = ""
	} else {
		cp.flash = ""
	}
	return &cp
}

// setFlash leaves a message for the session's next page.
func (ss *sessions) setFlash(id, msg string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[id]; ok {
		s.flash = msg
	}
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}
