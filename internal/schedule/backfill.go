package schedule

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// backfillOverlaps are the overlap policies a backfill may ask for
// (docs/run-control.md#backfill); "" is skip.
var backfillOverlaps = map[string]enumspb.ScheduleOverlapPolicy{
	"":                          enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	definition.MisfireSkip:      enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	definition.MisfireBufferAll: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	definition.MisfireAllowAll:  enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

// backfillEndSlack turns the window's exclusive end into the inclusive end
// Temporal takes. Temporal's scheduler (v1.32: service/worker/scheduler
// processBackfills and chasm/lib/scheduler processBackfill alike) starts
// one millisecond before StartTime, so a fire at StartTime runs, and takes
// every fire whose time is not after EndTime, so a fire at EndTime runs
// too. Cron fires fall on whole seconds, so ending a millisecond early
// leaves out exactly the fire at `to`.
const backfillEndSlack = time.Millisecond

// Backfill asks Temporal's schedule of a live cron definition to fire for
// every time in [from, to) as if it had been running then, with overlap
// skip, buffer_all or allow_all ("" is skip). The fires are Temporal's own
// and start on the definition's pool like any scheduled run; Temporal
// takes them in batches in the background, so they may still be starting
// when this returns. Errors wrap store.ErrNotFound (unknown or removed
// definition, or no schedule yet: sync first) and store.ErrInvalid (not
// cron, empty window, unknown overlap).
func (p *Projector) Backfill(ctx context.Context, definitionID string, from, to time.Time, overlap string) error {
	policy, ok := backfillOverlaps[overlap]
	if !ok {
		return fmt.Errorf("backfilling %q: %w: overlap %q is not one of skip, buffer_all, allow_all", definitionID, store.ErrInvalid, overlap)
	}
	if !from.Before(to) {
		return fmt.Errorf("backfilling %q: %w: from %s is not before to %s", definitionID, store.ErrInvalid, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	def, err := p.liveDefinition(ctx, definitionID)
	if err != nil {
		return fmt.Errorf("backfilling %q: %w", definitionID, err)
	}
	if def.TriggerType != store.TriggerCron {
		return fmt.Errorf("backfilling %q: %w: only cron definitions can be backfilled; this one is %s", definitionID, store.ErrInvalid, def.TriggerType)
	}
	h := p.schedules.GetHandle(ctx, p.ScheduleID(definitionID))
	err = h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{
		Start: from, End: to.Add(-backfillEndSlack), Overlap: policy,
	}}})
	switch {
	case isNotFound(err):
		return fmt.Errorf("backfilling %q: %w: schedule %s does not exist yet; sync first", definitionID, store.ErrNotFound, p.ScheduleID(definitionID))
	case err != nil:
		return fmt.Errorf("backfilling schedule %s: %w: %v", p.ScheduleID(definitionID), store.ErrUnavailable, err)
	}
	p.log.Info("schedule: backfill requested", "definition_id", definitionID, "from", from, "to", to, "overlap", policy.String())
	return nil
}
