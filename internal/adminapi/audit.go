package adminapi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
)

// auditEntry is what one mutating call says about itself; the principal,
// outcome and time come from the call.
type auditEntry struct {
	action       string
	defID, runID string
	note         string
	detail       any
}

// routeAudit is the audit entry of a mutating route refused before its
// method ran: the action and the id in its path.
func routeAudit(rt route, r *http.Request) auditEntry {
	a := auditEntry{action: rt.action}
	if strings.HasPrefix(rt.path, "/api/v1/runs/") {
		a.runID = r.PathValue("id")
	} else {
		a.defID = r.PathValue("id")
	}
	return a
}

type auditMarkKey struct{}

// withAuditMark returns ctx carrying a flag that audit sets, so the route
// wrapper knows whether the call wrote its record.
func withAuditMark(ctx context.Context) (context.Context, *atomic.Bool) {
	m := new(atomic.Bool)
	return context.WithValue(ctx, auditMarkKey{}, m), m
}

// audit writes the one audit record of a mutating call (err nil: ok; a
// refusal the caller could fix, 4xx: refused; else error) and, for a call
// on a definition, a timeline entry naming the actor. A failure to write
// is logged, not returned: the call has already happened or been refused.
func (s *Server) audit(ctx context.Context, a auditEntry, err error) {
	if m, ok := ctx.Value(auditMarkKey{}).(*atomic.Bool); ok {
		m.Store(true)
	}
	p, _ := principalFrom(ctx)
	rec := store.AuditRecord{At: s.cfg.Now(), Actor: p.Name, Role: string(p.Role), Surface: p.Surface, Action: a.action,
		DefinitionID: limits.Clip(a.defID, auditIDMax), RunID: limits.Clip(a.runID, auditIDMax),
		Note: limits.Clip(a.note, noteMax), Outcome: store.AuditOK}
	if err != nil {
		status, _, msg := ErrorStatus(err)
		rec.Outcome, rec.Message = store.AuditRefused, limits.Clip(msg, auditMessageMax)
		if status >= 500 {
			rec.Outcome = store.AuditError
		}
	}
	if rec.Outcome == store.AuditRefused && !s.refused.allow(rec.Actor, rec.At) {
		// A refusal costs its caller nothing: past the rate it is not
		// stored (nor logged line by line: authFailed counts it).
		return
	}
	if a.detail != nil {
		if b, jerr := json.Marshal(a.detail); jerr == nil {
			rec.Detail = b
		}
	}
	// The record outlives the request: a client that hangs up must not
	// leave a call unaudited.
	ctx = context.WithoutCancel(ctx)
	if werr := s.cfg.Store.AppendAudit(ctx, rec); werr != nil {
		s.log.Error("adminapi: writing the audit record failed", "actor", rec.Actor, "action", rec.Action,
			"definition_id", rec.DefinitionID, "run_id", rec.RunID, "outcome", rec.Outcome, "error", werr)
	}
	if rec.DefinitionID == "" || (rec.Action == store.AuditPause && rec.Outcome == store.AuditOK) {
		return // an operator pause writes its own entry, By the principal
	}
	e := store.TimelineEntry{DefinitionID: rec.DefinitionID, At: rec.At, Kind: store.TimelineAudit, Summary: auditSummary(rec),
		Actor: rec.Actor, RunID: rec.RunID, Detail: rec.Detail}
	if werr := s.cfg.Store.AppendTimeline(ctx, e); werr != nil {
		s.log.Warn("adminapi: writing the audit timeline entry failed", "definition_id", rec.DefinitionID, "error", werr)
	}
}

// auditMessageMax bounds the error message an audit record keeps.
const auditMessageMax = 1024

// auditIDMax bounds a definition or run id an audit record keeps: a
// refused call's id comes from its path, whatever it is.
const auditIDMax = 256

// Refused calls a principal may have audited: a burst, then one a second
// (docs/security.md#tokens). Names come from the token set, so the map
// is as small as it is.
const (
	refusedAuditBurst = 20
	refusedAuditEvery = time.Second
)

// refusalLimit rate-limits the audit records of refused calls per
// principal, so a token that may not act cannot grow the audit (and
// timelines) without bound.
type refusalLimit struct {
	mu     sync.Mutex
	limits map[string]*rate.Limiter
}

func newRefusalLimit() *refusalLimit { return &refusalLimit{limits: map[string]*rate.Limiter{}} }

func (l *refusalLimit) allow(actor string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.limits[actor]
	if !ok {
		lim = rate.NewLimiter(rate.Every(refusedAuditEvery), refusedAuditBurst)
		l.limits[actor] = lim
	}
	return lim.AllowN(now, 1)
}

// auditSummary is the timeline line of an audit record:
// "alice (operate) cancel: refused: …".
func auditSummary(rec store.AuditRecord) string {
	out := fmt.Sprintf("%s (%s) %s", rec.Actor, rec.Role, rec.Action)
	if rec.Outcome != store.AuditOK {
		out += ": " + rec.Outcome
		if rec.Message != "" {
			out += ": " + rec.Message
		}
	}
	if rec.Note != "" {
		out += " — " + rec.Note
	}
	return limits.Clip(out, auditMessageMax)
}

// Audit returns audit records newest first, as GET /api/v1/audit does.
func (s *Server) Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	if _, err := s.require(ctx, RoleRead, auditEntry{}); err != nil {
		return nil, err
	}
	recs, err := s.cfg.Store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	if recs == nil {
		recs = []store.AuditRecord{}
	}
	return recs, nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), DefinitionID: q.Get("definition_id"), RunID: q.Get("run_id")}
	for k := range q {
		switch k {
		case "actor", "action", "definition_id", "run_id", "before", "limit":
		default:
			return badRequest("unknown query parameter %q (allowed: actor, action, definition_id, run_id, before, limit)", k[:min(len(k), maxEcho)])
		}
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			return badRequest("before=%q is not a cursor of the audit: pass the next a page returned", b[:min(len(b), maxEcho)])
		}
		f.BeforeID = n
	}
	var err error
	if f.Limit, err = parseLimit(r, store.AuditLimitMax); err != nil {
		return err
	}
	recs, err := s.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	out := map[string]any{"records": recs}
	if lim := cmp.Or(f.Limit, store.AuditLimitDefault); len(recs) == lim {
		out["next"] = strconv.FormatInt(recs[len(recs)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
