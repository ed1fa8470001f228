package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/coulomb/activity-core/internal/store"
)

// authorize finds the principal of the request's bearer token and checks
// that its role allows the route (docs/run-control.md#who-did-what). A
// refused token is counted and logged; a refusal for lack of role on a
// mutating route is also audited (it has a who).
func (s *Server) authorize(r *http.Request, rt route) (Principal, error) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		got = ""
	}
	p, err := s.identify(r, "api", got)
	if err != nil {
		return p, err
	}
	if p.Role.Allows(rt.need) {
		return p, nil
	}
	err = roleError(p, rt.need)
	s.authFailed(r, "api", err)
	if rt.action != "" {
		s.audit(WithPrincipal(r.Context(), p), routeAudit(rt, r), err)
	}
	return p, err
}

// identify returns the principal of a token, or the API's error for it
// (counted and logged, as Authenticate does).
func (s *Server) identify(r *http.Request, surface, token string) (Principal, error) {
	p, err := s.principalOf(token)
	if err != nil {
		s.authFailed(r, surface, err)
		return p, err
	}
	p.Surface = surface
	return p, nil
}

// principalOf resolves a token without counting a failure.
func (s *Server) principalOf(token string) (Principal, error) {
	if !s.tokens.configured() {
		return Principal{}, &apiError{http.StatusForbidden, "forbidden", "no token is configured on this server: set ACTIVITY_ADMIN_TOKEN (at least 16 characters) or ACTIVITY_TOKENS_FILE and restart it", reasonNotConfigured}
	}
	if token == "" {
		return Principal{}, &apiError{http.StatusUnauthorized, "unauthorized", "missing bearer token: send Authorization: Bearer <token>", reasonMissing}
	}
	p, ok := s.tokens.resolve(token)
	if !ok {
		return Principal{}, &apiError{http.StatusUnauthorized, "unauthorized", "invalid bearer token", reasonInvalid}
	}
	return p, nil
}

// roleError is the refusal of a known token whose role is too weak.
func roleError(p Principal, need Role) error {
	return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("this endpoint needs the %s role; token %s has %s", need, p.Name, p.Role), reasonRole}
}

// CheckToken checks a token as the API checks a bearer token: for reading
// or, with needAdmin, for acting (the operate role or more; syncing also
// needs admin, which Sync checks). Its errors carry the API's status and
// message (see ErrorStatus); with no token configured it says how to set
// one.
func (s *Server) CheckToken(got string, needAdmin bool) error {
	p, err := s.principalOf(got)
	if err != nil {
		return err
	}
	if need := RoleOperate; needAdmin && !p.Role.Allows(need) {
		return roleError(p, need)
	}
	return nil
}

func (s *Server) authFailed(r *http.Request, surface string, err error) {
	reason := authReason(err)
	s.cfg.Metrics.authFailed(surface, reason)
	s.authLog.failed(r, surface, reason)
}

// require checks that the principal of ctx may do what need allows; a
// refusal is audited as a. A context with no principal is refused and not
// audited: there is no one to name.
func (s *Server) require(ctx context.Context, need Role, a auditEntry) (Principal, error) {
	p, ok := principalFrom(ctx)
	if !ok || p.Name == "" {
		return p, &apiError{http.StatusForbidden, "forbidden", "this call carries no principal: sign in with a token", reasonMissing}
	}
	if !p.Role.Allows(need) {
		err := roleError(p, need)
		s.audit(ctx, a, err)
		return p, err
	}
	return p, nil
}

// SignIn checks a dashboard sign-in token and returns who it is; a
// success is audited, a failure counted and logged as Authenticate does
// (and not audited: it names no one).
func (s *Server) SignIn(r *http.Request, token string) (Principal, error) {
	p, err := s.identify(r, "ui", token)
	if err != nil {
		return p, err
	}
	s.audit(WithPrincipal(r.Context(), p), auditEntry{action: store.AuditSignIn}, nil)
	return p, nil
}

// StillValid reports whether a dashboard session's principal is still one
// of the server's tokens, by name and role.
func (s *Server) StillValid(p Principal) bool { return s.tokens.holds(p) }

// SignOut audits a dashboard sign-out by the principal of ctx.
func (s *Server) SignOut(ctx context.Context) {
	if p, ok := principalFrom(ctx); ok && p.Name != "" {
		s.audit(ctx, auditEntry{action: store.AuditSignOut}, nil)
	}
}
