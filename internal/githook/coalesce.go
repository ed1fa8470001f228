package githook

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Triggers of a sync: the trigger label of activity_git_syncs_total and
// the prefix of the actor the sync is audited as.
const (
	triggerWebhook = "webhook"
	triggerPoll    = "poll"
)

// trigger asks for a sync of the source as actor. When none runs, one
// starts; when one runs, one more is queued to start after it (asked for
// by the first actor that queued it) and further calls change nothing, so
// a burst of pushes costs at most two syncs and one goroutine per source.
// A sync a webhook asks for also waits until SyncSpacing has passed since
// the last one a webhook started, and the pushes meanwhile join it: a
// holder of the secret (or of one signed delivery) cannot make webhooks
// sync a source more often than that. Polls are not spaced. It reports
// whether the call was coalesced into a running or queued sync.
func (r *Receiver) trigger(s *source, actor string) (coalesced bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return true
	}
	if !s.queued {
		s.queued, s.queuedBy = true, actor
	}
	if s.running {
		return true
	}
	s.running = true
	actor, wait := r.take(s, false)
	r.wg.Add(1)
	go r.syncLoop(s, actor, wait)
	return false
}

// syncLoop runs the source's syncs until none is queued: first actor's,
// or, when wait is set, the queued one once wait has passed.
func (r *Receiver) syncLoop(s *source, actor string, wait time.Duration) {
	defer r.wg.Done()
	for {
		waited := false
		if wait > 0 {
			waited = r.sleep(r.base, wait)
		} else {
			r.runSync(s, actor)
		}
		var ok bool
		if actor, wait, ok = r.next(s, waited); !ok {
			return
		}
	}
}

// next takes the sync queued for s, as take does; ok is false when none
// is queued or the receiver is closed, and s is then idle.
func (r *Receiver) next(s *source, waited bool) (actor string, wait time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !s.queued || r.closed {
		s.running, s.queued = false, false
		return "", 0, false
	}
	actor, wait = r.take(s, waited)
	return actor, wait, true
}

// take takes the sync queued for s, unless a webhook asked for it and
// SyncSpacing has not passed since the last webhook sync started: then
// it stays queued (later pushes join it) and wait says how long is left,
// unless it has waited once already. Callers hold r.mu.
func (r *Receiver) take(s *source, waited bool) (actor string, wait time.Duration) {
	actor, hook := s.queuedBy, isWebhook(s.queuedBy)
	now := r.cfg.Now()
	if wait = min(s.lastHook.Add(r.cfg.SyncSpacing).Sub(now), r.cfg.SyncSpacing); hook && !waited && wait > 0 {
		return actor, wait
	}
	s.queued = false
	if hook {
		s.lastHook = now
	}
	return actor, 0
}

func isWebhook(actor string) bool { return strings.HasPrefix(actor, triggerWebhook+":") }

// sleep waits d, or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// runSync runs one sync, bounded by SyncTimeout, and logs and counts it.
func (r *Receiver) runSync(s *source, actor string) {
	ctx, cancel := context.WithTimeout(r.base, r.cfg.SyncTimeout)
	defer cancel()
	trig := triggerPoll
	if isWebhook(actor) {
		trig = triggerWebhook
	}
	start := r.cfg.Now()
	err := r.cfg.Sync(ctx, s.spec.Name, actor)
	took := r.cfg.Now().Sub(start)
	if err != nil {
		r.metrics.syncs.WithLabelValues(s.spec.Name, trig, "failed").Inc()
		r.log.Error("githook: sync failed", "source", s.spec.Name, "actor", actor, "took", took, "error", err)
		return
	}
	r.metrics.syncs.WithLabelValues(s.spec.Name, trig, "ok").Inc()
	r.log.Info("githook: source synced", "source", s.spec.Name, "actor", actor, "took", took)
}

// Run polls every git source with an interval (docs/git-sources.md#polling)
// until ctx ends, then cancels the syncs the receiver started and waits
// for them, as Close does.
func (r *Receiver) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range r.sources {
		if s.spec.Git == nil || s.spec.Git.Interval <= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.poll(ctx, s)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	r.Close()
}

// poll triggers a sync of s every interval, plus a jitter of up to 10% so
// that sources (and replicas) polling one forge spread out.
func (r *Receiver) poll(ctx context.Context, s *source) {
	every := s.spec.Git.Interval
	for {
		t := time.NewTimer(every + rand.N(every/10+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			r.trigger(s, triggerPoll+":"+s.spec.Name)
		}
	}
}

// catchUpSpacing is the least time between two syncs of a source asked for
// by webhooks refused as busy: such a webhook may be a push nobody
// redelivers, or an outsider holding every body slot, so its source is
// synced anyway, no more often than a one-minute poll would.
const catchUpSpacing = time.Minute

// catchUpLater syncs s, once catchUpSpacing has passed since the last
// catch-up, for a webhook that was refused unread because every body slot
// was taken: a push is never lost to a flood, and the flood costs at most
// one sync a minute a source.
func (r *Receiver) catchUpLater(s *source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || s.catchUp {
		return
	}
	s.catchUp = true
	wait := max(0, s.lastCatchUp.Add(catchUpSpacing).Sub(r.cfg.Now()))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if wait > 0 && !r.sleep(r.base, wait) {
			return
		}
		r.mu.Lock()
		s.catchUp, s.lastCatchUp = false, r.cfg.Now()
		r.mu.Unlock()
		r.trigger(s, triggerWebhook+":"+s.spec.Name)
	}()
}
