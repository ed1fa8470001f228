-- What git sources and shadow runs keep (docs/git-sources.md,
-- docs/cutover.md): where each definition version came from, each
-- source's last good commit and status, and what a shadow run would have
-- run.

-- The origin (source, commit, commit time, author, path) of the current
-- version and of each version, as a JSON object; NULL for versions stored
-- before origins were recorded.
ALTER TABLE definitions ADD COLUMN origin json;
ALTER TABLE definition_versions ADD COLUMN origin json;

-- What a shadow run would have run (argv, env names, working directory,
-- inputs), as a JSON object; NULL for every other run.
ALTER TABLE runs ADD COLUMN shadow_plan json;

-- Each configured source's last sync: its last good commit, pin and last
-- error (store.SourceState, as JSON).
CREATE TABLE source_states (
    name       text COLLATE "C" PRIMARY KEY,
    state      json        NOT NULL,
    updated_at timestamptz NOT NULL
);
