// Package router is the router role: it reads events from a JetStream
// stream with a consumer shared by every replica and starts one
// RunActivityWorkflow per matching event definition, with a workflow id
// made from the definition and the event id so that a redelivered message
// never runs twice. Matching goes through an immutable Index (a trie over
// subject tokens plus keyed filters) that a sync swaps in before it returns,
// so an event published after a sync sees what that sync stored. The same
// Index answers "would this event match, and if not why" for explain and
// the offline simulator, so what they say is what the router does.
//
// The behaviour, limits and metrics are in docs/events.md; figures in
// docs/benchmarks-router.md.
package router
