// Package limits is the one set of size limits a run's data goes through,
// chosen so that every workflow and activity payload stays under what
// Temporal carries (docs/definitions.md#limits).
package limits

const (
	// TemporalBlob is Temporal's default largest payload (its server
	// setting limit.blobSize.error); it warns from 512 KiB.
	TemporalBlob = 2 << 20

	// EventPayload is the largest event payload the router accepts. It
	// travels in the workflow input and in the instruction's input.
	EventPayload = 256 << 10

	// Context is the largest context a run gathers: the sum of every
	// source's bound value, as JSON. GatherContext's result carries it
	// twice (the values and the snapshot), so 2×Context plus the event
	// and the definition stay under TemporalBlob.
	Context = 768 << 10

	// EnvValue is the largest value passed to a shell command in an
	// environment variable; Linux refuses one environment string over
	// 128 KiB (MAX_ARG_STRLEN). Larger values reach the command only
	// through ACTIVITY_EVENT_FILE and ACTIVITY_CONTEXT_FILE.
	EnvValue = 64 << 10
)
