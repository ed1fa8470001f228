package contract

// The rules of the alerting records (store.AlertStore): health, timeline
// entries, notifications and leases, and the timeline entries the store
// writes by itself (docs/alerting.md#the-timeline).

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// PrepareHealth validates and normalizes a health row to put, and returns
// its problems as the JSON stored. A zero UpdatedAt is set to now.
func PrepareHealth(h store.DefinitionHealth, now time.Time) (store.DefinitionHealth, []byte, error) {
	if err := Key("definition id of health", h.DefinitionID); err != nil {
		return h, nil, err
	}
	what := "health of " + strconv.Quote(h.DefinitionID)
	if !h.State.Valid() {
		return h, nil, fmt.Errorf("%s: unknown state %q: %w", what, h.State, store.ErrInvalid)
	}
	if h.ConsecutiveFailures < 0 || h.MissedTotal < 0 {
		return h, nil, fmt.Errorf("%s: negative count: %w", what, store.ErrInvalid)
	}
	problems := make([]store.Problem, len(h.Problems))
	for i, p := range h.Problems {
		if !p.Kind.Valid() || p.Kind == store.HealthOK {
			return h, nil, fmt.Errorf("%s: problem of unknown kind %q: %w", what, p.Kind, store.ErrInvalid)
		}
		p.Since = Time(p.Since)
		p.Reason = Text(p.Reason)
		p.RunID = Text(p.RunID)
		problems[i] = p
	}
	h.Problems = nil
	if len(problems) > 0 {
		h.Problems = problems
	}
	b, err := json.Marshal(problems)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w: %w", what, err, store.ErrInvalid)
	}
	h.LastSuccessAt = TimePtr(h.LastSuccessAt)
	h.LastFailureAt = TimePtr(h.LastFailureAt)
	h.CheckedThrough = TimePtr(h.CheckedThrough)
	if h.UpdatedAt.IsZero() {
		h.UpdatedAt = now
	}
	h.UpdatedAt = Time(h.UpdatedAt)
	return h, b, nil
}

// DecodeProblems reads the stored problems of a health row into h and
// checks the row.
func DecodeProblems(h *store.DefinitionHealth, problems []byte) error {
	var ps []store.Problem
	if err := json.Unmarshal(problems, &ps); err != nil {
		return fmt.Errorf("problems are not a JSON list of problems: %v", err)
	}
	for _, p := range ps {
		if !p.Kind.Valid() || p.Kind == store.HealthOK {
			return fmt.Errorf("problem of unknown kind %q", p.Kind)
		}
	}
	h.Problems = nil
	if len(ps) > 0 {
		for i := range ps {
			ps[i].Since = ps[i].Since.UTC()
		}
		h.Problems = ps
	}
	if !h.State.Valid() {
		return fmt.Errorf("unknown state %q", h.State)
	}
	return nil
}

// timelineKinds are the kinds of timeline entries this release knows.
var timelineKinds = map[string]bool{
	store.TimelineVersion: true, store.TimelineRemoved: true, store.TimelineRestored: true,
	store.TimelinePaused: true, store.TimelineResumed: true, store.TimelineProblem: true,
	store.TimelineRecovered: true, store.TimelineNotification: true,
	store.TimelineAudit: true, store.TimelineWaiting: true,
}

// PrepareTimelineEntry validates and normalizes a timeline entry to
// append. A zero At is set to now; ID is the store's.
func PrepareTimelineEntry(e store.TimelineEntry, now time.Time) (store.TimelineEntry, error) {
	if err := Key("definition id of timeline entry", e.DefinitionID); err != nil {
		return e, err
	}
	if !timelineKinds[e.Kind] {
		return e, fmt.Errorf("timeline entry of %q: unknown kind %q: %w", e.DefinitionID, e.Kind, store.ErrInvalid)
	}
	detail, err := JSON("detail of timeline entry of "+strconv.Quote(e.DefinitionID), e.Detail, false)
	if err != nil {
		return e, err
	}
	e.ID = 0
	e.Detail = detail
	if e.At.IsZero() {
		e.At = now
	}
	e.At = Time(e.At)
	e.Summary = Text(e.Summary)
	e.Actor = Text(e.Actor)
	e.RunID = Text(e.RunID)
	return e, nil
}

// CheckTimelineEntry is CheckDefinition for timeline entries.
func CheckTimelineEntry(e store.TimelineEntry) error {
	if !timelineKinds[e.Kind] {
		return fmt.Errorf("unknown kind %q", e.Kind)
	}
	if e.Detail != nil && !json.Valid(e.Detail) {
		return errors.New("detail is not valid JSON")
	}
	return nil
}

// TimelineQuery checks a timeline filter and returns its limit.
func TimelineQuery(f store.TimelineFilter) (int, error) {
	if err := Key("definition id of the timeline", f.DefinitionID); err != nil {
		return 0, err
	}
	return pageSize(f.Limit, store.TimelineLimitDefault, store.TimelineLimitMax), nil
}

// PrepareNotification validates and normalizes a notification to
// enqueue: an empty Status is pending, a zero NextAttemptAt is now, and
// CreatedAt and UpdatedAt are now.
func PrepareNotification(n store.Notification, now time.Time) (store.Notification, error) {
	if err := Key("notification id", n.ID); err != nil {
		return n, err
	}
	what := "notification " + strconv.Quote(n.ID)
	if err := Key("definition id of "+what, n.DefinitionID); err != nil {
		return n, err
	}
	if err := Key("event of "+what, n.Event); err != nil {
		return n, err
	}
	if err := Key("target of "+what, n.Target); err != nil {
		return n, err
	}
	var err error
	if n.TargetSpec, err = JSON("target spec of "+what, n.TargetSpec, true); err != nil {
		return n, err
	}
	if n.Message, err = JSON("message of "+what, n.Message, true); err != nil {
		return n, err
	}
	if n.Status == "" {
		n.Status = store.NotificationPending
	}
	if n.NextAttemptAt.IsZero() {
		n.NextAttemptAt = now
	}
	n.CreatedAt, n.UpdatedAt = now, now
	return prepareNotificationState(n)
}

// PrepareNotificationUpdate validates and normalizes the fields
// UpdateNotifications writes.
func PrepareNotificationUpdate(n store.Notification) (store.Notification, error) {
	if err := Key("notification id", n.ID); err != nil {
		return n, err
	}
	return prepareNotificationState(n)
}

func prepareNotificationState(n store.Notification) (store.Notification, error) {
	if !n.Status.Valid() {
		return n, fmt.Errorf("notification %q: unknown status %q: %w", n.ID, n.Status, store.ErrInvalid)
	}
	if n.Attempts < 0 {
		return n, fmt.Errorf("notification %q: negative attempts: %w", n.ID, store.ErrInvalid)
	}
	n.NextAttemptAt = Time(n.NextAttemptAt)
	n.SentAt = TimePtr(n.SentAt)
	n.LastError = Text(n.LastError)
	n.GroupID = Text(n.GroupID)
	n.RunID = Text(n.RunID)
	return n, nil
}

// CheckNotification is CheckDefinition for notifications.
func CheckNotification(n store.Notification) error {
	switch {
	case !n.Status.Valid():
		return fmt.Errorf("unknown status %q", n.Status)
	case !json.Valid(n.TargetSpec):
		return errors.New("target spec is not valid JSON")
	case !json.Valid(n.Message):
		return errors.New("message is not valid JSON")
	}
	return nil
}

// NotificationLimit is the number of notifications a list returns for a
// requested limit.
func NotificationLimit(n int) int {
	return pageSize(n, store.NotificationLimitDefault, store.NotificationLimitMax)
}

// NotificationQuery checks a notification filter and returns its limit.
func NotificationQuery(f store.NotificationFilter) (int, error) {
	if f.Status != "" && !f.Status.Valid() {
		return 0, fmt.Errorf("listing notifications: unknown status %q: %w", f.Status, store.ErrInvalid)
	}
	return NotificationLimit(f.Limit), nil
}

// FeedLimit is the number of runs ListRunsUpdatedSince returns for a
// requested limit: the detector reads its feed in large pages.
func FeedLimit(n int) int { return pageSize(n, store.RunListLimitMax, store.RunListLimitMax) }

// CheckLease checks the arguments of AcquireLease.
func CheckLease(name, holder string, ttl time.Duration) error {
	if err := Key("lease name", name); err != nil {
		return err
	}
	if err := Key("lease holder", holder); err != nil {
		return err
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("lease %q: ttl %s is less than a millisecond: %w", name, ttl, store.ErrInvalid)
	}
	return nil
}

// PauseByDefault is who paused when OperatorPause.By is empty.
const PauseByDefault = "operator"

// Actors of the entries the store appends by itself.
const actorSync = "sync"

// VersionEntry is the timeline entry of a sync storing version of a
// definition (previous is 0 for a new definition).
func VersionEntry(id string, version, previous int, at time.Time) store.TimelineEntry {
	summary := fmt.Sprintf("v%d stored (was v%d)", version, previous)
	if previous == 0 {
		summary = fmt.Sprintf("v%d stored: new definition", version)
	}
	return store.TimelineEntry{DefinitionID: id, At: at, Kind: store.TimelineVersion, Actor: actorSync,
		Summary: summary, Detail: mustJSON(map[string]int{"version": version, "previous": previous})}
}

// RestoredEntry is the timeline entry of a removed definition found again.
func RestoredEntry(id, sourceFile string, version int, at time.Time) store.TimelineEntry {
	return store.TimelineEntry{DefinitionID: id, At: at, Kind: store.TimelineRestored, Actor: actorSync,
		Summary: fmt.Sprintf("restored at v%d: found again in %s", version, sourceFile),
		Detail:  mustJSON(map[string]any{"version": version, "source_file": sourceFile})}
}

// RemovedEntry is the timeline entry of a definition whose file is gone.
func RemovedEntry(id, sourceFile string, at time.Time) store.TimelineEntry {
	return store.TimelineEntry{DefinitionID: id, At: at, Kind: store.TimelineRemoved, Actor: actorSync,
		Summary: fmt.Sprintf("removed: no longer in %s", sourceFile),
		Detail:  mustJSON(map[string]string{"source_file": sourceFile})}
}

// PausedEntry is the timeline entry of an operator pause (or auto-pause).
func PausedEntry(p store.OperatorPause) store.TimelineEntry {
	summary := "paused by " + p.By
	if p.Note != "" {
		summary += ": " + p.Note
	}
	detail := map[string]any{"by": p.By, "note": p.Note}
	if p.Until != nil {
		summary += " (until " + p.Until.Format(time.RFC3339) + ")"
		detail["until"] = p.Until
	} else {
		summary += " (until resumed)"
	}
	return store.TimelineEntry{DefinitionID: p.DefinitionID, At: p.PausedAt, Kind: store.TimelinePaused,
		Actor: p.By, Summary: summary, Detail: mustJSON(detail)}
}

// ResumedEntry is the timeline entry of clearing the pause p.
func ResumedEntry(p store.OperatorPause, at time.Time) store.TimelineEntry {
	summary := "resumed (was paused by " + p.By
	if p.Note != "" {
		summary += ": " + p.Note
	}
	summary += ")"
	return store.TimelineEntry{DefinitionID: p.DefinitionID, At: at, Kind: store.TimelineResumed,
		Actor: PauseByDefault, Summary: summary,
		Detail: mustJSON(map[string]any{"by": p.By, "note": p.Note, "paused_at": p.PausedAt})}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings, numbers and times always encode
	}
	return b
}
