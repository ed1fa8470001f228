package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

// --- runs ---

// runColumns are the columns scanRun reads; without output, stdout and
// stderr are read as NULL, so a page never drags them out of storage.
func runColumns(withOutput bool) string {
	output := `NULL, NULL`
	if withOutput {
		output = `stdout, stderr`
	}
	return `id, definition_id, definition_version, content_hash, trigger_kind, trigger_detail,
		status, skip_reason, stage, workflow_id, workflow_run_id, scheduled_at, started_at,
		finished_at, context_snapshot, rule_outcome, exit_code, ` + output + `, error, attempt,
		pool, inputs, canceled_by, cancel_note, shadow_plan, created_at, updated_at`
}

func scanRun(row scanner, extra ...any) (store.Run, error) {
	var r store.Run
	var trigger, status, stage string
	var detail, snapshot, outcome, inputs, plan sql.NullString
	var scheduled, started, finished, created, updated timeCol
	var stdout, stderr []byte
	var exitCode sql.NullInt64
	err := row.Scan(append([]any{&r.ID, &r.DefinitionID, &r.DefinitionVersion, &r.ContentHash, &trigger, &detail,
		&status, &r.SkipReason, &stage, &r.WorkflowID, &r.WorkflowRunID, &scheduled, &started,
		&finished, &snapshot, &outcome, &exitCode, &stdout, &stderr, &r.Error, &r.Attempt,
		&r.Pool, &inputs, &r.CanceledBy, &r.CancelNote, &plan, &created, &updated}, extra...)...)
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

// runArgs are the parameters $1..$26 of the run statements.
func (s *Store) runArgs(r store.Run) []any {
	var exitCode any
	if r.ExitCode != nil {
		exitCode = int64(*r.ExitCode)
	}
	return []any{r.ID, r.DefinitionID, r.DefinitionVersion, r.ContentHash, string(r.Trigger),
		jsonArg(r.TriggerDetail), string(r.Status), r.SkipReason, string(r.Stage), r.WorkflowID,
		r.WorkflowRunID, s.timePtr(r.ScheduledAt), s.timePtr(r.StartedAt), s.timePtr(r.FinishedAt),
		jsonArg(r.ContextSnapshot), jsonArg(r.RuleOutcome), exitCode,
		bytesOf(r.Stdout), bytesOf(r.Stderr), r.Error, r.Attempt,
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
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
			$18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $27)
		ON CONFLICT (id) DO NOTHING`, append(s.runArgs(r), s.time(r.CreatedAt))...)
	if err != nil {
		return r, fmt.Errorf("creating run %q: %w", r.ID, s.dbErr(err))
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
	var created timeCol
	// An empty CanceledBy keeps the stored CanceledBy and CancelNote: the
	// engine's last update of a run must not erase who asked to cancel it.
	err = s.writer.QueryRowContext(ctx, `UPDATE runs SET definition_id = $2, definition_version = $3,
			content_hash = $4, trigger_kind = $5, trigger_detail = $6, status = $7, skip_reason = $8,
			stage = $9, workflow_id = $10, workflow_run_id = $11, scheduled_at = $12, started_at = $13,
			finished_at = $14, context_snapshot = $15, rule_outcome = $16, exit_code = $17,
			stdout = $18, stderr = $19, error = $20, attempt = $21, pool = $22, inputs = $23,
			canceled_by = CASE WHEN $24 = '' THEN canceled_by ELSE $24 END,
			cancel_note = CASE WHEN $24 = '' THEN cancel_note ELSE $25 END, shadow_plan = $26,
			updated_at = $27
		WHERE id = $1 AND (status = $7 OR NOT (`+s.d.In("status", "$28")+`))
		RETURNING created_at, canceled_by, cancel_note`,
		append(s.runArgs(r), s.time(r.UpdatedAt), s.keys(contract.TerminalStatuses()))...).Scan(&created, &r.CanceledBy, &r.CancelNote)
	if errors.Is(err, sql.ErrNoRows) {
		var status string
		err := s.writer.QueryRowContext(ctx, `SELECT status FROM runs WHERE id = $1`, r.ID).Scan(&status)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return r, fmt.Errorf("updating run %q: %w", r.ID, store.ErrNotFound)
		case err != nil:
			return r, fmt.Errorf("updating run %q: %w", r.ID, s.dbErr(err))
		}
		return r, fmt.Errorf("updating run %q: it is %s and cannot become %s: %w", r.ID, status, r.Status, store.ErrConflict)
	}
	if err != nil {
		return r, fmt.Errorf("updating run %q: %w", r.ID, s.dbErr(err))
	}
	if r.CreatedAt, err = created.parse(); err != nil {
		return r, contract.Corrupt("runs", r.ID, err)
	}
	return r, nil
}

// GetRun implements store.Store.
func (s *Store) GetRun(ctx context.Context, id string) (store.Run, error) {
	return get(ctx, s, fmt.Sprintf("run %q", id), `SELECT `+runColumns(true)+` FROM runs WHERE id = $1`,
		[]any{id}, func(row scanner) (store.Run, error) { return scanRun(row) })
}

// ListRuns implements store.Store. The WHERE clause holds only the
// conditions asked for, so each shape of query gets a plan that walks one of
// the (…, created_at DESC, id DESC) indexes and stops after the page.
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
		w.add("(created_at, id) < (?, ?)", s.time(at), id)
	}
	limit := contract.Limit(f.Limit)
	q := `SELECT ` + runColumns(f.IncludeOutput) + ` FROM runs` + w.sql() +
		` ORDER BY created_at DESC, id DESC LIMIT ` + w.param(limit+1)
	var page store.RunPage
	n := 0
	_, err := collect(ctx, s, s.reader.QueryContext, q, w.args, func(row scanner) (struct{}, error) {
		if n++; n > limit {
			return struct{}{}, nil
		}
		r, err := scanRun(row)
		if err == nil {
			page.Runs = append(page.Runs, r)
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
		return struct{}{}, err
	})
	if err != nil {
		return store.RunPage{}, fmt.Errorf("listing runs: %w", s.dbErr(err))
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
	var started, finished timeCol
	var result string
	if err := row.Scan(&r.SyncID, &r.DryRun, &r.OK, &started, &finished, &r.ErrorSummary, &result); err != nil {
		return r, err
	}
	r.Result = []byte(result)
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
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sync_id) DO NOTHING`,
		r.SyncID, r.DryRun, r.OK, s.time(r.StartedAt), s.time(r.FinishedAt), r.ErrorSummary, string(r.Result))
	if err != nil {
		return fmt.Errorf("saving sync result %q: %w", r.SyncID, s.dbErr(err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("saving sync result %q: it exists: %w", r.SyncID, firstErr(err, store.ErrConflict))
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
	return get(ctx, s, what, `SELECT `+syncResultColumns+` FROM sync_results
		WHERE `+cond+` ORDER BY started_at DESC, sync_id DESC LIMIT 1`, nil, scanSyncResult)
}

// --- schedule states ---

// ListScheduleStates implements store.Store.
func (s *Store) ListScheduleStates(ctx context.Context) ([]store.ScheduleState, error) {
	return list(ctx, s, "schedule states", `SELECT schedule_id, definition_id, spec_hash, paused_by_sync, note, updated_at
		FROM schedule_states ORDER BY schedule_id`, nil, func(row scanner) (store.ScheduleState, error) {
		var st store.ScheduleState
		var updated timeCol
		if err := row.Scan(&st.ScheduleID, &st.DefinitionID, &st.SpecHash, &st.PausedBySync, &st.Note, &updated); err != nil {
			return st, err
		}
		var ts times
		if ts.at(updated, &st.UpdatedAt); ts.err != nil {
			return st, contract.Corrupt("schedule_states", st.ScheduleID, ts.err)
		}
		return st, nil
	})
}

// PutScheduleStates implements store.Store.
func (s *Store) PutScheduleStates(ctx context.Context, states ...store.ScheduleState) error {
	if len(states) == 0 {
		return nil
	}
	now := s.time(s.now())
	stmts := make([]Stmt, len(states))
	for i, st := range states {
		st, err := contract.PrepareScheduleState(st)
		if err != nil {
			return fmt.Errorf("putting schedule states: %w", err)
		}
		stmts[i] = Stmt{`INSERT INTO schedule_states (schedule_id, definition_id, spec_hash,
				paused_by_sync, note, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (schedule_id) DO UPDATE SET definition_id = excluded.definition_id,
				spec_hash = excluded.spec_hash, paused_by_sync = excluded.paused_by_sync,
				note = excluded.note, updated_at = excluded.updated_at`,
			[]any{st.ScheduleID, st.DefinitionID, st.SpecHash, st.PausedBySync, st.Note, now}}
	}
	if _, err := s.batch(ctx, stmts); err != nil {
		return fmt.Errorf("putting schedule states: %w", s.dbErr(err))
	}
	return nil
}

// DeleteScheduleStates implements store.Store.
func (s *Store) DeleteScheduleStates(ctx context.Context, scheduleIDs ...string) error {
	if len(scheduleIDs) == 0 {
		return nil
	}
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM schedule_states WHERE `+s.d.In("schedule_id", "$1"),
		s.keys(scheduleIDs)); err != nil {
		return fmt.Errorf("deleting schedule states: %w", s.dbErr(err))
	}
	return nil
}

// --- operator pauses ---

const pauseColumns = `definition_id, note, until, paused_at, paused_by`

func scanPause(row scanner) (store.OperatorPause, error) {
	var p store.OperatorPause
	var until, paused timeCol
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
	err = s.writeTx(ctx, func(tx *Tx) error {
		return s.execOne(ctx, tx, []Stmt{{`INSERT INTO operator_pauses (` + pauseColumns + `)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (definition_id) DO UPDATE SET note = excluded.note, until = excluded.until,
				paused_at = excluded.paused_at, paused_by = excluded.paused_by`,
			[]any{p.DefinitionID, p.Note, s.timePtr(p.Until), s.time(p.PausedAt), p.By}},
			s.insertTimeline(contract.PausedEntry(p))})
	})
	if err != nil && s.d.Classify(err) == ErrForeignKey {
		return p, fmt.Errorf("pausing definition %q: %w", p.DefinitionID, store.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("pausing definition %q: %w", p.DefinitionID, s.dbErr(err))
	}
	return p, nil
}

// ClearOperatorPause implements store.Store.
func (s *Store) ClearOperatorPause(ctx context.Context, definitionID string) error {
	err := s.writeTx(ctx, func(tx *Tx) error {
		p, err := scanPause(tx.QueryRowContext(ctx, `DELETE FROM operator_pauses WHERE definition_id = $1
			RETURNING `+pauseColumns, definitionID))
		if err != nil && !errors.Is(err, store.ErrCorrupt) {
			return err
		}
		return s.execOne(ctx, tx, []Stmt{s.insertTimeline(contract.ResumedEntry(p, contract.Time(s.now())))})
	})
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("operator pause of %q: %w", definitionID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("resuming definition %q: %w", definitionID, s.dbErr(err))
	}
	return nil
}

// GetOperatorPause implements store.Store.
func (s *Store) GetOperatorPause(ctx context.Context, definitionID string) (store.OperatorPause, error) {
	return get(ctx, s, fmt.Sprintf("operator pause of %q", definitionID), `SELECT `+pauseColumns+`
		FROM operator_pauses WHERE definition_id = $1`, []any{definitionID}, scanPause)
}

// ListOperatorPauses implements store.Store.
func (s *Store) ListOperatorPauses(ctx context.Context) ([]store.OperatorPause, error) {
	return list(ctx, s, "operator pauses", `SELECT `+pauseColumns+`
		FROM operator_pauses ORDER BY definition_id`, nil, scanPause)
}

// --- source states ---

// SaveSourceState implements store.SourceStore.
func (s *Store) SaveSourceState(ctx context.Context, st store.SourceState) error {
	st, state, err := contract.PrepareSourceState(st)
	if err != nil {
		return fmt.Errorf("saving source state: %w", err)
	}
	_, err = s.writer.ExecContext(ctx, `INSERT INTO source_states (name, state, updated_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
		st.Name, string(state), s.time(s.now()))
	if err != nil {
		return fmt.Errorf("saving state of source %q: %w", st.Name, s.dbErr(err))
	}
	return nil
}

func scanSourceState(row scanner) (store.SourceState, error) {
	var name, state string
	if err := row.Scan(&name, &state); err != nil {
		return store.SourceState{}, err
	}
	return contract.DecodeSourceState(name, []byte(state))
}

// GetSourceState implements store.SourceStore.
func (s *Store) GetSourceState(ctx context.Context, name string) (store.SourceState, error) {
	return get(ctx, s, fmt.Sprintf("source %q", name), `SELECT name, state FROM source_states WHERE name = $1`,
		[]any{name}, scanSourceState)
}

// ListSourceStates implements store.SourceStore, bytewise by name (the
// column's collation: "C" on PostgreSQL, BINARY on SQLite).
func (s *Store) ListSourceStates(ctx context.Context) ([]store.SourceState, error) {
	return list(ctx, s, "source states", `SELECT name, state FROM source_states ORDER BY name`, nil, scanSourceState)
}
