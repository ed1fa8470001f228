// Package router is the router role (docs/definitions.md#event-types): it reads events from a
// JetStream stream and starts one RunActivityWorkflow per matching event
// definition. It also answers "would this event match, and if not why"
// (Index.Explain, for POST /api/v1/events/explain).
//
// # Matching (Index)
//
// An Index is built from the stored definitions (live event definitions;
// disabled ones are kept for Explain only) and is immutable: a reload
// builds a new one and swaps it in atomically, reusing the compiled entry
// of every definition whose content hash did not change.
//
//   - Subjects: a trie over subject tokens. `*` is a child of its own,
//     `>` marks the node whose definitions match one or more further
//     tokens. An event walks only the branches its tokens (and wildcards)
//     allow, so matching cost does not grow with the number of definitions
//     on other subjects.
//   - Many definitions on one subject (a hook per repository on
//     org.repo.commit.pushed): the node keys them by the value of their
//     most common filter path whose globs are literals or start or end
//     with a literal (repo_slug: "api", "team-*", "*-api"), so an event
//     looks its value (and its prefixes and suffixes of the lengths
//     present) up instead of checking each. Definitions without such a
//     filter on that path (wildcards at both ends, "*-api-*", or no
//     filter) are checked one by one, about 55 ns each: 10,000 of them on
//     one subject cost about 0.55 ms per event.
//   - Filters: every filter must accept the payload; a filter accepts when
//     any of its globs matches any value its path leads to.
//
// Payload paths (filters: {"repo.owner.login": "alice"}):
//
//   - dotted segments select object keys (a key containing a dot cannot
//     be addressed);
//   - arrays: a numeric segment indexes (commits.0.author); any other
//     segment applies to every element (commits.author = any commit's
//     author); a path ending at an array offers each element (tags:
//     "urgent" matches ["a", "urgent"]); an empty array offers nothing;
//   - a missing field (or a scalar in the way, an index out of range)
//     never matches, not even "*";
//   - values match by text: strings as they are; numbers by their JSON
//     text, canonical (1, 1.0, 1e0 all read "1"; integer literals kept
//     digit for digit); true/false; null reads "null" (so "*" matches a
//     present null); an object by its compact JSON with sorted keys.
//
// Use DecodePayload (numbers as json.Number) to get exact number text;
// payloads decoded into float64 match the same except integers beyond
// 2^53.
//
// # Routing a message
//
//   - The payload must be a JSON object of at most MaxPayload bytes
//     nested at most limits.MaxPayloadDepth deep, and conform to the JSON
//     Schema of the event type its subject names (Config.SchemaMode
//     enforce; warn routes it and counts it); anything else is counted
//     (events_invalid_total{reason}), logged (rate limited) and acked:
//     never retried.
//   - Event id: the Nats-Msg-Id header, else the stream sequence.
//   - Each matching definition gets one ExecuteWorkflow with id
//     activity-core:evt:<definition id>:<event id> (an event id that would
//     exceed Temporal's 1,000-byte id limit is replaced by its SHA-256),
//     WorkflowIDReusePolicy REJECT_DUPLICATE, conflict policy FAIL and
//     WorkflowExecutionErrorWhenAlreadyStarted: Temporal refuses a second
//     start of the same id, running or closed, so a redelivered message or
//     a repeated Nats-Msg-Id never runs twice. "Already started" counts as
//     success (runs_deduplicated_total). The guarantee lasts as long as
//     Temporal keeps the closed workflow (the namespace's retention).
//   - When every start succeeded (or was a duplicate, or was stopped by
//     the loop guard) the message is acked with DoubleAck, retried for a
//     few seconds across a reconnect; otherwise it is naked with a delay
//     that doubles with each delivery (NakDelayMin .. NakDelayMax, ±10%
//     jitter), so a Temporal outage neither loses events nor spins. While
//     starts take long the message is kept in progress (InProgress every
//     AckWait/3). A router that dies with messages in hand leaves them
//     unacked: the server redelivers them after AckWait to any replica,
//     and their workflow ids make the second start a no-op.
//
// # Hot definitions
//
// An event published after a sync returns must be matched against what
// that sync stored, without reloading everything per message:
//
//   - Refresh reloads the index; the process that syncs calls it
//     (syncer's OnDefinitionsChanged) before the sync returns.
//   - For syncs in other processes (an API replica), before routing a
//     message the router makes sure a check of the store's last sync id
//     started after the message was received; one check is shared by all
//     messages waiting (single flight), and only a changed id reloads. It
//     is one small query (about 30 µs on SQLite). Set SkipSyncCheck when
//     every sync runs in the router's process and calls Refresh.
//   - Every RefreshInterval (30 s) the index is reloaded anyway.
//
// A failed reload keeps the loaded index; the first load is retried until
// it succeeds, and no message is consumed before it (routing with no
// definitions would ack events unrouted).
//
// # Loop guard (chained definitions)
//
// Runs publish <prefix>.run.<status> with their chain_depth (docs/definitions.md#what-a-run-leaves-behind). A
// run started by a lifecycle event gets chain_depth+1; the router does not
// start it when that exceeds ChainDepthLimit (default 8), and never starts
// a definition for a lifecycle event of its own run (payload.definition_id
// is its id), at any depth. Both are counted (loop_guarded_total), logged
// and acked. See Index.Guard.
//
// # Stream and consumer
//
// EnsureStream creates the stream (file storage, limits retention, MaxAge
// StreamMaxAge, 2-minute duplicate window) if it is missing, never deletes
// it and never removes a subject; configured subjects an existing stream
// lacks are added unless another stream holds them (then a warning says
// those events will not reach the router). Creating a stream whose
// subjects overlap another is an *OverlapError naming that stream, and
// Run returns it instead of retrying.
//
// All replicas share one durable pull consumer (explicit ack, AckWait 30 s,
// MaxDeliver unlimited, no filter subject), read with Consume. A consumer
// created on a stream this router just created reads from the start; one
// created on a stream that already existed reads new messages only, so a
// first deployment against an existing stream does not turn its history
// into runs.
//
// nats-server 2.9 (the machine's own) is supported and tested
// (ACTIVITY_TEST_NATS_URL): one consumer without filter subjects (2.10's
// multiple filter subjects are not used), the 2.9 consumer create API, pull
// requests with heartbeats, NakWithDelay, double acks.
//
// # Metrics
//
// activity_core_router_ events_received_total, events_matched_total,
// events_invalid_total{reason}, runs_started_total,
// runs_deduplicated_total, loop_guarded_total, start_failures_total,
// refresh_errors_total, definitions (gauge), and the
// routing_latency_seconds histogram (stream store time to StartWorkflow
// returned).
package router
