package app

import (
	"context"
	"log/slog"
	"sync"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/eventbus"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
)

// workerParts is what the worker role is built from.
type workerParts struct {
	store    store.Store
	temporal client.Client
	sync     *syncer.Syncer
	pub      *eventbus.Publisher // nil without NATS
	sink     engine.OutputSink   // nil without NATS
	secrets  *secret.AllowList
	metrics  *adminapi.Metrics
	pools    []string
	log      *slog.Logger
}

// startWorkers starts the worker role on wg: one Temporal worker per pool,
// each on its pool's task queue, all with the same workflows and
// activities (docs/run-control.md#placement), and the worker's startup
// sync. The returned func ends the command container when the process
// ends.
func startWorkers(ctx, runCtx context.Context, wg *sync.WaitGroup, o Options, p workerParts) (func(), error) {
	sh, err := startContainer(ctx, o.Containment, p.log)
	if err != nil {
		return nil, err
	}
	ecfg := engine.Config{
		Store: p.store, Temporal: p.temporal, TaskQueue: o.Engines.TaskQueue, StateHubURL: o.Engines.StateHubURL,
		LifecyclePrefix: o.Engines.LifecyclePrefix, Logger: p.log, OnRunFinished: p.metrics.RunFinished,
		ShellGrace: o.ShellGrace, Shell: sh, Secrets: p.secrets, Output: p.sink,
	}
	if p.pub != nil { // a nil *Publisher in the interface would not be nil
		ecfg.Publisher = p.pub
	}
	acts, err := engine.NewActivities(ecfg)
	if err != nil {
		sh.Close()
		return nil, err
	}
	for _, pool := range p.pools {
		q := engine.TaskQueueFor(o.Engines.TaskQueue, pool)
		w := worker.New(p.temporal, q, engine.WorkerOptions(worker.Options{}))
		engine.Register(w, acts)
		wg.Go(func() { runWorker(runCtx, w, p.log.With("pool", pool, "task_queue", q)) })
	}
	// Worker startup sync: best-effort, never blocks task processing.
	wg.Go(func() {
		opts := syncer.DefaultOptions()
		opts.EventTypes = o.StartupSyncEventTypes
		res, err := backgroundSync(runCtx, p.sync, opts, p.metrics, p.log, "worker startup")
		if o.OnStartupSync != nil && runCtx.Err() == nil {
			o.OnStartupSync(res, err)
		}
	})
	return func() { sh.Close() }, nil
}
