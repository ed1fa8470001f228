package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// errNotYet is the contract stub's answer until the driver implements run
// control (docs/run-control.md).
var errNotYet = errors.New("postgres: run control is not implemented yet")

func (s *Store) AppendAudit(ctx context.Context, recs ...store.AuditRecord) error { return errNotYet }

func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	return nil, errNotYet
}

func (s *Store) PutSession(ctx context.Context, ss store.Session) error { return errNotYet }

func (s *Store) GetSession(ctx context.Context, idHash string, now time.Time) (store.Session, error) {
	return store.Session{}, errNotYet
}

func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen, expiresAt time.Time) error {
	return errNotYet
}

func (s *Store) DeleteSession(ctx context.Context, idHash string) error { return errNotYet }

func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return 0, errNotYet
}

func (s *Store) RecordBackfill(ctx context.Context, b store.Backfill) (store.Backfill, error) {
	return store.Backfill{}, errNotYet
}

func (s *Store) FindBackfill(ctx context.Context, definitionID string, fireTime, startedAt time.Time) (store.Backfill, error) {
	return store.Backfill{}, errNotYet
}

func (s *Store) RequestRunCancel(ctx context.Context, runID, by, note string) error { return errNotYet }
