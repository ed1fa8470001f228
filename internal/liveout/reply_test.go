package liveout

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// A watch request whose reply subject is not an inbox gets no answer: a
// requester could otherwise have the worker publish a run's output on any
// subject, the events stream's included.
func TestWatchRepliesOnlyToInboxes(t *testing.T) {
	o := &output{}
	// With a non-inbox reply onWatch returns before touching o, which
	// would panic on its nil sink.
	o.onWatch(&nats.Msg{Subject: "activity_output.r1.watch", Reply: "org.leak", Data: []byte(`{"backlog":true}`)})
}
