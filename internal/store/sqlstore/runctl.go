package sqlstore

// The run-control queries (store.RunControlStore): the audit, sessions,
// backfills and cancel requests.

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
	var at timeCol
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

// AppendAudit implements store.RunControlStore: one batch in one
// transaction.
func (s *Store) AppendAudit(ctx context.Context, recs ...store.AuditRecord) error {
	return appendAll(ctx, s, "the audit", recs, contract.PrepareAudit, func(a store.AuditRecord) Stmt {
		return Stmt{`INSERT INTO audit (at, actor, role, surface, action, definition_id, run_id, note,
				outcome, message, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			[]any{s.time(a.At), a.Actor, a.Role, a.Surface, a.Action, a.DefinitionID, a.RunID,
				a.Note, a.Outcome, a.Message, jsonArg(a.Detail)}}
	})
}

// ListAudit implements store.RunControlStore: a range scan of the primary
// key, or of the actor, action, definition or run index, from the cursor
// down.
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
	return list(ctx, s, "the audit", `SELECT `+auditColumns+` FROM audit`+w.sql()+
		` ORDER BY id DESC LIMIT `+w.param(limit), w.args, scanAudit)
}

// --- sessions ---

const sessionColumns = `id_hash, actor, role, csrf, flash, created_at, last_seen, expires_at`

func scanSession(row scanner) (store.Session, error) {
	var ss store.Session
	var created, seen, expires timeCol
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

// validKey reports whether s can be a stored key at all: PostgreSQL text
// refuses NUL and invalid UTF-8 with an error, where a lookup of such a
// key (a cookie is the caller's input) should find nothing.
func validKey(s string) bool { return contract.Key("key", s) == nil }

// PutSession implements store.RunControlStore.
func (s *Store) PutSession(ctx context.Context, ss store.Session) error {
	ss, err := contract.PrepareSession(ss, contract.Time(s.now()))
	if err != nil {
		return fmt.Errorf("putting session: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id_hash) DO UPDATE SET actor = excluded.actor, role = excluded.role,
			csrf = excluded.csrf, flash = excluded.flash, created_at = excluded.created_at,
			last_seen = excluded.last_seen, expires_at = excluded.expires_at`,
		ss.IDHash, ss.Actor, ss.Role, ss.CSRF, ss.Flash, s.time(ss.CreatedAt),
		s.time(ss.LastSeen), s.time(ss.ExpiresAt)); err != nil {
		return fmt.Errorf("putting session of %q: %w", ss.Actor, s.dbErr(err))
	}
	return nil
}

// GetSession implements store.RunControlStore.
func (s *Store) GetSession(ctx context.Context, idHash string, now time.Time) (store.Session, error) {
	if !validKey(idHash) {
		return store.Session{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return get(ctx, s, "session", `SELECT `+sessionColumns+`
		FROM sessions WHERE id_hash = $1 AND expires_at >= $2`, []any{idHash, s.time(now)}, scanSession)
}

// TouchSession implements store.RunControlStore.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen, expiresAt time.Time) error {
	if !validKey(idHash) {
		return fmt.Errorf("touching session: %w", store.ErrNotFound)
	}
	res, err := s.writer.ExecContext(ctx, `UPDATE sessions SET last_seen = $2, expires_at = $3
		WHERE id_hash = $1`, idHash, s.time(lastSeen), s.time(expiresAt))
	if err != nil {
		return fmt.Errorf("touching session: %w", s.dbErr(err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("touching session: %w", firstErr(err, store.ErrNotFound))
	}
	return nil
}

// DeleteSession implements store.RunControlStore.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if !validKey(idHash) {
		return nil
	}
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("deleting session: %w", s.dbErr(err))
	}
	return nil
}

// DeleteExpiredSessions implements store.RunControlStore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < $1`, s.time(now))
	if err != nil {
		return 0, fmt.Errorf("deleting expired sessions: %w", s.dbErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("deleting expired sessions: %w", s.dbErr(err))
	}
	return int(n), nil
}

// --- backfills ---

const backfillColumns = `id, definition_id, from_at, to_at, overlap, requested_at, actor`

func scanBackfill(row scanner) (store.Backfill, error) {
	var b store.Backfill
	var from, to, requested timeCol
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
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		b.DefinitionID, s.time(b.From), s.time(b.To), b.Overlap, s.time(b.RequestedAt), b.Actor).Scan(&b.ID)
	if err != nil {
		return b, fmt.Errorf("recording backfill of %q: %w", b.DefinitionID, s.dbErr(err))
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
	rows, err := s.reader.QueryContext(ctx, `SELECT `+backfillColumns+` FROM backfills
		WHERE definition_id = $1 AND requested_at <= $2 AND from_at <= $3 AND to_at > $3
		ORDER BY requested_at DESC, id DESC`, definitionID, s.time(startedAt), s.time(fireTime))
	if err != nil {
		return store.Backfill{}, fmt.Errorf("finding backfill of %q: %w", definitionID, s.dbErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		b, err := scanBackfill(rows)
		if err == nil {
			return b, nil
		}
		if err := contract.SkipCorrupt(ctx, s.logger, err); err != nil {
			return store.Backfill{}, fmt.Errorf("finding backfill of %q: %w", definitionID, s.dbErr(err))
		}
	}
	if err := rows.Err(); err != nil {
		return store.Backfill{}, fmt.Errorf("finding backfill of %q: %w", definitionID, s.dbErr(err))
	}
	return store.Backfill{}, notFound
}

// --- cancel ---

// RequestRunCancel implements store.RunControlStore in one UPDATE that
// checks the status it changes, so an engine finishing the run meanwhile
// either comes first (and the request is a conflict) or after (and keeps
// the request's fields, see UpdateRun). The run's UpdatedAt moves, so
// feeds and pages see the request.
func (s *Store) RequestRunCancel(ctx context.Context, runID, by, note string) error {
	by, note, err := contract.PrepareCancel(runID, by, note)
	if err != nil {
		return fmt.Errorf("requesting cancel: %w", err)
	}
	var status string
	err = s.writeTx(ctx, func(tx *Tx) error {
		// A run created between the UPDATE and the SELECT reads as not
		// terminal: the second UPDATE then finds it. Runs never leave a
		// terminal status, so two tries settle it.
		for try := 0; try < 2 && !store.RunStatus(status).Terminal(); try++ {
			res, err := tx.ExecContext(ctx, `UPDATE runs SET canceled_by = $2, cancel_note = $3, updated_at = $4
				WHERE id = $1 AND NOT (`+s.d.In("status", "$5")+`)`,
				runID, by, note, s.time(s.now()), s.keys(contract.TerminalStatuses()))
			var n int64
			if err == nil {
				n, err = res.RowsAffected()
			}
			if err != nil || n == 1 {
				status = ""
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT status FROM runs WHERE id = $1`, runID).Scan(&status); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("run %q: %w", runID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("requesting cancel of run %q: %w", runID, s.dbErr(err))
	case status == "":
		return nil
	}
	return fmt.Errorf("cancelling run %q: it is already %s: %w", runID, status, store.ErrConflict)
}
