// Package engine is what happens each time a definition fires:
// RunActivityWorkflow and the activities it calls. The workflow is plain
// deterministic orchestration; everything that touches the world is a
// method on Activities, which holds the store, the publisher, an HTTP
// client and the secret lookup. Store bookkeeping runs as local activities
// so that a plain run writes few history events; overlap is prevented by
// guard and lock workflows on Temporal, not by a local mutex, so it holds
// across workers. Secrets are resolved only inside activities and redacted
// from everything they return, so they never reach history or the store.
//
// The run lifecycle is in docs/runs.md; the workflow's shape and cost in
// docs/architecture.md#the-run-workflow.
package engine
