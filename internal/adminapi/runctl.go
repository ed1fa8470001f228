package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
)

// The run-control methods (docs/run-control.md). Each acts as the
// principal of its context (WithPrincipal), checks its role, and writes
// one audit record.

// Canceler asks Temporal to cancel a run's workflow (internal/app, with
// client.CancelWorkflow). The run may be pending: its workflow exists even
// when no worker has begun it.
type canceler interface {
	Cancel(ctx context.Context, run store.Run) error
}

// noteMax bounds the note of a run, rerun, cancel or backfill, as a
// pause's note is bounded.
const noteMax = limits.PauseNote

func checkNote(note string) error {
	if len(note) > noteMax {
		return badRequest("note is %d bytes; at most %d (shorten it: a link to a ticket works)", len(note), noteMax)
	}
	return nil
}

// RunDefinition starts a manual run as POST /api/v1/definitions/{id}/run
// does: a removed definition is refused, a disabled one runs. inputs are
// the given values, checked against the definition's declaration (a bad
// one is a 400 naming every bad field, docs/run-control.md#inputs); note
// goes to the audit.
func (s *Server) RunDefinition(ctx context.Context, id string, inputs map[string]any, note string) (started RunStarted, err error) {
	a := auditEntry{action: store.AuditRun, defID: id, note: note}
	if _, err := s.require(ctx, RoleOperate, a); err != nil {
		return RunStarted{}, err
	}
	defer func() {
		a.runID = started.RunID
		s.audit(ctx, a, err)
	}()
	if err := checkNote(note); err != nil {
		return RunStarted{}, err
	}
	def, spec, err := s.runnable(ctx, id)
	if err != nil {
		return RunStarted{}, err
	}
	resolved, err := resolveInputs(spec, inputs)
	a.detail = map[string]any{"inputs": resolved}
	if err != nil {
		return RunStarted{}, err
	}
	return s.startRun(ctx, def, spec, resolved, "")
}

// RerunRun starts a manual run of the same definition with the inputs the
// run recorded, checked again against the current declaration.
func (s *Server) RerunRun(ctx context.Context, runID, note string) (started RunStarted, err error) {
	a := auditEntry{action: store.AuditRun, note: note, detail: map[string]any{"rerun_of": runID}}
	if _, err := s.require(ctx, RoleOperate, a); err != nil {
		return RunStarted{}, err
	}
	defer func() {
		a.runID = started.RunID
		s.audit(ctx, a, err)
	}()
	if err := checkNote(note); err != nil {
		return RunStarted{}, err
	}
	old, err := s.cfg.Store.GetRun(ctx, runID)
	if err != nil {
		return RunStarted{}, err
	}
	a.defID = old.DefinitionID
	def, spec, err := s.runnable(ctx, old.DefinitionID)
	if err != nil {
		return RunStarted{}, err
	}
	var given map[string]any
	if len(old.Inputs) > 0 {
		dec := json.NewDecoder(bytes.NewReader(old.Inputs))
		dec.UseNumber()
		if err := dec.Decode(&given); err != nil {
			return RunStarted{}, fmt.Errorf("run %s: its recorded inputs do not decode: %w", runID, err)
		}
	}
	resolved, err := resolveInputs(spec, given)
	a.detail = map[string]any{"rerun_of": runID, "inputs": resolved}
	if err != nil {
		return RunStarted{}, fmt.Errorf("run %s's inputs no longer fit the definition: %w", runID, err)
	}
	return s.startRun(ctx, def, spec, resolved, runID)
}

// runnable loads a definition that may be run by hand.
func (s *Server) runnable(ctx context.Context, id string) (store.Definition, *definition.Definition, error) {
	if s.cfg.Runner == nil {
		return store.Definition{}, nil, unavailable("starting runs")
	}
	def, err := s.cfg.Store.GetDefinition(ctx, id)
	if err != nil {
		return def, nil, err
	}
	if def.Removed() {
		return def, nil, &apiError{status: http.StatusConflict, code: "removed", msg: fmt.Sprintf("definition %s was removed at %s: its file is gone", id, def.RemovedAt.Format(time.RFC3339))}
	}
	spec, err := definition.FromCanonicalJSON(def.Spec)
	if err != nil {
		return def, nil, fmt.Errorf("definition %s: its stored spec does not decode: %w", id, err)
	}
	return def, spec, nil
}

// resolveInputs checks given values against the declaration: a
// definition that declares none and is given none has none.
func resolveInputs(spec *definition.Definition, given map[string]any) (map[string]any, error) {
	if len(spec.Inputs) == 0 && len(given) == 0 {
		return nil, nil
	}
	resolved, err := spec.ResolveInputs(given)
	if err == nil {
		return resolved, nil
	}
	var many definition.InputErrors
	var one *definition.InputError
	switch {
	case errors.As(err, &many):
	case errors.As(err, &one):
		many = definition.InputErrors{one}
	default:
		return nil, err
	}
	fields := make(map[string]string, len(many))
	for _, e := range many {
		fields[e.Field] = e.Msg
	}
	return nil, &fieldsError{apiError{http.StatusBadRequest, "bad_request", many.Error(), ""}, fields}
}

// startRun writes the run's pending record, then starts its workflow on
// the definition's pool; a run whose pool no worker polls gets a
// "waiting" timeline entry (docs/run-control.md#placement).
func (s *Server) startRun(ctx context.Context, def store.Definition, spec *definition.Definition, resolved map[string]any, rerunOf string) (RunStarted, error) {
	pool := spec.Pool()
	run := store.Run{ID: uuid.Must(uuid.NewV7()).String(), DefinitionID: def.ID, Trigger: store.RunTriggerManual, Status: store.RunPending, Pool: pool}
	if len(resolved) > 0 {
		b, err := json.Marshal(resolved)
		if err != nil {
			return RunStarted{}, fmt.Errorf("encoding the inputs: %w", err)
		}
		run.Inputs = b
	}
	if _, err := s.cfg.Store.CreateRun(ctx, run); err != nil {
		return RunStarted{}, fmt.Errorf("recording the pending run: %w", err)
	}
	// A client that hangs up must not cut the start short: Temporal may
	// have started the workflow when the call returns canceled.
	started, err := s.cfg.Runner.StartRun(context.WithoutCancel(ctx), RunRequest{RunID: run.ID, DefinitionID: def.ID, Pool: pool, Inputs: resolved, RerunOf: rerunOf})
	if err != nil {
		s.abandonRun(ctx, run.ID, err)
		return RunStarted{}, err
	}
	if msg := s.waiting.poolWaiting(ctx, pool); msg != "" {
		e := store.TimelineEntry{DefinitionID: def.ID, At: s.cfg.Now(), Kind: store.TimelineWaiting, Summary: "run " + run.ID + " is " + msg, Actor: "api", RunID: run.ID}
		if err := s.cfg.Store.AppendTimeline(context.WithoutCancel(ctx), e); err != nil {
			s.log.Warn("adminapi: writing the waiting timeline entry failed", "definition_id", def.ID, "run_id", run.ID, "error", err)
		}
	}
	return started, nil
}

// abandonRun marks failed the pending record of a run whose workflow did
// not start, so it does not stay pending forever.
func (s *Server) abandonRun(ctx context.Context, runID string, cause error) {
	ctx = context.WithoutCancel(ctx)
	run, err := s.cfg.Store.GetRun(ctx, runID)
	if err == nil {
		now := s.cfg.Now()
		run.Status, run.FinishedAt = store.RunFailed, &now
		run.Error = limits.Clip("the workflow did not start: "+cause.Error(), auditMessageMax)
		_, err = s.cfg.Store.UpdateRun(ctx, run)
	}
	if err != nil {
		s.log.Error("adminapi: a run whose workflow did not start stays pending", "run_id", runID, "cause", cause, "error", err)
	}
}

// CancelRun asks Temporal to cancel the run's workflow and records who
// asked; the run is recorded canceled when its workflow ends. A finished
// run is a conflict.
func (s *Server) CancelRun(ctx context.Context, runID, note string) (run store.Run, err error) {
	a := auditEntry{action: store.AuditCancel, runID: runID, note: note}
	p, err := s.require(ctx, RoleOperate, a)
	if err != nil {
		return store.Run{}, err
	}
	defer func() { s.audit(ctx, a, err) }()
	if err := checkNote(note); err != nil {
		return store.Run{}, err
	}
	if s.cfg.Canceler == nil {
		return store.Run{}, unavailable("cancel")
	}
	if run, err = s.cfg.Store.GetRun(ctx, runID); err != nil {
		return store.Run{}, err
	}
	a.defID = run.DefinitionID
	if run.Status.Terminal() {
		return store.Run{}, &apiError{status: http.StatusConflict, code: "conflict", msg: fmt.Sprintf("run %s already %s", runID, run.Status)}
	}
	// A cancel already asked for keeps its asker: the run is recorded
	// canceled by whoever ended it first. Temporal is asked again (the
	// first call may have failed); this call is audited all the same.
	if run.CanceledBy == "" {
		if err := s.cfg.Store.RequestRunCancel(ctx, runID, p.Name, note); err != nil {
			return store.Run{}, err
		}
	}
	if err := s.cfg.Canceler.Cancel(ctx, run); err != nil {
		return store.Run{}, err
	}
	if fresh, err := s.cfg.Store.GetRun(ctx, runID); err == nil {
		run = s.endPending(ctx, fresh)
	}
	return run, nil
}

// endPending records a canceled run that no worker has begun as canceled
// at once, so a run waiting on a pool nobody serves does not wait forever
// (docs/run-control.md#cancel). A worker that takes its workflow later
// finds the record ended and runs nothing.
func (s *Server) endPending(ctx context.Context, run store.Run) store.Run {
	if run.Status != store.RunPending {
		return run
	}
	now := s.cfg.Now().UTC()
	run.Status, run.FinishedAt = store.RunCanceled, &now
	run.Error = "canceled before a worker began it"
	ended, err := s.cfg.Store.UpdateRun(ctx, run)
	if err != nil {
		s.log.Warn("adminapi: recording a pending run canceled failed; the first worker to take it records it", "run_id", run.ID, "error", err)
		return run
	}
	return ended
}
