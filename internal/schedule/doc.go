// Package schedule projects the stored cron and once definitions onto
// Temporal Schedules: the schedules stage of sync, operator pause and
// resume, and the schedule state the API shows. Only schedules whose id
// carries the deployment's prefix are managed; the rest are never touched.
// Temporal refuses memo updates and its list entries omit the action and
// policies, so the hash of each schedule's desired form is kept in the
// store (and optionally a search attribute): a sync with nothing to change
// costs one list pass and no per-schedule call. Sync undoes only the pauses
// activity-core made, so an operator's pause survives it.
//
// The rules (what is managed, who owns a pause, once definitions,
// consistency with Temporal's lagging list) are in docs/sync.md#schedules.
package schedule
