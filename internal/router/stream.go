package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// jsErrCodeStreamSubjectOverlap is the server's "subjects overlap with an
// existing stream" (JSStreamSubjectOverlapErr), which nats.go does not
// name.
const jsErrCodeStreamSubjectOverlap = 10065

// overlapError says the configured subjects overlap another stream's, so
// the router's stream cannot be created (JetStream stores a subject in one
// stream only).
type overlapError struct {
	Stream   string
	Subjects []string
	// Others maps each overlapping stream to its overlapping subjects
	// (empty when only the server's refusal is known).
	Others map[string][]string
}

func (e *overlapError) Error() string {
	var parts []string
	for _, name := range slices.Sorted(mapKeys(e.Others)) {
		parts = append(parts, fmt.Sprintf("stream %s (%s)", name, strings.Join(e.Others[name], ", ")))
	}
	other := "another stream"
	if len(parts) > 0 {
		other = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("router: cannot create JetStream stream %s with subjects %s: they overlap %s; "+
		"set ACTIVITY_NATS_STREAM to the stream that already holds these subjects, or change ACTIVITY_NATS_SUBJECTS",
		e.Stream, strings.Join(e.Subjects, ", "), other)
}

// EnsureStream makes sure the stream exists and holds the configured
// subjects. It never deletes a stream and never removes a subject:
//
//   - missing: it is created with the configured subjects (file storage,
//     limits retention, MaxAge Config.StreamMaxAge, Config.StreamReplicas
//     replicas, a two-minute Nats-Msg-Id duplicate window); if they
//     overlap another stream the error is an *overlapError naming it;
//   - present: configured subjects it does not cover are added, unless
//     they overlap another stream, in which case a warning says which
//     events will not reach the router. Its other settings are left as the
//     operator made them.
func (r *Router) EnsureStream(ctx context.Context) error {
	name := r.cfg.Stream
	s, err := r.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		var created bool
		created, err = r.createStream(ctx)
		if err != nil || created {
			return err
		}
		// Another replica created it first: read it as it is.
		s, err = r.js.Stream(ctx, name)
	}
	if err != nil {
		return fmt.Errorf("router: stream %s: %w", name, err)
	}
	info := s.CachedInfo()
	if info.Config.Mirror != nil {
		r.log.Warn("router: the stream is a mirror; its subjects cannot be changed, events outside them do not reach the router",
			"stream", name, "configured_subjects", r.cfg.Subjects)
		return nil
	}
	var missing []string
	for _, want := range r.cfg.Subjects {
		if !coveredBy(want, info.Config.Subjects) {
			missing = append(missing, want)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	others, err := r.otherStreams(ctx)
	if err != nil {
		return fmt.Errorf("router: listing streams: %w", err)
	}
	var add []string
	for _, subj := range missing {
		if conflicts := overlapsOthers([]string{subj}, others); len(conflicts) > 0 {
			r.log.Warn("router: the stream lacks a configured subject that another stream holds: events on it do not reach the router",
				"stream", name, "subject", subj, "held_by", fmt.Sprint(conflicts))
			continue
		}
		add = append(add, subj)
	}
	if len(add) == 0 {
		return nil
	}
	cfg := info.Config
	cfg.Subjects = append(slices.Clone(cfg.Subjects), add...)
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeStreamSubjectOverlap {
			r.log.Warn("router: adding subjects to the stream was refused as overlapping another stream",
				"stream", name, "subjects", add, "error", err)
			return nil
		}
		return fmt.Errorf("router: adding subjects %s to stream %s: %w", strings.Join(add, ", "), name, err)
	}
	r.log.Info("router: added subjects to the existing stream", "stream", name, "added", add)
	return nil
}

// createStream creates the stream; created is false when another replica
// created it first.
func (r *Router) createStream(ctx context.Context) (created bool, err error) {
	name := r.cfg.Stream
	others, err := r.otherStreams(ctx)
	if err != nil {
		return false, fmt.Errorf("router: listing streams: %w", err)
	}
	if conflicts := overlapsOthers(r.cfg.Subjects, others); len(conflicts) > 0 {
		return false, &overlapError{Stream: name, Subjects: r.cfg.Subjects, Others: conflicts}
	}
	_, err = r.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "activity-core events (created by the router)",
		Subjects:    r.cfg.Subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      r.cfg.StreamMaxAge,
		Duplicates:  duplicateWindow,
		Replicas:    r.cfg.StreamReplicas,
	})
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		r.createdStream.Store(true)
		r.log.Info("router: created JetStream stream", "stream", name, "subjects", r.cfg.Subjects, "max_age", r.cfg.StreamMaxAge, "replicas", r.cfg.StreamReplicas)
		return true, nil
	case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
		return false, nil
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeStreamSubjectOverlap:
		return false, &overlapError{Stream: name, Subjects: r.cfg.Subjects}
	default:
		return false, fmt.Errorf("router: creating stream %s: %w", name, err)
	}
}

// otherStreams maps every other stream to its subjects.
func (r *Router) otherStreams(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	l := r.js.ListStreams(ctx)
	for info := range l.Info() {
		if info.Config.Name != r.cfg.Stream {
			out[info.Config.Name] = info.Config.Subjects
		}
	}
	return out, l.Err()
}

func overlapsOthers(subjects []string, others map[string][]string) map[string][]string {
	out := map[string][]string{}
	for name, theirs := range others {
		for _, t := range theirs {
			for _, s := range subjects {
				if subjectsOverlap(s, t) && !slices.Contains(out[name], t) {
					out[name] = append(out[name], t)
				}
			}
		}
	}
	return out
}

// subjectsOverlap reports whether some concrete subject matches both
// patterns.
func subjectsOverlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(at) && i == len(bt):
			return true
		case i == len(at) || i == len(bt):
			return false
		case at[i] == ">" || bt[i] == ">":
			return true
		case at[i] == "*" || bt[i] == "*" || at[i] == bt[i]:
			continue
		default:
			return false
		}
	}
}

// subjectSubset reports whether every subject matching a also matches b.
func subjectSubset(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(bt):
			return i == len(at)
		case bt[i] == ">":
			return i < len(at)
		case i == len(at):
			return false
		case at[i] == ">":
			return false
		case bt[i] == "*" || at[i] == bt[i]:
			continue
		default:
			return false
		}
	}
}

func coveredBy(subject string, set []string) bool {
	for _, s := range set {
		if subjectSubset(subject, s) {
			return true
		}
	}
	return false
}

// normalizeSubjects drops duplicates and subjects another one covers
// (org.repo.> beside org.>), which a stream would refuse as overlapping.
func normalizeSubjects(in []string) []string {
	var out []string
	for i, s := range in {
		covered := false
		for j, t := range in {
			if i != j && subjectSubset(s, t) && (!subjectSubset(t, s) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	return out
}
