package detector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// Bounds of the store reads of a pass.
const (
	feedPageSize = 1000
	// feedPagesMax bounds the feed read in one pass; a longer backlog
	// (after the detector was down) is read over the next passes.
	feedPagesMax = 10
	// runningPagesMax bounds the running runs read for late and overlap.
	runningPagesMax = 10
	// healthBatch is how many health rows one PutHealth writes.
	healthBatch = 1000
	// feedLookbackMax bounds how far back a new leader rereads the feed.
	feedLookbackMax = 24 * time.Hour
)

// PassResult is what one pass found and did.
type PassResult struct {
	// Definitions is how many live definitions were evaluated.
	Definitions int `json:"definitions"`
	// MissedFires counts fires found missed in this pass; MissedRecords
	// the missed run records created or extended.
	MissedFires   int `json:"missed_fires"`
	MissedRecords int `json:"missed_records"`
	// Entered and Left count problems.
	Entered int `json:"entered"`
	Left    int `json:"left"`
	// Notifications is how many new notifications went to the outbox.
	Notifications int `json:"notifications"`
	// AutoPaused are the definitions paused after repeated failures.
	AutoPaused []string `json:"auto_paused,omitempty"`
	// TemporalError is set when Temporal's schedules could not be listed:
	// the pass went on from the store.
	TemporalError string `json:"temporal_error,omitempty"`
}

// feedCursor is where the run feed continues: after (since, afterID).
type feedCursor struct {
	since   time.Time
	afterID string
}

// Pass evaluates every live definition once (docs/alerting.md#detector).
// Run calls it while holding the lease; calling it without the lease is
// for tests. It reads everything first, decides (evaluate), then writes:
// missed records, auto-pauses, notifications, timeline entries, health.
// A pass that fails part-way is redone by the next: every write is keyed
// so that doing it twice changes nothing.
func (d *Detector) Pass(ctx context.Context) (PassResult, error) {
	d.passMu.Lock()
	defer d.passMu.Unlock()
	start := time.Now()
	in, err := d.gather(ctx)
	if err != nil {
		return PassResult{}, err
	}
	res := PassResult{Definitions: len(in.specs)}
	if in.w.statesErr != nil {
		res.TemporalError = in.w.statesErr.Error()
		d.log.Warn("detector: Temporal unreachable; evaluating from the store", "error", in.w.statesErr)
	}
	outs := make([]outcome, len(in.specs))
	for i, s := range in.specs {
		outs[i] = evaluate(s, in.health[s.id], in.w)
	}
	if err := d.apply(ctx, in, outs, &res); err != nil {
		return res, err
	}
	d.cursor = &in.cursor
	d.metrics.passDone(time.Since(start), d.cfg.Now(), liveHealth(outs))
	return res, nil
}

// passInput is what gather read.
type passInput struct {
	w      *world
	specs  []*defSpec
	health map[string]*store.DefinitionHealth
	// cursor is where the feed continues once the pass is applied.
	cursor feedCursor
	// retired is the health of definitions no longer live that still
	// shows problems, cleared (retire).
	retired []outcome
}

// gather makes the reads of a pass, side by side: Temporal's schedules,
// the definitions, their health, the pauses and the running runs; then,
// as they need the health, the run feed and the fires' runs.
func (d *Detector) gather(ctx context.Context) (*passInput, error) {
	now := d.cfg.Now().UTC()
	w := &world{now: now, taskQueue: d.cfg.TaskQueue, episodes: d.episodes, missedLookback: missedLookback}
	var (
		recs   []store.Definition
		health []store.DefinitionHealth
		pauses []store.OperatorPause
		errs   [4]error
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		tctx, cancel := context.WithTimeout(ctx, d.temporalTimeout())
		defer cancel()
		w.states, w.statesErr = d.cfg.Schedules.States(tctx)
	})
	wg.Go(func() { health, errs[0] = d.cfg.Store.ListHealth(ctx) })
	wg.Go(func() { pauses, errs[1] = d.cfg.Store.ListOperatorPauses(ctx) })
	wg.Go(func() { w.running, errs[2] = d.runningRuns(ctx) })
	recs, errs[3] = d.cfg.Store.ListDefinitions(ctx, store.DefinitionFilter{})
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("detector: reading the store: %w", err)
	}
	in := &passInput{w: w, health: make(map[string]*store.DefinitionHealth, len(health))}
	for i := range health {
		in.health[health[i].DefinitionID] = &health[i]
	}
	w.pauses = make(map[string]store.OperatorPause, len(pauses))
	for _, p := range pauses {
		w.pauses[p.DefinitionID] = p
	}
	live := make(map[string]bool, len(recs))
	for _, r := range recs {
		live[r.ID] = true
	}
	for _, h := range health {
		if !live[h.DefinitionID] && len(h.Problems) > 0 {
			in.retired = append(in.retired, retire(h, now))
		}
	}
	var decodeErrs []error
	in.specs, decodeErrs = d.specs.specs(recs)
	for _, err := range decodeErrs {
		d.log.Warn("detector: skipping a definition", "error", err)
	}
	w.pollers = &pollerAnswers{ask: d.askPollers(ctx)}
	if err := d.gatherRuns(ctx, in, health); err != nil {
		return nil, err
	}
	return in, nil
}

// gatherRuns reads the feed, the runs of the fires to check and, for
// definitions seen for the first time, their last success.
func (d *Detector) gatherRuns(ctx context.Context, in *passInput, health []store.DefinitionHealth) error {
	var (
		errs  [3]error
		wg    sync.WaitGroup
		first = slices.ContainsFunc(in.specs, func(s *defSpec) bool { return in.health[s.id] == nil })
	)
	wg.Go(func() { in.w.finished, in.cursor, errs[0] = d.readFeed(ctx, health) })
	wg.Go(func() { in.w.scheduled, errs[1] = d.scheduledRuns(ctx, in) })
	if first {
		in.w.lastSuccess, errs[2] = d.cfg.Store.LastSuccesses(ctx)
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("detector: reading runs: %w", err)
	}
	return nil
}

// temporalTimeout bounds ListSchedules and DescribeTaskQueue (the SDK
// retries an unreachable server until its context ends), so that a pass
// with Temporal down still ends well within the lease.
func (d *Detector) temporalTimeout() time.Duration { return d.cfg.LeaseTTL / 3 }

// askPollers makes the DescribeTaskQueue of one pool's task queue, at
// most once per pool in a pass and only when a missed fire needs it.
func (d *Detector) askPollers(ctx context.Context) func(taskQueue string) (bool, error) {
	if d.cfg.Pollers == nil {
		return nil
	}
	return func(taskQueue string) (bool, error) {
		tctx, cancel := context.WithTimeout(ctx, d.temporalTimeout())
		defer cancel()
		has, err := d.cfg.Pollers.HasPollers(tctx, taskQueue)
		if err != nil {
			d.log.Warn("detector: describing the task queue failed", "task_queue", taskQueue, "error", err)
		}
		return has, err
	}
}

// readFeed reads the runs updated since the cursor and returns the
// finished ones by definition, in FinishedAt order. A new leader starts
// from the last health change it finds, less a lease and an interval:
// rereading is harmless (evaluate counts a run once).
func (d *Detector) readFeed(ctx context.Context, health []store.DefinitionHealth) (map[string][]store.Run, feedCursor, error) {
	c := d.startCursor(health)
	out := map[string][]store.Run{}
	for range feedPagesMax {
		runs, err := d.cfg.Store.ListRunsUpdatedSince(ctx, c.since, c.afterID, feedPageSize)
		if err != nil {
			return nil, c, err
		}
		for _, r := range runs {
			c = feedCursor{since: r.UpdatedAt, afterID: r.ID}
			if r.Status.Terminal() {
				out[r.DefinitionID] = append(out[r.DefinitionID], r)
			}
		}
		if len(runs) < feedPageSize {
			break
		}
	}
	for _, rs := range out {
		slices.SortStableFunc(rs, func(a, b store.Run) int { return finishedAt(a).Compare(finishedAt(b)) })
	}
	return out, c, nil
}

func (d *Detector) startCursor(health []store.DefinitionHealth) feedCursor {
	if d.cursor != nil {
		return *d.cursor
	}
	now := d.cfg.Now().UTC()
	last := now
	if len(health) > 0 {
		last = time.Time{}
		for _, h := range health {
			last = latest(last, h.UpdatedAt)
		}
	}
	last = latest(last, now.Add(-feedLookbackMax))
	return feedCursor{since: last.Add(-d.cfg.LeaseTTL - d.cfg.Interval)}
}

// scheduledRuns reads, in one query, the ScheduledAt of every run in the
// window the missed check looks at: from the earliest fire not checked
// yet.
func (d *Detector) scheduledRuns(ctx context.Context, in *passInput) (map[string]map[int64]bool, error) {
	var from time.Time
	for _, s := range in.specs {
		if !s.missedChecked() {
			continue
		}
		var ct *time.Time
		if h := in.health[s.id]; h != nil {
			ct = h.CheckedThrough
		}
		// The window starts at the first fire left to check: a definition
		// that fires daily must not make every pass read a day of every
		// definition's runs.
		f := s.cron.Next(missedFrom(s, ct, in.w.now, in.w.missedLookback), s.loc)
		if f.IsZero() || f.After(in.w.now.Add(-waitOf(s))) {
			continue
		}
		if from.IsZero() || f.Before(from) {
			from = f
		}
	}
	if from.IsZero() {
		return nil, nil
	}
	times, err := d.cfg.Store.ScheduledRunTimes(ctx, from, in.w.now)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[int64]bool, len(times))
	for id, ts := range times {
		set := make(map[int64]bool, len(ts))
		for _, t := range ts {
			set[t.Unix()] = true
		}
		out[id] = set
	}
	return out, nil
}

// runningRuns reads the runs still going, by definition, oldest first.
func (d *Detector) runningRuns(ctx context.Context) (map[string][]store.Run, error) {
	out := map[string][]store.Run{}
	f := store.RunFilter{Status: store.RunRunning, Limit: store.RunListLimitMax}
	for range runningPagesMax {
		page, err := d.cfg.Store.ListRuns(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Runs {
			out[r.DefinitionID] = append(out[r.DefinitionID], r)
		}
		if f.Before = page.Next; f.Before == "" {
			break
		}
	}
	for _, rs := range out {
		slices.Reverse(rs) // ListRuns is newest first
	}
	return out, nil
}

func liveHealth(outs []outcome) []store.DefinitionHealth {
	hs := make([]store.DefinitionHealth, len(outs))
	for i, o := range outs {
		hs[i] = o.health
	}
	return hs
}
