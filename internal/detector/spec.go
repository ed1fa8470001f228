package detector

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// defSpec is what the detector needs of one stored definition, decoded
// once per content hash.
type defSpec struct {
	id          string
	description string
	enabled     bool
	// pool is the worker pool its runs start on (docs/run-control.md#placement).
	pool    string
	trigger definition.Trigger
	expect  definition.Expect
	// notify has On filled with definition.NotifyOnDefault when empty and
	// AfterFailures at least 1.
	notify             definition.Notify
	pauseAfterFailures int
	// shadow says the definition is in shadow mode: its runs never
	// succeed, so staleness is not checked (docs/cutover.md#shadow-runs).
	shadow bool
	// cron and loc are set for cron definitions whose expression parses.
	cron *cronexpr.Schedule
	loc  *time.Location

	version     int
	contentHash string
	createdAt   time.Time
	// changedAt is when the current version was stored: fires before it
	// belong to an earlier schedule and are not checked.
	changedAt time.Time
}

// wants reports whether notify.on asks for event.
func (d *defSpec) wants(event string) bool { return slices.Contains(d.notify.On, event) }

// missedChecked reports whether missed fires are looked for.
func (d *defSpec) missedChecked() bool {
	return d.enabled && d.cron != nil && d.expect.Grace > 0
}

// decodeSpec reads a stored definition. The canonical JSON holds every
// default, expect and notify merged in at load time (docs/alerting.md#defaults).
func decodeSpec(rec store.Definition) (*defSpec, error) {
	def, err := definition.FromCanonicalJSON(rec.Spec)
	if err != nil {
		return nil, fmt.Errorf("decoding definition %q: %w", rec.ID, err)
	}
	d := &defSpec{
		id: rec.ID, description: def.Description, enabled: rec.Enabled, pool: def.Pool(), trigger: def.Trigger,
		pauseAfterFailures: def.PauseAfterFailures, shadow: def.Shadow(),
		version: rec.Version, contentHash: rec.ContentHash, createdAt: rec.CreatedAt, changedAt: rec.UpdatedAt,
	}
	if def.Expect != nil {
		d.expect = *def.Expect
	}
	if def.Notify != nil {
		d.notify = *def.Notify
	}
	if len(d.notify.On) == 0 {
		d.notify.On = definition.NotifyOnDefault
	}
	d.notify.AfterFailures = max(d.notify.AfterFailures, 1)
	if rec.TriggerType == store.TriggerCron {
		if d.cron, err = cronexpr.Parse(def.Trigger.CronExpression); err != nil {
			return nil, fmt.Errorf("definition %q: cron_expression: %w", rec.ID, err)
		}
		if d.loc, err = time.LoadLocation(def.Trigger.Timezone); err != nil {
			return nil, fmt.Errorf("definition %q: timezone: %w", rec.ID, err)
		}
	}
	return d, nil
}

// specCache keeps decoded definitions by ID and content hash, so a pass
// over thousands of unchanged definitions decodes none.
type specCache struct {
	mu sync.Mutex
	m  map[string]*defSpec
}

// specs decodes recs, reusing what is cached; a definition that does not
// decode is reported in errs and left out.
func (c *specCache) specs(recs []store.Definition) (out []*defSpec, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]*defSpec, len(recs))
	for _, rec := range recs {
		d, ok := c.m[rec.ID]
		if !ok || d.contentHash != rec.ContentHash || d.enabled != rec.Enabled || !d.changedAt.Equal(rec.UpdatedAt) {
			var err error
			if d, err = decodeSpec(rec); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		next[rec.ID] = d
		out = append(out, d)
	}
	c.m = next
	return out, errs
}
