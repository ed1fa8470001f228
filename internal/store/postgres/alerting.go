package postgres

// The alerting queries of the PostgreSQL driver (store.AlertStore): health,
// timeline, the notification outbox, leases and the detector's run feeds.
// The sqlite driver's alerting.go mirrors this file.

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

// --- health ---

const healthColumns = `definition_id, state, problems, consecutive_failures, last_success_at,
	last_failure_at, missed_total, checked_through, updated_at`

func scanHealth(row pgx.Row) (store.DefinitionHealth, error) {
	var h store.DefinitionHealth
	var state string
	var problems []byte
	err := row.Scan(&h.DefinitionID, &state, &problems, &h.ConsecutiveFailures, &h.LastSuccessAt,
		&h.LastFailureAt, &h.MissedTotal, &h.CheckedThrough, &h.UpdatedAt)
	if err != nil {
		return h, err
	}
	h.State = store.HealthState(state)
	h.LastSuccessAt = utcPtr(h.LastSuccessAt)
	h.LastFailureAt = utcPtr(h.LastFailureAt)
	h.CheckedThrough = utcPtr(h.CheckedThrough)
	h.UpdatedAt = h.UpdatedAt.UTC()
	if err := contract.DecodeProblems(&h, problems); err != nil {
		return h, contract.Corrupt("definition_health", h.DefinitionID, err)
	}
	return h, nil
}

// ListHealth implements store.AlertStore.
func (s *Store) ListHealth(ctx context.Context, ids ...string) ([]store.DefinitionHealth, error) {
	q, args := `SELECT `+healthColumns+` FROM definition_health ORDER BY definition_id`, []any{}
	if len(ids) > 0 {
		q, args = `SELECT `+healthColumns+` FROM definition_health WHERE definition_id = ANY($1) ORDER BY definition_id`, []any{ids}
	}
	rows, err := s.pool.Query(ctx, q, args...)
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
	b := &pgx.Batch{}
	for _, h := range hs {
		h, problems, err := contract.PrepareHealth(h, now)
		if err != nil {
			return fmt.Errorf("putting health: %w", err)
		}
		b.Queue(`INSERT INTO definition_health (`+healthColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (definition_id) DO UPDATE SET state = excluded.state, problems = excluded.problems,
				consecutive_failures = excluded.consecutive_failures, last_success_at = excluded.last_success_at,
				last_failure_at = excluded.last_failure_at, missed_total = excluded.missed_total,
				checked_through = excluded.checked_through, updated_at = excluded.updated_at`,
			h.DefinitionID, string(h.State), problems, h.ConsecutiveFailures, h.LastSuccessAt,
			h.LastFailureAt, h.MissedTotal, h.CheckedThrough, h.UpdatedAt)
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return execBatch(ctx, tx, b) }); err != nil {
		return fmt.Errorf("putting health: %w", dbErr(err))
	}
	return nil
}

// --- timeline ---

const timelineColumns = `id, definition_id, at, kind, summary, actor, run_id, detail`

// queueTimeline adds the insert of a prepared (or store-made) entry to b.
func queueTimeline(b *pgx.Batch, e store.TimelineEntry) {
	b.Queue(`INSERT INTO timeline_entries (definition_id, at, kind, summary, actor, run_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.DefinitionID, contract.Time(e.At), e.Kind, e.Summary, e.Actor, e.RunID, []byte(e.Detail))
}

func scanTimelineEntry(row pgx.Row) (store.TimelineEntry, error) {
	var e store.TimelineEntry
	var detail []byte
	if err := row.Scan(&e.ID, &e.DefinitionID, &e.At, &e.Kind, &e.Summary, &e.Actor, &e.RunID, &detail); err != nil {
		return e, err
	}
	e.At = e.At.UTC()
	e.Detail = detail
	if err := contract.CheckTimelineEntry(e); err != nil {
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
	b := &pgx.Batch{}
	for _, e := range es {
		e, err := contract.PrepareTimelineEntry(e, now)
		if err != nil {
			return fmt.Errorf("appending to the timeline: %w", err)
		}
		queueTimeline(b, e)
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return execBatch(ctx, tx, b) }); err != nil {
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
	w.add("definition_id = $?", f.DefinitionID)
	if !f.Since.IsZero() {
		w.add("at >= $?", contract.Time(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("at < $?", contract.Time(f.Until))
	}
	w.args = append(w.args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+timelineColumns+` FROM timeline_entries`+w.sql()+
		` ORDER BY at, id LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
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

func scanNotification(row pgx.Row) (store.Notification, error) {
	var n store.Notification
	var status string
	var spec, message []byte
	err := row.Scan(&n.ID, &n.DefinitionID, &n.RunID, &n.Event, &n.Target, &spec, &message, &status,
		&n.Attempts, &n.NextAttemptAt, &n.LastError, &n.GroupID, &n.CreatedAt, &n.SentAt, &n.UpdatedAt)
	if err != nil {
		return n, err
	}
	n.Status = store.NotificationStatus(status)
	n.TargetSpec, n.Message = spec, message
	n.NextAttemptAt = n.NextAttemptAt.UTC()
	n.CreatedAt = n.CreatedAt.UTC()
	n.UpdatedAt = n.UpdatedAt.UTC()
	n.SentAt = utcPtr(n.SentAt)
	if err := contract.CheckNotification(n); err != nil {
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
	b := &pgx.Batch{}
	for _, n := range ns {
		n, err := contract.PrepareNotification(n, now)
		if err != nil {
			return 0, fmt.Errorf("enqueueing notifications: %w", err)
		}
		b.Queue(`INSERT INTO notifications (`+notificationColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (id) DO NOTHING`,
			n.ID, n.DefinitionID, n.RunID, n.Event, n.Target, []byte(n.TargetSpec), []byte(n.Message),
			string(n.Status), n.Attempts, n.NextAttemptAt, n.LastError, n.GroupID, n.CreatedAt, n.SentAt, n.UpdatedAt)
	}
	added := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		added = 0
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for range b.Len() {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			added += int(tag.RowsAffected())
		}
		return br.Close()
	})
	if err != nil {
		return 0, fmt.Errorf("enqueueing notifications: %w", dbErr(err))
	}
	return added, nil
}

// DueNotifications implements store.AlertStore: a range scan of
// notifications_due_idx, by next attempt then ID.
func (s *Store) DueNotifications(ctx context.Context, now time.Time, limit int) ([]store.Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE status = $1 AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3`,
		string(store.NotificationPending), contract.Time(now), contract.NotificationLimit(limit))
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
	now := contract.Time(s.now())
	b := &pgx.Batch{}
	ids := make([]string, len(ns))
	for i, n := range ns {
		n, err := contract.PrepareNotificationUpdate(n)
		if err != nil {
			return fmt.Errorf("updating notifications: %w", err)
		}
		ids[i] = n.ID
		b.Queue(`UPDATE notifications SET status = $2, attempts = $3, next_attempt_at = $4,
				last_error = $5, group_id = $6, sent_at = $7, updated_at = $8
			WHERE id = $1`,
			n.ID, string(n.Status), n.Attempts, n.NextAttemptAt, n.LastError, n.GroupID, n.SentAt, now)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for i := range b.Len() {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("notification %q: %w", ids[i], store.ErrNotFound)
			}
		}
		return br.Close()
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
		w.add("definition_id = $?", f.DefinitionID)
	}
	if f.RunID != "" {
		w.add("run_id = $?", f.RunID)
	}
	if f.Status != "" {
		w.add("status = $?", string(f.Status))
	}
	w.args = append(w.args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications`+w.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
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

// AcquireLease implements store.AlertStore in one statement, by the
// server's clock: the row is inserted, or taken over when it expired or
// is holder's own. Concurrent callers queue on the row, and each sees the
// winner's write before deciding, so two never both get it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := contract.CheckLease(name, holder, ttl); err != nil {
		return false, fmt.Errorf("acquiring lease: %w", err)
	}
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires_at)
		VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.expires_at <= now() OR leases.holder = excluded.holder
		RETURNING holder`, name, holder, ttl.Microseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquiring lease %q: %w", name, dbErr(err))
	}
	return got == holder, nil
}

// ReleaseLease implements store.AlertStore.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
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
	at, id := contract.Time(since), afterID
	var out []store.Run
	for len(out) < limit {
		want := limit - len(out)
		rows, err := s.pool.Query(ctx, `SELECT `+runColumns(false)+` FROM runs
			WHERE (updated_at, id) > ($1, $2) ORDER BY updated_at, id LIMIT $3`, at, id, want)
		if err != nil {
			return nil, fmt.Errorf("listing runs updated since %s: %w", since, dbErr(err))
		}
		read, skipped := 0, 0
		for rows.Next() {
			read++
			r, err := scanRun(rows)
			if err == nil {
				out = append(out, r)
			} else if err := contract.SkipCorrupt(ctx, s.logger, err); err != nil {
				rows.Close()
				return nil, fmt.Errorf("listing runs updated since %s: %w", since, dbErr(err))
			} else {
				skipped++
			}
			at, id = r.UpdatedAt, r.ID
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("listing runs updated since %s: %w", since, dbErr(err))
		}
		if skipped == 0 || read < want {
			break // no corrupt row took a place, or the feed is at its end
		}
	}
	return out, nil
}

// ScheduledRunTimes implements store.AlertStore: a range scan of
// runs_scheduled_idx.
func (s *Store) ScheduledRunTimes(ctx context.Context, from, to time.Time) (map[string][]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT definition_id, scheduled_at FROM runs
		WHERE scheduled_at >= $1 AND scheduled_at <= $2 AND status <> $3 ORDER BY definition_id, scheduled_at`,
		contract.Time(from), contract.Time(to), string(store.RunMissed))
	if err != nil {
		return nil, fmt.Errorf("listing scheduled run times: %w", dbErr(err))
	}
	out := map[string][]time.Time{}
	var id string
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		ts := out[id]
		if at = at.UTC(); len(ts) == 0 || !ts[len(ts)-1].Equal(at) {
			out[id] = append(ts, at)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing scheduled run times: %w", dbErr(err))
	}
	return out, nil
}

// LastSuccesses implements store.AlertStore.
func (s *Store) LastSuccesses(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT definition_id, max(finished_at) FROM runs
		WHERE status = $1 AND finished_at IS NOT NULL GROUP BY definition_id`, string(store.RunSucceeded))
	if err != nil {
		return nil, fmt.Errorf("listing last successes: %w", dbErr(err))
	}
	out := map[string]time.Time{}
	var id string
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		out[id] = at.UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing last successes: %w", dbErr(err))
	}
	return out, nil
}
