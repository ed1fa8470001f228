package engine

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/definition"
)

// concurrency_key is built on Temporal, not on a process-local mutex, so it
// holds across any number of workers: each key has a lock workflow with the
// id LockWorkflowID(key). A run that needs the key signals the lock
// workflow ("acquire", starting it if it is not running), waits for a
// "lock-granted" signal, and signals "release" when it is done. The lock
// workflow grants the key to one run at a time, in arrival order, and ends
// when nobody holds or waits for it. A holder that never releases (its
// workflow was terminated) loses the key when its lease runs out: the lease
// covers the longest the run can take with all its retries.

// Signal names of the lock protocol.
const (
	lockAcquireSignal = "acquire"
	lockReleaseSignal = "release"
	lockGrantedSignal = "lock-granted"
	// lockHistoryLimit bounds the lock workflow's history: after this many
	// grants it continues as new with its queue.
	lockHistoryLimit = 500
)

// LockWorkflowID is the id of the lock workflow of a concurrency key.
func LockWorkflowID(key string) string { return "activity-core:lock:" + key }

// LockRequest asks for a key.
type LockRequest struct {
	WorkflowID string        `json:"workflow_id"`
	RunID      string        `json:"run_id"`
	Lease      time.Duration `json:"lease"`
}

// LockRelease gives a key back (or leaves the queue).
type LockRelease struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// LockState is carried over when the lock workflow continues as new.
type LockState struct {
	Key    string        `json:"key"`
	Queue  []LockRequest `json:"queue,omitempty"`
	Holder *LockRequest  `json:"holder,omitempty"`
}

// lockLease is the longest a run may hold its key: every attempt at its
// full timeout plus the backoff between them, the context, and a margin.
func lockLease(def *definition.Definition) time.Duration {
	attempts := max(def.Retry.MaxAttempts, 1)
	lease := time.Duration(attempts) * (def.Instruction.Timeout.D() + 2*time.Minute)
	interval := def.Retry.InitialInterval.D()
	for i := 1; i < attempts; i++ {
		lease += interval
		interval = min(time.Duration(float64(interval)*def.Retry.BackoffCoefficient), def.Retry.MaxInterval.D())
	}
	for _, c := range def.Context {
		lease += 3 * c.Timeout.D()
	}
	return lease + 5*time.Minute
}

// acquireLock joins the key's queue and blocks until the key is granted. The
// returned release gives it back (on a disconnected context, so a canceled
// run still releases).
func acquireLock(ctx workflow.Context, key string, lease time.Duration) (func(), error) {
	info := workflow.GetInfo(ctx)
	req := LockRequest{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Lease: lease}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	release := func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		err := workflow.SignalExternalWorkflow(dctx, LockWorkflowID(key), "", lockReleaseSignal, LockRelease{WorkflowID: req.WorkflowID, RunID: req.RunID}).Get(dctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Warn("engine: releasing concurrency key failed (the lease will expire)", "key", key, "error", err)
		}
	}
	if err := workflow.ExecuteActivity(actx, a.AcquireLock, key, req).Get(ctx, nil); err != nil {
		return nil, err
	}
	granted := workflow.GetSignalChannel(ctx, lockGrantedSignal)
	var got string
	granted.Receive(ctx, &got)
	if ctx.Err() != nil {
		release() // leave the queue
		return nil, ctx.Err()
	}
	return release, nil
}

// AcquireLock signals the key's lock workflow, starting it if needed. It
// only enqueues the request: the grant arrives as a signal to the run.
func (a *Activities) AcquireLock(ctx context.Context, key string, req LockRequest) error {
	if a.cfg.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("concurrency_key needs a Temporal client on the worker", errTypeConfig, nil)
	}
	_, err := a.cfg.Temporal.SignalWithStartWorkflow(ctx, LockWorkflowID(key), lockAcquireSignal, req,
		client.StartWorkflowOptions{
			ID:        LockWorkflowID(key),
			TaskQueue: a.cfg.TaskQueue,
		}, LockWorkflowName, LockState{Key: key})
	if err != nil {
		activity.GetLogger(ctx).Warn("engine: signalling lock workflow failed", "key", key, "error", err)
	}
	return err
}

// ConcurrencyLockWorkflow serializes the runs that share a concurrency key.
func ConcurrencyLockWorkflow(ctx workflow.Context, st LockState) error {
	logger := workflow.GetLogger(ctx)
	acquire := workflow.GetSignalChannel(ctx, lockAcquireSignal)
	release := workflow.GetSignalChannel(ctx, lockReleaseSignal)
	grants := 0

	enqueue := func(r LockRequest) {
		if st.Holder != nil && st.Holder.RunID == r.RunID {
			return
		}
		for _, q := range st.Queue {
			if q.RunID == r.RunID {
				return
			}
		}
		st.Queue = append(st.Queue, r)
	}
	dequeue := func(runID string) {
		if st.Holder != nil && st.Holder.RunID == runID {
			st.Holder = nil
			return
		}
		for i, q := range st.Queue {
			if q.RunID == runID {
				st.Queue = append(st.Queue[:i], st.Queue[i+1:]...)
				return
			}
		}
	}
	drain := func() bool {
		got := false
		for {
			var r LockRequest
			if !acquire.ReceiveAsync(&r) {
				break
			}
			enqueue(r)
			got = true
		}
		for {
			var r LockRelease
			if !release.ReceiveAsync(&r) {
				break
			}
			dequeue(r.RunID)
			got = true
		}
		return got
	}

	var leaseCancel workflow.CancelFunc
	var leaseTimer workflow.Future
	startLease := func() {
		if leaseCancel != nil {
			leaseCancel()
		}
		tctx, cancel := workflow.WithCancel(ctx)
		leaseCancel = cancel
		leaseTimer = workflow.NewTimer(tctx, st.Holder.Lease)
	}
	if st.Holder != nil {
		startLease()
	}
	for {
		drain()
		// Grant to the next waiter whose workflow is still there.
		for st.Holder == nil && len(st.Queue) > 0 {
			next := st.Queue[0]
			st.Queue = st.Queue[1:]
			err := workflow.SignalExternalWorkflow(ctx, next.WorkflowID, next.RunID, lockGrantedSignal, st.Key).Get(ctx, nil)
			if err != nil {
				logger.Info("lock: waiter is gone, skipping it", "key", st.Key, "workflow_id", next.WorkflowID, "error", err)
				continue
			}
			st.Holder = &next
			grants++
			startLease()
		}
		if st.Holder == nil && len(st.Queue) == 0 {
			if drain() {
				continue
			}
			return nil
		}
		if grants >= lockHistoryLimit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			drain()
			return workflow.NewContinueAsNewError(ctx, LockWorkflowName, st)
		}
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
			var r LockRequest
			c.Receive(ctx, &r)
			enqueue(r)
		})
		sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
			var r LockRelease
			c.Receive(ctx, &r)
			dequeue(r.RunID)
		})
		if st.Holder != nil && leaseTimer != nil {
			holder := st.Holder.RunID
			sel.AddFuture(leaseTimer, func(f workflow.Future) {
				if f.Get(ctx, nil) == nil && st.Holder != nil && st.Holder.RunID == holder {
					logger.Warn("lock: lease expired, taking the key back", "key", st.Key, "workflow_id", st.Holder.WorkflowID)
					st.Holder = nil
				}
			})
		}
		sel.Select(ctx)
		if st.Holder == nil && leaseCancel != nil {
			leaseCancel()
			leaseCancel, leaseTimer = nil, nil
		}
	}
}
