// Package liveout carries a running command's output from the worker that
// runs it to the api processes that show it (docs/run-control.md#live-output).
//
// The worker side (Sink) keeps the last 64 KiB of each stream of each
// attempt in memory and publishes chunks on core NATS only while a viewer
// holds a watch lease, so output nobody watches costs a copy into a ring.
// The api side (Viewer) asks for a watch, gets the backlog and its byte
// offsets in the reply, then stitches the live chunks after it by offset:
// no gap and no repeat, or a counted skip when a viewer fell behind.
package liveout

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// SubjectPrefix roots the live-output subjects: <prefix>.<run id>.watch
// (viewers ask for a lease and the backlog) and <prefix>.<run id>.data
// (the worker's chunks). It is outside the events stream's default
// subjects (org.>, activity.>), so JetStream never stores output; a
// deployment whose stream captures `>` must leave this prefix out.
const subjectPrefix = "activity_output"

// replyPrefix is the only reply subject a worker answers a watch on:
// nats.go's inboxes (docs/run-control.md#live-output).
const replyPrefix = "_INBOX."

// Defaults.
const (
	// LeaseDefault is how long one watch request keeps a worker
	// publishing; viewers renew it every third of it.
	leaseDefault = 15 * time.Second
	// TailSize is how much of each stream a worker keeps for a new viewer,
	// the same as the run record keeps.
	tailSize = 64 << 10
	// ChunkMaxDefault bounds one published chunk (bytes of output).
	chunkMaxDefault = 32 << 10
	// ViewersMaxDefault bounds the streams one api process serves.
	ViewersMaxDefault = 64
	// ViewerBufferDefault bounds what one viewer holds that it has not
	// written yet; beyond it chunks are dropped and reported skipped.
	viewerBufferDefault = 512 << 10
	// AskTimeoutDefault is how long a viewer waits for a worker to answer
	// a watch request.
	askTimeoutDefault = 2 * time.Second
)

// Stream names, as chunks and events carry them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

var streamNames = [2]string{Stdout, Stderr}

// Message headers of data messages.
const (
	hdrAttempt = "Attempt"
	hdrStream  = "Stream"
	hdrFrom    = "From"
	hdrTo      = "To"
	hdrEnd     = "End"
)

// watchRequest asks a worker to publish a run's output for a lease.
type watchRequest struct {
	// Backlog asks for the kept output; renewals leave it out.
	Backlog bool `json:"backlog,omitempty"`
}

// watchReply answers a watch request.
type watchReply struct {
	// Attempt names the attempt that answers; a retry has another.
	Attempt string        `json:"attempt"`
	LeaseMS int64         `json:"lease_ms"`
	Streams []backlogPart `json:"streams,omitempty"`
}

// backlogPart is the kept, redacted output of one stream, up to the raw
// byte offset To, where the live chunks continue.
type backlogPart struct {
	Stream string `json:"stream"`
	To     int64  `json:"to"`
	Data   []byte `json:"data"`
}

// ErrBadRunID is returned for a run id that cannot be a subject token.
var ErrBadRunID = errors.New("liveout: run id cannot name a subject")

// subject is the run's subject of the given kind (watch or data).
func subject(runID, kind string) (string, error) {
	if runID == "" || len(runID) > 200 || strings.ContainsAny(runID, ".*> \t\r\n") {
		return "", fmt.Errorf("%w: %q", ErrBadRunID, runID)
	}
	return subjectPrefix + "." + runID + "." + kind, nil
}
