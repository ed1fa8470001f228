package engine

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

// stopCheckEvery is how often a command whose heartbeats could not reach
// Temporal asks the store whether its run was canceled meanwhile.
const stopCheckEvery = 2 * time.Second

// steadyContext follows an activity's context, except that it does not end
// when the SDK ended the activity's context only because one heartbeat
// could not reach Temporal for a moment (the SDK does that when a
// heartbeat's RPC, retried for the heartbeat throttle interval of one
// second, still fails). A command must not be killed by a Temporal
// restart: it goes on, and from then on stopped() — asked every
// stopCheckEvery — tells it whether its run was canceled
// (docs/run-control.md#cancel). A real cancel, a timeout, a workflow that
// is gone or a worker shutting down ends it as before.
func steadyContext(ctx context.Context, log *slog.Logger, stopped func(context.Context) bool) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	var cancelDeadline context.CancelFunc = func() {}
	if dl, ok := ctx.Deadline(); ok {
		out, cancelDeadline = context.WithDeadline(out, dl)
	}
	stop := context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		if !transientHeartbeatFailure(ctx, cause) {
			cancel(cause)
			return
		}
		log.Warn("engine: a heartbeat could not reach Temporal; the command goes on and checks the store for a cancel", "error", cause)
		go watchStopped(out, cancel, stopped)
	})
	return out, func() { stop(); cancelDeadline(); cancel(nil) }
}

// watchStopped cancels ctx once stopped says so, or returns when ctx ends.
func watchStopped(ctx context.Context, cancel context.CancelCauseFunc, stopped func(context.Context) bool) {
	t := time.NewTicker(stopCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if stopped(ctx) {
				cancel(temporal.NewCanceledError("canceled while Temporal was unreachable"))
				return
			}
		}
	}
}

// transientHeartbeatFailure reports whether ctx ended only because a
// heartbeat failed for a reason worth retrying, rather than by a cancel,
// a timeout or a shutdown.
func transientHeartbeatFailure(ctx context.Context, cause error) bool {
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return false
	}
	var canceled *temporal.CanceledError
	if cause == nil || errors.As(cause, &canceled) || errors.Is(cause, context.Canceled) {
		return false
	}
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		exhausted   *serviceerror.ResourceExhausted
		internal    *serviceerror.Internal
		aborted     *serviceerror.Aborted
	)
	return errors.As(cause, &unavailable) || errors.As(cause, &deadline) || errors.As(cause, &exhausted) ||
		errors.As(cause, &internal) || errors.As(cause, &aborted) || errors.Is(cause, context.DeadlineExceeded)
}
