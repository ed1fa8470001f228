// Package ui is activity-core's web dashboard, served by the api role under
// /ui/ (docs/dashboard.md). It is server-rendered html/template, embedded
// in the binary, with no Node build step; every page works without
// JavaScript (one small script streams a running run's output).
//
// It is a second face of the HTTP API, not a second implementation: reads
// come from the store the API reads, and every action goes through the
// *adminapi.Server methods the JSON endpoints use, so role checks, audit
// and error messages are the same. Sign-in keeps a store session under the
// hash of a random id, never the token (docs/dashboard.md#signing-in).
package ui

import (
	"cmp"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/store"
)

// Prefix is where the dashboard is mounted.
const prefix = "/ui/"

// Defaults.
const (
	// DefinitionsPageSizeDefault is how many definitions a page lists.
	definitionsPageSizeDefault = 50
	// RunsPageSizeDefault is how many runs a page lists.
	runsPageSizeDefault = 50
	// SessionIdleDefault ends a session nobody used for this long.
	sessionIdleDefault = 12 * time.Hour
	// lastRunsPerDefinition is how many runs a definitions row shows.
	lastRunsPerDefinition = 3
	// versionsShown is how many versions a definition page lists.
	versionsShown = 20
	// SignInPerMinuteDefault and SignInBurstDefault bound sign-in
	// attempts per client address: a burst of 5, then one every 12 s.
	signInPerMinuteDefault = 5
	signInBurstDefault     = 5
	// signInClientsMax bounds the clients whose attempts are counted.
	signInClientsMax = 10000
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config holds the dashboard's dependencies.
type Config struct {
	// API performs the actions and checks tokens; required.
	API *adminapi.Server
	// Store is read for the lists and pages; required.
	Store store.Store
	// DefinitionsPageSize and RunsPageSize size list pages.
	DefinitionsPageSize int
	RunsPageSize        int
	// SessionIdle ends a session nobody used for this long (give or
	// take a minute: LastSeen is written at most once a minute).
	SessionIdle time.Duration
	// TrustForwardedProto marks cookies Secure when the proxy in front
	// says X-Forwarded-Proto: https (ACTIVITY_TRUST_FORWARDED_PROTO).
	TrustForwardedProto bool
	// SignInPerMinute and SignInBurst bound sign-in attempts per client
	// address (the peer address: forwarded headers are not trusted); an
	// attempt over the limit answers 429 with Retry-After.
	SignInPerMinute int
	SignInBurst     int
	Logger          *slog.Logger
	Now             func() time.Time
}

// UI is the dashboard's http.Handler.
type ui struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
	signIns  *signInLimits
	// cop refuses cross-site form posts: Sec-Fetch-Site first, which a
	// proxy rewriting Host does not disturb, then Origin against Host.
	cop *http.CrossOriginProtection
}

// New builds the dashboard.
func newUI(cfg Config) (*ui, error) {
	if cfg.API == nil {
		return nil, errors.New("ui: Config.API is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("ui: Config.Store is required")
	}
	cfg.DefinitionsPageSize = cmp.Or(cfg.DefinitionsPageSize, definitionsPageSizeDefault)
	cfg.RunsPageSize = cmp.Or(cfg.RunsPageSize, runsPageSizeDefault)
	cfg.SessionIdle = cmp.Or(cfg.SessionIdle, sessionIdleDefault)
	if cfg.SessionIdle < touchEvery {
		return nil, fmt.Errorf("ui: SessionIdle (%s) must be at least %s", cfg.SessionIdle, touchEvery)
	}
	cfg.SignInPerMinute = cmp.Or(cfg.SignInPerMinute, signInPerMinuteDefault)
	cfg.SignInBurst = cmp.Or(cfg.SignInBurst, signInBurstDefault)
	if cfg.SignInPerMinute < 1 || cfg.SignInBurst < 1 {
		return nil, fmt.Errorf("ui: SignInPerMinute (%d) and SignInBurst (%d) must be positive", cfg.SignInPerMinute, cfg.SignInBurst)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	u := &ui{
		cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), mux: http.NewServeMux(), pages: pages,
		sessions: newSessions(cfg.Store, cfg.SessionIdle, cfg.Now),
		signIns:  newSignInLimits(cfg.SignInPerMinute, cfg.SignInBurst, signInClientsMax),
		cop:      http.NewCrossOriginProtection(),
	}
	u.routes()
	return u, nil
}

// NewHandler is New shaped for adminapi.Config.UI.
func NewHandler(cfg Config) func(api *adminapi.Server) (http.Handler, error) {
	return func(api *adminapi.Server) (http.Handler, error) {
		cfg.API = api
		return newUI(cfg)
	}
}

// handler is a page: it renders or redirects, or returns an error that
// becomes an error page with the API's status and message. Its request's
// context carries the session's principal (adminapi.WithPrincipal).
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// The roles pages need (docs/run-control.md#who-did-what).
const (
	read    = adminapi.RoleRead
	operate = adminapi.RoleOperate
	admin   = adminapi.RoleAdmin
)

func (u *ui) routes() {
	static, _ := fs.Sub(staticFS, "static")
	u.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	u.mux.HandleFunc("GET /ui/login", u.loginForm)
	u.mux.HandleFunc("POST /ui/login", u.login)
	u.mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/definitions", http.StatusSeeOther)
	})
	page := func(pattern string, need adminapi.Role, h handler) {
		u.mux.Handle(pattern, u.guard(need, strings.HasPrefix(pattern, "POST "), h))
	}
	page("POST /ui/logout", read, u.logout)
	page("GET /ui/definitions", read, u.definitions)
	page("GET /ui/definitions/{id}", read, u.definition)
	page("POST /ui/definitions/{id}/run", operate, u.runNow)
	page("POST /ui/definitions/{id}/pause", operate, u.pause)
	page("POST /ui/definitions/{id}/resume", operate, u.resume)
	page("POST /ui/definitions/{id}/backfill", operate, u.backfill)
	page("GET /ui/problems", read, u.problems)
	page("GET /ui/runs", read, u.runs)
	page("GET /ui/runs/{id}", read, u.run)
	page("GET /ui/runs/{id}/output", read, u.runOutput)
	page("POST /ui/runs/{id}/cancel", operate, u.cancel)
	page("POST /ui/runs/{id}/rerun", operate, u.rerun)
	page("GET /ui/workers", read, u.workers)
	page("GET /ui/audit", read, u.audit)
	page("GET /ui/sync", admin, u.syncPage) // as GET /admin/sync/status: admin only
	page("POST /ui/sync", admin, u.syncPost)
	page("GET /ui/events", read, u.eventsPage)
	page("POST /ui/events", read, u.explain)
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.errorPage(w, r, nil, http.StatusNotFound, fmt.Sprintf("no page %s %s", r.Method, r.URL.Path))
	})
}

// ServeHTTP serves the dashboard.
func (u *ui) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The only script is the dashboard's own live.js: the policy forbids
	// inline script, so even a rendering mistake could not run what a
	// payload carries; connect-src lets live.js open its event stream.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on form posts, and the origin check needs the real one.
	h.Set("Referrer-Policy", "same-origin")
	r.Body = http.MaxBytesReader(w, r.Body, adminapi.MaxBodyBytes)
	u.mux.ServeHTTP(w, r)
}

// guard checks the session, the role a page needs and, for POSTs, the
// CSRF token and the Origin; the handler then acts as the session's
// principal. need documents an action's role: the API enforces it.
func (u *ui) guard(need adminapi.Role, post bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := u.sessions.get(r)
		if err != nil {
			u.fail(w, r, nil, fmt.Errorf("reading your session: %w", err))
			return
		}
		if s != nil && !u.cfg.API.StillValid(s.principal()) {
			// Its token was taken out of the tokens file or its role
			// changed: the session ends with it.
			if err := u.sessions.drop(r.Context(), s.id); err != nil {
				u.fail(w, r, nil, err)
				return
			}
			s = nil
		}
		if s == nil {
			if post {
				u.errorPage(w, r, nil, http.StatusUnauthorized, "your session has ended: sign in again")
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if post {
			if u.cop.Check(r) != nil {
				u.errorPage(w, r, s, http.StatusForbidden, "cross-origin form post refused")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.row.CSRF)) != 1 {
				u.errorPage(w, r, s, http.StatusForbidden, "missing or stale form token (CSRF): reload the page and try again")
				return
			}
		}
		// A page that needs more than the session's role is refused here;
		// an action is refused by the API method it calls, which audits
		// the refusal (docs/run-control.md#who-did-what).
		if !post && !s.allows(need) {
			u.errorPage(w, r, s, http.StatusForbidden, fmt.Sprintf("this needs the %s role; you signed in as %s, which has %s", need, s.row.Actor, s.row.Role))
			return
		}
		r = r.WithContext(adminapi.WithPrincipal(r.Context(), s.principal()))
		if err := h(w, r, s); err != nil {
			u.fail(w, r, s, err)
		}
	})
}

func (u *ui) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	if err == nil {
		err = errors.New("forbidden")
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	status, _, msg := adminapi.ErrorStatus(err)
	if pe, ok := errors.AsType[*pageError](err); ok {
		status, msg = pe.status, pe.msg
	}
	if status >= 500 {
		u.log.Error("ui: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	u.errorPage(w, r, s, status, msg)
}

func (u *ui) errorPage(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	u.render(w, r, s, status, "error", "Error", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}

// loginForm shows the sign-in form, or how to configure a token when
// there is none.
func (u *ui) loginForm(w http.ResponseWriter, r *http.Request) {
	u.showLogin(w, r, http.StatusOK, "")
}

func (u *ui) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	data := map[string]any{"Next": safeNext(r.FormValue("next")), "Message": msg}
	if err := u.cfg.API.CheckToken("", false); err != nil {
		if st, _, m := adminapi.ErrorStatus(err); st == http.StatusForbidden {
			data["NoToken"] = m
			status = http.StatusForbidden
		}
	}
	// Login CSRF: the form carries a value the browser also holds in a
	// SameSite=Strict cookie; a form posted from elsewhere has neither.
	nonce := randomID()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: prefix, HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	data["Nonce"] = nonce
	u.render(w, r, nil, status, "login", "Sign in", data)
}

func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	if ok, wait := u.signIns.take(adminapi.ClientIP(r), u.cfg.Now()); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		u.showLogin(w, r, http.StatusTooManyRequests, fmt.Sprintf("too many sign-in attempts from your address: try again in %d s", secs))
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || u.cop.Check(r) != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("nonce"))) != 1 {
		u.showLogin(w, r, http.StatusForbidden, "the sign-in form expired or came from another site: try again")
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if tok == "" {
		u.showLogin(w, r, http.StatusBadRequest, "enter your token (one of ACTIVITY_TOKENS_FILE, or ACTIVITY_READ_TOKEN or ACTIVITY_ADMIN_TOKEN)")
		return
	}
	p, err := u.cfg.API.SignIn(r, tok)
	if err != nil {
		status, _, msg := adminapi.ErrorStatus(err)
		if status == http.StatusUnauthorized {
			msg = "that token is not one of this server's tokens"
		}
		u.showLogin(w, r, status, msg)
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		// Signing in over a session ends it.
		if err := u.sessions.drop(r.Context(), old.Value); err != nil {
			u.fail(w, r, nil, err)
			return
		}
	}
	s, err := u.sessions.create(r.Context(), p)
	if err != nil {
		u.fail(w, r, nil, fmt.Errorf("keeping your session: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: prefix, MaxAge: -1})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: prefix, HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteStrictMode})
	u.log.Info("ui: signed in", "name", p.Name, "role", p.Role, "remote", r.RemoteAddr)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := u.sessions.drop(r.Context(), s.id); err != nil {
		return err
	}
	u.cfg.API.SignOut(r.Context())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: prefix, MaxAge: -1, HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}

func (u *ui) secure(r *http.Request) bool { return secureCookies(r, u.cfg.TrustForwardedProto) }

// safeNext keeps a post-login redirect on the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, prefix) || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/ui/definitions"
	}
	return next
}
