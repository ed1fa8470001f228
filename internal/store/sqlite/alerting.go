package sqlite

// The alerting queries of the SQLite driver (store.AlertStore), mirroring
// the postgres driver's alerting.go.

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

// --- health ---

const healthColumns = `definition_id, state, problems, consecutive_failures, last_success_at,
	last_failure_at, missed_total, checked_through, updated_at`

func scanHealth(row scanner) (store.DefinitionHealth, error) {
	var h store.DefinitionHealth
	var state, problems, updated string
	var success, failure, checked sql.NullString
	err := row.Scan(&h.DefinitionID, &state, &problems, &h.ConsecutiveFailures, &success,
		&failure, &h.MissedTotal, &checked, &updated)
	if err != nil {
		return h, err
	}
	h.State = store.HealthState(state)
	var ts times
	ts.ptr(success, &h.LastSuccessAt)
	ts.ptr(failure, &h.LastFailureAt)
	ts.ptr(checked, &h.CheckedThrough)
	ts.at(updated, &h.UpdatedAt)
	if err := firstErr(ts.err, contract.DecodeProblems(&h, []byte(problems))); err != nil {
		return h, contract.Corrupt("definition_health", h.DefinitionID, err)
	}
	return h, nil
}

// ListHealth implements store.AlertStore.
func (s *Store) ListHealth(ctx context.Context, ids ...string) ([]store.DefinitionHealth, error) {
	q, args := `SELECT `+healthColumns+` FROM definition_health ORDER BY definition_id`, []any{}
	if len(ids) > 0 {
		q, args = `SELECT `+healthColumns+` FROM definition_health WHERE definition_id IN (SELECT value FROM json_each(?)) ORDER BY definition_id`, []any{jsonList(ids)}
	}
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing health: %w", dbErr(err))
	}
	hs, err := collect(ctx, s, rows, scanHealth)
	if err != nil {
		return nil, fmt.Errorf("listing health: %w", dbErr(err))
	}
	return hs, nil
}

// PutHealth implements store.AlertStore.
func (s *Store) PutHealth(ctx context.Context, hs ...store.DefinitionHealth) error {
	if len(hs) == 0 {
		return nil
	}
	now := contract.Time(s.now())
	type row struct {
		h        store.DefinitionHealth
		problems string
	}
	in := make([]row, len(hs))
	for i, h := range hs {
		h, problems, err := contract.PrepareHealth(h, now)
		if err != nil {
			return fmt.Errorf("putting health: %w", err)
		}
		in[i] = row{h, string(problems)}
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var st stmts
		defer st.close()
		for _, r := range in {
			h := r.h
			if err := st.exec(ctx, tx, `INSERT INTO definition_health (`+healthColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (definition_id) DO UPDATE SET state = excluded.state, problems = excluded.problems,
					consecutive_failures = excluded.consecutive_failures, last_success_at = excluded.last_success_at,
					last_failure_at = excluded.last_failure_at, missed_total = excluded.missed_total,
					checked_through = excluded.checked_through, updated_at = excluded.updated_at`,
				h.DefinitionID, string(h.State), r.problems, h.ConsecutiveFailures, fmtTimePtr(h.LastSuccessAt),
				fmtTimePtr(h.LastFailureAt), h.MissedTotal, fmtTimePtr(h.CheckedThrough), fmtTime(h.UpdatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("putting health: %w", dbErr(err))
	}
	return nil
}

// --- timeline ---

const timelineColumns = `id, definition_id, at, kind, summary, actor, run_id, detail`

// insertTimeline writes a prepared (or store-made) entry in tx.
func insertTimeline(ctx context.Context, tx *sql.Tx, st *stmts, e store.TimelineEntry) error {
	return st.exec(ctx, tx, `INSERT INTO timeline_entries (definition_id, at, kind, summary, actor, run_id, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.DefinitionID, fmtTime(e.At), e.Kind, e.Summary, e.Actor, e.RunID, jsonArg(e.Detail))
}

func scanTimelineEntry(row scanner) (store.TimelineEntry, error) {
	var e store.TimelineEntry
	var at string
	var detail sql.NullString
	if err := row.Scan(&e.ID, &e.DefinitionID, &at, &e.Kind, &e.Summary, &e.Actor, &e.RunID, &detail); err != nil {
		return e, err
	}
	e.Detail = jsonOf(detail)
	var ts times
	ts.at(at, &e.At)
	if err := firstErr(ts.err, contract.CheckTimelineEntry(e)); err != nil {
		return e, contract.Corrupt("timeline_entries", strconv.FormatInt(e.ID, 10), err)
	}
	return e, nil
}

// AppendTimeline implements store.AlertStore.
func (s *Store) AppendTimeline(ctx context.Context, es ...store.TimelineEntry) error {
	if len(es) == 0 {
		return nil
	}
	now := contract.Time(s.now())
	in, err := contract.PrepareAll(es, now, contract.PrepareTimelineEntry)
	if err != nil {
		return fmt.Errorf("appending to the timeline: %w", err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var st stmts
		defer st.close()
		for _, e := range in {
			if err := insertTimeline(ctx, tx, &st, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending to the timeline: %w", dbErr(err))
	}
	return nil
}

// ListTimeline implements store.AlertStore: a range scan of
// timeline_entries_definition_idx.
func (s *Store) ListTimeline(ctx context.Context, f store.TimelineFilter) ([]store.TimelineEntry, error) {
	limit, err := contract.TimelineQuery(f)
	if err != nil {
		return nil, fmt.Errorf("listing the timeline: %w", err)
	}
	w := &where{}
	w.add("definition_id = ?", f.DefinitionID)
	if !f.Since.IsZero() {
		w.add("at >= ?", fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("at < ?", fmtTime(f.Until))
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+timelineColumns+` FROM timeline_entries`+w.sql()+
		` ORDER BY at, id LIMIT ?`, append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("listing the timeline of %q: %w", f.DefinitionID, dbErr(err))
	}
	es, err := collect(ctx, s, rows, scanTimelineEntry)
	if err != nil {
		return nil, fmt.Errorf("listing the timeline of %q: %w", f.DefinitionID, dbErr(err))
	}
	return es, nil
}

// --- notifications ---

const notificationColumns = `id, definition_id, run_id, event, target, target_spec, message, status,
	attempts, next_attempt_at, last_error, group_id, created_at, sent_at, updated_at`

func scanNotification(row scanner) (store.Notification, error) {
	var n store.Notification
	var status, spec, message, next, created, updated string
	var sent sql.NullString
	err := row.Scan(&n.ID, &n.DefinitionID, &n.RunID, &n.Event, &n.Target, &spec, &message, &status,
		&n.Attempts, &next, &n.LastError, &n.GroupID, &created, &sent, &updated)
	if err != nil {
		return n, err
	}
	n.Status = store.NotificationStatus(status)
	n.TargetSpec, n.Message = []byte(spec), []byte(message)
	var ts times
	ts.at(next, &n.NextAttemptAt)
	ts.at(created, &n.CreatedAt)
	ts.at(updated, &n.UpdatedAt)
	ts.ptr(sent, &n.SentAt)
	if err := firstErr(ts.err, contract.CheckNotification(n)); err != nil {
		return n, contract.Corrupt("notifications", n.ID, err)
	}
	return n, nil
}

// EnqueueNotifications implements store.AlertStore.
func (s *Store) EnqueueNotifications(ctx context.Context, ns ...store.Notification) (int, error) {
	if len(ns) == 0 {
		return 0, nil
	}
	now := contract.Time(s.now())
	in, err := contract.PrepareAll(ns, now, contract.PrepareNotification)
	if err != nil {
		return 0, fmt.Errorf("enqueueing notifications: %w", err)
	}
	added := 0
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		added = 0
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO notifications (`+notificationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, n := range in {
			res, err := stmt.ExecContext(ctx, n.ID, n.DefinitionID, n.RunID, n.Event, n.Target,
				string(n.TargetSpec), string(n.Message), string(n.Status), n.Attempts, fmtTime(n.NextAttemptAt),
				n.LastError, n.GroupID, fmtTime(n.CreatedAt), fmtTimePtr(n.SentAt), fmtTime(n.UpdatedAt))
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("enqueueing notifications: %w", dbErr(err))
	}
	return added, nil
}

// DueNotifications implements store.AlertStore: a range scan of
// notifications_due_idx, by next attempt then ID.
func (s *Store) DueNotifications(ctx context.Context, now time.Time, limit int) ([]store.Notification, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE status = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
		string(store.NotificationPending), fmtTime(now), contract.NotificationLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("listing due notifications: %w", dbErr(err))
	}
	ns, err := collect(ctx, s, rows, scanNotification)
	if err != nil {
		return nil, fmt.Errorf("listing due notifications: %w", dbErr(err))
	}
	return ns, nil
}

// UpdateNotifications implements store.AlertStore, in one transaction: a
// notification that does not exist is ErrNotFound and nothing is written.
func (s *Store) UpdateNotifications(ctx context.Context, ns ...store.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	in := make([]store.Notification, len(ns))
	for i, n := range ns {
		var err error
		if in[i], err = contract.PrepareNotificationUpdate(n); err != nil {
			return fmt.Errorf("updating notifications: %w", err)
		}
	}
	now := fmtTime(s.now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var st stmts
		defer st.close()
		for _, n := range in {
			err := st.exec(ctx, tx, `UPDATE notifications SET status = ?2, attempts = ?3, next_attempt_at = ?4,
					last_error = ?5, group_id = ?6, sent_at = ?7, updated_at = ?8
				WHERE id = ?1`,
				n.ID, string(n.Status), n.Attempts, fmtTime(n.NextAttemptAt), n.LastError, n.GroupID,
				fmtTimePtr(n.SentAt), now)
			if errors.Is(err, errRace) {
				return fmt.Errorf("notification %q: %w", n.ID, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("updating notifications: %w", dbErr(err))
	}
	return nil
}

// ListNotifications implements store.AlertStore.
func (s *Store) ListNotifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error) {
	limit, err := contract.NotificationQuery(f)
	if err != nil {
		return nil, err
	}
	w := &where{}
	if f.DefinitionID != "" {
		w.add("definition_id = ?", f.DefinitionID)
	}
	if f.RunID != "" {
		w.add("run_id = ?", f.RunID)
	}
	if f.Status != "" {
		w.add("status = ?", string(f.Status))
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications`+w.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("listing notifications: %w", dbErr(err))
	}
	ns, err := collect(ctx, s, rows, scanNotification)
	if err != nil {
		return nil, fmt.Errorf("listing notifications: %w", dbErr(err))
	}
	return ns, nil
}

// --- leases ---

// sqlNow is SQLite's clock in the stored time format (strftime's %f has
// milliseconds; the zeros pad them to microseconds).
const sqlNow = `strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')`

// AcquireLease implements store.AlertStore in one write transaction
// (BEGIN IMMEDIATE: no other process writes meanwhile), by SQLite's clock,
// which is the host's, shared by every process using the file.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := contract.CheckLease(name, holder, ttl); err != nil {
		return false, fmt.Errorf("acquiring lease: %w", err)
	}
	var got string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO leases (name, holder, expires_at)
			VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', ?3))
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
				WHERE leases.expires_at <= `+sqlNow+` OR leases.holder = excluded.holder
			RETURNING holder`, name, holder, fmt.Sprintf("+%.3f seconds", ttl.Seconds())).Scan(&got)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquiring lease %q: %w", name, dbErr(err))
	}
	return got == holder, nil
}

// ReleaseLease implements store.AlertStore.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("releasing lease %q: %w", name, dbErr(err))
	}
	return nil
}

// --- run feeds ---

// ListRunsUpdatedSince implements store.AlertStore: a range scan of
// runs_updated_idx from the cursor. Corrupt rows are skipped but still
// move the scan on, so a run of them never stalls the feed.
func (s *Store) ListRunsUpdatedSince(ctx context.Context, since time.Time, afterID string, limit int) ([]store.Run, error) {
	limit = contract.FeedLimit(limit)
	at, id := fmtTime(since), afterID
	var out []store.Run
	for len(out) < limit {
		want := limit - len(out)
		rows, err := s.reader.QueryContext(ctx, `SELECT `+runColumns(false)+`, updated_at FROM runs
			WHERE (updated_at, id) > (?, ?) ORDER BY updated_at, id LIMIT ?`, at, id, want)
		if err != nil {
			return nil, fmt.Errorf("listing runs updated since %s: %w", since, dbErr(err))
		}
		read, skipped := 0, 0
		for rows.Next() {
			read++
			var raw string
			r, err := scanRun(feedRow{rows, &raw})
			if err == nil {
				out = append(out, r)
			} else if err := contract.SkipCorrupt(ctx, s.logger, err); err != nil {
				rows.Close()
				return nil, fmt.Errorf("listing runs updated since %s: %w", since, dbErr(err))
			} else {
				skipped++
			}
			at, id = raw, r.ID
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("listing runs updated since %s: %w", since, dbErr(err))
		}
		if skipped == 0 || read < want {
			break // no corrupt row took a place, or the feed is at its end
		}
	}
	return out, nil
}

// feedRow scans a run followed by its updated_at as stored, the feed's
// cursor even when the run's times are corrupt.
type feedRow struct {
	rows *sql.Rows
	raw  *string
}

func (f feedRow) Scan(dest ...any) error { return f.rows.Scan(append(dest, f.raw)...) }

// ScheduledRunTimes implements store.AlertStore: a range scan of
// runs_scheduled_idx.
func (s *Store) ScheduledRunTimes(ctx context.Context, from, to time.Time) (map[string][]time.Time, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT id, definition_id, scheduled_at FROM runs
		WHERE scheduled_at >= ? AND scheduled_at <= ? AND status <> ? ORDER BY definition_id, scheduled_at`,
		fmtTime(from), fmtTime(to), string(store.RunMissed))
	if err != nil {
		return nil, fmt.Errorf("listing scheduled run times: %w", dbErr(err))
	}
	type fire struct {
		def string
		at  time.Time
	}
	fires, err := collect(ctx, s, rows, func(row scanner) (fire, error) {
		var id, def, at string
		if err := row.Scan(&id, &def, &at); err != nil {
			return fire{}, err
		}
		t, err := parseTime(at)
		if err != nil {
			return fire{}, contract.Corrupt("runs", id, err)
		}
		return fire{def, t}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing scheduled run times: %w", dbErr(err))
	}
	out := map[string][]time.Time{}
	for _, f := range fires {
		if ts := out[f.def]; len(ts) == 0 || !ts[len(ts)-1].Equal(f.at) {
			out[f.def] = append(ts, f.at)
		}
	}
	return out, nil
}

// LastSuccesses implements store.AlertStore.
func (s *Store) LastSuccesses(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT definition_id, max(finished_at) FROM runs
		WHERE status = ? AND finished_at IS NOT NULL GROUP BY definition_id`, string(store.RunSucceeded))
	if err != nil {
		return nil, fmt.Errorf("listing last successes: %w", dbErr(err))
	}
	type success struct {
		def string
		at  time.Time
	}
	list, err := collect(ctx, s, rows, func(row scanner) (success, error) {
		var def, at string
		if err := row.Scan(&def, &at); err != nil {
			return success{}, err
		}
		t, err := parseTime(at)
		if err != nil {
			return success{}, contract.Corrupt("runs", "latest success of "+def, err)
		}
		return success{def, t}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing last successes: %w", dbErr(err))
	}
	out := make(map[string]time.Time, len(list))
	for _, l := range list {
		out[l.def] = l.at
	}
	return out, nil
}
