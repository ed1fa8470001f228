// Package engine holds RunActivityWorkflow and its activities: what happens
// each time a definition fires (docs/definitions.md#what-a-run-leaves-behind).
//
// The workflow is plain deterministic orchestration; everything that
// touches the world is an activity on the Activities struct, which holds the
// store, the publisher, an HTTP client and the environment lookup:
//
//	StartRun          load the definition from the store (edits are hot) and
//	                  record the run; removed or disabled -> skipped
//	AcquireLock       concurrency_key: join the key's lock workflow queue
//	GatherContext     http_get / state_hub.* context, in order
//	EvaluateRule      CEL, compiled once per definition version (local activity)
//	RunInstruction    shell | http | publish, with heartbeats and retry policy
//	FinishRun         record the outcome
//	PublishLifecycle  activity.run.<status> on NATS, so definitions can chain
//
// Secrets (${env:NAME}) are resolved inside the activities that use them and
// never enter workflow history; every string an activity returns has the
// resolved values replaced by ***.
//
// Nothing here imports the Temporal server: unit tests use the SDK's
// testsuite, integration tests the embedded server in internal/devserver.
package engine
