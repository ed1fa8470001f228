package store

import (
	"context"
	"encoding/json"
	"time"
)

// AlertStore is what the detector, the notifier and the timeline keep
// (docs/alerting.md): each definition's health, the notification outbox,
// the timeline of what touched a definition, and the detector's lease.
type AlertStore interface {
	// ListHealth returns the health the detector wrote of the given
	// definitions, or of every definition it has looked at when no id is
	// given, sorted by definition ID. A page shown to people asks for its
	// own ids, so it costs the page, not every definition.
	ListHealth(ctx context.Context, ids ...string) ([]DefinitionHealth, error)
	// PutHealth creates or replaces health rows, in one transaction. A
	// zero UpdatedAt is set to now. An unknown state or problem kind is
	// ErrInvalid.
	PutHealth(ctx context.Context, hs ...DefinitionHealth) error

	// AppendTimeline records timeline entries (ID and a zero At are set by
	// the store). UpsertDefinitions, MarkDefinitionsRemoved,
	// SetOperatorPause and ClearOperatorPause append their own entries in
	// their transaction (kinds version, removed, restored, paused,
	// resumed); the detector and the notifier append theirs.
	AppendTimeline(ctx context.Context, es ...TimelineEntry) error
	// ListTimeline returns the entries of one definition in
	// [Since, Until), oldest first (by At, then ID), at most Limit. An
	// empty DefinitionID is ErrInvalid; so is appending an entry of a kind
	// not listed below.
	ListTimeline(ctx context.Context, f TimelineFilter) ([]TimelineEntry, error)

	// EnqueueNotifications adds notifications to the outbox. IDs are chosen
	// by the caller from the problem they report, so enqueueing the same
	// problem twice is harmless: an ID that exists is skipped. It returns
	// how many were new.
	EnqueueNotifications(ctx context.Context, ns ...Notification) (int, error)
	// DueNotifications returns pending notifications whose NextAttemptAt
	// is not after now, by NextAttemptAt then ID, at most limit (0 or
	// less: NotificationLimitDefault; at most NotificationLimitMax).
	DueNotifications(ctx context.Context, now time.Time, limit int) ([]Notification, error)
	// UpdateNotifications writes Status, Attempts, NextAttemptAt,
	// LastError, GroupID and SentAt of existing notifications, in one
	// transaction; an unknown ID is ErrNotFound and writes nothing.
	UpdateNotifications(ctx context.Context, ns ...Notification) error
	// ListNotifications returns notifications newest first (by
	// CreatedAt, then ID).
	ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error)

	// AcquireLease takes the named lease for holder until now+ttl if it is
	// free, expired or already held by holder (a renewal), and reports
	// whether holder holds it now. Two processes never both get true for
	// the same lease at the same time (by the database's clock). ttl must
	// be at least a millisecond.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder holds it.
	ReleaseLease(ctx context.Context, name, holder string) error

	// ListRunsUpdatedSince returns runs (without output) whose UpdatedAt
	// is after the cursor (since, afterID), ordered by UpdatedAt then ID,
	// at most limit (0 or less, or more than RunListLimitMax:
	// RunListLimitMax): the detector's feed of what happened since its
	// last pass. Corrupt runs are skipped without taking a place.
	// UpdatedAt is the writer's clock before its commit, so a run may
	// become visible with an UpdatedAt a little before one already read:
	// a reader that must see every run re-reads a short overlap (seconds)
	// and ignores repeats.
	ListRunsUpdatedSince(ctx context.Context, since time.Time, afterID string, limit int) ([]Run, error)
	// ScheduledRunTimes returns, by definition, the ScheduledAt of every
	// run scheduled in [from, to], ascending and without repeats: one
	// query for every definition. Missed records are left out: they are
	// not runs of their fire, and a detector pass redone after failing
	// part-way must find the fire missed again (it rewrites the record
	// by its ID) rather than accounted for.
	ScheduledRunTimes(ctx context.Context, from, to time.Time) (map[string][]time.Time, error)
	// LastSuccesses returns, by definition, the FinishedAt of its latest
	// succeeded run.
	LastSuccesses(ctx context.Context) (map[string]time.Time, error)
}

// HealthState is a definition's health as the dashboard, the metrics and
// the alerts show it: ok, or its worst active problem.
type HealthState string

// The health states, from worst to best.
const (
	HealthMissed  HealthState = "missed"
	HealthFailing HealthState = "failing"
	HealthLate    HealthState = "late"
	HealthStale   HealthState = "stale"
	HealthOK      HealthState = "ok"
)

// HealthStates lists every state, worst first.
var HealthStates = []HealthState{HealthMissed, HealthFailing, HealthLate, HealthStale, HealthOK}

// Valid reports whether s is a known state.
func (s HealthState) Valid() bool {
	switch s {
	case HealthMissed, HealthFailing, HealthLate, HealthStale, HealthOK:
		return true
	}
	return false
}

// Problem is one active problem of a definition: entered at Since, left
// when the detector removes it (then "recovered" may be sent). Kind is a
// HealthState other than ok.
type Problem struct {
	Kind   HealthState `json:"kind"`
	Since  time.Time   `json:"since"`
	Reason string      `json:"reason"`
	// RunID is the run that started the problem (or tipped it: the Nth
	// failure), if any.
	RunID string `json:"run_id,omitempty"`
	// Notified is true once a notification was enqueued for it: one alert
	// per problem until it recovers.
	Notified bool `json:"notified,omitempty"`
}

// DefinitionHealth is what the detector knows about one definition.
type DefinitionHealth struct {
	DefinitionID string      `json:"definition_id"`
	State        HealthState `json:"state"`
	// Problems are the active problems, worst first; empty when ok.
	Problems            []Problem  `json:"problems,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastSuccessAt       *time.Time `json:"last_success_at,omitempty"`
	LastFailureAt       *time.Time `json:"last_failure_at,omitempty"`
	MissedTotal         int64      `json:"missed_total"`
	// CheckedThrough is the last nominal fire time the detector has
	// accounted for (a run, or a missed record).
	CheckedThrough *time.Time `json:"checked_through,omitempty"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Timeline entry kinds (docs/alerting.md#the-timeline). Runs are not
// entries: the timeline reads them from the runs.
const (
	TimelineVersion      = "version"      // a sync stored a new version (Detail: {"version":N,"previous":M})
	TimelineRemoved      = "removed"      // its file was removed
	TimelineRestored     = "restored"     // a removed definition came back
	TimelinePaused       = "paused"       // an operator (or auto-pause) paused it
	TimelineResumed      = "resumed"      // an operator resumed it
	TimelineProblem      = "problem"      // a problem was entered (Detail: Problem)
	TimelineRecovered    = "recovered"    // a problem was left
	TimelineNotification = "notification" // a notification was sent or given up
	// TimelineAudit is an operator's act on the definition or one of its
	// runs (docs/run-control.md#who-did-what); Actor is the token's name.
	TimelineAudit = "audit"
	// TimelineWaiting is a run that waits for a worker in its pool
	// (docs/run-control.md#placement).
	TimelineWaiting = "waiting"
)

// TimelineEntry is one thing that touched a definition.
type TimelineEntry struct {
	ID           int64     `json:"id"`
	DefinitionID string    `json:"definition_id"`
	At           time.Time `json:"at"`
	Kind         string    `json:"kind"`
	// Summary is one line a person reads.
	Summary string `json:"summary"`
	// Actor is who did it: "sync", "operator", "detector", "notifier".
	Actor  string          `json:"actor,omitempty"`
	RunID  string          `json:"run_id,omitempty"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Timeline list limits.
const (
	TimelineLimitDefault = 1000
	TimelineLimitMax     = 10000
)

// TimelineFilter selects timeline entries of one definition.
type TimelineFilter struct {
	DefinitionID string
	Since        time.Time
	// Until is exclusive; zero means no end.
	Until time.Time
	// Limit: 0 or less is TimelineLimitDefault, at most TimelineLimitMax.
	Limit int
}

// NotificationStatus is where a notification is in the outbox.
type NotificationStatus string

// The notification statuses.
const (
	NotificationPending NotificationStatus = "pending"
	NotificationSent    NotificationStatus = "sent"
	// NotificationFailed: delivery was given up after its retries.
	NotificationFailed NotificationStatus = "failed"
)

// Valid reports whether s is a known status.
func (s NotificationStatus) Valid() bool {
	switch s {
	case NotificationPending, NotificationSent, NotificationFailed:
		return true
	}
	return false
}

// Notification is one message to one target, kept in the outbox until it
// is delivered or given up.
type Notification struct {
	// ID is chosen by the caller from the problem and target, so the
	// same alert is never enqueued twice.
	ID           string `json:"id"`
	DefinitionID string `json:"definition_id"`
	RunID        string `json:"run_id,omitempty"`
	// Event is failed, timed_out, missed, stale, late, recovered, skipped
	// or paused.
	Event string `json:"event"`
	// Target is the target's key for grouping and display, with no secret
	// in it ("slack:${env:SLACK_OPS_URL}", "email:ops@example.com").
	Target string `json:"target"`
	// TargetSpec is the definition's target (definition.NotifyTarget) as
	// JSON, references unresolved.
	TargetSpec json.RawMessage `json:"target_spec"`
	// Message is the content (notify.Message) as JSON, redacted.
	Message       json.RawMessage    `json:"message"`
	Status        NotificationStatus `json:"status"`
	Attempts      int                `json:"attempts"`
	NextAttemptAt time.Time          `json:"next_attempt_at"`
	LastError     string             `json:"last_error,omitempty"`
	// GroupID is set when it was delivered in one message with others.
	GroupID   string     `json:"group_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Notification list limits.
const (
	NotificationLimitDefault = 100
	NotificationLimitMax     = 1000
)

// NotificationFilter selects notifications; empty fields match all.
type NotificationFilter struct {
	DefinitionID string
	RunID        string
	Status       NotificationStatus
	Limit        int
}
