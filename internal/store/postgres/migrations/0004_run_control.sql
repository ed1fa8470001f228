-- What run control keeps (docs/run-control.md): each run's pool, inputs
-- and who asked to cancel it; the audit of who did what; dashboard
-- sessions shared by api replicas; and the backfills operators asked for.

-- The pool a run was placed on ('' is the default pool), its resolved
-- inputs (a JSON object, NULL when the definition declares none), and who
-- asked to cancel it and why. Columns with a constant default are added
-- without rewriting the table.
ALTER TABLE runs
    ADD COLUMN pool        text NOT NULL DEFAULT '',
    ADD COLUMN inputs      json,
    ADD COLUMN canceled_by text NOT NULL DEFAULT '',
    ADD COLUMN cancel_note text NOT NULL DEFAULT '';

-- Who did what. The id orders records; ListAudit pages newest first by id.
CREATE TABLE audit (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor         text COLLATE "C" NOT NULL,
    role          text        NOT NULL DEFAULT '',
    surface       text        NOT NULL DEFAULT '',
    action        text COLLATE "C" NOT NULL,
    definition_id text COLLATE "C" NOT NULL DEFAULT '',
    run_id        text COLLATE "C" NOT NULL DEFAULT '',
    note          text        NOT NULL DEFAULT '',
    outcome       text        NOT NULL,
    message       text        NOT NULL DEFAULT '',
    detail        json
);

-- ListAudit of one actor, definition or run, newest first: one range scan
-- that stops after the page. Unfiltered and by-action lists walk the
-- primary key backwards.
CREATE INDEX audit_actor_idx ON audit (actor, id DESC);
CREATE INDEX audit_definition_idx ON audit (definition_id, id DESC) WHERE definition_id <> '';
CREATE INDEX audit_run_idx ON audit (run_id, id DESC) WHERE run_id <> '';

-- Dashboard sessions, keyed by the SHA-256 of the session id (never the id
-- nor the token).
CREATE TABLE sessions (
    id_hash    text COLLATE "C" PRIMARY KEY,
    actor      text        NOT NULL,
    role       text        NOT NULL,
    csrf       text        NOT NULL DEFAULT '',
    flash      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- DeleteExpiredSessions.
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Backfills operators asked for: the window [from_at, to_at) of one
-- definition.
CREATE TABLE backfills (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    definition_id text COLLATE "C" NOT NULL,
    from_at       timestamptz NOT NULL,
    to_at         timestamptz NOT NULL,
    overlap       text        NOT NULL DEFAULT '',
    requested_at  timestamptz NOT NULL,
    actor         text        NOT NULL DEFAULT ''
);

-- FindBackfill: the definition's backfills newest first.
CREATE INDEX backfills_definition_idx ON backfills (definition_id, requested_at DESC, id DESC);
