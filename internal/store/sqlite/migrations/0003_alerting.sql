-- What the detector, the notifier and the timeline keep, the SQLite twin of
-- ../../postgres/migrations/0003_alerting.sql (same tables, columns and
-- indexes; docs/alerting.md).

-- One row per definition the detector has looked at. problems is the JSON
-- list of active problems (store.Problem), read and written whole.
CREATE TABLE definition_health (
    definition_id        TEXT        NOT NULL PRIMARY KEY,
    state                TEXT        NOT NULL,
    problems             TEXT        NOT NULL,
    consecutive_failures INTEGER     NOT NULL DEFAULT 0,
    last_success_at      TEXT,
    last_failure_at      TEXT,
    missed_total         INTEGER     NOT NULL DEFAULT 0,
    checked_through      TEXT,
    updated_at           TEXT        NOT NULL
) STRICT;

-- Timeline entries point at definitions without a foreign key, as runs
-- do. The id orders entries of the same instant in the order written
-- (AUTOINCREMENT: an id is never reused).
CREATE TABLE timeline_entries (
    id            INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
    definition_id TEXT        NOT NULL,
    at            TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    summary       TEXT        NOT NULL DEFAULT '',
    actor         TEXT        NOT NULL DEFAULT '',
    run_id        TEXT        NOT NULL DEFAULT '',
    detail        TEXT
) STRICT;

-- ListTimeline: one definition's entries in [since, until), oldest first.
CREATE INDEX timeline_entries_definition_idx ON timeline_entries (definition_id, at, id);

-- The outbox. The id is the caller's, derived from the problem and the
-- target, so enqueueing the same alert twice inserts nothing.
CREATE TABLE notifications (
    id              TEXT        NOT NULL PRIMARY KEY,
    definition_id   TEXT        NOT NULL,
    run_id          TEXT        NOT NULL DEFAULT '',
    event           TEXT        NOT NULL,
    target          TEXT        NOT NULL,
    target_spec     TEXT        NOT NULL,
    message         TEXT        NOT NULL,
    status          TEXT        NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TEXT        NOT NULL,
    last_error      TEXT        NOT NULL DEFAULT '',
    group_id        TEXT        NOT NULL DEFAULT '',
    created_at      TEXT        NOT NULL,
    sent_at         TEXT,
    updated_at      TEXT        NOT NULL
) STRICT;

-- DueNotifications: pending ones by next attempt, a range scan that stops
-- after the batch.
CREATE INDEX notifications_due_idx ON notifications (status, next_attempt_at, id);
-- ListNotifications of a definition (its page) and of a run (its page),
-- newest first.
CREATE INDEX notifications_definition_idx ON notifications (definition_id, created_at DESC, id DESC);
CREATE INDEX notifications_run_idx ON notifications (run_id, created_at DESC, id DESC) WHERE run_id <> '';
CREATE INDEX notifications_created_idx ON notifications (created_at DESC, id DESC);

-- Leases (the detector's): held by holder until expires_at, by the
-- database's clock (SQLite's 'now', the host's clock every process on it
-- shares).
CREATE TABLE leases (
    name       TEXT        NOT NULL PRIMARY KEY,
    holder     TEXT        NOT NULL,
    expires_at TEXT        NOT NULL
) STRICT;

-- Who paused: "operator" (the API) or "auto-pause" (the detector).
ALTER TABLE operator_pauses ADD COLUMN paused_by TEXT NOT NULL DEFAULT 'operator';

-- ListRunsUpdatedSince: the detector's feed, keyset on (updated_at, id).
CREATE INDEX runs_updated_idx ON runs (updated_at, id);
-- ScheduledRunTimes: the runs scheduled in a window, every definition.
CREATE INDEX runs_scheduled_idx ON runs (scheduled_at) WHERE scheduled_at IS NOT NULL;
