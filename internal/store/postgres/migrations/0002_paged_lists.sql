-- Indexes for paged lists (docs/benchmarks-store.md#paged-lists).
--
-- ListRuns filtered by definition and status: without this index the
-- planner walks runs_definition_idx and reads every run of the definition
-- until it has found a page with that status, which is the definition's
-- whole history for a rare status. This index gives one range scan that
-- stops after the page.
CREATE INDEX runs_definition_status_idx ON runs (definition_id, status, created_at DESC, id DESC);

-- ListDefinitionsPage of one source: keyset on id inside the source. The
-- index keeps serving MarkDefinitionsRemoved, which selects by source.
DROP INDEX definitions_source_dir_idx;
CREATE INDEX definitions_source_dir_idx ON definitions (source_dir, id) WHERE removed_at IS NULL;
