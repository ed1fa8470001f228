package sqlite

// The data queries of the SQLite driver but the alerting ones
// (alerting.go), mirroring the postgres driver's queries.go. Reads go to the reader pool, writes to the single writer.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

// errRace means a write found the row changed since it was read. With one
// writer and BEGIN IMMEDIATE it cannot happen; it is checked anyway.
var errRace = errors.New("concurrent write")

// timeLayout is how times are stored: fixed width, so text order is time
// order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func fmtTime(t time.Time) string { return contract.Time(t).Format(timeLayout) }

func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		// Accept any RFC 3339 time someone typed in by hand.
		t, err = time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return t, fmt.Errorf("bad time %q", s)
		}
	}
	return contract.Time(t), nil
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	return &t, err
}

// times parses several stored times at once, stopping at the first error.
type times struct{ err error }

func (ts *times) at(s string, dst *time.Time) {
	if ts.err == nil {
		*dst, ts.err = parseTime(s)
	}
}

func (ts *times) ptr(s sql.NullString, dst **time.Time) {
	if ts.err == nil {
		*dst, ts.err = parseTimePtr(s)
	}
}

func jsonArg(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func jsonOf(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// jsonList passes a list of keys as one parameter, read in SQL with
// json_each: SQLite has no arrays.
func jsonList(keys []string) string {
	b, _ := json.Marshal(nonNil(keys))
	return string(b)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type scanner interface{ Scan(dest ...any) error }

// --- definitions ---

const definitionColumns = `id, version, content_hash, spec, source_file, source_dir,
	enabled, trigger_type, event_type, created_at, updated_at, removed_at, origin`

// scanDefinition reads a row of definitionColumns; an origin that cannot be
// decoded is logged and read as none (contract.OriginOf).
func (s *Store) scanDefinition(ctx context.Context, row scanner) (store.Definition, error) {
	var d store.Definition
	var spec, trigger, created, updated string
	var removed, origin sql.NullString
	err := row.Scan(&d.ID, &d.Version, &d.ContentHash, &spec, &d.SourceFile, &d.SourceDir,
		&d.Enabled, &trigger, &d.EventType, &created, &updated, &removed, &origin)
	if err != nil {
		return d, err
	}
	d.Spec = json.RawMessage(spec)
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

// firstErr is the first non-nil error of errs: a row is corrupt for the
// first reason found.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// UpsertDefinitions implements store.Store in one write transaction.
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
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		results, err = s.upsertDefinitions(ctx, tx, in, ids)
		return err
	})
	if errors.Is(err, errRace) {
		err = fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("upserting definitions: %w", dbErr(err))
	}
	return results, nil
}

func (s *Store) upsertDefinitions(ctx context.Context, tx *sql.Tx, in []store.Definition, ids []string) ([]store.UpsertResult, error) {
	// Only what planning needs: reading 10,000 specs to find them
	// unchanged would cost more than the rest of the sync stage.
	rows, err := tx.QueryContext(ctx, `SELECT id, version, content_hash, source_file, source_dir,
			removed_at IS NOT NULL, trigger_type, json_valid(spec)
		FROM definitions WHERE id IN (SELECT value FROM json_each(?))`, jsonList(ids))
	if err != nil {
		return nil, err
	}
	current := make(map[string]store.Definition, len(in))
	corrupt := map[string]bool{}
	for rows.Next() {
		var d store.Definition
		var removed, validJSON bool
		var trigger string
		if err := rows.Scan(&d.ID, &d.Version, &d.ContentHash, &d.SourceFile, &d.SourceDir, &removed, &trigger, &validJSON); err != nil {
			rows.Close()
			return nil, err
		}
		if removed {
			d.RemovedAt = &time.Time{} // planning needs only whether
		}
		// A corrupt row is rewritten from the good definition the batch
		// carries, as a new version.
		corrupt[d.ID] = !store.TriggerType(trigger).Valid() || !validJSON
		current[d.ID] = d
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}

	var st stmts
	defer st.close()
	at := contract.Time(s.now())
	now := fmtTime(at)
	results := make([]store.UpsertResult, len(in))
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
		for _, te := range upsertEntries(d, outcome, cur.Version, newContent, at) {
			if err := insertTimeline(ctx, tx, &st, te); err != nil {
				return nil, err
			}
		}
		var err error
		var origin any // only a new version records its origin
		if outcome == store.Created || newContent {
			origin = originArg(d.Origin)
		}
		switch {
		case outcome == store.Created:
			results[i].Version = 1
			err = st.exec(ctx, tx, `INSERT INTO definitions (id, version, content_hash, spec, source_file,
					source_dir, enabled, trigger_type, event_type, created_at, updated_at, origin)
				VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)
				ON CONFLICT (id) DO NOTHING`,
				d.ID, d.ContentHash, string(d.Spec), d.SourceFile, d.SourceDir,
				d.Enabled, string(d.TriggerType), d.EventType, now, origin)
			if err == nil {
				err = st.exec(ctx, tx, `INSERT INTO definition_versions (definition_id, version, content_hash, spec, created_at, origin)
					VALUES (?, 1, ?, ?, ?, ?)`, d.ID, d.ContentHash, string(d.Spec), now, origin)
			}
		case newContent:
			results[i].Version = cur.Version + 1
			err = st.exec(ctx, tx, `UPDATE definitions SET version = ?3, content_hash = ?4, spec = ?5,
					source_file = ?6, source_dir = ?7, enabled = ?8, trigger_type = ?9,
					event_type = ?10, updated_at = ?11, removed_at = NULL, origin = ?12
				WHERE id = ?1 AND version = ?2`,
				d.ID, cur.Version, cur.Version+1, d.ContentHash, string(d.Spec),
				d.SourceFile, d.SourceDir, d.Enabled, string(d.TriggerType), d.EventType, now, origin)
			if err == nil {
				err = st.exec(ctx, tx, `INSERT INTO definition_versions (definition_id, version, content_hash, spec, created_at, origin)
					VALUES (?, ?, ?, ?, ?, ?)`, d.ID, cur.Version+1, d.ContentHash, string(d.Spec), now, origin)
			}
		case outcome == store.Restored,
			cur.SourceFile != d.SourceFile || cur.SourceDir != d.SourceDir:
			err = st.exec(ctx, tx, `UPDATE definitions SET source_file = ?3, source_dir = ?4, updated_at = ?5,
					removed_at = NULL
				WHERE id = ?1 AND version = ?2`,
				d.ID, cur.Version, d.SourceFile, d.SourceDir, now)
		}
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

// originArg is an origin as the origin column holds it: JSON text, or NULL.
func originArg(o *store.Origin) any {
	if b := contract.OriginJSON(o); b != nil {
		return string(b)
	}
	return nil
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

// stmts prepares each statement of a batch once per transaction, and
// requires every execution to affect exactly one row.
type stmts map[string]*sql.Stmt

func (st *stmts) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	if *st == nil {
		*st = stmts{}
	}
	stmt, ok := (*st)[query]
	if !ok {
		var err error
		if stmt, err = tx.PrepareContext(ctx, query); err != nil {
			return err
		}
		(*st)[query] = stmt
	}
	res, err := stmt.ExecContext(ctx, args...)
	if sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT {
		return fmt.Errorf("%w: %w", errRace, err)
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return firstErr(err, errRace)
	}
	return nil
}

func (st stmts) close() {
	for _, stmt := range st {
		stmt.Close()
	}
}

// MarkDefinitionsRemoved implements store.Store.
func (s *Store) MarkDefinitionsRemoved(ctx context.Context, sourceDir string, keepIDs []string) ([]string, error) {
	if sourceDir == "" {
		return nil, fmt.Errorf("marking definitions removed: empty source directory: %w", store.ErrInvalid)
	}
	var ids []string
	now := contract.Time(s.now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE definitions SET removed_at = ?3, updated_at = ?3
			WHERE source_dir = ?1 AND removed_at IS NULL AND id NOT IN (SELECT value FROM json_each(?2))
			RETURNING id, source_file`, sourceDir, jsonList(keepIDs), fmtTime(now))
		if err != nil {
			return err
		}
		var entries []store.TimelineEntry
		for rows.Next() {
			var id, file string
			if err := rows.Scan(&id, &file); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			entries = append(entries, contract.RemovedEntry(id, file, now))
		}
		if err := rows.Close(); err != nil {
			return err
		}
		var st stmts
		defer st.close()
		for _, e := range entries {
			if err := insertTimeline(ctx, tx, &st, e); err != nil {
				return err
			}
		}
		return nil
	})
	slices.Sort(ids)
	if err != nil {
		return nil, fmt.Errorf("marking definitions of %q removed: %w", sourceDir, dbErr(err))
	}
	return ids, nil
}

func (s *Store) markRemoved(ctx context.Context, query, sourceDir string, keep []string) ([]string, error) {
	var keys []string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, sourceDir, jsonList(keep), fmtTime(s.now()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return rows.Close()
	})
	slices.Sort(keys)
	return keys, err
}

// GetDefinition implements store.Store.
func (s *Store) GetDefinition(ctx context.Context, id string) (store.Definition, error) {
	d, err := s.scanDefinition(ctx, s.reader.QueryRowContext(ctx, `SELECT `+definitionColumns+` FROM definitions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	var spec, created string
	var origin sql.NullString
	err := s.reader.QueryRowContext(ctx, `SELECT definition_id, version, content_hash, spec, created_at, origin
		FROM definition_versions WHERE definition_id = ? AND version = ?`, id, version).
		Scan(&v.DefinitionID, &v.Version, &v.ContentHash, &spec, &created, &origin)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("definition %q version %d: %w", id, version, store.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("getting definition %q version %d: %w", id, version, dbErr(err))
	}
	v.Spec = json.RawMessage(spec)
	v.Origin = contract.OriginOf(ctx, s.logger, "definition_versions", id+"@"+strconv.Itoa(version), jsonOf(origin))
	var ts times
	ts.at(created, &v.CreatedAt)
	if err := firstErr(ts.err, contract.CheckDefinitionVersion(v)); err != nil {
		return v, contract.Corrupt("definition_versions", id+"@"+strconv.Itoa(version), err)
	}
	return v, nil
}

// ListDefinitions implements store.Store.
func (s *Store) ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]store.Definition, error) {
	w := definitionWhere(f)
	rows, err := s.reader.QueryContext(ctx, `SELECT `+definitionColumns+` FROM definitions`+w.sql()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("listing definitions: %w", dbErr(err))
	}
	defs, err := collect(ctx, s, rows, func(row scanner) (store.Definition, error) {
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
	rows, err := s.reader.QueryContext(ctx, `SELECT `+definitionColumns+` FROM definitions`+w.sql()+
		` ORDER BY `+order+` LIMIT ?`, append(w.args, limit+1)...)
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
	if err := rows.Close(); err != nil {
		return store.DefinitionPage{}, fmt.Errorf("listing definitions: %w", dbErr(err))
	}
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
	rows, err := s.reader.QueryContext(ctx, sourcesQuery)
	if err != nil {
		return nil, fmt.Errorf("listing definition sources: %w", dbErr(err))
	}
	dirs, err := collect(ctx, s, rows, func(row scanner) (string, error) {
		var dir string
		return dir, row.Scan(&dir)
	})
	if err != nil {
		return nil, fmt.Errorf("listing definition sources: %w", dbErr(err))
	}
	return dirs, nil
}

// --- event types ---

const eventTypeColumns = `name, description, schema, source_file, source_dir, content_hash,
	created_at, updated_at, removed_at`

func scanEventType(row scanner) (store.EventType, error) {
	var e store.EventType
	var schema, removed sql.NullString
	var created, updated string
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

// UpsertEventTypes implements store.Store in one write transaction.
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
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name, content_hash, source_file, source_dir,
				removed_at IS NOT NULL, schema IS NULL OR json_valid(schema)
			FROM event_types WHERE name IN (SELECT value FROM json_each(?))`, jsonList(names))
		if err != nil {
			return err
		}
		current := make(map[string]store.EventType, len(in))
		corrupt := map[string]bool{}
		for rows.Next() {
			var e store.EventType
			var removed, validJSON bool
			if err := rows.Scan(&e.Name, &e.ContentHash, &e.SourceFile, &e.SourceDir, &removed, &validJSON); err != nil {
				rows.Close()
				return err
			}
			if removed {
				e.RemovedAt = &time.Time{} // planning needs only whether
			}
			corrupt[e.Name] = !validJSON
			current[e.Name] = e
		}
		if err := rows.Close(); err != nil {
			return err
		}
		var st stmts
		defer st.close()
		now := fmtTime(s.now())
		results = make([]store.UpsertResult, len(in))
		for i, e := range in {
			cur, found := current[e.Name]
			var outcome store.UpsertOutcome
			if found {
				outcome = store.PlanEventTypeUpsert(&cur, e)
			} else {
				outcome = store.PlanEventTypeUpsert(nil, e)
			}
			if corrupt[e.Name] && outcome == store.Unchanged {
				outcome = store.Updated
			}
			results[i] = store.UpsertResult{ID: e.Name, Outcome: outcome}
			var err error
			switch {
			case outcome == store.Created:
				err = st.exec(ctx, tx, `INSERT INTO event_types (name, description, schema, source_file,
						source_dir, content_hash, created_at, updated_at)
					VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
					ON CONFLICT (name) DO NOTHING`,
					e.Name, e.Description, jsonArg(e.Schema), e.SourceFile, e.SourceDir, e.ContentHash, now)
			case outcome != store.Unchanged || cur.SourceFile != e.SourceFile || cur.SourceDir != e.SourceDir:
				err = st.exec(ctx, tx, `UPDATE event_types SET description = ?2, schema = ?3, source_file = ?4,
						source_dir = ?5, content_hash = ?6, updated_at = ?7, removed_at = NULL
					WHERE name = ?1`,
					e.Name, e.Description, jsonArg(e.Schema), e.SourceFile,
					e.SourceDir, e.ContentHash, now)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errRace) {
		err = fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("upserting event types: %w", dbErr(err))
	}
	return results, nil
}

// MarkEventTypesRemoved implements store.Store.
func (s *Store) MarkEventTypesRemoved(ctx context.Context, sourceDir string, keepNames []string) ([]string, error) {
	if sourceDir == "" {
		return nil, fmt.Errorf("marking event types removed: empty source directory: %w", store.ErrInvalid)
	}
	names, err := s.markRemoved(ctx, `UPDATE event_types SET removed_at = ?3, updated_at = ?3
		WHERE source_dir = ?1 AND removed_at IS NULL AND name NOT IN (SELECT value FROM json_each(?2))
		RETURNING name`, sourceDir, keepNames)
	if err != nil {
		return nil, fmt.Errorf("marking event types of %q removed: %w", sourceDir, dbErr(err))
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
	rows, err := s.reader.QueryContext(ctx, `SELECT `+eventTypeColumns+` FROM event_types`+w.sql()+` ORDER BY name`, w.args...)
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
	output := `x'', x''`
	if withOutput {
		output = `stdout, stderr`
	}
	return `id, definition_id, definition_version, content_hash, trigger_kind, trigger_detail,
		status, skip_reason, stage, workflow_id, workflow_run_id, scheduled_at, started_at,
		finished_at, context_snapshot, rule_outcome, exit_code, ` + output + `, error, attempt,
		pool, inputs, canceled_by, cancel_note, shadow_plan, created_at, updated_at`
}

func scanRun(row scanner) (store.Run, error) {
	var r store.Run
	var trigger, status, stage, created, updated string
	var detail, snapshot, outcome, scheduled, started, finished, inputs, plan sql.NullString
	var stdout, stderr []byte
	var exitCode sql.NullInt64
	err := row.Scan(&r.ID, &r.DefinitionID, &r.DefinitionVersion, &r.ContentHash, &trigger, &detail,
		&status, &r.SkipReason, &stage, &r.WorkflowID, &r.WorkflowRunID, &scheduled, &started,
		&finished, &snapshot, &outcome, &exitCode, &stdout, &stderr, &r.Error, &r.Attempt,
		&r.Pool, &inputs, &r.CanceledBy, &r.CancelNote, &plan, &created, &updated)
	if err != nil {
		return r, err
	}
	r.Trigger = store.RunTrigger(trigger)
	r.Status = store.RunStatus(status)
	r.Stage = store.RunStage(stage)
	r.TriggerDetail, r.ContextSnapshot, r.RuleOutcome = jsonOf(detail), jsonOf(snapshot), jsonOf(outcome)
	r.Inputs, r.ShadowPlan = jsonOf(inputs), jsonOf(plan)
	r.Stdout, r.Stderr = string(stdout), string(stderr)
	if exitCode.Valid {
		c := int(exitCode.Int64)
		r.ExitCode = &c
	}
	var ts times
	ts.ptr(scheduled, &r.ScheduledAt)
	ts.ptr(started, &r.StartedAt)
	ts.ptr(finished, &r.FinishedAt)
	ts.at(created, &r.CreatedAt)
	ts.at(updated, &r.UpdatedAt)
	if err := firstErr(ts.err, contract.CheckRun(r)); err != nil {
		return r, contract.Corrupt("runs", r.ID, err)
	}
	return r, nil
}

func exitCodeArg(c *int) any {
	if c == nil {
		return nil
	}
	return int64(*c)
}

// runArgs are the parameters ?1..?26 of the run statements.
func runArgs(r store.Run) []any {
	return []any{r.ID, r.DefinitionID, r.DefinitionVersion, r.ContentHash, string(r.Trigger),
		jsonArg(r.TriggerDetail), string(r.Status), r.SkipReason, string(r.Stage), r.WorkflowID,
		r.WorkflowRunID, fmtTimePtr(r.ScheduledAt), fmtTimePtr(r.StartedAt), fmtTimePtr(r.FinishedAt),
		jsonArg(r.ContextSnapshot), jsonArg(r.RuleOutcome), exitCodeArg(r.ExitCode),
		[]byte(r.Stdout), []byte(r.Stderr), r.Error, r.Attempt,
		r.Pool, jsonArg(r.Inputs), r.CanceledBy, r.CancelNote, jsonArg(r.ShadowPlan)}
}

// CreateRun implements store.Store.
func (s *Store) CreateRun(ctx context.Context, r store.Run) (store.Run, error) {
	r, err := contract.PrepareRun(r)
	if err != nil {
		return r, fmt.Errorf("creating run: %w", err)
	}
	r.CreatedAt = contract.Time(s.now())
	r.UpdatedAt = r.CreatedAt
	res, err := s.writer.ExecContext(ctx, `INSERT INTO runs (id, definition_id, definition_version,
			content_hash, trigger_kind, trigger_detail, status, skip_reason, stage, workflow_id,
			workflow_run_id, scheduled_at, started_at, finished_at, context_snapshot, rule_outcome,
			exit_code, stdout, stderr, error, attempt, pool, inputs, canceled_by, cancel_note,
			shadow_plan, created_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
			?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?27)
		ON CONFLICT (id) DO NOTHING`, append(runArgs(r), fmtTime(r.CreatedAt))...)
	if err != nil {
		return r, fmt.Errorf("creating run %q: %w", r.ID, dbErr(err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return r, fmt.Errorf("creating run %q: it exists: %w", r.ID, firstErr(err, store.ErrConflict))
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
	var created string
	// An empty CanceledBy keeps the stored CanceledBy and CancelNote: the
	// engine's last update of a run must not erase who asked to cancel it.
	err = s.writer.QueryRowContext(ctx, `UPDATE runs SET definition_id = ?2, definition_version = ?3,
			content_hash = ?4, trigger_kind = ?5, trigger_detail = ?6, status = ?7, skip_reason = ?8,
			stage = ?9, workflow_id = ?10, workflow_run_id = ?11, scheduled_at = ?12, started_at = ?13,
			finished_at = ?14, context_snapshot = ?15, rule_outcome = ?16, exit_code = ?17,
			stdout = ?18, stderr = ?19, error = ?20, attempt = ?21, pool = ?22, inputs = ?23,
			canceled_by = CASE WHEN ?24 = '' THEN canceled_by ELSE ?24 END,
			cancel_note = CASE WHEN ?24 = '' THEN cancel_note ELSE ?25 END, shadow_plan = ?26,
			updated_at = ?27
		WHERE id = ?1 AND (status = ?7 OR status NOT IN (SELECT value FROM json_each(?28)))
		RETURNING created_at, canceled_by, cancel_note`,
		append(runArgs(r), fmtTime(r.UpdatedAt), terminalStatuses)...).Scan(&created, &r.CanceledBy, &r.CancelNote)
	if errors.Is(err, sql.ErrNoRows) {
		var status string
		err := s.writer.QueryRowContext(ctx, `SELECT status FROM runs WHERE id = ?`, r.ID).Scan(&status)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return r, fmt.Errorf("updating run %q: %w", r.ID, store.ErrNotFound)
		case err != nil:
			return r, fmt.Errorf("updating run %q: %w", r.ID, dbErr(err))
		}
		return r, fmt.Errorf("updating run %q: it is %s and cannot become %s: %w", r.ID, status, r.Status, store.ErrConflict)
	}
	if err != nil {
		return r, fmt.Errorf("updating run %q: %w", r.ID, dbErr(err))
	}
	if r.CreatedAt, err = parseTime(created); err != nil {
		return r, contract.Corrupt("runs", r.ID, err)
	}
	return r, nil
}

// terminalStatuses are the statuses UpdateRun does not leave, as a JSON
// list for json_each.
var terminalStatuses = jsonList(contract.TerminalStatuses())

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, id string) (store.Run, error) {
	r, err := scanRun(s.reader.QueryRowContext(ctx, `SELECT `+runColumns(true)+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("run %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("getting run %q: %w", id, dbErr(err))
	}
	return r, nil
}

// ListRuns implements store.Store.
func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error) {
	var w where
	if f.DefinitionID != "" {
		w.add("definition_id = ?", f.DefinitionID)
	}
	if f.Status != "" {
		w.add("status = ?", string(f.Status))
	}
	if f.Before != "" {
		at, id, err := contract.DecodeCursor(f.Before)
		if err != nil {
			return store.RunPage{}, fmt.Errorf("listing runs: %w", err)
		}
		w.add("(created_at, id) < (?, ?)", fmtTime(at), id)
	}
	limit := contract.Limit(f.Limit)
	rows, err := s.reader.QueryContext(ctx, `SELECT `+runColumns(f.IncludeOutput)+` FROM runs`+w.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return store.RunPage{}, fmt.Errorf("listing runs: %w", dbErr(err))
	}
	defer rows.Close()
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
			return store.RunPage{}, fmt.Errorf("listing runs: %w", dbErr(err))
		}
		if n == limit {
			// A corrupt row still has the id and time the cursor needs,
			// unless its time is what is corrupt; then the next page
			// starts after the last good row.
			if !r.CreatedAt.IsZero() {
				page.Next = contract.EncodeCursor(r.CreatedAt, r.ID)
			} else if len(page.Runs) > 0 {
				last := page.Runs[len(page.Runs)-1]
				page.Next = contract.EncodeCursor(last.CreatedAt, last.ID)
			}
		}
	}
	if err := rows.Close(); err != nil {
		return store.RunPage{}, fmt.Errorf("listing runs: %w", dbErr(err))
	}
	if n <= limit {
		page.Next = ""
	}
	return page, nil
}

// --- sync results ---

const syncResultColumns = `sync_id, dry_run, ok, started_at, finished_at, error_summary, result`

func scanSyncResult(row scanner) (store.SyncResult, error) {
	var r store.SyncResult
	var started, finished, result string
	if err := row.Scan(&r.SyncID, &r.DryRun, &r.OK, &started, &finished, &r.ErrorSummary, &result); err != nil {
		return r, err
	}
	r.Result = json.RawMessage(result)
	var ts times
	ts.at(started, &r.StartedAt)
	ts.at(finished, &r.FinishedAt)
	if err := firstErr(ts.err, contract.CheckSyncResult(r)); err != nil {
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
	res, err := s.writer.ExecContext(ctx, `INSERT INTO sync_results (`+syncResultColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sync_id) DO NOTHING`,
		r.SyncID, r.DryRun, r.OK, fmtTime(r.StartedAt), fmtTime(r.FinishedAt), r.ErrorSummary, string(r.Result))
	if err != nil {
		return fmt.Errorf("saving sync result %q: %w", r.SyncID, dbErr(err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("saving sync result %q: it exists: %w", r.SyncID, firstErr(err, store.ErrConflict))
	}
	return nil
}

// LastSyncResult implements store.Store.
func (s *Store) LastSyncResult(ctx context.Context) (store.SyncResult, error) {
	return s.lastSync(ctx, "last sync", `dry_run = 0`)
}

// LastSuccessfulSync implements store.Store.
func (s *Store) LastSuccessfulSync(ctx context.Context) (store.SyncResult, error) {
	return s.lastSync(ctx, "last successful sync", `dry_run = 0 AND ok = 1`)
}

func (s *Store) lastSync(ctx context.Context, what, cond string) (store.SyncResult, error) {
	r, err := scanSyncResult(s.reader.QueryRowContext(ctx, `SELECT `+syncResultColumns+` FROM sync_results
		WHERE `+cond+` ORDER BY started_at DESC, sync_id DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
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
	rows, err := s.reader.QueryContext(ctx, `SELECT schedule_id, definition_id, spec_hash, paused_by_sync, note, updated_at
		FROM schedule_states ORDER BY schedule_id`)
	if err != nil {
		return nil, fmt.Errorf("listing schedule states: %w", dbErr(err))
	}
	states, err := collect(ctx, s, rows, func(row scanner) (store.ScheduleState, error) {
		var st store.ScheduleState
		var updated string
		if err := row.Scan(&st.ScheduleID, &st.DefinitionID, &st.SpecHash, &st.PausedBySync, &st.Note, &updated); err != nil {
			return st, err
		}
		var ts times
		ts.at(updated, &st.UpdatedAt)
		if ts.err != nil {
			return st, contract.Corrupt("schedule_states", st.ScheduleID, ts.err)
		}
		return st, nil
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
	in := make([]store.ScheduleState, len(states))
	for i, st := range states {
		var err error
		if in[i], err = contract.PrepareScheduleState(st); err != nil {
			return fmt.Errorf("putting schedule states: %w", err)
		}
	}
	now := fmtTime(s.now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var st stmts
		defer st.close()
		for _, state := range in {
			if err := st.exec(ctx, tx, `INSERT INTO schedule_states (schedule_id, definition_id, spec_hash,
					paused_by_sync, note, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (schedule_id) DO UPDATE SET definition_id = excluded.definition_id,
					spec_hash = excluded.spec_hash, paused_by_sync = excluded.paused_by_sync,
					note = excluded.note, updated_at = excluded.updated_at`,
				state.ScheduleID, state.DefinitionID, state.SpecHash, state.PausedBySync, state.Note, now); err != nil {
				return err
			}
		}
		return nil
	})
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
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM schedule_states
		WHERE schedule_id IN (SELECT value FROM json_each(?))`, jsonList(scheduleIDs)); err != nil {
		return fmt.Errorf("deleting schedule states: %w", dbErr(err))
	}
	return nil
}

// --- operator pauses ---

const pauseColumns = `definition_id, note, until, paused_at, paused_by`

func scanPause(row scanner) (store.OperatorPause, error) {
	var p store.OperatorPause
	var until sql.NullString
	var paused string
	if err := row.Scan(&p.DefinitionID, &p.Note, &until, &paused, &p.By); err != nil {
		return p, err
	}
	var ts times
	ts.ptr(until, &p.Until)
	ts.at(paused, &p.PausedAt)
	if ts.err != nil {
		return p, contract.Corrupt("operator_pauses", p.DefinitionID, ts.err)
	}
	return p, nil
}

// SetOperatorPause implements store.Store.
func (s *Store) SetOperatorPause(ctx context.Context, p store.OperatorPause) (store.OperatorPause, error) {
	p, err := contract.PrepareOperatorPause(p, contract.Time(s.now()))
	if err != nil {
		return p, fmt.Errorf("pausing: %w", err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO operator_pauses (`+pauseColumns+`)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (definition_id) DO UPDATE SET note = excluded.note, until = excluded.until,
				paused_at = excluded.paused_at, paused_by = excluded.paused_by`,
			p.DefinitionID, p.Note, fmtTimePtr(p.Until), fmtTime(p.PausedAt), p.By)
		if err != nil {
			return err
		}
		var st stmts
		defer st.close()
		return insertTimeline(ctx, tx, &st, contract.PausedEntry(p))
	})
	if sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT {
		return p, fmt.Errorf("pausing definition %q: %w", p.DefinitionID, store.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("pausing definition %q: %w", p.DefinitionID, dbErr(err))
	}
	return p, nil
}

// ClearOperatorPause implements store.Store.
func (s *Store) ClearOperatorPause(ctx context.Context, definitionID string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		p, err := scanPause(tx.QueryRowContext(ctx, `DELETE FROM operator_pauses WHERE definition_id = ?
			RETURNING `+pauseColumns, definitionID))
		if err != nil && !errors.Is(err, store.ErrCorrupt) {
			return err
		}
		var st stmts
		defer st.close()
		return insertTimeline(ctx, tx, &st, contract.ResumedEntry(p, contract.Time(s.now())))
	})
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("operator pause of %q: %w", definitionID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("resuming definition %q: %w", definitionID, dbErr(err))
	}
	return nil
}

// GetOperatorPause implements store.Store.
func (s *Store) GetOperatorPause(ctx context.Context, definitionID string) (store.OperatorPause, error) {
	p, err := scanPause(s.reader.QueryRowContext(ctx, `SELECT `+pauseColumns+`
		FROM operator_pauses WHERE definition_id = ?`, definitionID))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("operator pause of %q: %w", definitionID, store.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("getting operator pause of %q: %w", definitionID, dbErr(err))
	}
	return p, nil
}

// ListOperatorPauses implements store.Store.
func (s *Store) ListOperatorPauses(ctx context.Context) ([]store.OperatorPause, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+pauseColumns+`
		FROM operator_pauses ORDER BY definition_id`)
	if err != nil {
		return nil, fmt.Errorf("listing operator pauses: %w", dbErr(err))
	}
	pauses, err := collect(ctx, s, rows, scanPause)
	if err != nil {
		return nil, fmt.Errorf("listing operator pauses: %w", dbErr(err))
	}
	return pauses, nil
}

// --- helpers ---

// where builds a WHERE clause from the conditions a filter asks for.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// collect scans every row, logging and skipping corrupt ones.
func collect[T any](ctx context.Context, s *Store, rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}
