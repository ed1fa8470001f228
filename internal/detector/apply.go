package detector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
)

// apply carries out the outcomes of a pass, in an order that a pass
// failing part-way and redone never duplicates a record or a
// notification: missed records (by ID), auto-pauses, notifications (by
// ID), timeline entries, and last the health, which the next pass
// starts from.
func (d *Detector) apply(ctx context.Context, in *passInput, outs []outcome, res *PassResult) error {
	var (
		events   []defEvents
		timeline []store.TimelineEntry
		changed  []store.DefinitionHealth
	)
	for i, o := range outs {
		s := in.specs[i]
		res.MissedFires += o.missedFires
		res.Entered += o.entered
		res.Left += o.left
		for _, m := range o.missed {
			if err := d.writeMissed(ctx, m); err != nil {
				return err
			}
			res.MissedRecords++
		}
		if o.pause != nil && d.autoPause(ctx, o.pause) {
			res.AutoPaused = append(res.AutoPaused, s.id)
			if o.pause.event != nil {
				o.events = append(o.events, *o.pause.event)
			}
		}
		if len(o.events) > 0 {
			events = append(events, defEvents{s, o.events})
		}
		timeline = append(timeline, o.timeline...)
		if o.changed {
			changed = append(changed, o.health)
		}
	}
	for _, o := range in.retired {
		res.Left += o.left
		timeline = append(timeline, o.timeline...)
		changed = append(changed, o.health)
	}
	n, err := d.enqueue(ctx, in, events)
	if err != nil {
		return err
	}
	res.Notifications = n
	if len(timeline) > 0 {
		if err := d.cfg.Store.AppendTimeline(ctx, timeline...); err != nil {
			return fmt.Errorf("detector: appending timeline entries: %w", err)
		}
	}
	for b := range slices.Chunk(changed, healthBatch) {
		if err := d.cfg.Store.PutHealth(ctx, b...); err != nil {
			return fmt.Errorf("detector: saving health: %w", err)
		}
	}
	d.remember(in.specs, outs)
	return nil
}

// writeMissed creates or extends a missed record. A record created by an
// earlier pass that did not finish is extended; one that is gone is
// created again.
func (d *Detector) writeMissed(ctx context.Context, m missedRecord) error {
	var err error
	if m.created {
		if _, err = d.cfg.Store.CreateRun(ctx, m.run); errors.Is(err, store.ErrConflict) {
			_, err = d.cfg.Store.UpdateRun(ctx, m.run)
		}
	} else {
		if _, err = d.cfg.Store.UpdateRun(ctx, m.run); errors.Is(err, store.ErrNotFound) {
			_, err = d.cfg.Store.CreateRun(ctx, m.run)
		}
	}
	if err != nil {
		return fmt.Errorf("detector: recording missed run %s: %w", m.run.ID, err)
	}
	return nil
}

// autoPause pauses a definition after pause_after_failures and reports
// whether it did.
func (d *Detector) autoPause(ctx context.Context, p *autoPause) bool {
	if d.cfg.Pauser == nil {
		d.log.Warn("detector: pause_after_failures reached but no pauser is configured", "definition_id", p.definitionID, "note", p.note)
		return false
	}
	err := d.cfg.Pauser.PauseBy(ctx, p.definitionID, p.note, schedule.ByAutoPause, nil)
	if err != nil && !errors.Is(err, store.ErrUnavailable) {
		d.log.Error("detector: auto-pause failed", "definition_id", p.definitionID, "error", err)
		return false
	}
	// ErrUnavailable: the pause is recorded and the next sync applies it.
	d.log.Info("detector: auto-paused", "definition_id", p.definitionID, "note", p.note, "error", err)
	return true
}

// defEvents are the events of one definition.
type defEvents struct {
	spec   *defSpec
	events []event
}

// enqueue adds the notifications of a pass to the outbox in one call,
// after reading the stderr of the failed runs they report.
func (d *Detector) enqueue(ctx context.Context, in *passInput, events []defEvents) (int, error) {
	var ns []store.Notification
	for _, de := range events {
		for i := range de.events {
			if de.events[i].stderrRun != "" {
				d.fillRun(ctx, &de.events[i])
			}
		}
		ns = append(ns, notifications(de.spec, de.events, in.w.now)...)
	}
	if len(ns) == 0 {
		return 0, nil
	}
	n, err := d.cfg.Store.EnqueueNotifications(ctx, ns...)
	if err != nil {
		return 0, fmt.Errorf("detector: enqueueing %d notifications: %w", len(ns), err)
	}
	return n, nil
}

// fillRun adds the stderr tail and workflow of the failed run a message
// reports. Without them the message still goes.
func (d *Detector) fillRun(ctx context.Context, ev *event) {
	r, err := d.cfg.Store.GetRun(ctx, ev.stderrRun)
	if err != nil {
		d.log.Warn("detector: reading the run for its stderr", "run_id", ev.stderrRun, "error", err)
		return
	}
	tail := stderrTail(r.Stderr)
	if d.cfg.Redact != nil {
		tail = stderrTail(d.cfg.Redact(tail))
	}
	ev.msg.StderrTail = tail
	ev.msg.WorkflowID = cmp.Or(ev.msg.WorkflowID, r.WorkflowID)
}

// remember keeps the open missed records for the next pass.
func (d *Detector) remember(specs []*defSpec, outs []outcome) {
	eps := make(map[string]episode)
	for i, o := range outs {
		if o.episode != nil {
			eps[specs[i].id] = *o.episode
		}
	}
	d.episodes = eps
}
