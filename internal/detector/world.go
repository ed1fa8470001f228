package detector

import (
	"time"

	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
)

// world is everything one pass reads, gathered before any decision: the
// decisions (evaluate) are a function of it, testable without engines.
type world struct {
	now       time.Time
	taskQueue string
	// states are Temporal's schedules by definition ID; statesErr is set
	// when they could not be listed (and states is then empty).
	states    map[string]*schedule.State
	statesErr error
	// pauses are the operator (and auto-) pauses, by definition ID.
	pauses map[string]store.OperatorPause
	// scheduled are the ScheduledAt of runs in the missed window, by
	// definition, as Unix seconds.
	scheduled map[string]map[int64]bool
	// finished are the terminal runs of the feed, by definition, in
	// FinishedAt order.
	finished map[string][]store.Run
	// running are the runs still going, by definition, oldest first.
	running map[string][]store.Run
	// lastSuccess seeds LastSuccessAt of definitions seen for the first
	// time.
	lastSuccess map[string]time.Time
	// pollers answers whether a worker polls a pool's task queue; asked at
	// most once per pool, only when a missed fire needs it.
	pollers *pollerAnswers
	// episodes are the open missed records the detector remembers, by
	// definition ID.
	episodes map[string]episode
	// missedLookback bounds how far back a definition seen for the first
	// time is checked for missed fires.
	missedLookback time.Duration
}

// pollerAnswers asks once per task queue, on first use, so a pass makes
// at most one DescribeTaskQueue per pool in use.
type pollerAnswers struct {
	ask func(taskQueue string) (bool, error)
	got map[string]pollerAnswer
}

type pollerAnswer struct {
	has bool
	err error
}

func (p *pollerAnswers) get(taskQueue string) (bool, error) {
	if p == nil || p.ask == nil {
		return true, nil
	}
	a, ok := p.got[taskQueue]
	if !ok {
		a.has, a.err = p.ask(taskQueue)
		if p.got == nil {
			p.got = map[string]pollerAnswer{}
		}
		p.got[taskQueue] = a
	}
	return a.has, a.err
}

// episode is an open missed record: consecutive missed fires with one
// reason share it (docs/alerting.md#missed-fires).
type episode struct {
	recordID    string
	first, last time.Time
	count       int
}
