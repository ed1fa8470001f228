// Package limits holds the bounds untrusted input is held to, shared by
// the packages that enforce them (docs/security.md).
package limits

// Event payloads (docs/definitions.md#events).
const (
	// MaxEventPayload is the largest event payload, in bytes, the router
	// routes and explain accepts.
	MaxEventPayload = 256 << 10
	// MaxPayloadDepth is the deepest nesting of objects and arrays an event
	// payload may have (the payload object itself is level 1).
	MaxPayloadDepth = 64
)
