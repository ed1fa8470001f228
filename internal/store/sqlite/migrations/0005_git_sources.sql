-- What git sources and shadow runs keep, the SQLite twin of
-- ../../postgres/migrations/0005_git_sources.sql (docs/git-sources.md,
-- docs/cutover.md).

-- The origin (source, commit, commit time, author, path) of the current
-- version and of each version, as a JSON object; NULL for versions stored
-- before origins were recorded.
ALTER TABLE definitions ADD COLUMN origin TEXT;
ALTER TABLE definition_versions ADD COLUMN origin TEXT;

-- What a shadow run would have run, as a JSON object; NULL otherwise.
ALTER TABLE runs ADD COLUMN shadow_plan TEXT;

-- Each configured source's last sync (store.SourceState, as JSON).
CREATE TABLE source_states (
    name       TEXT NOT NULL PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
