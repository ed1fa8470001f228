package ui

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/postgres"
	"github.com/coulomb/activity-core/internal/store/sqlite"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// sessionID is the browser's session cookie, "" when it has none.
func (b *browser) sessionID() string {
	for _, c := range b.c.Jar.Cookies(mustURL(b.url() + "/ui/")) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// TestSessionsAcrossReplicas: two api processes, each with its own
// connection to one database (a SQLite file; PostgreSQL when
// ACTIVITY_TEST_POSTGRES_URL is set), as behind a round-robin balancer: a
// browser signs in on one and keeps working on the other with the same
// cookie: pages, a CSRF-checked action, its flash, and sign-out, which
// ends the session on both.
func TestSessionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shared.db")
		open := func(now func() time.Time) store.Store { return openSQLiteAt(t, path, now) }
		e := newEnvOn(t, open, adminToken, readToken, "", Config{})
		replicasShareSessions(t, e, e.replicaOn(open(e.clock), Config{}))
	})
	t.Run("postgres", func(t *testing.T) {
		url := testsupport.PostgresSchema(t, "uitest")
		open := func(now func() time.Time) store.Store { return openPostgresAt(t, url, now) }
		e := newEnvOn(t, open, adminToken, readToken, "", Config{})
		replicasShareSessions(t, e, e.replicaOn(open(e.clock), Config{}))
	})
}

func replicasShareSessions(t *testing.T, e *env, other *httptest.Server) {
	t.Helper()
	putDefinitions(t, e.st, e.dir, "id: t.job\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'echo hi'}\n")

	a := e.browser()
	a.login(adminToken)
	if a.status != http.StatusSeeOther {
		t.Fatalf("sign-in on replica A: %d %s", a.status, a.body)
	}
	csrf := a.csrf() // a form token read from replica A's page

	b := &browser{e: e, base: other.URL, c: a.c} // the same browser, balanced to B
	b.get("/ui/definitions/t.job")
	b.expect(http.StatusOK, `<span id="who">admin</span>`, `id="run-now"`)
	b.post("/ui/definitions/t.job/run", url.Values{"csrf": {csrf}})
	if b.status != http.StatusSeeOther || !strings.HasPrefix(b.loc, "/ui/runs/") {
		t.Fatalf("run now on replica B: %d %q %s", b.status, b.loc, b.body)
	}
	// B left the flash in the store; A shows it, once.
	a.get(b.loc)
	a.expect(http.StatusOK, `id="flash"`, "started (workflow activity-core:manual:t.job:")
	b.get("/ui/runs")
	if strings.Contains(b.body, `id="flash"`) {
		t.Error("the flash was shown by both replicas")
	}

	// Sign out on B ends the session on A too, even for a copy of the
	// cookie kept from before.
	id := b.sessionID()
	b.post("/ui/logout", url.Values{"csrf": {csrf}})
	if b.status != http.StatusSeeOther {
		t.Fatalf("sign-out on B: %d %s", b.status, b.body)
	}
	replay := e.browser()
	replay.c.Jar.SetCookies(mustURL(e.srv.URL+"/ui/"), []*http.Cookie{{Name: sessionCookie, Value: id, Path: "/ui/"}})
	replay.get("/ui/runs")
	if replay.status != http.StatusSeeOther || !strings.HasPrefix(replay.loc, "/ui/login") {
		t.Fatalf("a signed-out session still reads on A: %d %q", replay.status, replay.loc)
	}
}

// TestSessionStoredHashed: the store keys the session by the SHA-256 of
// the cookie's id and keeps the principal, never the id nor the token.
func TestSessionStoredHashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, readToken, Config{})
	b := e.browser()
	b.login(readToken)
	id := b.sessionID()
	if id == "" {
		t.Fatal("no session cookie after sign-in")
	}
	ctx := context.Background()
	row, err := e.st.GetSession(ctx, hashID(id), e.clock())
	if err != nil {
		t.Fatalf("the session is not in the store under the id's hash: %v", err)
	}
	if row.Actor != "read" || row.Role != string(adminapi.RoleRead) || row.CSRF == "" {
		t.Errorf("stored session %+v", row)
	}
	for _, v := range []string{row.IDHash, row.Actor, row.Role, row.CSRF, row.Flash} {
		if strings.Contains(v, readToken) || strings.Contains(v, id) {
			t.Errorf("the stored session holds the token or the id: %+v", row)
		}
	}
	if _, err := e.st.GetSession(ctx, id, e.clock()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the raw id finds a session: %v", err)
	}
}

// TestSessionLastSeenOncePerMinute: page views within a minute of the
// last write do not write LastSeen again; the first one after does, and
// moves the expiry with it.
func TestSessionLastSeenOncePerMinute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, readToken, Config{SessionIdle: time.Hour})
	b := e.browser()
	b.login(adminToken)
	hash := hashID(b.sessionID())
	ctx := context.Background()
	signedIn := e.clock()
	seen := func() store.Session {
		t.Helper()
		row, err := e.st.GetSession(ctx, hash, e.clock())
		if err != nil {
			t.Fatal(err)
		}
		return row
	}
	e.advance(30 * time.Second)
	b.get("/ui/runs")
	b.expect(http.StatusOK)
	if got := seen().LastSeen; !got.Equal(signedIn) {
		t.Errorf("LastSeen written 30 s after sign-in: %s, want %s", got, signedIn)
	}
	e.advance(31 * time.Second)
	b.get("/ui/runs")
	b.expect(http.StatusOK)
	row := seen()
	if !row.LastSeen.Equal(e.clock()) || !row.ExpiresAt.Equal(e.clock().Add(time.Hour)) {
		t.Errorf("after a minute: LastSeen %s, ExpiresAt %s; want %s and an hour later", row.LastSeen, row.ExpiresAt, e.clock())
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, "", Config{SessionIdle: time.Hour})
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/runs")
	b.expect(http.StatusOK)
	e.advance(2 * time.Hour)
	b.get("/ui/runs")
	if b.status != http.StatusSeeOther {
		t.Fatalf("expired session still served: %d", b.status)
	}
	b.post("/ui/sync", url.Values{"mode": {"plan"}})
	b.expect(http.StatusUnauthorized, "sign in again")

	// The next sign-in sweeps the expired row out of the store.
	old := hashID(b.sessionID())
	fresh := e.browser()
	fresh.login(adminToken)
	n, err := e.st.DeleteExpiredSessions(context.Background(), e.clock().Add(-time.Minute))
	if err != nil || n != 0 {
		t.Errorf("expired sessions left after a sign-in: %d %v", n, err)
	}
	if _, err := e.st.GetSession(context.Background(), old, time.Time{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the expired session is still stored: %v", err)
	}
}

// TestUnknownSessionRefused: a cookie the store does not know (made up,
// or of a signed-out session) reads nothing and posts nothing.
func TestUnknownSessionRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adminToken, readToken, Config{})
	for _, id := range []string{randomID(), "x", strings.Repeat("a", 5000)} {
		b := e.browser()
		b.c.Jar.SetCookies(mustURL(e.srv.URL+"/ui/"), []*http.Cookie{{Name: sessionCookie, Value: id, Path: "/ui/"}})
		b.get("/ui/runs")
		if b.status != http.StatusSeeOther || !strings.HasPrefix(b.loc, "/ui/login") {
			t.Errorf("unknown session %.10q reads: %d %q", id, b.status, b.loc)
		}
		b.post("/ui/sync", url.Values{"mode": {"sync"}, "csrf": {"x"}})
		b.expect(http.StatusUnauthorized, "sign in again")
	}
}

// TestSecureCookie: cookies are Secure over TLS, and behind a proxy only
// when TrustForwardedProto is on and the proxy says https.
func TestSecureCookie(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		trust bool
		tls   bool
		proto string
		want  bool
	}{
		{"plain http", false, false, "", false},
		{"tls", false, true, "", true},
		{"forwarded https, not trusted", false, false, "https", false},
		{"forwarded https, trusted", true, false, "https", true},
		{"forwarded https first of a list, trusted", true, false, "HTTPS, http", true},
		{"forwarded http, trusted", true, false, "http", false},
		{"trusted, no header", true, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, adminToken, readToken, Config{})
			srv := e.replica(Config{TrustForwardedProto: tc.trust})
			form := url.Values{"nonce": {"n0nce"}, "token": {adminToken}}
			req := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: loginCookie, Value: "n0nce"})
			if tc.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			srv.Config.Handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
			}
			var sc *http.Cookie
			for _, c := range rec.Result().Cookies() {
				if c.Name == sessionCookie {
					sc = c
				}
			}
			if sc == nil || sc.Secure != tc.want || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode {
				t.Fatalf("session cookie %+v, want Secure %v", sc, tc.want)
			}
		})
	}
}

// TestSessionIdleTooShort: an idle time under the minute LastSeen is
// written at is refused when the dashboard is built, naming both.
func TestSessionIdleTooShort(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	api, err := adminapi.New(adminapi.Config{Store: st, AdminToken: adminToken, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, err = newUI(Config{API: api, Store: st, SessionIdle: 30 * time.Second})
	if err == nil || err.Error() != "ui: SessionIdle (30s) must be at least 1m0s" {
		t.Fatalf("New with SessionIdle 30s: %v", err)
	}
}

func openSQLiteAt(t testing.TB, path string, now func() time.Time) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.New(ctx, sqlite.Config{Path: path, Logger: quiet, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func openPostgresAt(t testing.TB, url string, now func() time.Time) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.New(ctx, postgres.Config{URL: url, Logger: quiet, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRevokedTokenEndsSession: taking a token out of the tokens file ends
// the dashboard sessions made with it, reads and actions alike; it no
// longer acts as its name until its holder signs in again, which fails.
func TestRevokedTokenEndsSession(t *testing.T) {
	t.Parallel()
	path := tokensFile(t)
	e := newEnvTokens(t, adminToken, readToken, path, Config{})
	b := e.browser()
	b.login(operateToken)
	if b.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", b.status, b.body)
	}
	b.get("/ui/runs")
	b.expect(http.StatusOK, `<span id="who">olive</span>`)
	csrf := b.csrf()

	if err := os.WriteFile(path, []byte("# olive left\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour) // a new mtime, whatever the file system's resolution
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute) // past the tokens file's recheck

	b.post("/ui/definitions/t.none/pause", url.Values{"csrf": {csrf}})
	b.expect(http.StatusUnauthorized, "sign in again")
	b.get("/ui/runs")
	if b.status != http.StatusSeeOther || !strings.HasPrefix(b.loc, "/ui/login") {
		t.Errorf("a revoked token's session still reads: %d %q", b.status, b.loc)
	}
}
