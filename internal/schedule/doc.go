// Package schedule projects the stored definitions onto Temporal Schedules:
// the "schedules" stage of sync (docs/architecture.md#syncer-internalsyncer), operator pause and resume (docs/architecture.md#adminapi-internaladminapi)
// and the schedule state the API shows.
//
// # What is managed
//
// Every cron or once definition gets one schedule, id Prefix + definition id
// (Prefix is ACTIVITY_SCHEDULE_PREFIX, "activity-core:" by default). The
// prefix is what marks a schedule as managed: a schedule without it is never
// listed for changes, paused, updated or deleted. A managed schedule whose
// definition is removed, missing or no longer cron/once is an orphan and is
// deleted. A once definition is never an orphan while it exists, before or
// after it fired.
//
// # Where the hash lives
//
// Each schedule's desired form (spec, action, policies, time zone, see
// DesiredHash) is hashed, and the hash sync last applied is kept in the
// store's ScheduleState rows. Temporal refuses memo updates on schedules and
// a list entry carries neither the action nor the policies (and a normalised
// spec), so a sync compares the hashes in those rows with the desired ones
// and needs only one ListSchedules pass (for existence and pause state) and
// three store reads. A sync with nothing to change makes no per-schedule
// call at all: no Describe, no Update.
//
// Optionally (Config.SpecHashAttribute) the hash is also written to a Keyword
// search attribute on the schedule. It is then visible in the Temporal UI and
// CLI, and when a schedule has no ScheduleState row (a new or restored
// store) the listed attribute is compared instead, so the schedule is not
// rewritten just because the store forgot it. The attribute must be
// registered on the namespace (devserver registers ActivityCoreSpecHash; in
// production `temporal operator search-attribute create`), so it is off by
// default and the store stays the source of truth.
//
// # Who owns a pause
//
// A schedule is paused for one of two reasons, and sync keeps it so:
//
//   - its definition is disabled: note NoteDisabled, and ScheduleState
//     records PausedBySync;
//   - an operator paused it through the API (Pause): the store holds an
//     OperatorPause and the Temporal note is "activity-core: paused by
//     operator: <note>". Sync keeps it paused while the pause is active
//     and unpauses it (and clears the record) once its Until has passed.
//
// Sync unpauses only pauses activity-core made: when neither reason holds,
// a paused schedule is unpaused if ScheduleState says sync paused it or its
// note starts with "activity-core: " (the notes above). A schedule someone
// paused by hand in the Temporal UI or CLI keeps its pause.
//
// Updates start from the described schedule (DoUpdate) and set the pause
// state explicitly, because Temporal's Update replaces spec, action,
// policies and state together.
//
// # Once definitions
//
// A once definition becomes a schedule with one calendar entry matching
// run_at to the second (year included, in UTC) and RemainingActions 1, so it
// fires exactly once. A once whose run_at passed before it was ever
// scheduled is created and triggered immediately if run_at + catchup_window
// has not passed yet; otherwise nothing is created and the result has a
// "skip" action saying why. A once schedule that sync made and that is gone
// after its run_at (Temporal drops a finished schedule a week after its last
// action) is not made again.
//
// # Consistency
//
// Temporal's schedule list lags writes by a few milliseconds (up to a couple
// of seconds after a burst of thousands of creates). A sync that runs inside
// that window may see a schedule it just created as missing (the create then
// fails as "already exists"; when the store records that sync applied
// exactly the desired form, the schedule is counted unchanged, otherwise
// the create becomes an update; a disabled definition
// whose schedule sync made is paused rather than skipped) or a pause it just
// made as not yet visible (it pauses again). Both are idempotent and
// converge; they only cost calls and show up in the counts of that sync.
// A listed schedule that is gone by the time it is called is made again if
// it should exist, or forgotten.
//
// Temporal applies a full update after a pause or unpause that reached the
// schedule later but in the same batch, and an update carries the whole
// state: a pause sent right after an update can be undone. Every pause and
// unpause (sync's, Pause's and Resume's) is therefore checked with a
// Describe, which Temporal answers only after both are applied, and sent
// again if it was lost. Updates themselves start from a Describe, so they
// never undo an earlier pause.
package schedule
