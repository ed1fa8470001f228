package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

const definitionColumns = `id, version, content_hash, spec, source_file, source_dir,
	enabled, trigger_type, event_type, created_at, updated_at, removed_at, origin`

// scanDefinition reads a row of definitionColumns; an origin that cannot be
// decoded is logged and read as none (contract.OriginOf).
func (s *Store) scanDefinition(ctx context.Context, row scanner) (store.Definition, error) {
	var d store.Definition
	var trigger string
	var spec []byte // one copy of the driver's bytes, not two
	var created, updated, removed timeCol
	var origin sql.NullString
	err := row.Scan(&d.ID, &d.Version, &d.ContentHash, &spec, &d.SourceFile, &d.SourceDir,
		&d.Enabled, &trigger, &d.EventType, &created, &updated, &removed, &origin)
	if err != nil {
		return d, err
	}
	d.Spec = spec
	d.Origin = contract.OriginOf(ctx, s.logger, "definitions", d.ID, jsonOf(origin))
	d.TriggerType = store.TriggerType(trigger)
	var ts times
	ts.at(created, &d.CreatedAt)
	ts.at(updated, &d.UpdatedAt)
	ts.ptr(removed, &d.RemovedAt)
	if err := firstErr(ts.err, contract.CheckDefinition(d)); err != nil {
		return d, contract.Corrupt("definitions", d.ID, err)
	}
	return d, nil
}

// UpsertDefinitions implements store.Store. Unchanged definitions cost one
// SELECT for the whole batch and no write; changes go out as one batch in
// the same transaction, under the catalog lock (Dialect.LockCatalog), so
// two batches never interleave between their read and their write. Updates
// are also compare-and-swap on the version read, so a writer that bypassed
// the lock (a hand edit) is reported as ErrConflict, not overwritten.
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
	var results []store.UpsertResult
	err := s.writeTx(ctx, func(tx *Tx) error {
		if err := s.d.LockCatalog(ctx, tx); err != nil {
			return err
		}
		current, corrupt, err := s.currentDefinitions(ctx, tx, ids)
		if err != nil {
			return err
		}
		var stmts []Stmt
		results, stmts = s.planDefinitions(in, current, corrupt)
		return s.execOne(ctx, tx, stmts)
	})
	if errors.Is(err, errRace) {
		err = fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("upserting definitions: %w", s.dbErr(err))
	}
	return results, nil
}

// currentDefinitions reads only what planning needs: reading 10,000 specs
// to find them unchanged would cost more than the rest of the sync stage.
// A corrupt row is rewritten from the good definition the batch carries,
// as a new version.
func (s *Store) currentDefinitions(ctx context.Context, tx *Tx, ids []string) (map[string]store.Definition, map[string]bool, error) {
	current := make(map[string]store.Definition, len(ids))
	corrupt := map[string]bool{}
	_, err := collect(ctx, s, tx.QueryContext, `SELECT id, version, content_hash, source_file, source_dir,
			removed_at IS NOT NULL, trigger_type, `+s.d.ValidJSON("spec")+`
		FROM definitions WHERE `+s.d.In("id", "$1"), []any{s.keys(ids)}, func(row scanner) (struct{}, error) {
		var d store.Definition
		var removed, validJSON bool
		var trigger string
		if err := row.Scan(&d.ID, &d.Version, &d.ContentHash, &d.SourceFile, &d.SourceDir, &removed, &trigger, &validJSON); err != nil {
			return struct{}{}, err
		}
		if removed {
			d.RemovedAt = &time.Time{} // planning needs only whether
		}
		corrupt[d.ID] = !store.TriggerType(trigger).Valid() || !validJSON
		current[d.ID] = d
		return struct{}{}, nil
	})
	return current, corrupt, err
}

// planDefinitions decides the outcome of each definition of a batch and the
// writes (timeline entries included) that carry it out.
func (s *Store) planDefinitions(in []store.Definition, current map[string]store.Definition, corrupt map[string]bool) ([]store.UpsertResult, []Stmt) {
	at := contract.Time(s.now())
	now := s.time(at)
	results := make([]store.UpsertResult, len(in))
	var stmts []Stmt
	for i, d := range in {
		cur, found := current[d.ID]
		outcome := store.PlanDefinitionUpsert(nil, d)
		if found {
			outcome = store.PlanDefinitionUpsert(&cur, d)
		}
		if corrupt[d.ID] && outcome == store.Unchanged {
			outcome = store.Updated
		}
		results[i] = store.UpsertResult{ID: d.ID, Outcome: outcome, Version: cur.Version}
		newContent := outcome == store.Updated ||
			(outcome == store.Restored && (cur.ContentHash != d.ContentHash || corrupt[d.ID]))
		for _, te := range upsertEntries(d, outcome, cur.Version, newContent, at) {
			stmts = append(stmts, s.insertTimeline(te))
		}
		var origin any // only a new version records its origin
		if outcome == store.Created || newContent {
			origin = jsonArg(contract.OriginJSON(d.Origin))
		}
		switch {
		case outcome == store.Created:
			results[i].Version = 1
			stmts = append(stmts, Stmt{`INSERT INTO definitions (id, version, content_hash, spec, source_file,
					source_dir, enabled, trigger_type, event_type, created_at, updated_at, origin)
				VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)
				ON CONFLICT (id) DO NOTHING`, []any{d.ID, d.ContentHash, string(d.Spec), d.SourceFile, d.SourceDir,
				d.Enabled, string(d.TriggerType), d.EventType, now, origin}},
				insertVersion(d, 1, now, origin))
		case newContent:
			results[i].Version = cur.Version + 1
			stmts = append(stmts, Stmt{`UPDATE definitions SET version = $3, content_hash = $4, spec = $5,
					source_file = $6, source_dir = $7, enabled = $8, trigger_type = $9,
					event_type = $10, updated_at = $11, removed_at = NULL, origin = $12
				WHERE id = $1 AND version = $2`, []any{d.ID, cur.Version, cur.Version + 1, d.ContentHash, string(d.Spec),
				d.SourceFile, d.SourceDir, d.Enabled, string(d.TriggerType), d.EventType, now, origin}},
				insertVersion(d, cur.Version+1, now, origin))
		case outcome == store.Restored,
			cur.SourceFile != d.SourceFile || cur.SourceDir != d.SourceDir:
			// Back from removal with the same content, or the file
			// moved: no new version.
			stmts = append(stmts, Stmt{`UPDATE definitions SET source_file = $3, source_dir = $4, updated_at = $5,
					removed_at = NULL
				WHERE id = $1 AND version = $2`, []any{d.ID, cur.Version, d.SourceFile, d.SourceDir, now}})
		}
	}
	return results, stmts
}

func insertVersion(d store.Definition, version int, now, origin any) Stmt {
	return Stmt{`INSERT INTO definition_versions (definition_id, version, content_hash, spec, created_at, origin)
		VALUES ($1, $2, $3, $4, $5, $6)`, []any{d.ID, version, d.ContentHash, string(d.Spec), now, origin}}
}

// upsertEntries are the timeline entries of upserting d with outcome over
// the stored version (0 when new).
func upsertEntries(d store.Definition, outcome store.UpsertOutcome, version int, newContent bool, now time.Time) []store.TimelineEntry {
	var out []store.TimelineEntry
	switch outcome {
	case store.Created:
		return append(out, contract.VersionEntry(d.ID, 1, 0, now))
	case store.Restored:
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

// MarkDefinitionsRemoved implements store.Store.
func (s *Store) MarkDefinitionsRemoved(ctx context.Context, sourceDir string, keepIDs []string) ([]string, error) {
	if sourceDir == "" {
		return nil, fmt.Errorf("marking definitions removed: empty source directory: %w", store.ErrInvalid)
	}
	now := contract.Time(s.now())
	var entries []Stmt
	ids, err := s.markRemoved(ctx, `UPDATE definitions SET removed_at = $3, updated_at = $3
		WHERE source_dir = $1 AND removed_at IS NULL AND NOT (`+s.d.In("id", "$2")+`)
		RETURNING id, source_file`, sourceDir, keepIDs, now, func(id, file string) {
		entries = append(entries, s.insertTimeline(contract.RemovedEntry(id, file, now)))
	}, func(tx *Tx) error { return s.execOne(ctx, tx, entries) })
	if err != nil {
		return nil, fmt.Errorf("marking definitions of %q removed: %w", sourceDir, s.dbErr(err))
	}
	return ids, nil
}

// markRemoved runs query, an UPDATE … RETURNING key, file, calls each for
// every row and then, in the same transaction, after.
func (s *Store) markRemoved(ctx context.Context, query, sourceDir string, keep []string, now time.Time,
	each func(key, file string), after func(tx *Tx) error) ([]string, error) {
	var keys []string
	err := s.writeTx(ctx, func(tx *Tx) error {
		keys = nil
		_, err := collect(ctx, s, tx.QueryContext, query, []any{sourceDir, s.keys(keep), s.time(now)},
			func(row scanner) (struct{}, error) {
				var k, file string
				if err := row.Scan(&k, &file); err != nil {
					return struct{}{}, err
				}
				keys = append(keys, k)
				each(k, file)
				return struct{}{}, nil
			})
		if err != nil {
			return err
		}
		return after(tx)
	})
	slices.Sort(keys)
	return keys, err
}

// GetDefinition implements store.Store.
func (s *Store) GetDefinition(ctx context.Context, id string) (store.Definition, error) {
	return get(ctx, s, fmt.Sprintf("definition %q", id), `SELECT `+definitionColumns+` FROM definitions WHERE id = $1`,
		[]any{id}, func(row scanner) (store.Definition, error) { return s.scanDefinition(ctx, row) })
}

// GetDefinitionVersion implements store.Store.
func (s *Store) GetDefinitionVersion(ctx context.Context, id string, version int) (store.DefinitionVersion, error) {
	key := id + "@" + strconv.Itoa(version)
	return get(ctx, s, fmt.Sprintf("definition %q version %d", id, version), `SELECT definition_id, version,
			content_hash, spec, created_at, origin
		FROM definition_versions WHERE definition_id = $1 AND version = $2`, []any{id, version},
		func(row scanner) (store.DefinitionVersion, error) {
			var v store.DefinitionVersion
			var spec string
			var created timeCol
			var origin sql.NullString
			if err := row.Scan(&v.DefinitionID, &v.Version, &v.ContentHash, &spec, &created, &origin); err != nil {
				return v, err
			}
			v.Spec = []byte(spec)
			v.Origin = contract.OriginOf(ctx, s.logger, "definition_versions", key, jsonOf(origin))
			var ts times
			ts.at(created, &v.CreatedAt)
			if err := firstErr(ts.err, contract.CheckDefinitionVersion(v)); err != nil {
				return v, contract.Corrupt("definition_versions", key, err)
			}
			return v, nil
		})
}

// ListDefinitions implements store.Store.
func (s *Store) ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]store.Definition, error) {
	w := definitionWhere(f)
	return list(ctx, s, "definitions", `SELECT `+definitionColumns+` FROM definitions`+w.sql()+` ORDER BY id`, w.args,
		func(row scanner) (store.Definition, error) { return s.scanDefinition(ctx, row) })
}

func definitionWhere(f store.DefinitionFilter) *where {
	w := &where{}
	if !f.IncludeRemoved {
		w.add("removed_at IS NULL")
	}
	if f.TriggerType != "" {
		w.add("trigger_type = ?", string(f.TriggerType))
	}
	if f.Enabled != nil {
		w.add("enabled = ?", *f.Enabled)
	}
	if f.SourceDir != "" {
		w.add("source_dir = ?", f.SourceDir)
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
		w.add("id "+op+" ?", after)
	}
	limit := contract.DefinitionLimit(f.Limit)
	q := `SELECT ` + definitionColumns + ` FROM definitions` + w.sql() + ` ORDER BY ` + order + ` LIMIT ` + w.param(limit+1)
	var keys []string
	var defs []store.Definition
	n, more := 0, false
	_, err = collect(ctx, s, s.reader.QueryContext, q, w.args, func(row scanner) (struct{}, error) {
		if n++; n > limit {
			more = true
			return struct{}{}, nil
		}
		d, err := s.scanDefinition(ctx, row)
		if d.ID != "" {
			keys = append(keys, d.ID)
		}
		if err == nil {
			defs = append(defs, d)
		}
		return struct{}{}, err
	})
	if err != nil {
		return store.DefinitionPage{}, fmt.Errorf("listing definitions: %w", s.dbErr(err))
	}
	return contract.DefinitionPageOf(f, keys, defs, more), nil
}

// ListDefinitionSources implements store.Store. The query walks
// definitions_source_dir_idx from one source to the next (a loose index
// scan): one index probe per source, however many definitions each holds.
func (s *Store) ListDefinitionSources(ctx context.Context) ([]string, error) {
	return list(ctx, s, "definition sources", `WITH RECURSIVE s(dir) AS (
			SELECT min(source_dir) FROM definitions WHERE removed_at IS NULL
			UNION ALL
			SELECT (SELECT min(source_dir) FROM definitions WHERE removed_at IS NULL AND source_dir > s.dir)
			FROM s WHERE s.dir IS NOT NULL)
		SELECT dir FROM s WHERE dir IS NOT NULL`, nil, scanOne[string])
}

// --- event types ---

const eventTypeColumns = `name, description, schema, source_file, source_dir, content_hash,
	created_at, updated_at, removed_at`

func scanEventType(row scanner) (store.EventType, error) {
	var e store.EventType
	var schema sql.NullString
	var created, updated, removed timeCol
	err := row.Scan(&e.Name, &e.Description, &schema, &e.SourceFile, &e.SourceDir, &e.ContentHash,
		&created, &updated, &removed)
	if err != nil {
		return e, err
	}
	e.Schema = jsonOf(schema)
	var ts times
	ts.at(created, &e.CreatedAt)
	ts.at(updated, &e.UpdatedAt)
	ts.ptr(removed, &e.RemovedAt)
	if err := firstErr(ts.err, contract.CheckEventType(e)); err != nil {
		return e, contract.Corrupt("event_types", e.Name, err)
	}
	return e, nil
}

// UpsertEventTypes implements store.Store in one write transaction under
// the catalog lock, as UpsertDefinitions.
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
	var results []store.UpsertResult
	err := s.writeTx(ctx, func(tx *Tx) error {
		if err := s.d.LockCatalog(ctx, tx); err != nil {
			return err
		}
		current, err := s.currentEventTypes(ctx, tx, names)
		if err != nil {
			return err
		}
		var stmts []Stmt
		results, stmts = s.planEventTypes(in, current)
		return s.execOne(ctx, tx, stmts)
	})
	if errors.Is(err, errRace) {
		err = fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("upserting event types: %w", s.dbErr(err))
	}
	return results, nil
}

// currentEventTypes reads what planning needs of the stored event types; a
// corrupt one is read with no content hash, so it is rewritten.
func (s *Store) currentEventTypes(ctx context.Context, tx *Tx, names []string) (map[string]store.EventType, error) {
	current := make(map[string]store.EventType, len(names))
	_, err := collect(ctx, s, tx.QueryContext, `SELECT name, content_hash, source_file, source_dir,
			removed_at IS NOT NULL, schema IS NULL OR `+s.d.ValidJSON("schema")+`
		FROM event_types WHERE `+s.d.In("name", "$1"), []any{s.keys(names)}, func(row scanner) (struct{}, error) {
		var e store.EventType
		var removed, validJSON bool
		if err := row.Scan(&e.Name, &e.ContentHash, &e.SourceFile, &e.SourceDir, &removed, &validJSON); err != nil {
			return struct{}{}, err
		}
		if removed {
			e.RemovedAt = &time.Time{} // planning needs only whether
		}
		if !validJSON {
			e.ContentHash = ""
		}
		current[e.Name] = e
		return struct{}{}, nil
	})
	return current, err
}

func (s *Store) planEventTypes(in []store.EventType, current map[string]store.EventType) ([]store.UpsertResult, []Stmt) {
	now := s.time(s.now())
	results := make([]store.UpsertResult, len(in))
	var stmts []Stmt
	for i, e := range in {
		cur, found := current[e.Name]
		outcome := store.PlanEventTypeUpsert(nil, e)
		if found {
			outcome = store.PlanEventTypeUpsert(&cur, e)
		}
		results[i] = store.UpsertResult{ID: e.Name, Outcome: outcome}
		args := []any{e.Name, e.Description, jsonArg(e.Schema), e.SourceFile, e.SourceDir, e.ContentHash, now}
		switch {
		case outcome == store.Created:
			stmts = append(stmts, Stmt{`INSERT INTO event_types (name, description, schema, source_file,
					source_dir, content_hash, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
				ON CONFLICT (name) DO NOTHING`, args})
		case outcome != store.Unchanged || cur.SourceFile != e.SourceFile || cur.SourceDir != e.SourceDir:
			stmts = append(stmts, Stmt{`UPDATE event_types SET description = $2, schema = $3, source_file = $4,
					source_dir = $5, content_hash = $6, updated_at = $7, removed_at = NULL
				WHERE name = $1`, args})
		}
	}
	return results, stmts
}

// MarkEventTypesRemoved implements store.Store.
func (s *Store) MarkEventTypesRemoved(ctx context.Context, sourceDir string, keepNames []string) ([]string, error) {
	if sourceDir == "" {
		return nil, fmt.Errorf("marking event types removed: empty source directory: %w", store.ErrInvalid)
	}
	names, err := s.markRemoved(ctx, `UPDATE event_types SET removed_at = $3, updated_at = $3
		WHERE source_dir = $1 AND removed_at IS NULL AND NOT (`+s.d.In("name", "$2")+`)
		RETURNING name, source_file`, sourceDir, keepNames, contract.Time(s.now()),
		func(string, string) {}, func(*Tx) error { return nil })
	if err != nil {
		return nil, fmt.Errorf("marking event types of %q removed: %w", sourceDir, s.dbErr(err))
	}
	return names, nil
}

// ListEventTypes implements store.Store.
func (s *Store) ListEventTypes(ctx context.Context, f store.EventTypeFilter) ([]store.EventType, error) {
	var w where
	if !f.IncludeRemoved {
		w.add("removed_at IS NULL")
	}
	if f.SourceDir != "" {
		w.add("source_dir = ?", f.SourceDir)
	}
	return list(ctx, s, "event types", `SELECT `+eventTypeColumns+` FROM event_types`+w.sql()+` ORDER BY name`, w.args, scanEventType)
}
