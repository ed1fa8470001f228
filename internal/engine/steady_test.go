package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

func TestTransientHeartbeatFailure(t *testing.T) {
	cases := []struct {
		name  string
		cause error
		want  bool
	}{
		{"frontend unavailable", serviceerror.NewUnavailable("restarting"), true},
		{"rpc deadline", context.DeadlineExceeded, true},
		{"resource exhausted", serviceerror.NewResourceExhausted(0, "busy"), true},
		{"cancel requested", temporal.NewCanceledError(), false},
		{"workflow gone", serviceerror.NewNotFound("gone"), false},
		{"worker shutting down", context.Canceled, false},
		{"activity paused", errors.New("activity paused"), false},
	}
	for _, c := range cases {
		if got := transientHeartbeatFailure(context.Background(), c.cause); got != c.want {
			t.Errorf("%s: transient = %v, want %v", c.name, got, c.want)
		}
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if transientHeartbeatFailure(past, context.DeadlineExceeded) {
		t.Error("the activity's own deadline counted as a transient heartbeat failure")
	}
}

// A heartbeat that could not reach Temporal does not end the command; a
// cancel recorded in the store then does.
func TestSteadyContextOutlivesATransientHeartbeatFailure(t *testing.T) {
	act, fail := context.WithCancelCause(context.Background())
	var stop atomic.Bool
	out, done := steadyContext(act, slog.New(slog.DiscardHandler), func(context.Context) bool { return stop.Load() })
	defer done()
	fail(serviceerror.NewUnavailable("frontend restarting"))
	select {
	case <-out.Done():
		t.Fatalf("command context ended on a transient heartbeat failure: %v", context.Cause(out))
	case <-time.After(stopCheckEvery + time.Second):
	}
	stop.Store(true)
	select {
	case <-out.Done():
	case <-time.After(10 * stopCheckEvery):
		t.Fatal("a cancel recorded in the store did not end the command context")
	}
	var canceled *temporal.CanceledError
	if !errors.As(context.Cause(out), &canceled) {
		t.Errorf("cause %v, want a cancel", context.Cause(out))
	}
}

func TestSteadyContextEndsOnARealCancel(t *testing.T) {
	act, cancel := context.WithCancelCause(context.Background())
	out, done := steadyContext(act, slog.New(slog.DiscardHandler), func(context.Context) bool { return false })
	defer done()
	cancel(temporal.NewCanceledError())
	select {
	case <-out.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a cancel from Temporal did not end the command context")
	}
}
