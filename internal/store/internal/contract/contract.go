// Package contract holds the rules every store driver applies to records on
// the way in (validate, normalize) and on the way out (check), and the list
// cursors, so that the drivers cannot drift apart. It is internal to the
// store: callers see only the effects, described in package store.
package contract

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coulomb/activity-core/internal/store"
)

// Time is t as stored: UTC, microsecond precision.
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// TimePtr is Time for optional times.
func TimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := Time(*t)
	return &u
}

// Text is s as stored in a free-text column: NUL bytes and invalid UTF-8
// become U+FFFD, because PostgreSQL text holds neither, and both drivers
// must behave alike.
func Text(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Key checks a primary key or reference: keys are compared, so they are
// refused rather than repaired.
func Key(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty: %w", what, store.ErrInvalid)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return fmt.Errorf("%s %q is not valid UTF-8 text: %w", what, s, store.ErrInvalid)
	}
	return nil
}

// JSON checks a JSON field and returns it as stored: invalid UTF-8 (which
// can only sit inside JSON strings) becomes U+FFFD; NUL characters are
// fine as the escape \u0000, which the PostgreSQL json type keeps.
func JSON(what string, b json.RawMessage, required bool) (json.RawMessage, error) {
	if len(b) == 0 {
		if required {
			return nil, fmt.Errorf("%s is empty: %w", what, store.ErrInvalid)
		}
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not valid JSON: %w", what, store.ErrInvalid)
	}
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	return b, nil
}

// Tail is the last store.OutputTailMax bytes of an output stream.
func Tail(s string) string {
	if len(s) > store.OutputTailMax {
		return s[len(s)-store.OutputTailMax:]
	}
	return s
}

// PrepareDefinition validates and normalizes a definition to upsert.
func PrepareDefinition(d store.Definition) (store.Definition, error) {
	if err := Key("definition id", d.ID); err != nil {
		return d, err
	}
	if err := Key("content hash of definition "+strconv.Quote(d.ID), d.ContentHash); err != nil {
		return d, err
	}
	spec, err := JSON("spec of definition "+strconv.Quote(d.ID), d.Spec, true)
	if err != nil {
		return d, err
	}
	if !d.TriggerType.Valid() {
		return d, fmt.Errorf("definition %q: unknown trigger type %q: %w", d.ID, d.TriggerType, store.ErrInvalid)
	}
	if d.Origin, err = prepareOrigin(d.ID, d.Origin); err != nil {
		return d, err
	}
	d.Spec = spec
	d.SourceFile = Text(d.SourceFile)
	d.SourceDir = Text(d.SourceDir)
	d.EventType = Text(d.EventType)
	return d, nil
}

// PrepareEventType validates and normalizes an event type to upsert.
func PrepareEventType(e store.EventType) (store.EventType, error) {
	if err := Key("event type name", e.Name); err != nil {
		return e, err
	}
	if err := Key("content hash of event type "+strconv.Quote(e.Name), e.ContentHash); err != nil {
		return e, err
	}
	schema, err := JSON("schema of event type "+strconv.Quote(e.Name), e.Schema, false)
	if err != nil {
		return e, err
	}
	e.Schema = schema
	e.Description = Text(e.Description)
	e.SourceFile = Text(e.SourceFile)
	e.SourceDir = Text(e.SourceDir)
	return e, nil
}

// PrepareRun validates and normalizes a run to create or update.
func PrepareRun(r store.Run) (store.Run, error) {
	if err := Key("run id", r.ID); err != nil {
		return r, err
	}
	if err := Key("definition id of run "+strconv.Quote(r.ID), r.DefinitionID); err != nil {
		return r, err
	}
	if !r.Status.Valid() {
		return r, fmt.Errorf("run %q: unknown status %q: %w", r.ID, r.Status, store.ErrInvalid)
	}
	if !r.Trigger.Valid() {
		return r, fmt.Errorf("run %q: unknown trigger %q: %w", r.ID, r.Trigger, store.ErrInvalid)
	}
	if !r.Stage.Valid() {
		return r, fmt.Errorf("run %q: unknown stage %q: %w", r.ID, r.Stage, store.ErrInvalid)
	}
	if r.DefinitionVersion < 0 || r.Attempt < 0 {
		return r, fmt.Errorf("run %q: negative version or attempt: %w", r.ID, store.ErrInvalid)
	}
	var err error
	for _, f := range []struct {
		name string
		v    *json.RawMessage
	}{
		{"trigger detail", &r.TriggerDetail},
		{"context snapshot", &r.ContextSnapshot},
		{"rule outcome", &r.RuleOutcome},
		{"inputs", &r.Inputs},
		{"shadow plan", &r.ShadowPlan},
	} {
		if *f.v, err = JSON(f.name+" of run "+strconv.Quote(r.ID), *f.v, false); err != nil {
			return r, err
		}
	}
	r.ContentHash = Text(r.ContentHash)
	r.SkipReason = Text(r.SkipReason)
	r.WorkflowID = Text(r.WorkflowID)
	r.WorkflowRunID = Text(r.WorkflowRunID)
	r.Error = Text(r.Error)
	r.Pool = Text(r.Pool)
	r.CanceledBy = Text(r.CanceledBy)
	r.CancelNote = Text(r.CancelNote)
	r.Stdout = Tail(r.Stdout)
	r.Stderr = Tail(r.Stderr)
	r.ScheduledAt = TimePtr(r.ScheduledAt)
	r.StartedAt = TimePtr(r.StartedAt)
	r.FinishedAt = TimePtr(r.FinishedAt)
	return r, nil
}

// runStatuses are every run status, for TerminalStatuses.
var runStatuses = []store.RunStatus{store.RunPending, store.RunRunning, store.RunSucceeded,
	store.RunFailed, store.RunSkipped, store.RunTimedOut, store.RunCanceled, store.RunMissed,
	store.RunShadow}

// TerminalStatuses are the statuses UpdateRun does not leave.
func TerminalStatuses() []string {
	var out []string
	for _, st := range runStatuses {
		if st.Terminal() {
			out = append(out, string(st))
		}
	}
	return out
}

// PrepareSyncResult validates and normalizes a sync result to save.
func PrepareSyncResult(r store.SyncResult) (store.SyncResult, error) {
	if err := Key("sync id", r.SyncID); err != nil {
		return r, err
	}
	res, err := JSON("result of sync "+strconv.Quote(r.SyncID), r.Result, true)
	if err != nil {
		return r, err
	}
	r.Result = res
	r.ErrorSummary = Text(r.ErrorSummary)
	r.StartedAt = Time(r.StartedAt)
	r.FinishedAt = Time(r.FinishedAt)
	return r, nil
}

// PrepareScheduleState validates and normalizes a schedule state to put.
func PrepareScheduleState(s store.ScheduleState) (store.ScheduleState, error) {
	if err := Key("schedule id", s.ScheduleID); err != nil {
		return s, err
	}
	if err := Key("definition id of schedule "+strconv.Quote(s.ScheduleID), s.DefinitionID); err != nil {
		return s, err
	}
	s.SpecHash = Text(s.SpecHash)
	s.Note = Text(s.Note)
	return s, nil
}

// PrepareOperatorPause validates and normalizes an operator pause to set.
func PrepareOperatorPause(p store.OperatorPause, now time.Time) (store.OperatorPause, error) {
	if err := Key("definition id", p.DefinitionID); err != nil {
		return p, err
	}
	if p.PausedAt.IsZero() {
		p.PausedAt = now
	}
	p.PausedAt = Time(p.PausedAt)
	p.Until = TimePtr(p.Until)
	p.Note = Text(p.Note)
	p.By = Text(p.By)
	if p.By == "" {
		p.By = PauseByDefault
	}
	return p, nil
}

// CheckDefinition reports why a definition read from the database cannot be
// used, or nil.
func CheckDefinition(d store.Definition) error {
	if !d.TriggerType.Valid() {
		return fmt.Errorf("unknown trigger type %q", d.TriggerType)
	}
	if d.Version < 1 {
		return fmt.Errorf("version %d", d.Version)
	}
	if !json.Valid(d.Spec) {
		return errors.New("spec is not valid JSON")
	}
	return nil
}

// CheckDefinitionVersion is CheckDefinition for a stored version.
func CheckDefinitionVersion(v store.DefinitionVersion) error {
	if !json.Valid(v.Spec) {
		return errors.New("spec is not valid JSON")
	}
	return nil
}

// CheckEventType is CheckDefinition for event types.
func CheckEventType(e store.EventType) error {
	if e.Schema != nil && !json.Valid(e.Schema) {
		return errors.New("schema is not valid JSON")
	}
	return nil
}

// CheckRun is CheckDefinition for runs.
func CheckRun(r store.Run) error {
	switch {
	case !r.Status.Valid():
		return fmt.Errorf("unknown status %q", r.Status)
	case !r.Trigger.Valid():
		return fmt.Errorf("unknown trigger %q", r.Trigger)
	case !r.Stage.Valid():
		return fmt.Errorf("unknown stage %q", r.Stage)
	}
	for name, b := range map[string]json.RawMessage{
		"trigger detail":   r.TriggerDetail,
		"context snapshot": r.ContextSnapshot,
		"rule outcome":     r.RuleOutcome,
		"inputs":           r.Inputs,
		"shadow plan":      r.ShadowPlan,
	} {
		if b != nil && !json.Valid(b) {
			return fmt.Errorf("%s is not valid JSON", name)
		}
	}
	return nil
}

// CheckSyncResult is CheckDefinition for sync results.
func CheckSyncResult(r store.SyncResult) error {
	if !json.Valid(r.Result) {
		return errors.New("result is not valid JSON")
	}
	return nil
}

// Corrupt wraps a decoding failure of one row.
func Corrupt(table, key string, err error) error {
	return &store.CorruptError{Table: table, Key: key, Err: err}
}

// SkipCorrupt logs a corrupt row a List method skips. Any other error is
// returned for the List to fail with.
func SkipCorrupt(ctx context.Context, logger *slog.Logger, err error) error {
	var ce *store.CorruptError
	if !errors.As(err, &ce) {
		return err
	}
	logger.WarnContext(ctx, "store: skipping corrupt row; fix or delete it",
		"table", ce.Table, "key", ce.Key, "error", ce.Err)
	return nil
}

// pageSize is a requested limit n as a list uses it: def for 0 or less,
// at most ceiling.
func pageSize(n, def, ceiling int) int {
	switch {
	case n <= 0:
		return def
	case n > ceiling:
		return ceiling
	}
	return n
}

// Limit is the page size ListRuns uses for a requested limit.
func Limit(n int) int { return pageSize(n, store.RunListLimitDefault, store.RunListLimitMax) }

// DefinitionLimit is the page size ListDefinitionsPage uses for a
// requested limit.
func DefinitionLimit(n int) int {
	return pageSize(n, store.DefinitionListLimitDefault, store.DefinitionListLimitMax)
}

// definitionCursorPrefix tells a definition cursor from a run cursor
// (whose text starts with digits), so one given for the other is refused.
const definitionCursorPrefix = "d:"

// EncodeDefinitionCursor makes the opaque DefinitionPage.Next or Prev
// pointing at the definition with the given ID.
func EncodeDefinitionCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(definitionCursorPrefix + id))
}

// DecodeDefinitionCursor parses DefinitionPageFilter.After or Before.
func DecodeDefinitionCursor(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	id, ok := strings.CutPrefix(string(b), definitionCursorPrefix)
	if err != nil || !ok || !cursorID(id) {
		return "", fmt.Errorf("malformed definition cursor %q: %w", s, store.ErrInvalid)
	}
	return id, nil
}

// DefinitionPageQuery is the key condition and order of a page: IDs after
// the cursor's ID ascending (op ">"), or before it descending (op "<",
// reversed by DefinitionPageOf). op is empty for the first page.
func DefinitionPageQuery(f store.DefinitionPageFilter) (op, order, id string, err error) {
	switch {
	case f.After != "" && f.Before != "":
		return "", "", "", fmt.Errorf("both after and before cursors given; use one: %w", store.ErrInvalid)
	case f.After != "":
		id, err = DecodeDefinitionCursor(f.After)
		return ">", "id", id, err
	case f.Before != "":
		id, err = DecodeDefinitionCursor(f.Before)
		return "<", "id DESC", id, err
	}
	return "", "id", "", nil
}

// DefinitionPageOf assembles a page from what a driver read in the
// order of DefinitionPageQuery: keys are the IDs of the rows read, up to
// the limit, corrupt ones included (so the cursors step over them); defs
// are the good ones; more says a row beyond the limit exists.
func DefinitionPageOf(f store.DefinitionPageFilter, keys []string, defs []store.Definition, more bool) store.DefinitionPage {
	backward := f.Before != ""
	if backward {
		slices.Reverse(keys)
		slices.Reverse(defs)
	}
	page := store.DefinitionPage{Definitions: defs}
	var first, last string
	if len(keys) > 0 {
		first, last = keys[0], keys[len(keys)-1]
	}
	switch {
	case backward:
		if more {
			page.Prev = EncodeDefinitionCursor(first)
		}
		page.Next = f.Before
		if last != "" {
			page.Next = EncodeDefinitionCursor(last)
		}
	default:
		if more {
			page.Next = EncodeDefinitionCursor(last)
		}
		if f.After != "" {
			page.Prev = f.After
			if first != "" {
				page.Prev = EncodeDefinitionCursor(first)
			}
		}
	}
	return page
}

// EncodeCursor makes the opaque RunPage.Next pointing after the run with
// the given creation time and ID.
func EncodeCursor(createdAt time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString(
		[]byte(strconv.FormatInt(createdAt.UnixMicro(), 10) + ":" + id))
}

// cursorID reports whether a cursor's ID can be an ID: a cursor is the
// caller's input, and PostgreSQL refuses text that is not UTF-8 or holds
// NUL with a database error rather than ErrInvalid.
func cursorID(id string) bool {
	return id != "" && utf8.ValidString(id) && !strings.ContainsRune(id, 0)
}

// DecodeCursor parses RunFilter.Before.
func DecodeCursor(s string) (createdAt time.Time, id string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("malformed run cursor %q: %w", s, store.ErrInvalid)
	}
	micros, id, ok := strings.Cut(string(b), ":")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || !cursorID(id) {
		return time.Time{}, "", fmt.Errorf("malformed run cursor %q: %w", s, store.ErrInvalid)
	}
	return time.UnixMicro(us).UTC(), id, nil
}
