-- The first schema of activity-core's store, the SQLite twin of
-- ../../postgres/migrations/0001_init.sql (same tables, columns and indexes).
--
-- Tables are STRICT, so a value of the wrong type is refused on write.
-- Times are TEXT in one fixed-width UTC form (2006-01-02T15:04:05.000000Z),
-- which sorts as it reads. Booleans are INTEGER 0/1. JSON columns are TEXT,
-- kept byte for byte; the Go code checks them when read, so a value edited
-- by hand into invalid JSON is reported and skipped. Enumerations are plain
-- text checked by the Go code, as in PostgreSQL.

CREATE TABLE definitions (
    id           TEXT        NOT NULL PRIMARY KEY,
    version      INTEGER     NOT NULL,
    content_hash TEXT        NOT NULL,
    spec         TEXT        NOT NULL,
    source_file  TEXT        NOT NULL DEFAULT '',
    source_dir   TEXT        NOT NULL DEFAULT '',
    enabled      INTEGER     NOT NULL,
    trigger_type TEXT        NOT NULL,
    event_type   TEXT        NOT NULL DEFAULT '',
    created_at   TEXT        NOT NULL,
    updated_at   TEXT        NOT NULL,
    removed_at   TEXT
) STRICT;

-- MarkDefinitionsRemoved and ListDefinitions{SourceDir}.
CREATE INDEX definitions_source_dir_idx ON definitions (source_dir) WHERE removed_at IS NULL;

CREATE TABLE definition_versions (
    definition_id TEXT        NOT NULL REFERENCES definitions (id),
    version       INTEGER     NOT NULL,
    content_hash  TEXT        NOT NULL,
    spec          TEXT        NOT NULL,
    created_at    TEXT        NOT NULL,
    PRIMARY KEY (definition_id, version)
) STRICT;

CREATE TABLE event_types (
    name         TEXT        NOT NULL PRIMARY KEY,
    description  TEXT        NOT NULL DEFAULT '',
    schema       TEXT,
    source_file  TEXT        NOT NULL DEFAULT '',
    source_dir   TEXT        NOT NULL DEFAULT '',
    content_hash TEXT        NOT NULL,
    created_at   TEXT        NOT NULL,
    updated_at   TEXT        NOT NULL,
    removed_at   TEXT
) STRICT;

-- Runs point at definitions without a foreign key: a run for a definition
-- that could not be found must still be recorded (status skipped, with why).
CREATE TABLE runs (
    id                 TEXT        NOT NULL PRIMARY KEY,
    definition_id      TEXT        NOT NULL,
    definition_version INTEGER     NOT NULL DEFAULT 0,
    content_hash       TEXT        NOT NULL DEFAULT '',
    trigger_kind       TEXT        NOT NULL,
    trigger_detail     TEXT,
    status             TEXT        NOT NULL,
    skip_reason        TEXT        NOT NULL DEFAULT '',
    stage              TEXT        NOT NULL DEFAULT '',
    workflow_id        TEXT        NOT NULL DEFAULT '',
    workflow_run_id    TEXT        NOT NULL DEFAULT '',
    scheduled_at       TEXT,
    started_at         TEXT,
    finished_at        TEXT,
    context_snapshot   TEXT,
    rule_outcome       TEXT,
    exit_code          INTEGER,
    -- Output tails are bytes: a command may print NULs or invalid UTF-8,
    -- and a 64 KiB tail may cut a character in two.
    stdout             BLOB        NOT NULL DEFAULT x'',
    stderr             BLOB        NOT NULL DEFAULT x'',
    error              TEXT        NOT NULL DEFAULT '',
    attempt            INTEGER     NOT NULL DEFAULT 0,
    created_at         TEXT        NOT NULL,
    updated_at         TEXT        NOT NULL
) STRICT;

-- ListRuns: newest first, keyset pagination on (created_at, id), by
-- definition, by status, or all.
CREATE INDEX runs_definition_idx ON runs (definition_id, created_at DESC, id DESC);
CREATE INDEX runs_status_idx ON runs (status, created_at DESC, id DESC);
CREATE INDEX runs_created_idx ON runs (created_at DESC, id DESC);

CREATE TABLE sync_results (
    sync_id       TEXT        NOT NULL PRIMARY KEY,
    dry_run       INTEGER     NOT NULL,
    ok            INTEGER     NOT NULL,
    started_at    TEXT        NOT NULL,
    finished_at   TEXT        NOT NULL,
    error_summary TEXT        NOT NULL DEFAULT '',
    result        TEXT        NOT NULL
) STRICT;

CREATE INDEX sync_results_started_idx ON sync_results (started_at DESC) WHERE dry_run = 0;

CREATE TABLE schedule_states (
    schedule_id    TEXT        NOT NULL PRIMARY KEY,
    definition_id  TEXT        NOT NULL,
    spec_hash      TEXT        NOT NULL DEFAULT '',
    paused_by_sync INTEGER     NOT NULL DEFAULT 0,
    note           TEXT        NOT NULL DEFAULT '',
    updated_at     TEXT        NOT NULL
) STRICT;

CREATE TABLE operator_pauses (
    definition_id TEXT        NOT NULL PRIMARY KEY REFERENCES definitions (id),
    note          TEXT        NOT NULL DEFAULT '',
    until         TEXT,
    paused_at     TEXT        NOT NULL
) STRICT;
