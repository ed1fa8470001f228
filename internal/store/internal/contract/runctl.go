package contract

// The rules of the run-control records (store.RunControlStore): audit
// records, sessions and backfills (docs/run-control.md).

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// auditOutcomes are the outcomes an audit record may have.
var auditOutcomes = map[string]bool{store.AuditOK: true, store.AuditRefused: true, store.AuditError: true}

// PrepareAudit validates and normalizes an audit record to append. A zero
// At is set to now; ID is the store's.
func PrepareAudit(a store.AuditRecord, now time.Time) (store.AuditRecord, error) {
	if err := Key("actor of audit record", a.Actor); err != nil {
		return a, err
	}
	if err := Key("action of audit record by "+strconv.Quote(a.Actor), a.Action); err != nil {
		return a, err
	}
	if !auditOutcomes[a.Outcome] {
		return a, fmt.Errorf("audit record %s by %q: unknown outcome %q: %w", a.Action, a.Actor, a.Outcome, store.ErrInvalid)
	}
	detail, err := JSON("detail of audit record "+a.Action+" by "+strconv.Quote(a.Actor), a.Detail, false)
	if err != nil {
		return a, err
	}
	a.ID = 0
	a.Detail = detail
	if a.At.IsZero() {
		a.At = now
	}
	a.At = Time(a.At)
	a.Role = Text(a.Role)
	a.Surface = Text(a.Surface)
	a.DefinitionID = Text(a.DefinitionID)
	a.RunID = Text(a.RunID)
	a.Note = Text(a.Note)
	a.Message = Text(a.Message)
	return a, nil
}

// CheckAudit is CheckDefinition for audit records.
func CheckAudit(a store.AuditRecord) error {
	if !auditOutcomes[a.Outcome] {
		return fmt.Errorf("unknown outcome %q", a.Outcome)
	}
	if a.Detail != nil && !json.Valid(a.Detail) {
		return errors.New("detail is not valid JSON")
	}
	return nil
}

// AuditQuery checks an audit filter and returns its limit.
func AuditQuery(f store.AuditFilter) (int, error) {
	if f.BeforeID < 0 {
		return 0, fmt.Errorf("audit cursor %d is negative: %w", f.BeforeID, store.ErrInvalid)
	}
	for _, k := range [...]struct{ what, s string }{{"actor", f.Actor}, {"action", f.Action},
		{"definition id", f.DefinitionID}, {"run id", f.RunID}} {
		if Text(k.s) != k.s {
			return 0, fmt.Errorf("audit filter: %s %q is not valid UTF-8 text: %w", k.what, k.s, store.ErrInvalid)
		}
	}
	return pageSize(f.Limit, store.AuditLimitDefault, store.AuditLimitMax), nil
}

// PrepareSession validates and normalizes a session to put. A zero
// CreatedAt or LastSeen is set to now.
func PrepareSession(s store.Session, now time.Time) (store.Session, error) {
	if err := Key("session id hash", s.IDHash); err != nil {
		return s, err
	}
	if err := Key("actor of a session", s.Actor); err != nil {
		return s, err
	}
	if err := Key("role of the session of "+strconv.Quote(s.Actor), s.Role); err != nil {
		return s, err
	}
	if s.ExpiresAt.IsZero() {
		return s, fmt.Errorf("session of %q has no expiry: %w", s.Actor, store.ErrInvalid)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.LastSeen.IsZero() {
		s.LastSeen = now
	}
	s.CreatedAt, s.LastSeen, s.ExpiresAt = Time(s.CreatedAt), Time(s.LastSeen), Time(s.ExpiresAt)
	s.CSRF = Text(s.CSRF)
	s.Flash = Text(s.Flash)
	return s, nil
}

// PrepareBackfill validates and normalizes a backfill to record. A zero
// RequestedAt is set to now; ID is the store's.
func PrepareBackfill(b store.Backfill, now time.Time) (store.Backfill, error) {
	if err := Key("definition id of backfill", b.DefinitionID); err != nil {
		return b, err
	}
	b.From, b.To = Time(b.From), Time(b.To)
	if b.From.IsZero() || !b.From.Before(b.To) {
		return b, fmt.Errorf("backfill of %q: window [%s, %s) is empty: %w", b.DefinitionID,
			b.From.Format(time.RFC3339Nano), b.To.Format(time.RFC3339Nano), store.ErrInvalid)
	}
	b.ID = 0
	if b.RequestedAt.IsZero() {
		b.RequestedAt = now
	}
	b.RequestedAt = Time(b.RequestedAt)
	b.Overlap = Text(b.Overlap)
	b.Actor = Text(b.Actor)
	return b, nil
}

// CheckBackfill is CheckDefinition for backfills.
func CheckBackfill(b store.Backfill) error {
	if !b.From.Before(b.To) {
		return errors.New("window is empty")
	}
	return nil
}

// PrepareCancel validates and normalizes a cancel request.
func PrepareCancel(runID, by, note string) (string, string, error) {
	if err := Key("run id", runID); err != nil {
		return "", "", err
	}
	if err := Key("who cancels run "+strconv.Quote(runID), by); err != nil {
		return "", "", err
	}
	return by, Text(note), nil
}

// PrepareAll prepares a batch with prep at one now, stopping at the first
// bad item: a batch is written whole or not at all.
func PrepareAll[T any](xs []T, now time.Time, prep func(T, time.Time) (T, error)) ([]T, error) {
	out := make([]T, len(xs))
	for i, x := range xs {
		var err error
		if out[i], err = prep(x, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}
