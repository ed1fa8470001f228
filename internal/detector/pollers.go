package detector

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// pollerFresh is how recently a poller must have polled to count: Temporal
// lists a worker for minutes after it stopped, and a live worker polls
// again at least every long-poll timeout (about a minute).
const pollerFresh = 2 * time.Minute

// TemporalPollers answers Pollers with one DescribeTaskQueue.
type TemporalPollers struct {
	Client client.Client
}

// HasPollers reports whether a worker polled the task queue's workflow
// tasks within the last two minutes.
func (p TemporalPollers) HasPollers(ctx context.Context, taskQueue string) (bool, error) {
	resp, err := p.Client.DescribeTaskQueue(ctx, taskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return false, err
	}
	for _, pi := range resp.GetPollers() {
		if t := pi.GetLastAccessTime(); t == nil || time.Since(t.AsTime()) < pollerFresh {
			return true, nil
		}
	}
	return false, nil
}
