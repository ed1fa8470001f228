package router

import (
	"context"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// An event starts each matched definition's run on that definition's
// pool's task queue (docs/run-control.md#placement): the default pool on
// the base queue, pool b on <base>.b, where no worker polls here.
func TestRoutePool(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testNATS.ClientURL())
	w.setDefs(
		eventDef(t, w.id("here"), w.subj("org.pool.ping"), nil, ""),
		onPool(eventDef(t, w.id("there"), w.subj("org.pool.ping"), nil, ""), "b"),
	)
	w.start(w.newRouter())
	w.publish(w.subj("org.pool.ping"), map[string]any{}, "ping-1")

	queues := map[string]string{w.id("here"): testTaskQueue, w.id("there"): testTaskQueue + ".b"}
	for id, want := range queues {
		wid := workflowID(id, "ping-1")
		testsupport.Eventually(t, 30*time.Second, "run of "+id+" started", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			d, err := testClient.DescribeWorkflowExecution(ctx, wid, "")
			if err != nil {
				return err
			}
			if got := d.GetExecutionConfig().GetTaskQueue().GetName(); got != want {
				t.Fatalf("%s started on task queue %q, want %q", id, got, want)
			}
			return nil
		})
	}
}

// onPool places a stored definition on a pool, as run_on would.
func onPool(d store.Definition, pool string) store.Definition {
	def, err := definition.FromCanonicalJSON(d.Spec)
	if err != nil {
		panic(err)
	}
	def.RunOn = pool
	return storeDef(def)
}
