package adminapi

import (
	"context"
	"net/http"

	"github.com/coulomb/activity-core/internal/store"
)

// The run-control methods (docs/run-control.md). Each acts as the
// principal of its context (WithPrincipal), checks its role, and writes
// one audit record. Stubs until run control lands.

// SignIn checks a dashboard sign-in token and returns who it is; a
// success is audited, a failure counted and logged as Authenticate does.
func (s *Server) SignIn(r *http.Request, token string) (Principal, error) {
	if err := s.Authenticate(r, "ui", token, false); err != nil {
		return Principal{}, err
	}
	p := Principal{Name: "read", Role: RoleRead, Surface: "ui"}
	if s.CheckToken(token, true) == nil {
		p = Principal{Name: "admin", Role: RoleAdmin, Surface: "ui"}
	}
	return p, nil
}

// SignOut audits a dashboard sign-out.
func (s *Server) SignOut(ctx context.Context) {}

// RerunRun starts a manual run of the same definition with the inputs the
// run recorded.
func (s *Server) RerunRun(ctx context.Context, runID, note string) (RunStarted, error) {
	return RunStarted{}, unavailable("rerun")
}

// CancelRun asks Temporal to cancel the run's workflow and records who
// asked; the run is recorded canceled when its workflow ends.
func (s *Server) CancelRun(ctx context.Context, runID, note string) (store.Run, error) {
	return store.Run{}, unavailable("cancel")
}

// BackfillDefinition plans (DryRun) or starts a backfill of a cron
// definition over [From, To).
func (s *Server) BackfillDefinition(ctx context.Context, id string, req BackfillRequest) (*BackfillPlan, error) {
	return nil, unavailable("backfill")
}

// Audit returns audit records newest first.
func (s *Server) Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	return nil, unavailable("audit")
}

// Workers describes every pool in use (the default pool, the pools of live
// definitions) with the workers polling it.
func (s *Server) Workers(ctx context.Context) ([]PoolStatus, error) {
	return nil, unavailable("workers")
}

// RunsWaiting says, for each pending run whose pool has no worker polling,
// "waiting for a worker in pool P", keyed by run id.
func (s *Server) RunsWaiting(ctx context.Context, runs []store.Run) map[string]string {
	return nil
}
