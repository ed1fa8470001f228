package sqlstore

// The alerting queries (store.AlertStore): health, timeline, the
// notification outbox, leases and the detector's run feeds.

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
	var state, problems string
	var success, failure, checked, updated timeCol
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
	q, args := `SELECT `+healthColumns+` FROM definition_health ORDER BY definition_id`, []any(nil)
	if len(ids) > 0 {
		q, args = `SELECT `+healthColumns+` FROM definition_health WHERE `+s.d.In("definition_id", "$1")+
			` ORDER BY definition_id`, []any{s.keys(ids)}
	}
	return list(ctx, s, "health", q, args, scanHealth)
}

// PutHealth implements store.AlertStore.
func (s *Store) PutHealth(ctx context.Context, hs ...store.DefinitionHealth) error {
	if len(hs) == 0 {
		return nil
	}
	now := contract.Time(s.now())
	stmts := make([]Stmt, len(hs))
	for i, h := range hs {
		h, problems, err := contract.PrepareHealth(h, now)
		if err != nil {
			return fmt.Errorf("putting health: %w", err)
		}
		stmts[i] = Stmt{`INSERT INTO definition_health (` + healthColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (definition_id) DO UPDATE SET state = excluded.state, problems = excluded.problems,
				consecutive_failures = excluded.consecutive_failures, last_success_at = excluded.last_success_at,
				last_failure_at = excluded.last_failure_at, missed_total = excluded.missed_total,
				checked_through = excluded.checked_through, updated_at = excluded.updated_at`,
			[]any{h.DefinitionID, string(h.State), string(problems), h.ConsecutiveFailures, s.timePtr(h.LastSuccessAt),
				s.timePtr(h.LastFailureAt), h.MissedTotal, s.timePtr(h.CheckedThrough), s.time(h.UpdatedAt)}}
	}
	if _, err := s.batch(ctx, stmts); err != nil {
		return fmt.Errorf("putting health: %w", s.dbErr(err))
	}
	return nil
}

// --- timeline ---

const timelineColumns = `id, definition_id, at, kind, summary, actor, run_id, detail`

// insertTimeline is the insert of a prepared (or store-made) entry.
func (s *Store) insertTimeline(e store.TimelineEntry) Stmt {
	return Stmt{`INSERT INTO timeline_entries (definition_id, at, kind, summary, actor, run_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		[]any{e.DefinitionID, s.time(e.At), e.Kind, e.Summary, e.Actor, e.RunID, jsonArg(e.Detail)}}
}

func scanTimelineEntry(row scanner) (store.TimelineEntry, error) {
	var e store.TimelineEntry
	var at timeCol
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
	return appendAll(ctx, s, "the timeline", es, contract.PrepareTimelineEntry, s.insertTimeline)
}

// appendAll prepares records at one now and inserts them in one batch.
func appendAll[T any](ctx context.Context, s *Store, what string, xs []T, prep func(T, time.Time) (T, error), insert func(T) Stmt) error {
	if len(xs) == 0 {
		return nil
	}
	in, err := contract.PrepareAll(xs, contract.Time(s.now()), prep)
	if err != nil {
		return fmt.Errorf("appending to %s: %w", what, err)
	}
	stmts := make([]Stmt, len(in))
	for i, x := range in {
		stmts[i] = insert(x)
	}
	if _, err := s.batch(ctx, stmts); err != nil {
		return fmt.Errorf("appending to %s: %w", what, s.dbErr(err))
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
		w.add("at >= ?", s.time(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("at < ?", s.time(f.Until))
	}
	return list(ctx, s, fmt.Sprintf("the timeline of %q", f.DefinitionID), `SELECT `+timelineColumns+
		` FROM timeline_entries`+w.sql()+` ORDER BY at, id LIMIT `+w.param(limit), w.args, scanTimelineEntry)
}

// --- notifications ---

const notificationColumns = `id, definition_id, run_id, event, target, target_spec, message, status,
	attempts, next_attempt_at, last_error, group_id, created_at, sent_at, updated_at`

func scanNotification(row scanner) (store.Notification, error) {
	var n store.Notification
	var status, spec, message string
	var next, created, sent, updated timeCol
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
	in, err := contract.PrepareAll(ns, contract.Time(s.now()), contract.PrepareNotification)
	if err != nil {
		return 0, fmt.Errorf("enqueueing notifications: %w", err)
	}
	stmts := make([]Stmt, len(in))
	for i, n := range in {
		stmts[i] = Stmt{`INSERT INTO notifications (` + notificationColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (id) DO NOTHING`,
			[]any{n.ID, n.DefinitionID, n.RunID, n.Event, n.Target, string(n.TargetSpec), string(n.Message),
				string(n.Status), n.Attempts, s.time(n.NextAttemptAt), n.LastError, n.GroupID,
				s.time(n.CreatedAt), s.timePtr(n.SentAt), s.time(n.UpdatedAt)}}
	}
	counts, err := s.batch(ctx, stmts)
	if err != nil {
		return 0, fmt.Errorf("enqueueing notifications: %w", s.dbErr(err))
	}
	added := 0
	for _, k := range counts {
		added += int(k)
	}
	return added, nil
}

// DueNotifications implements store.AlertStore: a range scan of
// notifications_due_idx, by next attempt then ID.
func (s *Store) DueNotifications(ctx context.Context, now time.Time, limit int) ([]store.Notification, error) {
	return list(ctx, s, "due notifications", `SELECT `+notificationColumns+` FROM notifications
		WHERE status = $1 AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3`,
		[]any{string(store.NotificationPending), s.time(now), contract.NotificationLimit(limit)}, scanNotification)
}

// UpdateNotifications implements store.AlertStore, in one transaction: a
// notification that does not exist is ErrNotFound and nothing is written.
func (s *Store) UpdateNotifications(ctx context.Context, ns ...store.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	now := s.time(s.now())
	stmts := make([]Stmt, len(ns))
	for i, n := range ns {
		n, err := contract.PrepareNotificationUpdate(n)
		if err != nil {
			return fmt.Errorf("updating notifications: %w", err)
		}
		stmts[i] = Stmt{`UPDATE notifications SET status = $2, attempts = $3, next_attempt_at = $4,
				last_error = $5, group_id = $6, sent_at = $7, updated_at = $8
			WHERE id = $1`,
			[]any{n.ID, string(n.Status), n.Attempts, s.time(n.NextAttemptAt), n.LastError, n.GroupID, s.timePtr(n.SentAt), now}}
	}
	err := s.writeTx(ctx, func(tx *Tx) error {
		counts, err := s.d.ExecBatch(ctx, tx, stmts)
		for i, k := range counts { // the statements that ran, before err
			if k == 0 {
				return fmt.Errorf("notification %q: %w", ns[i].ID, store.ErrNotFound)
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("updating notifications: %w", s.dbErr(err))
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
	return list(ctx, s, "notifications", `SELECT `+notificationColumns+` FROM notifications`+w.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT `+w.param(limit), w.args, scanNotification)
}

// --- leases ---

// AcquireLease implements store.AlertStore in one statement, by the
// database's clock: the row is inserted, or taken over when it expired or
// is holder's own. Concurrent callers queue on the row (PostgreSQL) or the
// database (SQLite), and each sees the winner's write before deciding, so
// two never both get it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := contract.CheckLease(name, holder, ttl); err != nil {
		return false, fmt.Errorf("acquiring lease: %w", err)
	}
	now, expires, arg := s.d.Lease("$3", ttl)
	var got string
	err := s.writer.QueryRowContext(ctx, `INSERT INTO leases (name, holder, expires_at)
		VALUES ($1, $2, `+expires+`)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.expires_at <= `+now+` OR leases.holder = excluded.holder
		RETURNING holder`, name, holder, arg).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquiring lease %q: %w", name, s.dbErr(err))
	}
	return got == holder, nil
}

// ReleaseLease implements store.AlertStore.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("releasing lease %q: %w", name, s.dbErr(err))
	}
	return nil
}

// --- run feeds ---

// ListRunsUpdatedSince implements store.AlertStore: a range scan of
// runs_updated_idx from the cursor. Corrupt rows are skipped but still
// move the scan on, so a run of them never stalls the feed.
func (s *Store) ListRunsUpdatedSince(ctx context.Context, since time.Time, afterID string, limit int) ([]store.Run, error) {
	limit = contract.FeedLimit(limit)
	at, id := s.time(since), afterID
	var out []store.Run
	for len(out) < limit {
		want := limit - len(out)
		read, skipped := 0, 0
		_, err := collect(ctx, s, s.reader.QueryContext, `SELECT `+runColumns(false)+`, updated_at FROM runs
			WHERE (updated_at, id) > ($1, $2) ORDER BY updated_at, id LIMIT $3`, []any{at, id, want},
			func(row scanner) (struct{}, error) {
				read++
				var raw timeCol // the cursor, even when the run's times are corrupt
				r, err := scanRun(row, &raw)
				if err == nil {
					out = append(out, r)
				} else if errors.Is(err, store.ErrCorrupt) {
					skipped++
				}
				at, id = raw.arg(), r.ID
				return struct{}{}, err
			})
		if err != nil {
			return nil, fmt.Errorf("listing runs updated since %s: %w", since, s.dbErr(err))
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
	type fire struct {
		def string
		at  time.Time
	}
	fires, err := list(ctx, s, "scheduled run times", `SELECT id, definition_id, scheduled_at FROM runs
		WHERE scheduled_at >= $1 AND scheduled_at <= $2 AND status <> $3 ORDER BY definition_id, scheduled_at`,
		[]any{s.time(from), s.time(to), string(store.RunMissed)}, func(row scanner) (fire, error) {
			var id, def string
			var at timeCol
			if err := row.Scan(&id, &def, &at); err != nil {
				return fire{}, err
			}
			t, err := at.parse()
			if err != nil {
				return fire{}, contract.Corrupt("runs", id, err)
			}
			return fire{def, t}, nil
		})
	if err != nil {
		return nil, err
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
	type success struct {
		def string
		at  time.Time
	}
	all, err := list(ctx, s, "last successes", `SELECT definition_id, max(finished_at) FROM runs
		WHERE status = $1 AND finished_at IS NOT NULL GROUP BY definition_id`, []any{string(store.RunSucceeded)},
		func(row scanner) (success, error) {
			var def string
			var at timeCol
			if err := row.Scan(&def, &at); err != nil {
				return success{}, err
			}
			t, err := at.parse()
			if err != nil {
				return success{}, contract.Corrupt("runs", "latest success of "+def, err)
			}
			return success{def, t}, nil
		})
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(all))
	for _, l := range all {
		out[l.def] = l.at
	}
	return out, nil
}
