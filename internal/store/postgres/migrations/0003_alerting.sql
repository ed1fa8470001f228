-- What the detector, the notifier and the timeline keep (docs/alerting.md):
-- each definition's health, the timeline of what touched a definition, the
-- notification outbox and the detector's lease; who made an operator pause;
-- and the indexes of the detector's run feeds.

-- One row per definition the detector has looked at. problems is the JSON
-- list of active problems (store.Problem), read and written whole.
CREATE TABLE definition_health (
    definition_id        text COLLATE "C" PRIMARY KEY,
    state                text        NOT NULL,
    problems             json        NOT NULL,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    last_success_at      timestamptz,
    last_failure_at      timestamptz,
    missed_total         bigint      NOT NULL DEFAULT 0,
    checked_through      timestamptz,
    updated_at           timestamptz NOT NULL
);

-- Timeline entries point at definitions without a foreign key, as runs
-- do. The id orders entries of the same instant in the order written.
CREATE TABLE timeline_entries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    definition_id text COLLATE "C" NOT NULL,
    at            timestamptz NOT NULL,
    kind          text        NOT NULL,
    summary       text        NOT NULL DEFAULT '',
    actor         text        NOT NULL DEFAULT '',
    run_id        text        NOT NULL DEFAULT '',
    detail        json
);

-- ListTimeline: one definition's entries in [since, until), oldest first.
CREATE INDEX timeline_entries_definition_idx ON timeline_entries (definition_id, at, id);

-- The outbox. The id is the caller's, derived from the problem and the
-- target, so enqueueing the same alert twice inserts nothing.
CREATE TABLE notifications (
    id              text COLLATE "C" PRIMARY KEY,
    definition_id   text COLLATE "C" NOT NULL,
    run_id          text COLLATE "C" NOT NULL DEFAULT '',
    event           text        NOT NULL,
    target          text        NOT NULL,
    target_spec     json        NOT NULL,
    message         json        NOT NULL,
    status          text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    group_id        text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    updated_at      timestamptz NOT NULL
);

-- DueNotifications: pending ones by next attempt, a range scan that stops
-- after the batch.
CREATE INDEX notifications_due_idx ON notifications (status, next_attempt_at, id);
-- ListNotifications of a definition (its page) and of a run (its page),
-- newest first.
CREATE INDEX notifications_definition_idx ON notifications (definition_id, created_at DESC, id DESC);
CREATE INDEX notifications_run_idx ON notifications (run_id, created_at DESC, id DESC) WHERE run_id <> '';
CREATE INDEX notifications_created_idx ON notifications (created_at DESC, id DESC);

-- Leases (the detector's): held by holder until expires_at, by the
-- database's clock.
CREATE TABLE leases (
    name       text COLLATE "C" PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Who paused: "operator" (the API) or "auto-pause" (the detector).
ALTER TABLE operator_pauses ADD COLUMN paused_by text NOT NULL DEFAULT 'operator';

-- ListRunsUpdatedSince: the detector's feed, keyset on (updated_at, id).
CREATE INDEX runs_updated_idx ON runs (updated_at, id);
-- ScheduledRunTimes: the runs scheduled in a window, every definition.
CREATE INDEX runs_scheduled_idx ON runs (scheduled_at) WHERE scheduled_at IS NOT NULL;
