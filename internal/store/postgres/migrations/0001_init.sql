-- The first schema of activity-core's store.
--
-- Keys use the "C" collation so that ordering is by bytes, as in SQLite, and
-- index comparisons are cheap. JSON columns are json, not jsonb: the store
-- promises byte-for-byte round trips and jsonb would reorder keys and refuse
-- the \u0000 escape. Enumerations (status, trigger...) are plain text checked
-- by the Go code when read, so a value from a newer release is reported and
-- skipped instead of failing a whole list.

CREATE TABLE definitions (
    id           text COLLATE "C" PRIMARY KEY,
    version      integer     NOT NULL,
    content_hash text        NOT NULL,
    spec         json        NOT NULL,
    source_file  text        NOT NULL DEFAULT '',
    source_dir   text        NOT NULL DEFAULT '',
    enabled      boolean     NOT NULL,
    trigger_type text        NOT NULL,
    event_type   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    removed_at   timestamptz
);

-- MarkDefinitionsRemoved and ListDefinitions{SourceDir}.
CREATE INDEX definitions_source_dir_idx ON definitions (source_dir) WHERE removed_at IS NULL;

CREATE TABLE definition_versions (
    definition_id text COLLATE "C" NOT NULL REFERENCES definitions (id),
    version       integer     NOT NULL,
    content_hash  text        NOT NULL,
    spec          json        NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (definition_id, version)
);

CREATE TABLE event_types (
    name         text COLLATE "C" PRIMARY KEY,
    description  text        NOT NULL DEFAULT '',
    schema       json,
    source_file  text        NOT NULL DEFAULT '',
    source_dir   text        NOT NULL DEFAULT '',
    content_hash text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    removed_at   timestamptz
);

-- Runs point at definitions without a foreign key: a run for a definition
-- that could not be found must still be recorded (status skipped, with why).
CREATE TABLE runs (
    id                 text COLLATE "C" PRIMARY KEY,
    definition_id      text COLLATE "C" NOT NULL,
    definition_version integer     NOT NULL DEFAULT 0,
    content_hash       text        NOT NULL DEFAULT '',
    trigger_kind       text        NOT NULL,
    trigger_detail     json,
    status             text        NOT NULL,
    skip_reason        text        NOT NULL DEFAULT '',
    stage              text        NOT NULL DEFAULT '',
    workflow_id        text        NOT NULL DEFAULT '',
    workflow_run_id    text        NOT NULL DEFAULT '',
    scheduled_at       timestamptz,
    started_at         timestamptz,
    finished_at        timestamptz,
    context_snapshot   json,
    rule_outcome       json,
    exit_code          integer,
    -- Output tails are bytes: a command may print NULs or invalid UTF-8,
    -- and a 64 KiB tail may cut a character in two.
    stdout             bytea       NOT NULL DEFAULT '',
    stderr             bytea       NOT NULL DEFAULT '',
    error              text        NOT NULL DEFAULT '',
    attempt            integer     NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- ListRuns: newest first, keyset pagination on (created_at, id), by
-- definition, by status, or all.
CREATE INDEX runs_definition_idx ON runs (definition_id, created_at DESC, id DESC);
CREATE INDEX runs_status_idx ON runs (status, created_at DESC, id DESC);
CREATE INDEX runs_created_idx ON runs (created_at DESC, id DESC);

CREATE TABLE sync_results (
    sync_id       text COLLATE "C" PRIMARY KEY,
    dry_run       boolean     NOT NULL,
    ok            boolean     NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    error_summary text        NOT NULL DEFAULT '',
    result        json        NOT NULL
);

CREATE INDEX sync_results_started_idx ON sync_results (started_at DESC) WHERE NOT dry_run;

CREATE TABLE schedule_states (
    schedule_id    text COLLATE "C" PRIMARY KEY,
    definition_id  text COLLATE "C" NOT NULL,
    spec_hash      text        NOT NULL DEFAULT '',
    paused_by_sync boolean     NOT NULL DEFAULT false,
    note           text        NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL
);

CREATE TABLE operator_pauses (
    definition_id text COLLATE "C" PRIMARY KEY REFERENCES definitions (id),
    note          text        NOT NULL DEFAULT '',
    until         timestamptz,
    paused_at     timestamptz NOT NULL
);
