-- What run control keeps, the SQLite twin of
-- ../../postgres/migrations/0004_run_control.sql (same tables, columns and
-- indexes; docs/run-control.md).

-- The pool a run was placed on ('' is the default pool), its resolved
-- inputs (a JSON object, NULL when the definition declares none), and who
-- asked to cancel it and why.
ALTER TABLE runs ADD COLUMN pool TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN inputs TEXT;
ALTER TABLE runs ADD COLUMN canceled_by TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN cancel_note TEXT NOT NULL DEFAULT '';

-- Who did what. The id orders records (AUTOINCREMENT: never reused, so a
-- page cursor never points at a different record later); ListAudit pages
-- newest first by id.
CREATE TABLE audit (
    id            INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
    at            TEXT        NOT NULL,
    actor         TEXT        NOT NULL,
    role          TEXT        NOT NULL DEFAULT '',
    surface       TEXT        NOT NULL DEFAULT '',
    action        TEXT        NOT NULL,
    definition_id TEXT        NOT NULL DEFAULT '',
    run_id        TEXT        NOT NULL DEFAULT '',
    note          TEXT        NOT NULL DEFAULT '',
    outcome       TEXT        NOT NULL,
    message       TEXT        NOT NULL DEFAULT '',
    detail        TEXT
) STRICT;

-- ListAudit of one actor, definition or run, newest first: one range scan
-- that stops after the page. Unfiltered and by-action lists walk the
-- primary key backwards.
CREATE INDEX audit_actor_idx ON audit (actor, id DESC);
CREATE INDEX audit_definition_idx ON audit (definition_id, id DESC) WHERE definition_id <> '';
CREATE INDEX audit_run_idx ON audit (run_id, id DESC) WHERE run_id <> '';

-- Dashboard sessions, keyed by the SHA-256 of the session id (never the id
-- nor the token).
CREATE TABLE sessions (
    id_hash    TEXT        NOT NULL PRIMARY KEY,
    actor      TEXT        NOT NULL,
    role       TEXT        NOT NULL,
    csrf       TEXT        NOT NULL DEFAULT '',
    flash      TEXT        NOT NULL DEFAULT '',
    created_at TEXT        NOT NULL,
    last_seen  TEXT        NOT NULL,
    expires_at TEXT        NOT NULL
) STRICT;

-- DeleteExpiredSessions.
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Backfills operators asked for: the window [from_at, to_at) of one
-- definition.
CREATE TABLE backfills (
    id            INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
    definition_id TEXT        NOT NULL,
    from_at       TEXT        NOT NULL,
    to_at         TEXT        NOT NULL,
    overlap       TEXT        NOT NULL DEFAULT '',
    requested_at  TEXT        NOT NULL,
    actor         TEXT        NOT NULL DEFAULT ''
) STRICT;

-- FindBackfill: the definition's backfills newest first.
CREATE INDEX backfills_definition_idx ON backfills (definition_id, requested_at DESC, id DESC);
