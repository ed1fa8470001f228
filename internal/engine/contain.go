package engine

import "errors"

// errInstructionTimeout is the cause of the instruction's own deadline:
// RunInstruction tells its timeout from a cancel by it, whatever happened
// while the command was being killed (docs/definitions.md#timeouts).
var errInstructionTimeout = errors.New("instruction timeout")

// Timeouts Temporal must not retry (the server's "TemporalTimeout:<type>"
// non-retryable types). Both mean the attempt's worker died, hung or was
// cut off while the command may still be running; a retry could run the
// command twice at once. The run is recorded failed with that reason and
// the next worker's reaper ends the old command
// (docs/definitions.md#timeouts).
const (
	nonRetryableHeartbeatTimeout    = "TemporalTimeout:Heartbeat"
	nonRetryableStartToCloseTimeout = "TemporalTimeout:StartToClose"
)

// workerLostMessage is the reason of a run whose worker stopped
// heartbeating.
const workerLostMessage = "the worker running the instruction died or was cut off (heartbeat timeout); not retried because its command may still have been running"
