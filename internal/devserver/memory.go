package devserver

import (
	"os"
	"runtime/debug"
)

// memoryLimitDefault is the soft memory limit `dev` gives the Go runtime
// (docs/benchmarks.md#memory-of-dev). Without one the runtime lets the
// heap grow to twice what is live before collecting, and freed pages go
// back to the system slowly: the RSS of a dev that embeds Temporal, NATS
// and SQLite kept growing with the number of runs (356 MiB after 5,000
// runs with a 240 MiB limit, of which about 125 MiB are the binary's own
// pages; the live heap is about 50 MiB). Near the limit the collector and
// the scavenger work harder. It is a soft limit: a dev whose live heap
// needs more (many thousands of definitions) goes past it and collects
// more often; it is never killed for it. GOMEMLIMIT overrides it.
const memoryLimitDefault = 128 << 20

// LimitMemory sets the Go runtime's soft memory limit to
// memoryLimitDefault, unless the GOMEMLIMIT environment variable already
// chose one (the runtime reads it at start). It returns the limit in
// force. Only `dev` calls it: it changes the whole process.
func LimitMemory() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1) // -1 reads the current limit
	}
	debug.SetMemoryLimit(memoryLimitDefault)
	return memoryLimitDefault
}
