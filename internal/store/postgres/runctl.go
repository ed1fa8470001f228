package postgres

// The run-control queries of the PostgreSQL driver (store.RunControlStore):
// the audit, sessions, backfills and cancel requests. The sqlite driver's
// runctl.go mirrors this file.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

// --- audit ---

const auditColumns = `id, at, actor, role, surface, action, definition_id, run_id, note,
	outcome, message, detail`

func scanAudit(row pgx.Row) (store.AuditRecord, error) {
	var a store.AuditRecord
	var detail []byte
	if err := row.Scan(&a.ID, &a.At, &a.Actor, &a.Role, &a.Surface, &a.Action, &a.DefinitionID,
		&a.RunID, &a.Note, &a.Outcome, &a.Message, &detail); err != nil {
		return a, err
	}
	a.At = a.At.UTC()
	a.Detail = detail
	if err := contract.CheckAudit(a); err != nil {
		return a, contract.Corrupt("audit", strconv.FormatInt(a.ID, 10), err)
	}
	return a, nil
}

// AppendAudit implements store.RunControlStore: one pipelined batch in one
// transaction.
func (s *Store) AppendAudit(ctx context.Context, recs ...store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	now := contract.Time(s.now())
	b := &pgx.Batch{}
	for _, a := range recs {
		a, err := contract.PrepareAudit(a, now)
		if err != nil {
			return fmt.Errorf("appending to the audit: %w", err)
		}
		b.Queue(`INSERT INTO audit (at, actor, role, surface, action, definition_id, run_id, note,
				outcome, message, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			a.At, a.Actor, a.Role, a.Surface, a.Action, a.DefinitionID, a.RunID, a.Note,
			a.Outcome, a.Message, []byte(a.Detail))
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return execBatch(ctx, tx, b) }); err != nil {
		return fmt.Errorf("appending to the audit: %w", dbErr(err))
	}
	return nil
}

// ListAudit implements store.RunControlStore: a range scan of the primary
// key, or of the actor, definition or run index, from the cursor down.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	limit, err := contract.AuditQuery(f)
	if err != nil {
		return nil, fmt.Errorf("listing the audit: %w", err)
	}
	w := &where{}
	for _, c := range []struct{ col, v string }{
		{"actor", f.Actor}, {"action", f.Action}, {"definition_id", f.DefinitionID}, {"run_id", f.RunID},
	} {
		if c.v != "" {
			w.add(c.col+" = $?", c.v)
		}
	}
	if f.BeforeID > 0 {
		w.add("id < $?", f.BeforeID)
	}
	w.args = append(w.args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit`+w.sql()+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	if err != nil {
		return nil, fmt.Errorf("listing the audit: %w", dbErr(err))
	}
	recs, err := collect(ctx, s, rows, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("listing the audit: %w", dbErr(err))
	}
	return recs, nil
}

// --- sessions ---

const sessionColumns = `id_hash, actor, role, csrf, flash, created_at, last_seen, expires_at`

func scanSession(row pgx.Row) (store.Session, error) {
	var ss store.Session
	if err := row.Scan(&ss.IDHash, &ss.Actor, &ss.Role, &ss.CSRF, &ss.Flash, &ss.CreatedAt,
		&ss.LastSeen, &ss.ExpiresAt); err != nil {
		return ss, err
	}
	ss.CreatedAt, ss.LastSeen, ss.ExpiresAt = ss.CreatedAt.UTC(), ss.LastSeen.UTC(), ss.ExpiresAt.UTC()
	return ss, nil
}

// PutSession implements store.RunControlStore.
func (s *Store) PutSession(ctx context.Context, ss store.Session) error {
	ss, err := contract.PrepareSession(ss, contract.Time(s.now()))
	if err != nil {
		return fmt.Errorf("putting session: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id_hash) DO UPDATE SET actor = excluded.actor, role = excluded.role,
			csrf = excluded.csrf, flash = excluded.flash, created_at = excluded.created_at,
			last_seen = excluded.last_seen, expires_at = excluded.expires_at`,
		ss.IDHash, ss.Actor, ss.Role, ss.CSRF, ss.Flash, ss.CreatedAt, ss.LastSeen, ss.ExpiresAt); err != nil {
		return fmt.Errorf("putting session of %q: %w", ss.Actor, dbErr(err))
	}
	return nil
}

// GetSession implements store.RunControlStore.
func (s *Store) GetSession(ctx context.Context, idHash string, now time.Time) (store.Session, error) {
	if !validKey(idHash) {
		return store.Session{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	ss, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+`
		FROM sessions WHERE id_hash = $1 AND expires_at >= $2`, idHash, contract.Time(now)))
	if errors.Is(err, pgx.ErrNoRows) {
		return ss, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return ss, fmt.Errorf("getting session: %w", dbErr(err))
	}
	return ss, nil
}

// validKey reports whether s can be a stored key at all: PostgreSQL text
// refuses NUL and invalid UTF-8 with an error, where a lookup of such a
// key (a cookie is the caller's input) should find nothing.
func validKey(s string) bool { return contract.Key("key", s) == nil }

// TouchSession implements store.RunControlStore.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen, expiresAt time.Time) error {
	if !validKey(idHash) {
		return fmt.Errorf("touching session: %w", store.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen = $2, expires_at = $3 WHERE id_hash = $1`,
		idHash, contract.Time(lastSeen), contract.Time(expiresAt))
	if err != nil {
		return fmt.Errorf("touching session: %w", dbErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("touching session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteSession implements store.RunControlStore.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if !validKey(idHash) {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("deleting session: %w", dbErr(err))
	}
	return nil
}

// DeleteExpiredSessions implements store.RunControlStore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, contract.Time(now))
	if err != nil {
		return 0, fmt.Errorf("deleting expired sessions: %w", dbErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// --- backfills ---

const backfillColumns = `id, definition_id, from_at, to_at, overlap, requested_at, actor`

func scanBackfill(row pgx.Row) (store.Backfill, error) {
	var b store.Backfill
	if err := row.Scan(&b.ID, &b.DefinitionID, &b.From, &b.To, &b.Overlap, &b.RequestedAt, &b.Actor); err != nil {
		return b, err
	}
	b.From, b.To, b.RequestedAt = b.From.UTC(), b.To.UTC(), b.RequestedAt.UTC()
	if err := contract.CheckBackfill(b); err != nil {
		return b, contract.Corrupt("backfills", strconv.FormatInt(b.ID, 10), err)
	}
	return b, nil
}

// RecordBackfill implements store.RunControlStore.
func (s *Store) RecordBackfill(ctx context.Context, b store.Backfill) (store.Backfill, error) {
	b, err := contract.PrepareBackfill(b, contract.Time(s.now()))
	if err != nil {
		return b, fmt.Errorf("recording backfill: %w", err)
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO backfills (definition_id, from_at, to_at, overlap, requested_at, actor)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		b.DefinitionID, b.From, b.To, b.Overlap, b.RequestedAt, b.Actor).Scan(&b.ID)
	if err != nil {
		return b, fmt.Errorf("recording backfill of %q: %w", b.DefinitionID, dbErr(err))
	}
	return b, nil
}

// FindBackfill implements store.RunControlStore: a range scan of
// backfills_definition_idx, newest first, that stops at the first window
// holding the fire time. A corrupt row is skipped (and logged), so one bad
// row cannot make every run of its definition fail.
func (s *Store) FindBackfill(ctx context.Context, definitionID string, fireTime, startedAt time.Time) (store.Backfill, error) {
	notFound := fmt.Errorf("backfill of %q holding %s: %w", definitionID,
		fireTime.UTC().Format(time.RFC3339), store.ErrNotFound)
	if !validKey(definitionID) {
		return store.Backfill{}, notFound
	}
	fire := contract.Time(fireTime)
	rows, err := s.pool.Query(ctx, `SELECT `+backfillColumns+` FROM backfills
		WHERE definition_id = $1 AND requested_at <= $2 AND from_at <= $3 AND to_at > $3
		ORDER BY requested_at DESC, id DESC`, definitionID, contract.Time(startedAt), fire)
	if err != nil {
		return store.Backfill{}, fmt.Errorf("finding backfill of %q: %w", definitionID, dbErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		b, err := scanBackfill(rows)
		if err == nil {
			return b, nil
		}
		if err := contract.SkipCorrupt(ctx, s.logger, err); err != nil {
			return store.Backfill{}, fmt.Errorf("finding backfill of %q: %w", definitionID, dbErr(err))
		}
	}
	if err := rows.Err(); err != nil {
		return store.Backfill{}, fmt.Errorf("finding backfill of %q: %w", definitionID, dbErr(err))
	}
	return store.Backfill{}, notFound
}

// --- cancel ---

// RequestRunCancel implements store.RunControlStore. The run's row is
// locked while its status is read, so an engine finishing it meanwhile
// either comes first (and the request is a conflict) or after (and keeps
// the request's fields, see UpdateRun). The run's UpdatedAt moves, so
// feeds and pages see the request.
func (s *Store) RequestRunCancel(ctx context.Context, runID, by, note string) error {
	by, note, err := contract.PrepareCancel(runID, by, note)
	if err != nil {
		return fmt.Errorf("requesting cancel: %w", err)
	}
	var status string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT status FROM runs WHERE id = $1 FOR UPDATE`, runID).Scan(&status); err != nil {
			return err
		}
		if store.RunStatus(status).Terminal() {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE runs SET canceled_by = $2, cancel_note = $3, updated_at = $4
			WHERE id = $1`, runID, by, note, contract.Time(s.now()))
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("run %q: %w", runID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("requesting cancel of run %q: %w", runID, dbErr(err))
	case store.RunStatus(status).Terminal():
		return fmt.Errorf("cancelling run %q: it is already %s: %w", runID, status, store.ErrConflict)
	}
	return nil
}
