package sqlite

// The run-control queries of the SQLite driver (store.RunControlStore),
// mirroring the postgres driver's runctl.go.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

// --- audit ---

const auditColumns = `id, at, actor, role, surface, action, definition_id, run_id, note,
	outcome, message, detail`

func scanAudit(row scanner) (store.AuditRecord, error) {
	var a store.AuditRecord
	var at string
	var detail sql.NullString
	if err := row.Scan(&a.ID, &at, &a.Actor, &a.Role, &a.Surface, &a.Action, &a.DefinitionID,
		&a.RunID, &a.Note, &a.Outcome, &a.Message, &detail); err != nil {
		return a, err
	}
	a.Detail = jsonOf(detail)
	var ts times
	ts.at(at, &a.At)
	if err := firstErr(ts.err, contract.CheckAudit(a)); err != nil {
		return a, contract.Corrupt("audit", strconv.FormatInt(a.ID, 10), err)
	}
	return a, nil
}

// AppendAudit implements store.RunControlStore.
func (s *Store) AppendAudit(ctx context.Context, recs ...store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	now := contract.Time(s.now())
	in, err := contract.PrepareAll(recs, now, contract.PrepareAudit)
	if err != nil {
		return fmt.Errorf("appending to the audit: %w", err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var st stmts
		defer st.close()
		for _, a := range in {
			if err := st.exec(ctx, tx, `INSERT INTO audit (at, actor, role, surface, action,
					definition_id, run_id, note, outcome, message, detail)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				fmtTime(a.At), a.Actor, a.Role, a.Surface, a.Action, a.DefinitionID, a.RunID,
				a.Note, a.Outcome, a.Message, jsonArg(a.Detail)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
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
	var w where
	for _, c := range []struct{ col, v string }{
		{"actor", f.Actor}, {"action", f.Action}, {"definition_id", f.DefinitionID}, {"run_id", f.RunID},
	} {
		if c.v != "" {
			w.add(c.col+" = ?", c.v)
		}
	}
	if f.BeforeID > 0 {
		w.add("id < ?", f.BeforeID)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit`+w.sql()+
		` ORDER BY id DESC LIMIT ?`, append(w.args, limit)...)
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

func scanSession(row scanner) (store.Session, error) {
	var ss store.Session
	var created, seen, expires string
	if err := row.Scan(&ss.IDHash, &ss.Actor, &ss.Role, &ss.CSRF, &ss.Flash, &created, &seen, &expires); err != nil {
		return ss, err
	}
	var ts times
	ts.at(created, &ss.CreatedAt)
	ts.at(seen, &ss.LastSeen)
	ts.at(expires, &ss.ExpiresAt)
	if ts.err != nil {
		return ss, contract.Corrupt("sessions", ss.IDHash, ts.err)
	}
	return ss, nil
}

// PutSession implements store.RunControlStore.
func (s *Store) PutSession(ctx context.Context, ss store.Session) error {
	ss, err := contract.PrepareSession(ss, contract.Time(s.now()))
	if err != nil {
		return fmt.Errorf("putting session: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id_hash) DO UPDATE SET actor = excluded.actor, role = excluded.role,
			csrf = excluded.csrf, flash = excluded.flash, created_at = excluded.created_at,
			last_seen = excluded.last_seen, expires_at = excluded.expires_at`,
		ss.IDHash, ss.Actor, ss.Role, ss.CSRF, ss.Flash, fmtTime(ss.CreatedAt),
		fmtTime(ss.LastSeen), fmtTime(ss.ExpiresAt)); err != nil {
		return fmt.Errorf("putting session of %q: %w", ss.Actor, dbErr(err))
	}
	return nil
}

// GetSession implements store.RunControlStore.
func (s *Store) GetSession(ctx context.Context, idHash string, now time.Time) (store.Session, error) {
	ss, err := scanSession(s.reader.QueryRowContext(ctx, `SELECT `+sessionColumns+`
		FROM sessions WHERE id_hash = ? AND expires_at >= ?`, idHash, fmtTime(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return ss, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return ss, fmt.Errorf("getting session: %w", dbErr(err))
	}
	return ss, nil
}

// TouchSession implements store.RunControlStore.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen, expiresAt time.Time) error {
	res, err := s.writer.ExecContext(ctx, `UPDATE sessions SET last_seen = ?, expires_at = ?
		WHERE id_hash = ?`, fmtTime(lastSeen), fmtTime(expiresAt), idHash)
	if err != nil {
		return fmt.Errorf("touching session: %w", dbErr(err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("touching session: %w", firstErr(err, store.ErrNotFound))
	}
	return nil
}

// DeleteSession implements store.RunControlStore.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("deleting session: %w", dbErr(err))
	}
	return nil
}

// DeleteExpiredSessions implements store.RunControlStore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("deleting expired sessions: %w", dbErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("deleting expired sessions: %w", dbErr(err))
	}
	return int(n), nil
}

// --- backfills ---

const backfillColumns = `id, definition_id, from_at, to_at, overlap, requested_at, actor`

func scanBackfill(row scanner) (store.Backfill, error) {
	var b store.Backfill
	var from, to, requested string
	if err := row.Scan(&b.ID, &b.DefinitionID, &from, &to, &b.Overlap, &requested, &b.Actor); err != nil {
		return b, err
	}
	var ts times
	ts.at(from, &b.From)
	ts.at(to, &b.To)
	ts.at(requested, &b.RequestedAt)
	if err := firstErr(ts.err, contract.CheckBackfill(b)); err != nil {
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
	err = s.writer.QueryRowContext(ctx, `INSERT INTO backfills (definition_id, from_at, to_at,
			overlap, requested_at, actor)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		b.DefinitionID, fmtTime(b.From), fmtTime(b.To), b.Overlap, fmtTime(b.RequestedAt), b.Actor).Scan(&b.ID)
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
	fire := fmtTime(fireTime)
	rows, err := s.reader.QueryContext(ctx, `SELECT `+backfillColumns+` FROM backfills
		WHERE definition_id = ? AND requested_at <= ? AND from_at <= ? AND to_at > ?
		ORDER BY requested_at DESC, id DESC`, definitionID, fmtTime(startedAt), fire, fire)
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
	return store.Backfill{}, fmt.Errorf("backfill of %q holding %s: %w", definitionID,
		fireTime.UTC().Format(time.RFC3339), store.ErrNotFound)
}

// --- cancel ---

// RequestRunCancel implements store.RunControlStore. The run's UpdatedAt
// moves, so feeds and pages see the request.
func (s *Store) RequestRunCancel(ctx context.Context, runID, by, note string) error {
	by, note, err := contract.PrepareCancel(runID, by, note)
	if err != nil {
		return fmt.Errorf("requesting cancel: %w", err)
	}
	var status string
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT status FROM runs WHERE id = ?`, runID).Scan(&status); err != nil {
			return err
		}
		if store.RunStatus(status).Terminal() {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE runs SET canceled_by = ?, cancel_note = ?, updated_at = ?
			WHERE id = ?`, by, note, fmtTime(s.now()), runID)
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("run %q: %w", runID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("requesting cancel of run %q: %w", runID, dbErr(err))
	case store.RunStatus(status).Terminal():
		return fmt.Errorf("cancelling run %q: it is already %s: %w", runID, status, store.ErrConflict)
	}
	return nil
}
