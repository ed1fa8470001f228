package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/detector"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
)

// pollerFresh is how recently a worker must have polled to be listed:
// Temporal keeps a stopped worker in the list for minutes, and a live one
// polls again at least every long-poll timeout (about a minute).
const pollerFresh = 2 * time.Minute

// temporalPools describes worker pools with one DescribeTaskQueue each
// (adminapi.Pools, docs/run-control.md#placement).
type temporalPools struct {
	c         client.Client
	namespace string
	base      string
	now       func() time.Time
}

// newPools is the API's view of the worker pools.
func newPools(c client.Client, e config.Engines) adminapi.Pools {
	return temporalPools{c: c, namespace: e.TemporalNamespace, base: e.TaskQueue, now: time.Now}
}

// Describe answers each pool in order from its workflow task queue: the
// workers that polled it lately and the backlog Temporal reports (-1 when
// it reports none).
func (p temporalPools) Describe(ctx context.Context, pools []string) ([]adminapi.PoolStatus, error) {
	out := make([]adminapi.PoolStatus, 0, len(pools))
	for _, pool := range pools {
		st, err := p.describe(ctx, pool)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (p temporalPools) describe(ctx context.Context, pool string) (adminapi.PoolStatus, error) {
	q := engine.TaskQueueFor(p.base, pool)
	resp, err := p.c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace:     p.namespace,
		TaskQueue:     &taskqueuepb.TaskQueue{Name: q, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
		ReportStats:   true,
	})
	if err != nil {
		return adminapi.PoolStatus{}, fmt.Errorf("describing task queue %s of pool %s: %w: %v", q, pool, store.ErrUnavailable, err)
	}
	st := adminapi.PoolStatus{Pool: pool, TaskQueue: q, Workers: []adminapi.Poller{}, Backlog: -1}
	if s := resp.GetStats(); s != nil {
		st.Backlog = s.GetApproximateBacklogCount()
	}
	now := p.now()
	for _, pi := range resp.GetPollers() {
		seen := pi.GetLastAccessTime().AsTime()
		if now.Sub(seen) >= pollerFresh {
			continue
		}
		st.Workers = append(st.Workers, adminapi.Poller{Identity: pi.GetIdentity(), Host: pollerHost(pi.GetIdentity()), LastSeen: seen.UTC()})
	}
	slices.SortFunc(st.Workers, func(a, b adminapi.Poller) int { return strings.Compare(a.Identity, b.Identity) })
	return st, nil
}

// pollerHost is the host in a worker identity: the SDK's default is
// pid@host@queue; anything else has no host we can tell.
func pollerHost(identity string) string {
	parts := strings.Split(identity, "@")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// poolWorkers answers the syncer's pool check: the pools this process's
// worker serves are polled (it may not have polled yet at its startup
// sync); for the others, Temporal's pollers say.
func poolWorkers(c client.Client, base string, own []string) syncer.PoolWorkers {
	pollers := detector.TemporalPollers{Client: c}
	return func(ctx context.Context, pool string) (string, bool, error) {
		q := engine.TaskQueueFor(base, pool)
		if slices.Contains(own, pool) {
			return q, true, nil
		}
		has, err := pollers.HasPollers(ctx, q)
		return q, has, err
	}
}

// definitionPool reads the pool of a stored definition, for a caller that
// did not say it (docs/run-control.md#placement).
func definitionPool(ctx context.Context, st store.Store, id string) (string, error) {
	rec, err := st.GetDefinition(ctx, id)
	if err != nil {
		return "", fmt.Errorf("reading definition %q: %w", id, err)
	}
	def, err := definition.FromCanonicalJSON(rec.Spec)
	if err != nil {
		return "", fmt.Errorf("reading definition %q: %w", id, err)
	}
	return def.Pool(), nil
}
