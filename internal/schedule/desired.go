package schedule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
)

// hashVersion is part of every hash: raise it when the way a definition is
// turned into a schedule changes, so the next sync rewrites every schedule.
const hashVersion = 1

// minCatchupWindow is Temporal's minimum catch-up window. The parser refuses
// smaller values; a stored spec without one gets the definition default.
const minCatchupWindow = 10 * time.Second

// desired is the schedule a definition should have, in the form both the
// hash and the Temporal calls are built from.
type desired struct {
	defID   string
	enabled bool
	once    bool
	trigger store.RunTrigger
	// cron
	cron   string
	tz     string
	jitter time.Duration
	// once
	runAt time.Time

	overlap   enumspb.ScheduleOverlapPolicy
	catchup   time.Duration
	taskQueue string
	hash      string
}

var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	definition.MisfireSkip:           enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	definition.MisfireBufferOne:      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	definition.MisfireBufferAll:      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	definition.MisfireAllowAll:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
	definition.MisfireCancelOther:    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	definition.MisfireTerminateOther: enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
}

// newDesired turns a cron or once definition into its desired schedule.
// base is the deployment's base task queue; runs start on the queue of the
// definition's pool (docs/run-control.md#placement), which for the default
// pool is base itself, so the hash of a definition without run_on does
// not move.
func newDesired(def *definition.Definition, base string) (*desired, error) {
	t := def.Trigger
	d := &desired{
		defID:     def.ID,
		enabled:   def.Enabled,
		taskQueue: engine.TaskQueueFor(base, def.Pool()),
		catchup:   t.CatchupWindow.D(),
	}
	switch {
	case d.catchup == 0:
		d.catchup = definition.CatchupWindowDefault
	case d.catchup < minCatchupWindow:
		d.catchup = minCatchupWindow
	}
	policy := t.MisfirePolicy
	if policy == "" {
		policy = definition.MisfirePolicyDefault
	}
	var ok bool
	if d.overlap, ok = overlapPolicies[policy]; !ok {
		return nil, fmt.Errorf("misfire_policy %q is not one of skip, buffer_one, buffer_all, allow_all, cancel_other, terminate_other", policy)
	}
	switch t.Type {
	case definition.TriggerCron:
		if t.CronExpression == "" {
			return nil, fmt.Errorf("cron definition has no cron_expression")
		}
		d.trigger = store.RunTriggerCron
		d.cron = t.CronExpression
		d.tz = t.Timezone
		if d.tz == "" {
			d.tz = definition.TimezoneDefault
		}
		d.jitter = t.Jitter.D()
	case definition.TriggerOnce:
		if t.RunAt == nil {
			return nil, fmt.Errorf("once definition has no run_at")
		}
		d.once = true
		d.trigger = store.RunTriggerOnce
		// run_at is an absolute instant: the calendar is written in UTC,
		// whatever zone the definition shows times in.
		// Calendars match whole seconds: a fractional run_at fires at the
		// next whole second, never before the instant it names.
		d.runAt = t.RunAt.UTC()
		if r := d.runAt.Truncate(time.Second); r.Before(d.runAt) {
			d.runAt = r.Add(time.Second)
		}
		d.tz = "UTC"
	default:
		return nil, fmt.Errorf("trigger_type %q has no schedule", t.Type)
	}
	d.hash = d.computeHash()
	return d, nil
}

// DesiredHash is the hash of the schedule a cron or once definition should
// have with base task queue taskQueue (its pool's queue is derived from
// it): spec, action, policies and time zone, as this package
// applies them. Sync keeps the hash it applied in the store's ScheduleState
// and rewrites a schedule only when the hash changes. It is "" for a
// definition that has no schedule (event triggers) or cannot have one.
func DesiredHash(def *definition.Definition, taskQueue string) string {
	if taskQueue == "" {
		taskQueue = engine.TaskQueueDefault
	}
	d, err := newDesired(def, taskQueue)
	if err != nil {
		return ""
	}
	return d.hash
}

func (d *desired) computeHash() string {
	form := struct {
		V            int    `json:"v"`
		DefinitionID string `json:"definition_id"`
		Trigger      string `json:"trigger"`
		Cron         string `json:"cron,omitempty"`
		RunAt        string `json:"run_at,omitempty"`
		TimeZone     string `json:"tz"`
		Jitter       string `json:"jitter"`
		Overlap      string `json:"overlap"`
		Catchup      string `json:"catchup"`
		Workflow     string `json:"workflow"`
		TaskQueue    string `json:"task_queue"`
	}{
		V:            hashVersion,
		DefinitionID: d.defID,
		Trigger:      string(d.trigger),
		Cron:         d.cron,
		TimeZone:     d.tz,
		Jitter:       d.jitter.String(),
		Overlap:      d.overlap.String(),
		Catchup:      d.catchup.String(),
		Workflow:     engine.RunWorkflowName,
		TaskQueue:    d.taskQueue,
	}
	if d.once {
		form.RunAt = d.runAt.Format(time.RFC3339)
	}
	b, err := json.Marshal(form)
	if err != nil {
		panic("schedule: hash form: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// runAtPassed reports whether a once schedule's instant is at or before now.
func (d *desired) runAtPassed(now time.Time) bool {
	return d.once && !now.Before(d.runAt)
}

// tooLate reports whether a once definition can no longer fire: run_at and
// its catch-up window are both over.
func (d *desired) tooLate(now time.Time) bool {
	return d.once && now.After(d.runAt.Add(d.catchup))
}

func (d *desired) spec() client.ScheduleSpec {
	if !d.once {
		return client.ScheduleSpec{
			CronExpressions: []string{d.cron},
			TimeZoneName:    d.tz,
			Jitter:          d.jitter,
		}
	}
	at := d.runAt
	one := func(v int) []client.ScheduleRange { return []client.ScheduleRange{{Start: v, End: v}} }
	return client.ScheduleSpec{
		Calendars: []client.ScheduleCalendarSpec{{
			Second:     one(at.Second()),
			Minute:     one(at.Minute()),
			Hour:       one(at.Hour()),
			DayOfMonth: one(at.Day()),
			Month:      one(int(at.Month())),
			Year:       one(at.Year()),
			DayOfWeek:  []client.ScheduleRange{{Start: 0, End: 6}},
			Comment:    "activity-core once: " + at.Format(time.RFC3339),
		}},
		TimeZoneName: d.tz,
	}
}

func (d *desired) action(prefix string) *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		// Temporal appends the nominal time: <prefix>run:<id>-<RFC 3339>.
		ID:        prefix + "run:" + d.defID,
		Workflow:  engine.RunWorkflowName,
		Args:      []any{engine.RunInput{DefinitionID: d.defID, Trigger: d.trigger}},
		TaskQueue: d.taskQueue,
	}
}

func (d *desired) policies() *client.SchedulePolicies {
	return &client.SchedulePolicies{Overlap: d.overlap, CatchupWindow: d.catchup}
}
