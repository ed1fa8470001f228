package postgres

// The data queries of the PostgreSQL driver but the alerting ones
// (alerting.go). The schema is in migrations/; the sqlite driver's
// queries.go mirrors this file.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

// errRace means a row changed between the read and the write of a batch.
// Batches hold the catalog lock, so it means someone wrote without it.
var errRace = errors.New("concurrent write")

// --- definitions ---

const definitionColumns = `id, version, content_hash, spec, source_file, source_dir,
	enabled, trigger_type, event_type, created_at, updated_at, removed_at, origin`

// scanDefinition reads a row of definitionColumns; an origin that cannot be
// decoded is logged and read as none (contract.OriginOf).
func (s *Store) scanDefinition(ctx context.Context, row pgx.Row) (store.Definition, error) {
	var d store.Definition
	var spec, origin []byte
	var trigger string
	err := row.Scan(&d.ID, &d.Version, &d.ContentHash, &spec, &d.SourceFile, &d.SourceDir,
		&d.Enabled, &trigger, &d.EventType, &d.CreatedAt, &d.UpdatedAt, &d.RemovedAt, &origin)
	if err != nil {
		return d, err
	}
	d.Spec = spec
	d.Origin = contract.OriginOf(ctx, s.logger, "definitions", d.ID, origin)
	d.TriggerType = store.TriggerType(trigger)
	d.CreatedAt = d.CreatedAt.UTC()
	d.UpdatedAt = d.UpdatedAt.UTC()
	d.RemovedAt = utcPtr(d.RemovedAt)
	if err := contract.CheckDefinition(d); err != nil {
		return d, contract.Corrupt("definitions", d.ID, err)
	}
	return d, nil
}

// UpsertDefinitions implements store.Store. Unchanged definitions cost one
// SELECT for the whole batch and no write; changes are sent as one pipelined
// batch in the same transaction. Batches hold a transaction-level advisory
// lock (the catalog lock: definitions and event types), so two batches never
// interleave between their read and their write: version numbers cannot be
// skipped or taken twice, and nobody has to retry. Updates are also
// compare-and-swap on the version read, so a writer that bypassed the lock
// (a hand edit) is reported as ErrConflict instead of being overwritten.
func (s *Store) UpsertDefinitions(ctx context.Context, defs ...store.Definition) ([]store.UpsertResult, error) {
	if len(defs) == 0 {
		return nil, nil
	}
	in := make([]store.Definition, len(defs))
	ids := make([]string, len(defs))
	seen := make(map[string]bool, len(defs))
	for i, d := range defs {
		d, err := contract.PrepareDefinition(d)
		if err != nil {
			return nil, fmt.Errorf("upserting definitions: %w", err)
		}
		if seen[d.ID] {
			return nil, fmt.Errorf("upserting definitions: id %q twice in one batch: %w", d.ID, store.ErrInvalid)
		}
		seen[d.ID] = true
		in[i], ids[i] = d, d.ID
	}
	res, err := s.upsertDefinitions(ctx, in, ids)
	if errors.Is(err, errRace) {
		err = fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("upserting definitions: %w", dbErr(err))
	}
	return res, nil
}

func (s *Store) upsertDefinitions(ctx context.Context, in []store.Definition, ids []string) ([]store.UpsertResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.catalogLockKey); err != nil {
		return nil, err
	}

	// Only what planning needs: reading 10,000 specs to find them
	// unchanged would cost more than the rest of the sync stage.
	rows, err := tx.Query(ctx, `SELECT id, version, content_hash, source_file, source_dir, removed_at, trigger_type
		FROM definitions WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	current := make(map[string]store.Definition, len(in))
	corrupt := map[string]bool{}
	for rows.Next() {
		var d store.Definition
		var trigger string
		if err := rows.Scan(&d.ID, &d.Version, &d.ContentHash, &d.SourceFile, &d.SourceDir, &d.RemovedAt, &trigger); err != nil {
			rows.Close()
			return nil, err
		}
		// A corrupt row is rewritten from the good definition the batch
		// carries, as a new version. (The json type keeps the spec valid.)
		corrupt[d.ID] = !store.TriggerType(trigger).Valid()
		current[d.ID] = d
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	now := contract.Time(s.now())
	results := make([]store.UpsertResult, len(in))
	b := &pgx.Batch{}
	for i, d := range in {
		cur, found := current[d.ID]
		var outcome store.UpsertOutcome
		if found {
			outcome = store.PlanDefinitionUpsert(&cur, d)
		} else {
			outcome = store.PlanDefinitionUpsert(nil, d)
		}
		if corrupt[d.ID] && outcome == store.Unchanged {
			outcome = store.Updated
		}
		results[i] = store.UpsertResult{ID: d.ID, Outcome: outcome, Version: cur.Version}
		newContent := outcome == store.Updated ||
			(outcome == store.Restored && (cur.ContentHash != d.ContentHash || corrupt[d.ID]))
		for _, te := range upsertEntries(d, outcome, cur.Version, newContent, now) {
			queueTimeline(b, te)
		}
		var origin []byte // only a new version records its origin
		if outcome == store.Created || newContent {
			origin = contract.OriginJSON(d.Origin)
		}
		switch {
		case outcome == store.Created:
			results[i].Version = 1
			b.Queue(`INSERT INTO definitions (id, version, content_hash, spec, source_file, source_dir,
					enabled, trigger_type, event_type, created_at, updated_at, origin)
				VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)
				ON CONFLICT (id) DO NOTHING`,
				d.ID, d.ContentHash, []byte(d.Spec), d.SourceFile, d.SourceDir,
				d.Enabled, string(d.TriggerType), d.EventType, now, origin)
			b.Queue(`INSERT INTO definition_versions (definition_id, version, content_hash, spec, created_at, origin)
				VALUES ($1, 1, $2, $3, $4, $5)`, d.ID, d.ContentHash, []byte(d.Spec), now, origin)
		case newContent:
			results[i].Version = cur.Version + 1
			b.Queue(`UPDATE definitions SET version = $3, content_hash = $4, spec = $5,
					source_file = $6, source_dir = $7, enabled = $8, trigger_type = $9,
					event_type = $10, updated_at = $11, removed_at = NULL, origin = $12
				WHERE id = $1 AND version = $2`,
				d.ID, cur.Version, cur.Version+1, d.ContentHash, []byte(d.Spec),
				d.SourceFile, d.SourceDir, d.Enabled, string(d.TriggerType), d.EventType, now, origin)
			b.Queue(`INSERT INTO definition_versions (definition_id, version, content_hash, spec, created_at, origin)
				VALUES ($1, $2, $3, $4, $5, $6)`, d.ID, cur.Version+1, d.ContentHash, []byte(d.Spec), now, origin)
		case outcome == store.Restored,
			cur.SourceFile != d.SourceFile || cur.SourceDir != d.SourceDir:
			// Back from removal with the same content, or the file
			// moved: no new version.
			b.Queue(`UPDATE definitions SET source_file = $3, source_dir = $4, updated_at = $5, removed_at = NULL
				WHERE id = $1 AND version = $2`,
				d.ID, cur.Version, d.SourceFile, d.SourceDir, now)
		}
	}
	if err := execBatch(ctx, tx, b); err != nil {
		return nil, err
	}
	return results, tx.Commit(ctx)
}

// upsertEntries are the timeline entries of upserting d with outcome over
// the stored version (0 when new).
func upsertEntries(d store.Definition, outcome store.UpsertOutcome, version int, newContent bool, now time.Time) []store.TimelineEntry {
	var out []store.TimelineEntry
	switch {
	case outcome == store.Created:
		return append(out, contract.VersionEntry(d.ID, 1, 0, now))
	case outcome == store.Restored:
		v := version
		if newContent {
			v++
		}
		out = append(out, contract.RestoredEntry(d.ID, d.SourceFile, v, now))
	}
	if newContent {
		out = append(out, contract.VersionEntry(d.ID, version+1, version, now))
	}
	return out
}

// execBatch sends b and requires every statement to affect exactly one
// row; anything less means another writer got there first.
func execBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for range b.Len() {
		tag, err := br.Exec()
		if pgCode(err) == "23505" { // unique_violation
			return fmt.Errorf("%w: %w", errRace, err)
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errRace
		}
	}
	return br.Close()
}

// MarkDefinitionsRemoved implements store.Store.
func (s *Store) MarkDefinitionsRemoved(ctx context.Context, sourceDir string, keepIDs []string) ([]string, error) {
	if sourceDir == "" {
		return nil, fmt.Errorf("marking definitions removed: empty source directory: %w", store.ErrInvalid)
	}
	var ids []string
	now := contract.Time(s.now())
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE definitions SET removed_at = $3, updated_at = $3
			WHERE source_dir = $1 AND removed_at IS NULL AND NOT (id = ANY($2))
			RETURNING id, source_file`, sourceDir, nonNil(keepIDs), now)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		var id, file string
		_, err = pgx.ForEachRow(rows, []any{&id, &file}, func() error {
			ids = append(ids, id)
			queueTimeline(b, contract.RemovedEntry(id, file, now))
			return nil
		})
		if err != nil {
			return err
		}
		return execBatch(ctx, tx, b)
	})
	if err != nil {
		return nil, fmt.Errorf("marking definitions of %q removed: %w", sourceDir, dbErr(err))
	}
	slices.Sort(ids)
	return ids, nil
}

// GetDefinition implements store.Store.
func (s *Store) GetDefinition(ctx context.Context, id string) (store.Definition, error) {
	d, err := s.scanDefinition(ctx, s.pool.QueryRow(ctx, `SELECT `+definitionColumns+` FROM definitions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("definition %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("getting definition %q: %w", id, dbErr(err))
	}
	return d, nil
}

// GetDefinitionVersion implements store.Store.
func (s *Store) GetDefinitionVersion(ctx context.Context, id string, version int) (store.DefinitionVersion, error) {
	var v store.DefinitionVersion
	var spec, origin []byte
	err := s.pool.QueryRow(ctx, `SELECT definition_id, version, content_hash, spec, created_at, origin
		FROM definition_versions WHERE definition_id = $1 AND version = $2`, id, version).
		Scan(&v.DefinitionID, &v.Version, &v.ContentHash, &spec, &v.CreatedAt, &origin)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("definition %q version %d: %w", id, version, store.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("getting definition %q version %d: %w", id, version, dbErr(err))
	}
	v.Spec = spec
	v.Origin = contract.OriginOf(ctx, s.logger, "definition_versions", id+"@"+strconv.Itoa(version), origin)
	v.CreatedAt = v.CreatedAt.UTC()
	if err := contract.CheckDefinitionVersion(v); err != nil {
		return v, contract.Corrupt("definition_versions", id+"@"+strconv.Itoa(version), err)
	}
	return v, nil
}

// ListDefinitions implements store.Store.
func (s *Store) ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]store.Definition, error) {
	w := definitionWhere(f)
	rows, err := s.pool.Query(ctx, `SELECT `+definitionColumns+` FROM definitions`+w.sql()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("listing definitions: %w", dbErr(err))
	}
	defs, err := collect(ctx, s, rows, func(row pgx.Row) (store.Definition, error) {
		return s.scanDefinition(ctx, row)
	})
	if err != nil {
		return nil, fmt.Errorf("listing definitions: %w", dbErr(err))
	}
	return defs, nil
}

func definitionWhere(f store.DefinitionFilter) *where {
	w := &where{}
	if !f.IncludeRemoved {
		w.add("removed_at IS NULL")
	}
	if f.TriggerType != "" {
		w.add("trigger_type = $?", string(f.TriggerType))
	}
	if f.Enabled != nil {
		w.add("enabled = $?", *f.Enabled)
	}
	if f.SourceDir != "" {
		w.add("source_dir = $?", f.SourceDir)
	}
	return w
}

// ListDefinitionsPage implements store.Store: a range scan of the primary
// key (or of definitions_source_dir_idx) from the cursor, stopping after
// the page.
func (s *Store) ListDefinitionsPage(ctx context.Context, f store.DefinitionPageFilter) (store.DefinitionPage, error) {
	w := definitionWhere(f.DefinitionFilter)
	op, order, after, err := contract.DefinitionPageQuery(f)
	if err != nil {
		return store.DefinitionPage{}, fmt.Errorf("listing definitions: %w", err)
	}
	if op != "" {
		w.add("id "+op+" $?", after)
	}
	limit := contract.DefinitionLimit(f.Limit)
	w.args = append(w.args, limit+1)
	rows, err := s.pool.Query(ctx, `SELECT `+definitionColumns+` FROM definitions`+w.sql()+
		` ORDER BY `+order+` LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	if err != nil {
		return store.DefinitionPage{}, fmt.Errorf("listing definitions: %w", dbErr(err))
	}
	defer rows.Close()
	var keys []string
	var defs []store.Definition
	n, more := 0, false
	for rows.Next() {
		if n++; n > limit {
			more = true
			break
		}
		d, err := s.scanDefinition(ctx, rows)
		if err == nil {
			defs = append(defs, d)
		} else if err := contract.SkipCorrupt(ctx, s.logger, err); err != nil {
			return store.DefinitionPage{}, fmt.Errorf("listing definitions: %w", dbErr(err))
		}
		if d.ID != "" {
			keys = append(keys, d.ID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.DefinitionPage{}, fmt.Errorf("listing definitions: %w", dbErr(err))
	}
	return contract.DefinitionPageOf(f, keys, defs, more), nil
}

// sourcesQuery walks definitions_source_dir_idx from one source to the
// next (a loose index scan): one index probe per source, however many
// definitions each holds.
const sourcesQuery = `WITH RECURSIVE s(dir) AS (
		SELECT min(source_dir) FROM definitions WHERE removed_at IS NULL
		UNION ALL
		SELECT (SELECT min(source_dir) FROM definitions WHERE removed_at IS NULL AND source_dir > s.dir)
		FROM s WHERE s.dir IS NOT NULL)
	SELECT dir FROM s WHERE dir IS NOT NULL`

// ListDefinitionSources implements store.Store.
func (s *Store) ListDefinitionSources(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, sourcesQuery)
	if err != nil {
		return nil, fmt.Errorf("listing definition sources: %w", dbErr(err))
	}
	dirs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing definition sources: %w", dbErr(err))
	}
	return dirs, nil
}

// --- event types ---

const eventTypeColumns = `name, description, schema, source_file, source_dir, content_hash,
	created_at, updated_at, removed_at`

func scanEventType(row pgx.Row) (store.EventType, error) {
	var e store.EventType
	var schema []byte
	err := row.Scan(&e.Name, &e.Description, &schema, &e.SourceFile, &e.SourceDir, &e.ContentHash,
		&e.CreatedAt, &e.UpdatedAt, &e.RemovedAt)
	if err != nil {
		return e, err
	}
	e.Schema = schema
	e.CreatedAt = e.CreatedAt.UTC()
	e.UpdatedAt = e.UpdatedAt.UTC()
	e.RemovedAt = utcPtr(e.RemovedAt)
	if err := contract.CheckEventType(e); err != nil {
		return e, contract.Corrupt("event_types", e.Name, err)
	}
	return e, nil
}

// UpsertEventTypes implements store.Store, like UpsertDefinitions (same
// catalog lock). Event types have no version to compare and swap on; the
// lock is what keeps batches apart.
func (s *Store) UpsertEventTypes(ctx context.Context, types ...store.EventType) ([]store.UpsertResult, error) {
	if len(types) == 0 {
		return nil, nil
	}
	in := make([]store.EventType, len(types))
	names := make([]string, len(types))
	seen := make(map[string]bool, len(types))
	for i, e := range types {
		e, err := contract.PrepareEventType(e)
		if err != nil {
			return nil, fmt.Errorf("upserting event types: %w", err)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("upserting event types: name %q twice in one batch: %w", e.Name, store.ErrInvalid)
		}
		seen[e.Name] = true
		in[i], names[i] = e, e.Name
	}
	res, err := s.upsertEventTypes(ctx, in, names)
	if errors.Is(err, errRace) {
		err = fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("upserting event types: %w", dbErr(err))
	}
	return res, nil
}

func (s *Store) upsertEventTypes(ctx context.Context, in []store.EventType, names []string) ([]store.UpsertResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.catalogLockKey); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT name, content_hash, source_file, source_dir, removed_at
		FROM event_types WHERE name = ANY($1)`, names)
	if err != nil {
		return nil, err
	}
	current := make(map[string]store.EventType, len(in))
	for rows.Next() {
		var e store.EventType
		if err := rows.Scan(&e.Name, &e.ContentHash, &e.SourceFile, &e.SourceDir, &e.RemovedAt); err != nil {
			rows.Close()
			return nil, err
		}
		current[e.Name] = e
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	now := contract.Time(s.now())
	results := make([]store.UpsertResult, len(in))
	b := &pgx.Batch{}
	for i, e := range in {
		cur, found := current[e.Name]
		var outcome store.UpsertOutcome
		if found {
			outcome = store.PlanEventTypeUpsert(&cur, e)
		} else {
			outcome = store.PlanEventTypeUpsert(nil, e)
		}
		results[i] = store.UpsertResult{ID: e.Name, Outcome: outcome}
		switch {
		case outcome == store.Created:
			b.Queue(`INSERT INTO event_types (name, description, schema, source_file, source_dir, content_hash,
					created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
				ON CONFLICT (name) DO NOTHING`,
				e.Name, e.Description, []byte(e.Schema), e.SourceFile, e.SourceDir, e.ContentHash, now)
		case outcome != store.Unchanged || cur.SourceFile != e.SourceFile || cur.SourceDir != e.SourceDir:
			b.Queue(`UPDATE event_types SET description = $2, schema = $3, source_file = $4, source_dir = $5,
					content_hash = $6, updated_at = $7, removed_at = NULL
				WHERE name = $1`,
				e.Name, e.Description, []byte(e.Schema), e.SourceFile, e.SourceDir, e.ContentHash, now)
		}
	}
	if err := execBatch(ctx, tx, b); err != nil {
		return nil, err
	}
	return results, tx.Commit(ctx)
}

// MarkEventTypesRemoved implements store.Store.
func (s *Store) MarkEventTypesRemoved(ctx context.Context, sourceDir string, keepNames []string) ([]string, error) {
	if sourceDir == "" {
		return nil, fmt.Errorf("marking event types removed: empty source directory: %w", store.ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `UPDATE event_types SET removed_at = $3, updated_at = $3
		WHERE source_dir = $1 AND removed_at IS NULL AND NOT (name = ANY($2))
		RETURNING name`, sourceDir, nonNil(keepNames), contract.Time(s.now()))
	if err != nil {
		return nil, fmt.Errorf("marking event types of %q removed: %w", sourceDir, dbErr(err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("marking event types of %q removed: %w", sourceDir, dbErr(err))
	}
	slices.Sort(names)
	return names, nil
}

// ListEventTypes implements store.Store.
func (s *Store) ListEventTypes(ctx context.Context, f store.EventTypeFilter) ([]store.EventType, error) {
	var w where
	if !f.IncludeRemoved {
		w.add("removed_at IS NULL")
	}
	if f.SourceDir != "" {
		w.add("source_dir = $?", f.SourceDir)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventTypeColumns+` FROM event_types`+w.sql()+` ORDER BY name`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("listing event types: %w", dbErr(err))
	}
	types, err := collect(ctx, s, rows, scanEventType)
	if err != nil {
		return nil, fmt.Errorf("listing event types: %w", dbErr(err))
	}
	return types, nil
}

// --- runs ---

func runColumns(withOutput bool) string {
	output := `''::bytea, ''::bytea`
	if withOutput {
		output = `stdout, stderr`
	}
	return `id, definition_id, definition_version, content_hash, trigger_kind, trigger_detail,
		status, skip_reason, stage, workflow_id, workflow_run_id, scheduled_at, started_at,
		finished_at, context_snapshot, rule_outcome, exit_code, ` + output + `, error, attempt,
		pool, inputs, canceled_by, cancel_note, shadow_plan, created_at, updated_at`
}

func scanRun(row pgx.Row) (store.Run, error) {
	var r store.Run
	var trigger, status, stage string
	var detail, snapshot, outcome, stdout, stderr, inputs, plan []byte
	var exitCode *int32
	err := row.Scan(&r.ID, &r.DefinitionID, &r.DefinitionVersion, &r.ContentHash, &trigger, &detail,
		&status, &r.SkipReason, &stage, &r.WorkflowID, &r.WorkflowRunID, &r.ScheduledAt, &r.StartedAt,
		&r.FinishedAt, &snapshot, &outcome, &exitCode, &stdout, &stderr, &r.Error, &r.Attempt,
		&r.Pool, &inputs, &r.CanceledBy, &r.CancelNote, &plan, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return r, err
	}
	r.Trigger = store.RunTrigger(trigger)
	r.Status = store.RunStatus(status)
	r.Stage = store.RunStage(stage)
	r.TriggerDetail, r.ContextSnapshot, r.RuleOutcome, r.Inputs = detail, snapshot, outcome, inputs
	r.ShadowPlan = plan
	r.Stdout, r.Stderr = string(stdout), string(stderr)
	if exitCode != nil {
		c := int(*exitCode)
		r.ExitCode = &c
	}
	r.ScheduledAt = utcPtr(r.ScheduledAt)
	r.StartedAt = utcPtr(r.StartedAt)
	r.FinishedAt = utcPtr(r.FinishedAt)
	r.CreatedAt = r.CreatedAt.UTC()
	r.UpdatedAt = r.UpdatedAt.UTC()
	if err := contract.CheckRun(r); err != nil {
		return r, contract.Corrupt("runs", r.ID, err)
	}
	return r, nil
}

func exitCodeArg(c *int) any {
	if c == nil {
		return nil
	}
	return int32(*c)
}

// runArgs are the parameters $1..$26 of the run statements.
func runArgs(r store.Run) []any {
	return []any{r.ID, r.DefinitionID, r.DefinitionVersion, r.ContentHash, string(r.Trigger),
		[]byte(r.TriggerDetail), string(r.Status), r.SkipReason, string(r.Stage), r.WorkflowID,
		r.WorkflowRunID, r.ScheduledAt, r.StartedAt, r.FinishedAt, []byte(r.ContextSnapshot),
		[]byte(r.RuleOutcome), exitCodeArg(r.ExitCode), bytesOf(r.Stdout), bytesOf(r.Stderr), r.Error,
		r.Attempt, r.Pool, []byte(r.Inputs), r.CanceledBy, r.CancelNote, []byte(r.ShadowPlan)}
}

// CreateRun implements store.Store.
func (s *Store) CreateRun(ctx context.Context, r store.Run) (store.Run, error) {
	r, err := contract.PrepareRun(r)
	if err != nil {
		return r, fmt.Errorf("creating run: %w", err)
	}
	r.CreatedAt = contract.Time(s.now())
	r.UpdatedAt = r.CreatedAt
	tag, err := s.pool.Exec(ctx, `INSERT INTO runs (id, definition_id, definition_version, content_hash,
			trigger_kind, trigger_detail, status, skip_reason, stage, workflow_id, workflow_run_id,
			scheduled_at, started_at, finished_at, context_snapshot, rule_outcome, exit_code,
			stdout, stderr, error, attempt, pool, inputs, canceled_by, cancel_note, shadow_plan,
			created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
			$18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $27)
		ON CONFLICT (id) DO NOTHING`,
		append(runArgs(r), r.CreatedAt)...)
	if err != nil {
		return r, fmt.Errorf("creating run %q: %w", r.ID, dbErr(err))
	}
	if tag.RowsAffected() == 0 {
		return r, fmt.Errorf("creating run %q: it exists: %w", r.ID, store.ErrConflict)
	}
	return r, nil
}

// UpdateRun implements store.Store.
func (s *Store) UpdateRun(ctx context.Context, r store.Run) (store.Run, error) {
	r, err := contract.PrepareRun(r)
	if err != nil {
		return r, fmt.Errorf("updating run: %w", err)
	}
	r.UpdatedAt = contract.Time(s.now())
	// An empty CanceledBy keeps the stored CanceledBy and CancelNote: the
	// engine's last update of a run must not erase who asked to cancel it.
	err = s.pool.QueryRow(ctx, `UPDATE runs SET definition_id = $2, definition_version = $3,
			content_hash = $4, trigger_kind = $5, trigger_detail = $6, status = $7, skip_reason = $8,
			stage = $9, workflow_id = $10, workflow_run_id = $11, scheduled_at = $12, started_at = $13,
			finished_at = $14, context_snapshot = $15, rule_outcome = $16, exit_code = $17,
			stdout = $18, stderr = $19, error = $20, attempt = $21, pool = $22, inputs = $23,
			canceled_by = CASE WHEN $24 = '' THEN canceled_by ELSE $24 END,
			cancel_note = CASE WHEN $24 = '' THEN cancel_note ELSE $25 END, shadow_plan = $26,
			updated_at = $27
		WHERE id = $1 AND (status = $7 OR NOT (status = ANY($28)))
		RETURNING created_at, canceled_by, cancel_note`,
		append(runArgs(r), r.UpdatedAt, terminalStatuses)...).Scan(&r.CreatedAt, &r.CanceledBy, &r.CancelNote)
	if errors.Is(err, pgx.ErrNoRows) {
		var status string
		err := s.pool.QueryRow(ctx, `SELECT status FROM runs WHERE id = $1`, r.ID).Scan(&status)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return r, fmt.Errorf("updating run %q: %w", r.ID, store.ErrNotFound)
		case err != nil:
			return r, fmt.Errorf("updating run %q: %w", r.ID, dbErr(err))
		}
		return r, fmt.Errorf("updating run %q: it is %s and cannot become %s: %w", r.ID, status, r.Status, store.ErrConflict)
	}
	if err != nil {
		return r, fmt.Errorf("updating run %q: %w", r.ID, dbErr(err))
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

// terminalStatuses are the statuses UpdateRun does not leave.
var terminalStatuses = contract.TerminalStatuses()

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, id string) (store.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns(true)+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("run %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("getting run %q: %w", id, dbErr(err))
	}
	return r, nil
}

// ListRuns implements store.Store. The WHERE clause holds only the
// conditions asked for, so each shape of query gets a plan that walks one of
// the (…, created_at DESC, id DESC) indexes and stops after the page.
func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error) {
	var w where
	if f.DefinitionID != "" {
		w.add("definition_id = $?", f.DefinitionID)
	}
	if f.Status != "" {
		w.add("status = $?", string(f.Status))
	}
	if f.Before != "" {
		at, id, err := contract.DecodeCursor(f.Before)
		if err != nil {
			return store.RunPage{}, fmt.Errorf("listing runs: %w", err)
		}
		w.add("(created_at, id) < ($?, $?)", at, id)
	}
	limit := contract.Limit(f.Limit)
	w.args = append(w.args, limit+1)
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns(f.IncludeOutput)+` FROM runs`+w.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	if err != nil {
		return store.RunPage{}, fmt.Errorf("listing runs: %w", dbErr(err))
	}
	var page store.RunPage
	n := 0
	for rows.Next() {
		n++
		if n > limit {
			break
		}
		r, err := scanRun(rows)
		if err == nil {
			page.Runs = append(page.Runs, r)
		} else if err := contract.SkipCorrupt(ctx, s.logger, err); err != nil {
			rows.Close()
			return store.RunPage{}, fmt.Errorf("listing runs: %w", dbErr(err))
		}
		if n == limit {
			page.Next = contract.EncodeCursor(r.CreatedAt, r.ID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.RunPage{}, fmt.Errorf("listing runs: %w", dbErr(err))
	}
	if n <= limit {
		page.Next = ""
	}
	return page, nil
}

// --- sync results ---

const syncResultColumns = `sync_id, dry_run, ok, started_at, finished_at, error_summary, result`

func scanSyncResult(row pgx.Row) (store.SyncResult, error) {
	var r store.SyncResult
	var result []byte
	if err := row.Scan(&r.SyncID, &r.DryRun, &r.OK, &r.StartedAt, &r.FinishedAt, &r.ErrorSummary, &result); err != nil {
		return r, err
	}
	r.Result = result
	r.StartedAt = r.StartedAt.UTC()
	r.FinishedAt = r.FinishedAt.UTC()
	if err := contract.CheckSyncResult(r); err != nil {
		return r, contract.Corrupt("sync_results", r.SyncID, err)
	}
	return r, nil
}

// SaveSyncResult implements store.Store.
func (s *Store) SaveSyncResult(ctx context.Context, r store.SyncResult) error {
	r, err := contract.PrepareSyncResult(r)
	if err != nil {
		return fmt.Errorf("saving sync result: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO sync_results (`+syncResultColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sync_id) DO NOTHING`,
		r.SyncID, r.DryRun, r.OK, r.StartedAt, r.FinishedAt, r.ErrorSummary, []byte(r.Result))
	if err != nil {
		return fmt.Errorf("saving sync result %q: %w", r.SyncID, dbErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("saving sync result %q: it exists: %w", r.SyncID, store.ErrConflict)
	}
	return nil
}

// LastSyncResult implements store.Store.
func (s *Store) LastSyncResult(ctx context.Context) (store.SyncResult, error) {
	return s.lastSync(ctx, "last sync", `NOT dry_run`)
}

// LastSuccessfulSync implements store.Store.
func (s *Store) LastSuccessfulSync(ctx context.Context) (store.SyncResult, error) {
	return s.lastSync(ctx, "last successful sync", `NOT dry_run AND ok`)
}

func (s *Store) lastSync(ctx context.Context, what, cond string) (store.SyncResult, error) {
	r, err := scanSyncResult(s.pool.QueryRow(ctx, `SELECT `+syncResultColumns+` FROM sync_results
		WHERE `+cond+` ORDER BY started_at DESC, sync_id DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("getting %s: %w", what, dbErr(err))
	}
	return r, nil
}

// --- schedule states ---

// ListScheduleStates implements store.Store.
func (s *Store) ListScheduleStates(ctx context.Context) ([]store.ScheduleState, error) {
	rows, err := s.pool.Query(ctx, `SELECT schedule_id, definition_id, spec_hash, paused_by_sync, note, updated_at
		FROM schedule_states ORDER BY schedule_id`)
	if err != nil {
		return nil, fmt.Errorf("listing schedule states: %w", dbErr(err))
	}
	states, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.ScheduleState, error) {
		var st store.ScheduleState
		err := row.Scan(&st.ScheduleID, &st.DefinitionID, &st.SpecHash, &st.PausedBySync, &st.Note, &st.UpdatedAt)
		st.UpdatedAt = st.UpdatedAt.UTC()
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing schedule states: %w", dbErr(err))
	}
	return states, nil
}

// PutScheduleStates implements store.Store.
func (s *Store) PutScheduleStates(ctx context.Context, states ...store.ScheduleState) error {
	if len(states) == 0 {
		return nil
	}
	now := contract.Time(s.now())
	b := &pgx.Batch{}
	for _, st := range states {
		st, err := contract.PrepareScheduleState(st)
		if err != nil {
			return fmt.Errorf("putting schedule states: %w", err)
		}
		b.Queue(`INSERT INTO schedule_states (schedule_id, definition_id, spec_hash, paused_by_sync, note, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (schedule_id) DO UPDATE SET definition_id = excluded.definition_id,
				spec_hash = excluded.spec_hash, paused_by_sync = excluded.paused_by_sync,
				note = excluded.note, updated_at = excluded.updated_at`,
			st.ScheduleID, st.DefinitionID, st.SpecHash, st.PausedBySync, st.Note, now)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return execBatch(ctx, tx, b) })
	if err != nil {
		return fmt.Errorf("putting schedule states: %w", dbErr(err))
	}
	return nil
}

// DeleteScheduleStates implements store.Store.
func (s *Store) DeleteScheduleStates(ctx context.Context, scheduleIDs ...string) error {
	if len(scheduleIDs) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM schedule_states WHERE schedule_id = ANY($1)`, scheduleIDs); err != nil {
		return fmt.Errorf("deleting schedule states: %w", dbErr(err))
	}
	return nil
}

// --- operator pauses ---

const pauseColumns = `definition_id, note, until, paused_at, paused_by`

func scanPause(row pgx.Row) (store.OperatorPause, error) {
	var p store.OperatorPause
	err := row.Scan(&p.DefinitionID, &p.Note, &p.Until, &p.PausedAt, &p.By)
	p.Until = utcPtr(p.Until)
	p.PausedAt = p.PausedAt.UTC()
	return p, err
}

// SetOperatorPause implements store.Store.
func (s *Store) SetOperatorPause(ctx context.Context, p store.OperatorPause) (store.OperatorPause, error) {
	p, err := contract.PrepareOperatorPause(p, contract.Time(s.now()))
	if err != nil {
		return p, fmt.Errorf("pausing: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO operator_pauses (`+pauseColumns+`)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (definition_id) DO UPDATE SET note = excluded.note, until = excluded.until,
				paused_at = excluded.paused_at, paused_by = excluded.paused_by`,
			p.DefinitionID, p.Note, p.Until, p.PausedAt, p.By)
		queueTimeline(b, contract.PausedEntry(p))
		return execBatch(ctx, tx, b)
	})
	if pgCode(err) == "23503" { // foreign_key_violation
		return p, fmt.Errorf("pausing definition %q: %w", p.DefinitionID, store.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("pausing definition %q: %w", p.DefinitionID, dbErr(err))
	}
	return p, nil
}

// ClearOperatorPause implements store.Store.
func (s *Store) ClearOperatorPause(ctx context.Context, definitionID string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := scanPause(tx.QueryRow(ctx, `DELETE FROM operator_pauses WHERE definition_id = $1
			RETURNING `+pauseColumns, definitionID))
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		queueTimeline(b, contract.ResumedEntry(p, contract.Time(s.now())))
		return execBatch(ctx, tx, b)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("operator pause of %q: %w", definitionID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("resuming definition %q: %w", definitionID, dbErr(err))
	}
	return nil
}

// GetOperatorPause implements store.Store.
func (s *Store) GetOperatorPause(ctx context.Context, definitionID string) (store.OperatorPause, error) {
	p, err := scanPause(s.pool.QueryRow(ctx, `SELECT `+pauseColumns+`
		FROM operator_pauses WHERE definition_id = $1`, definitionID))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("operator pause of %q: %w", definitionID, store.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("getting operator pause of %q: %w", definitionID, dbErr(err))
	}
	return p, nil
}

// ListOperatorPauses implements store.Store.
func (s *Store) ListOperatorPauses(ctx context.Context) ([]store.OperatorPause, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pauseColumns+`
		FROM operator_pauses ORDER BY definition_id`)
	if err != nil {
		return nil, fmt.Errorf("listing operator pauses: %w", dbErr(err))
	}
	pauses, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.OperatorPause, error) { return scanPause(row) })
	if err != nil {
		return nil, fmt.Errorf("listing operator pauses: %w", dbErr(err))
	}
	return pauses, nil
}

// --- helpers ---

// where builds a WHERE clause from the conditions a filter asks for; "$?"
// in a condition is replaced by the next parameter number.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "$?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// collect scans every row, logging and skipping corrupt ones.
func collect[T any](ctx context.Context, s *Store, rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err == nil {
			out = append(out, v)
		} else if err := contract.SkipCorrupt(ctx, s.logger, err); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// nonNil makes an empty list an empty array: pgx sends a nil slice as NULL,
// and "id = ANY(NULL)" is not false but unknown.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// bytesOf is s as a non-nil []byte, for NOT NULL bytea columns.
func bytesOf(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return []byte(s)
}
