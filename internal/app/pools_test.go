package app

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// The Workers page's view of two pools from the real DescribeTaskQueue:
// pool a has this process's worker (identity, host, last seen); pool b has
// none and a workflow waiting in its backlog (docs/run-control.md#placement).
func TestPoolsDescribe(t *testing.T) {
	e := engines(t, mtlsServer(t))
	var logs logSink
	tc, err := dial(t, e, &logs)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tc, e.TaskQueue+".a", worker.Options{})
	w.RegisterWorkflow(echo)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.TaskQueue + ".b"}, echo, "waits"); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	p := newPools(tc, e)
	testsupport.Eventually(t, 30*time.Second, "pool a polled, pool b waiting", func() error {
		got, err := p.Describe(ctx, []string{"a", "b"})
		if err != nil {
			return err
		}
		a, b := got[0], got[1]
		if a.Pool != "a" || a.TaskQueue != e.TaskQueue+".a" || b.Pool != "b" || b.TaskQueue != e.TaskQueue+".b" {
			t.Fatalf("pools = %+v, want a then b on their queues", got)
		}
		if len(a.Workers) != 1 || a.Workers[0].Host != host || a.Workers[0].Identity == "" || time.Since(a.Workers[0].LastSeen) > time.Minute {
			return fmt.Errorf("pool a workers = %+v, want this process on %s", a.Workers, host)
		}
		if len(b.Workers) != 0 || b.Backlog != 1 {
			return fmt.Errorf("pool b = %d workers, backlog %d; want none and 1", len(b.Workers), b.Backlog)
		}
		return nil
	})
}

func TestPollerHost(t *testing.T) {
	for id, want := range map[string]string{"4711@box-1@activity-core.a": "box-1", "4711@box-1": "box-1", "custom": ""} {
		if got := pollerHost(id); got != want {
			t.Errorf("pollerHost(%q) = %q, want %q", id, got, want)
		}
	}
}
