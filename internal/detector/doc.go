// Package detector finds what went wrong with scheduled definitions when
// nobody is looking (docs/alerting.md#detector): fires that left no run
// (missed), definitions with no recent success (stale), runs going past
// their max_duration (late) and repeated failures (failing), and the
// recoveries from each. It records them as run records, health rows and
// timeline entries, pauses a definition after pause_after_failures, and
// enqueues one notification per problem and target in the store's outbox
// for the notifier to deliver.
//
// With several replicas exactly one evaluates: the holder of the store
// lease "detector". A pass costs one ListSchedules, at most one
// DescribeTaskQueue per worker pool in use and a fixed handful of store
// queries, however many definitions there are; it keeps working from the store while Temporal or
// every worker is down, and says so in the reasons it records.
package detector
