package schedule

import (
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/store"
)

// planInput is everything a sync decides from: one list pass and three store
// reads.
type planInput struct {
	now    time.Time
	prefix string
	// entries are the managed schedules Temporal listed, by schedule id.
	entries map[string]*client.ScheduleListEntry
	// states are what sync last applied, by schedule id.
	states map[string]*store.ScheduleState
	// pauses are the operator pauses, by definition id.
	pauses map[string]*store.OperatorPause
	// desired are the live cron and once definitions, by definition id.
	desired map[string]*desired
	// other are live definitions with no schedule (event triggers).
	other map[string]bool
	// broken are cron/once definitions whose stored spec could not be
	// read: their schedules are left alone, never taken for orphans.
	broken map[string]error
	// listedHash, when set, reads the hash search attribute of an entry.
	listedHash func(*client.ScheduleListEntry) string
}

type op int

const (
	opNone op = iota
	opCreate
	opUpdate
	opPause
	opUnpause
	opDelete
)

type bucket int

const (
	bucketNone bucket = iota
	bucketUpserted
	bucketUnchanged
	bucketPaused
	bucketDeleted
)

// pauseWant is the pause state a schedule should have.
type pauseWant struct {
	paused bool
	note   string
	reason string
	// bySync: paused because the definition is disabled.
	bySync bool
	// expired: an operator pause whose until passed; sync lifts it and
	// clears the record.
	expired bool
}

func wantPause(d *desired, op *store.OperatorPause, now time.Time) pauseWant {
	var w pauseWant
	switch {
	case op != nil && op.ActiveAt(now):
		w = pauseWant{paused: true, note: operatorNote(*op), reason: reasonOperator, bySync: !d.enabled}
	case !d.enabled:
		w = pauseWant{paused: true, note: NoteDisabled, reason: reasonDisabled, bySync: true}
	}
	w.expired = op != nil && !op.ActiveAt(now)
	if w.expired && w.paused {
		w.reason = reasonExpired + "; " + w.reason
	}
	return w
}

// operatorNote is the Temporal note of an operator pause. It is derived
// from the stored pause only, so a sync can compare it with the listed note.
func operatorNote(p store.OperatorPause) string {
	n := noteOperator
	if p.Note != "" {
		n += ": " + p.Note
	}
	if p.Until != nil {
		n += " (until " + p.Until.UTC().Format(time.RFC3339) + ")"
	}
	return truncateNote(n)
}

// truncateNote cuts a note to what Temporal accepts, on a UTF-8 boundary,
// so that a pause recorded with a longer note (before Pause checked its
// length) still applies instead of failing every sync.
func truncateNote(n string) string {
	if len(n) <= temporalNoteMax {
		return n
	}
	const more = "…"
	cut := temporalNoteMax - len(more)
	for cut > 0 && !utf8.RuneStart(n[cut]) {
		cut--
	}
	return n[:cut] + more
}

// step is the plan for one schedule, and then what happened to it.
type step struct {
	defID      string
	scheduleID string
	want       *desired // nil for an orphan
	entry      *client.ScheduleListEntry
	state      *store.ScheduleState
	pause      pauseWant
	op         op
	// trigger: create a once schedule whose run_at just passed and fire it
	// now (inside its catch-up window).
	trigger bool
	// clearPause: clear the expired operator pause once the schedule is
	// right.
	clearPause bool
	// seedState: the schedule matches by its hash search attribute but the
	// store has no state for it; record one.
	seedState bool
	// recorded: the schedule was not listed, but the store says sync
	// applied exactly this form to it (most likely it was created a moment
	// ago and the list lags). It is created if really missing; if it
	// exists it is left alone and counted unchanged.
	recorded bool

	action string
	reason string
	bucket bucket
	err    error
}

// ownsPause reports whether a paused schedule with this note was paused by
// activity-core, so sync may lift the pause.
func (s *step) ownsPause(note string) bool {
	return s.pause.expired || (s.state != nil && s.state.PausedBySync) || strings.HasPrefix(note, notePrefix)
}

func (s *step) unpauseNoteReason(note string) (string, string) {
	switch {
	case s.pause.expired:
		return noteExpired, reasonExpired
	case note == NoteDisabled || (s.state != nil && s.state.PausedBySync):
		return noteEnabled, "definition enabled"
	default:
		return noteLifted, "pause no longer wanted"
	}
}

// plan decides what to do with every managed schedule and every cron or once
// definition, in schedule id order. It makes no call.
func (p *Projector) plan(in *planInput) []*step {
	ids := map[string]bool{}
	for id := range in.desired {
		ids[in.prefix+id] = true
	}
	for id := range in.entries {
		ids[id] = true
	}
	steps := make([]*step, 0, len(ids))
	for _, sid := range slices.Sorted(maps.Keys(ids)) {
		defID := strings.TrimPrefix(sid, in.prefix)
		if in.broken[defID] != nil {
			continue
		}
		s := &step{defID: defID, scheduleID: sid, want: in.desired[defID], entry: in.entries[sid], state: in.states[sid]}
		if s.want == nil {
			s.op, s.action, s.bucket = opDelete, ActionDelete, bucketDeleted
			s.reason = reasonRemoved
			if in.other[defID] {
				s.reason = reasonNotScheduled
			}
		} else {
			planDesired(s, in)
		}
		steps = append(steps, s)
	}
	return steps
}

func planDesired(s *step, in *planInput) {
	d, now := s.want, in.now
	s.pause = wantPause(d, in.pauses[s.defID], now)
	s.clearPause = s.pause.expired

	if s.entry == nil {
		switch {
		case !d.enabled && s.state == nil:
			// A disabled definition gets no schedule; there is none to
			// keep paused.
			s.bucket = bucketUnchanged
		case !d.enabled:
			// Sync made this schedule, so it most likely exists and is
			// not listed yet (the list lags writes): pause it. If it is
			// really gone, its state is forgotten and nothing is made.
			s.op, s.action, s.bucket, s.reason = opPause, ActionPause, bucketPaused, s.pause.reason
			if s.state.SpecHash != d.hash {
				s.op = opUpdate
			}
		case d.runAtPassed(now) && s.state != nil:
			// A once schedule sync made, gone after its run_at: Temporal
			// drops finished schedules a week after their last action.
			// Nothing is left to do.
			s.bucket = bucketUnchanged
		case d.tooLate(now):
			s.action, s.reason = ActionSkip, reasonRunAtPassed
		default:
			s.op, s.action, s.bucket = opCreate, ActionCreate, bucketUpserted
			s.reason = "new schedule"
			if s.pause.paused {
				s.reason += ", paused: " + s.pause.reason
			} else if d.runAtPassed(now) {
				s.trigger = true
				s.reason += ": run_at passed inside its catch-up window, fired now"
			}
			// An expired operator pause is not in the state: the schedule may
			// still be paused in Temporal, so it takes the update path.
			s.recorded = s.state != nil && s.state.SpecHash == d.hash && !s.state.PausedBySync && !s.pause.paused && !s.pause.expired
		}
		return
	}

	applied, seeded := "", false
	if s.state != nil {
		applied = s.state.SpecHash
	} else if in.listedHash != nil {
		applied, seeded = in.listedHash(s.entry), true
	}
	changed := applied != d.hash
	needPause := s.pause.paused && (!s.entry.Paused || s.entry.Note != s.pause.note)
	needUnpause := !s.pause.paused && s.entry.Paused && s.ownsPause(s.entry.Note)

	switch {
	case changed:
		s.op, s.action, s.bucket = opUpdate, ActionUpdate, bucketUpserted
		s.reason = "schedule changed"
		if s.state == nil && applied == "" {
			s.reason = "no record of what sync applied"
		}
		if needPause {
			s.action, s.bucket = ActionPause, bucketPaused
			s.reason = s.pause.reason + "; " + s.reason
		} else if needUnpause {
			_, why := s.unpauseNoteReason(s.entry.Note)
			s.reason += "; unpaused: " + why
		}
	case needPause:
		s.op, s.action, s.bucket, s.reason = opPause, ActionPause, bucketPaused, s.pause.reason
	case needUnpause:
		s.op, s.action, s.bucket = opUnpause, ActionUnpause, bucketUpserted
		_, s.reason = s.unpauseNoteReason(s.entry.Note)
	default:
		s.bucket = bucketUnchanged
		s.seedState = seeded
		if s.pause.expired {
			// The schedule is already unpaused; only the record is left.
			s.action, s.reason = ActionUnpause, reasonExpired
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
