// Package limits is the one set of bounds untrusted input and a run's data
// are held to, shared by the packages that enforce them. They are chosen so
// that every workflow and activity payload stays under what Temporal
// carries (docs/definitions.md#limits, docs/security.md#limits-and-settings).
package limits

const (
	// MaxEventPayload is the largest event payload, in bytes, the router
	// routes and explain accepts. It travels in the workflow input and in
	// the instruction's input.
	MaxEventPayload = 256 << 10

	// MaxPayloadDepth is the deepest nesting of objects and arrays an event
	// payload may have (the payload object itself is level 1).
	MaxPayloadDepth = 64

	// Context is the largest context a run gathers: the sum of every
	// source's bound value, as JSON. GatherContext's result carries it
	// twice (the values and the snapshot), so 2×Context plus the event
	// and the definition stay under Temporal's default largest payload,
	// 2 MiB (its server setting limit.blobSize.error; it warns from 512 KiB).
	Context = 768 << 10

	// EnvValue is the largest value passed to a shell command in an
	// environment variable; Linux refuses one environment string over
	// 128 KiB (MAX_ARG_STRLEN). Larger values reach the command only
	// through ACTIVITY_EVENT_FILE and ACTIVITY_CONTEXT_FILE.
	EnvValue = 64 << 10

	// PauseNote bounds an operator pause note (UTF-8 bytes): Temporal
	// refuses schedule notes over 1000 bytes, and the note it gets also
	// names the pause and its until.
	PauseNote = 500
)
