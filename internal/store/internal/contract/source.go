package contract

// The rules of origins (store.Origin, on definitions and their versions)
// and of source states (store.SourceStore), docs/git-sources.md.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// prepareOrigin validates and normalizes the origin of definition id, as a
// copy: the caller's record is not changed.
func prepareOrigin(id string, o *store.Origin) (*store.Origin, error) {
	if o == nil {
		return nil, nil
	}
	if err := Key("origin source of definition "+strconv.Quote(id), o.Source); err != nil {
		return nil, err
	}
	if t := o.CommitTime; t != nil && (t.Year() < 0 || t.Year() > 9999) {
		return nil, fmt.Errorf("origin of definition %q: commit time %s is outside years 0 to 9999: %w",
			id, t.UTC().Format(time.RFC3339), store.ErrInvalid)
	}
	n := *o
	n.Source = Text(n.Source)
	n.Commit = Text(n.Commit)
	n.CommitTime = TimePtr(n.CommitTime)
	n.Author = Text(n.Author)
	n.Path = Text(n.Path)
	return &n, nil
}

// OriginJSON is an origin as stored: nil (NULL) for none. o must have been
// prepared (PrepareDefinition).
func OriginJSON(o *store.Origin) []byte {
	if o == nil {
		return nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		// Strings and a time prepareOrigin checked: cannot fail.
		panic(fmt.Sprintf("contract: encoding an origin: %v", err))
	}
	return b
}

// DecodeOrigin reads a stored origin; nil (NULL) and JSON null are none.
func DecodeOrigin(b []byte) (*store.Origin, error) {
	if b == nil {
		return nil, nil
	}
	var o *store.Origin
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	if o != nil {
		o.CommitTime = TimePtr(o.CommitTime)
	}
	return o, nil
}

// OriginOf is DecodeOrigin for a row being read: an origin that cannot be
// decoded is logged with the row's key and read as none. It only tells
// where a version came from, so it must not hide a definition from the
// lists the router and the syncer act on.
func OriginOf(ctx context.Context, logger *slog.Logger, table, key string, b []byte) *store.Origin {
	o, err := DecodeOrigin(b)
	if err != nil {
		logger.WarnContext(ctx, "store: ignoring corrupt origin; fix it or set it to NULL",
			"table", table, "key", key, "error", err)
	}
	return o
}

// PrepareSourceState validates and normalizes a source state to save, and
// returns it as the JSON stored. A URL holding credentials is redacted,
// in case the caller forgot: the state is shown by the API and the
// dashboard.
func PrepareSourceState(s store.SourceState) (store.SourceState, []byte, error) {
	if err := Key("source name", s.Name); err != nil {
		return s, nil, err
	}
	if s.Kind != store.SourceKindGit && s.Kind != store.SourceKindFolder {
		return s, nil, fmt.Errorf("source %q: kind %q, want %q or %q: %w",
			s.Name, s.Kind, store.SourceKindGit, store.SourceKindFolder, store.ErrInvalid)
	}
	s.URL = Text(s.URL)
	if strings.Contains(s.URL, "://") {
		s.URL = secret.RedactURL(s.URL)
	}
	for _, f := range []*string{&s.Ref, &s.PinnedRef, &s.Commit, &s.CommitAuthor, &s.CommitSubject, &s.LastError} {
		*f = Text(*f)
	}
	s.CommitTime = TimePtr(s.CommitTime)
	s.FetchedAt = TimePtr(s.FetchedAt)
	s.OKAt = TimePtr(s.OKAt)
	b, err := json.Marshal(s)
	if err != nil {
		return s, nil, fmt.Errorf("source %q: %w: %w", s.Name, err, store.ErrInvalid)
	}
	return s, b, nil
}

// DecodeSourceState reads the stored state of source name. The row's key
// wins over a name inside the JSON.
func DecodeSourceState(name string, b []byte) (store.SourceState, error) {
	var s store.SourceState
	err := json.Unmarshal(b, &s)
	if err == nil && s.Kind == "" {
		err = errors.New("no kind")
	}
	if err != nil {
		return store.SourceState{Name: name}, Corrupt("source_states", name, err)
	}
	s.Name = name
	s.CommitTime = TimePtr(s.CommitTime)
	s.FetchedAt = TimePtr(s.FetchedAt)
	s.OKAt = TimePtr(s.OKAt)
	return s, nil
}
