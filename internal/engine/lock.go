package engine

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/definition"
)

// concurrency_key is built on Temporal, not on a process-local mutex, so it
// holds across any number of workers: each key has a lock workflow with the
// id lockWorkflowID(key). A run that needs the key signals the lock
// workflow ("acquire", starting it if it is not running), waits for a
// "lock-granted" signal, and signals "release" when it is done. The lock
// workflow grants the key to one run at a time, in arrival order, and ends
// when nobody holds or waits for it. A holder that never releases (its
// workflow was terminated) loses the key when its lease runs out: the lease
// covers the longest the run can take with all its retries.
//
// The same machinery guards a definition whose misfire_policy forbids
// overlap, whatever started the run (docs/definitions.md#misfire-policy):
// its lock workflow has the id guardWorkflowID(definition id). With skip,
// the run asks in try mode: the lock workflow grants the key only when
// nobody holds it or waits for it, and otherwise answers "lock-refused"
// with the holder's run id, so the run ends skipped at once.

// Signal names of the lock protocol.
const (
	lockAcquireSignal = "acquire"
	lockReleaseSignal = "release"
	lockGrantedSignal = "lock-granted"
	lockRefusedSignal = "lock-refused"
	// lockHistoryLimit bounds the lock workflow's history: after this many
	// grants it continues as new with its queue.
	lockHistoryLimit = 500
)

// lockWorkflowID is the id of the lock workflow of a concurrency key.
func lockWorkflowID(key string) string { return "activity-core:lock:" + key }

// guardWorkflowID is the id of the lock workflow that keeps runs of one
// definition from overlapping. Its prefix differs from lockWorkflowID's, so
// no concurrency_key can name it.
func guardWorkflowID(definitionID string) string { return "activity-core:guard:" + definitionID }

// lockRequest asks for a key.
type lockRequest struct {
	WorkflowID string        `json:"workflow_id"`
	RunID      string        `json:"run_id"`
	Lease      time.Duration `json:"lease"`
	// Run is the activity-core run id, named to a refused run.
	Run string `json:"run,omitempty"`
	// Try asks for the key only if it is free: otherwise the lock workflow
	// answers lockRefusedSignal instead of queueing the request.
	Try bool `json:"try,omitempty"`
	// LockID is the lock workflow's id when it is not lockWorkflowID(key).
	LockID string `json:"lock_id,omitempty"`
}

// lockRefusal answers a try request for a key that is taken.
type lockRefusal struct {
	Key string `json:"key"`
	// Holder is the activity-core run id of the run holding the key (or,
	// when the key is between holders, of the first waiter).
	Holder string `json:"holder,omitempty"`
}

// lockRelease gives a key back (or leaves the queue).
type lockRelease struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// lockState is carried over when the lock workflow continues as new.
type lockState struct {
	Key    string        `json:"key"`
	Queue  []lockRequest `json:"queue,omitempty"`
	Holder *lockRequest  `json:"holder,omitempty"`
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

// lockAsk is what a run asks of a lock workflow.
type lockAsk struct {
	key   string // the grant's payload, and lockWorkflowID(key) unless id is set
	id    string
	lease time.Duration
	run   string // the activity-core run id
	try   bool
	// asked says the request was already sent (BeginRun sends the guard's):
	// only the answer is awaited.
	asked bool
}

// acquireLock joins the key's queue and blocks until the key is granted. The
// returned release gives it back (on a disconnected context, so a canceled
// run still releases).
func acquireLock(ctx workflow.Context, key string, lease time.Duration) (func(), error) {
	release, _, err := takeLock(ctx, lockAsk{key: key, lease: lease})
	return release, err
}

// takeLock asks a lock workflow for its key. Waiting (try false), it blocks
// until the key is granted. In try mode a taken key is refused at once: the
// release is nil and holder names the run that holds it.
func takeLock(ctx workflow.Context, ask lockAsk) (release func(), holder string, err error) {
	info := workflow.GetInfo(ctx)
	id := ask.id
	if id == "" {
		id = lockWorkflowID(ask.key)
	}
	req := lockRequest{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Lease: ask.lease, Run: ask.run, Try: ask.try}
	if ask.id != "" {
		req.LockID = ask.id
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	release = func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		err := workflow.SignalExternalWorkflow(dctx, id, "", lockReleaseSignal, lockRelease{WorkflowID: req.WorkflowID, RunID: req.RunID}).Get(dctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Warn("engine: releasing lock failed (the lease will expire)", "lock", id, "error", err)
		}
	}
	if !ask.asked {
		var a *Activities // names the activity; the worker runs its registered value
		if err := workflow.ExecuteActivity(actx, a.AcquireLock, ask.key, req).Get(ctx, nil); err != nil {
			return nil, "", err
		}
	}
	var refusal *lockRefusal
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, lockGrantedSignal), func(c workflow.ReceiveChannel, _ bool) {
		var got string
		c.Receive(ctx, &got)
	})
	if ask.try {
		sel.AddReceive(workflow.GetSignalChannel(ctx, lockRefusedSignal), func(c workflow.ReceiveChannel, _ bool) {
			refusal = &lockRefusal{}
			c.Receive(ctx, refusal)
		})
	}
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
	switch {
	case ctx.Err() != nil:
		release() // leave the queue
		return nil, "", ctx.Err()
	case refusal != nil:
		return nil, refusal.Holder, nil
	}
	return release, "", nil
}

// AcquireLock signals the key's lock workflow, starting it if needed. It
// only enqueues the request: the grant arrives as a signal to the run.
func (a *Activities) AcquireLock(ctx context.Context, key string, req lockRequest) error {
	if a.cfg.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("concurrency_key needs a Temporal client on the worker", errTypeConfig, nil)
	}
	id := req.LockID
	if id == "" {
		id = lockWorkflowID(key)
	}
	_, err := a.cfg.Temporal.SignalWithStartWorkflow(ctx, id, lockAcquireSignal, req,
		client.StartWorkflowOptions{
			ID:        id,
			TaskQueue: a.lockQueue(ctx),
		}, LockWorkflowName, lockState{Key: key})
	if err != nil {
		activity.GetLogger(ctx).Warn("engine: signalling lock workflow failed", "key", key, "error", err)
	}
	return err
}

// lockQueue is the task queue a lock workflow starts on: the one of the
// run that asks (an activity's, or a local activity's, task queue is its
// workflow's), so a pool whose worker serves only it needs no worker on
// the default pool (docs/run-control.md#placement). A lock workflow that
// runs already stays where it started.
func (a *Activities) lockQueue(ctx context.Context) string {
	if activity.IsActivity(ctx) {
		if q := activity.GetInfo(ctx).TaskQueue; q != "" {
			return q
		}
	}
	return a.cfg.TaskQueue
}

// ConcurrencyLockWorkflow serializes the runs that share a concurrency key.
func ConcurrencyLockWorkflow(ctx workflow.Context, st lockState) error {
	l := &lockWorkflow{
		ctx:     ctx,
		logger:  workflow.GetLogger(ctx),
		st:      st,
		acquire: workflow.GetSignalChannel(ctx, lockAcquireSignal),
		release: workflow.GetSignalChannel(ctx, lockReleaseSignal),
	}
	if l.st.Holder != nil {
		l.startLease()
	}
	for {
		l.drain()
		l.decide()
		l.refuse()
		l.grant()
		if l.st.Holder == nil && len(l.st.Queue) == 0 {
			if l.drain() || len(l.tries) > 0 {
				continue
			}
			return nil
		}
		if l.grants >= lockHistoryLimit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			l.drain()
			l.decide()
			l.refuse()
			return workflow.NewContinueAsNewError(ctx, LockWorkflowName, l.st)
		}
		l.wait()
	}
}

// lockWorkflow is the state of one run of ConcurrencyLockWorkflow: the
// key's holder and queue, and what the current turn of its loop decided.
type lockWorkflow struct {
	ctx         workflow.Context
	logger      log.Logger
	st          lockState
	acquire     workflow.ReceiveChannel
	release     workflow.ReceiveChannel
	grants      int
	tries       []lockRequest // try requests, decided after the pending releases
	refusals    []lockRefusalTo
	leaseCancel workflow.CancelFunc
	leaseTimer  workflow.Future
}

// lockRefusalTo is a refusal to send to a try request.
type lockRefusalTo struct {
	to     lockRequest
	holder string
}

// known reports whether the run holds the key or waits for it.
func (l *lockWorkflow) known(runID string) bool {
	if l.st.Holder != nil && l.st.Holder.RunID == runID {
		return true
	}
	for _, q := range l.st.Queue {
		if q.RunID == runID {
			return true
		}
	}
	return false
}

func (l *lockWorkflow) enqueue(r lockRequest) {
	switch {
	case l.known(r.RunID):
	case r.Try:
		l.tries = append(l.tries, r) // decided after the pending releases
	default:
		l.st.Queue = append(l.st.Queue, r)
	}
}

// decide queues a try request if the key is free, else refuses it.
func (l *lockWorkflow) decide() {
	for _, r := range l.tries {
		switch {
		case l.known(r.RunID):
		case l.st.Holder != nil || len(l.st.Queue) > 0:
			holder := l.st.Holder
			if holder == nil {
				holder = &l.st.Queue[0]
			}
			l.refusals = append(l.refusals, lockRefusalTo{to: r, holder: holder.Run})
		default:
			l.st.Queue = append(l.st.Queue, r)
		}
	}
	l.tries = nil
}

// refuse answers the try requests that found the key taken.
func (l *lockWorkflow) refuse() {
	for _, r := range l.refusals {
		err := workflow.SignalExternalWorkflow(l.ctx, r.to.WorkflowID, r.to.RunID, lockRefusedSignal, lockRefusal{Key: l.st.Key, Holder: r.holder}).Get(l.ctx, nil)
		if err != nil {
			l.logger.Info("lock: refused requester is gone", "key", l.st.Key, "workflow_id", r.to.WorkflowID, "error", err)
		}
	}
	l.refusals = nil
}

func (l *lockWorkflow) dequeue(runID string) {
	if l.st.Holder != nil && l.st.Holder.RunID == runID {
		l.st.Holder = nil
		return
	}
	for i, q := range l.st.Queue {
		if q.RunID == runID {
			l.st.Queue = append(l.st.Queue[:i], l.st.Queue[i+1:]...)
			return
		}
	}
}

// drain takes every pending acquire, then every pending release; it
// reports whether there was any.
func (l *lockWorkflow) drain() bool {
	got := false
	for {
		var r lockRequest
		if !l.acquire.ReceiveAsync(&r) {
			break
		}
		l.enqueue(r)
		got = true
	}
	for {
		var r lockRelease
		if !l.release.ReceiveAsync(&r) {
			break
		}
		l.dequeue(r.RunID)
		got = true
	}
	return got
}

// startLease (re)starts the timer of the holder's lease.
func (l *lockWorkflow) startLease() {
	if l.leaseCancel != nil {
		l.leaseCancel()
	}
	tctx, cancel := workflow.WithCancel(l.ctx)
	l.leaseCancel = cancel
	l.leaseTimer = workflow.NewTimer(tctx, l.st.Holder.Lease)
}

// grant gives a free key to the next waiter whose workflow is still there.
func (l *lockWorkflow) grant() {
	for l.st.Holder == nil && len(l.st.Queue) > 0 {
		next := l.st.Queue[0]
		l.st.Queue = l.st.Queue[1:]
		err := workflow.SignalExternalWorkflow(l.ctx, next.WorkflowID, next.RunID, lockGrantedSignal, l.st.Key).Get(l.ctx, nil)
		if err != nil {
			l.logger.Info("lock: waiter is gone, skipping it", "key", l.st.Key, "workflow_id", next.WorkflowID, "error", err)
			continue
		}
		l.st.Holder = &next
		l.grants++
		l.startLease()
	}
}

// wait blocks for the next acquire, release or end of the holder's lease.
func (l *lockWorkflow) wait() {
	ctx := l.ctx
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(l.acquire, func(c workflow.ReceiveChannel, _ bool) {
		var r lockRequest
		c.Receive(ctx, &r)
		l.enqueue(r)
	})
	sel.AddReceive(l.release, func(c workflow.ReceiveChannel, _ bool) {
		var r lockRelease
		c.Receive(ctx, &r)
		l.dequeue(r.RunID)
	})
	if l.st.Holder != nil && l.leaseTimer != nil {
		holder := l.st.Holder.RunID
		sel.AddFuture(l.leaseTimer, func(f workflow.Future) {
			if f.Get(ctx, nil) != nil || l.st.Holder == nil || l.st.Holder.RunID != holder {
				return
			}
			l.leaseEnded()
		})
	}
	sel.Select(ctx)
	if l.st.Holder == nil && l.leaseCancel != nil {
		l.leaseCancel()
		l.leaseCancel, l.leaseTimer = nil, nil
	}
}

// leaseEnded renews the lease of a holder that still runs, and takes the
// key back from one that is gone.
func (l *lockWorkflow) leaseEnded() {
	if holderAlive(l.ctx, l.st.Holder) {
		// Still running (queued behind busy workers, or waiting for
		// its concurrency key): taking the key back would let a
		// second run overlap it. Renew the lease.
		l.logger.Info("lock: lease ran out but the holder still runs; renewed", "key", l.st.Key, "workflow_id", l.st.Holder.WorkflowID)
		l.startLease()
		return
	}
	l.logger.Warn("lock: lease expired and the holder is gone, taking the key back", "key", l.st.Key, "workflow_id", l.st.Holder.WorkflowID)
	l.st.Holder = nil
}

// leaseProbeVersion marks lock workflows that ask a holder whose lease ran
// out whether it still runs, instead of taking the key back at once.
const leaseProbeVersion = "lease-probe"

// lockLeaseCheckSignal is sent to a holder whose lease ran out; only its
// delivery matters (a closed workflow cannot receive it), so the holder
// never reads it.
const lockLeaseCheckSignal = "lock-lease-check"

// holderAlive reports whether the holder's workflow is still running, by
// signalling it: the signal fails once the workflow has closed.
func holderAlive(ctx workflow.Context, h *lockRequest) bool {
	if workflow.GetVersion(ctx, leaseProbeVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	return workflow.SignalExternalWorkflow(ctx, h.WorkflowID, h.RunID, lockLeaseCheckSignal, nil).Get(ctx, nil) == nil
}

// guardVersion marks workflows of the first shape (runV0) that take the
// definition's guard; runs started before it replay without
// (workflow.GetVersion). The lean shape always takes it.
const guardVersion = "definition-guard"

// takesGuard reports whether a definition's runs take its guard: its
// misfire_policy forbids overlap (event definitions have none) and it is
// not in shadow mode.
func takesGuard(def *definition.Definition) bool {
	if def.Shadow() {
		return false // a shadow run holds nothing (docs/cutover.md#shadow-runs)
	}
	switch def.Trigger.MisfirePolicy {
	case definition.MisfireSkip, definition.MisfireBufferOne, definition.MisfireBufferAll:
		return true
	}
	return false
}

// guardKey is the key a definition's guard grants.
func guardKey(definitionID string) string { return "definition " + definitionID }

// guardRequest is what a run of def asks of the definition's guard.
func guardRequest(def *definition.Definition, definitionID, runID, workflowID, workflowRunID string) lockRequest {
	return lockRequest{
		WorkflowID: workflowID, RunID: workflowRunID, Lease: lockLease(def), Run: runID,
		Try: def.Trigger.MisfirePolicy == definition.MisfireSkip, LockID: guardWorkflowID(definitionID),
	}
}

// guardRunV0 is guardRun as the first shape asks for it: behind
// guardVersion.
func guardRunV0(ctx workflow.Context, definitionID, runID string, def *definition.Definition) (release func(), skipped string, err error) {
	if !takesGuard(def) || workflow.GetVersion(ctx, guardVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil, "", nil
	}
	return guardRun(ctx, definitionID, runID, def, false)
}

// guardRun keeps runs of one definition from overlapping as its
// misfire_policy says, for every trigger (docs/definitions.md#misfire-policy):
// skip refuses a run while another holds the guard (skipped is the reason,
// release nil); buffer_one and buffer_all wait for it; the other policies
// and event definitions take no guard. The release runs when the run ends.
// asked says BeginRun already sent the request (guardRequest).
func guardRun(ctx workflow.Context, definitionID, runID string, def *definition.Definition, asked bool) (release func(), skipped string, err error) {
	if !takesGuard(def) {
		return nil, "", nil
	}
	try := def.Trigger.MisfirePolicy == definition.MisfireSkip
	release, holder, err := takeLock(ctx, lockAsk{key: guardKey(definitionID), id: guardWorkflowID(definitionID), lease: lockLease(def), run: runID, try: try, asked: asked})
	if err != nil || release != nil {
		return release, "", err
	}
	return nil, fmt.Sprintf("overlap: run %s of this definition is still running (misfire_policy: skip)", cmp.Or(holder, "(unknown)")), nil
}
