package adminapi

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// BackfillFiresMax bounds one backfill: more fires than this is a window
// to narrow (docs/run-control.md#backfill).
const backfillFiresMax = 1000

// Overlap policies of a backfill, as Temporal names them.
const (
	overlapSkip      = "skip"
	overlapBufferAll = "buffer_all"
	overlapAllowAll  = "allow_all"
)

// BackfillDefinition plans (DryRun) or starts a backfill of a cron
// definition over [From, To): the fires are computed with cronexpr in the
// definition's zone exactly as Temporal fires them. A real backfill is
// recorded (store.RecordBackfill) before Temporal is asked, so the runs it
// makes find it and record trigger backfill.
func (s *Server) BackfillDefinition(ctx context.Context, id string, req BackfillRequest) (plan *BackfillPlan, err error) {
	a := auditEntry{action: store.AuditBackfill, defID: id, note: req.Note, detail: backfillDetail(req, nil)}
	p, err := s.require(ctx, RoleOperate, a)
	if err != nil {
		return nil, err
	}
	defer func() {
		a.detail = backfillDetail(req, plan)
		s.audit(ctx, a, err)
	}()
	if err := checkNote(req.Note); err != nil {
		return nil, err
	}
	req.Overlap = cmp.Or(req.Overlap, overlapBufferAll)
	plan, err = s.planBackfill(ctx, id, req)
	if err != nil || req.DryRun {
		return plan, err
	}
	if s.cfg.Backfiller == nil {
		return nil, unavailable("backfill")
	}
	if _, err := s.cfg.Store.RecordBackfill(ctx, store.Backfill{DefinitionID: id, From: req.From, To: req.To, Overlap: req.Overlap,
		RequestedAt: s.cfg.Now(), Actor: p.Name}); err != nil {
		return nil, fmt.Errorf("recording the backfill: %w", err)
	}
	if err := s.cfg.Backfiller.Backfill(ctx, id, req.From, req.To, req.Overlap); err != nil {
		return nil, err
	}
	plan.Started = true
	return plan, nil
}

func backfillDetail(req BackfillRequest, plan *BackfillPlan) map[string]any {
	d := map[string]any{"from": req.From, "to": req.To, "overlap": cmp.Or(req.Overlap, overlapBufferAll), "dry_run": req.DryRun}
	if plan != nil {
		d["fires"] = len(plan.Fires)
	}
	return d
}

// planBackfill checks the request and lists its fires.
func (s *Server) planBackfill(ctx context.Context, id string, req BackfillRequest) (*BackfillPlan, error) {
	switch req.Overlap {
	case overlapSkip, overlapBufferAll, overlapAllowAll:
	default:
		return nil, badRequest("overlap %q is not one of skip, buffer_all, allow_all", req.Overlap[:min(len(req.Overlap), maxEcho)])
	}
	if req.From.IsZero() || req.To.IsZero() {
		return nil, badRequest("from and to are both required (RFC 3339 times): the window is [from, to)")
	}
	if !req.From.Before(req.To) {
		return nil, badRequest("from %s is not before to %s: the window would be empty", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339))
	}
	if now := s.cfg.Now(); req.To.After(now) {
		return nil, badRequest("to %s is in the future (now %s): a backfill fills the past; the schedule fires the future", req.To.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	def, err := s.cfg.Store.GetDefinition(ctx, id)
	if err != nil {
		return nil, err
	}
	if def.Removed() {
		return nil, &apiError{http.StatusConflict, "removed", fmt.Sprintf("definition %s was removed at %s: its file is gone", id, def.RemovedAt.Format(time.RFC3339)), ""}
	}
	if def.TriggerType != store.TriggerCron {
		return nil, badRequest("%s is %s-triggered: only cron definitions can be backfilled", id, def.TriggerType)
	}
	spec, err := definition.FromCanonicalJSON(def.Spec)
	if err != nil {
		return nil, fmt.Errorf("definition %s: its stored spec does not decode: %w", id, err)
	}
	fires, err := backfillFires(spec.Trigger.CronExpression, spec.Trigger.Timezone, req.From, req.To)
	if err != nil {
		return nil, err
	}
	return &BackfillPlan{DefinitionID: id, Timezone: cmp.Or(spec.Trigger.Timezone, "UTC"), From: req.From, To: req.To,
		Overlap: req.Overlap, Fires: fires, DryRun: req.DryRun}, nil
}

// backfillFires lists the fires of a cron expression in [from, to), in
// zone and in UTC; more than BackfillFiresMax is a 400.
func backfillFires(expr, zone string, from, to time.Time) ([]fireTime, error) {
	sched, err := cronexpr.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron_expression %q: %w", expr, err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", zone, err)
	}
	// Next is strictly after its argument, at whole seconds: start one
	// second early so a fire at exactly from is in.
	after := from.Truncate(time.Second)
	if after.Equal(from) {
		after = after.Add(-time.Second)
	}
	fires := []fireTime{}
	for {
		t := sched.Next(after, loc)
		if t.IsZero() || !t.Before(to) {
			return fires, nil
		}
		if len(fires) == backfillFiresMax {
			return nil, badRequest("the window [%s, %s) holds more than %d fires: narrow the window", from.Format(time.RFC3339), to.Format(time.RFC3339), backfillFiresMax)
		}
		fires = append(fires, fireTime{Local: t.In(loc).Format(time.RFC3339), UTC: t.UTC()})
		after = t
	}
}
