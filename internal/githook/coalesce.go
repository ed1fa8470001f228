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
// It reports whether the call was coalesced into a running or queued
// sync.
func (r *Receiver) trigger(s *source, actor string) (coalesced bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return true
	}
	if s.running {
		if !s.queued {
			s.queued, s.queuedBy = true, actor
		}
		return true
	}
	s.running = true
	r.wg.Add(1)
	go r.syncLoop(s, actor)
	return false
}

// syncLoop runs the source's syncs until none is queued.
func (r *Receiver) syncLoop(s *source, actor string) {
	defer r.wg.Done()
	for {
		r.runSync(s, actor)
		r.mu.Lock()
		if !s.queued || r.closed {
			s.running, s.queued = false, false
			r.mu.Unlock()
			return
		}
		actor, s.queued = s.queuedBy, false
		r.mu.Unlock()
	}
}

// runSync runs one sync, bounded by SyncTimeout, and logs and counts it.
func (r *Receiver) runSync(s *source, actor string) {
	ctx, cancel := context.WithTimeout(r.base, r.cfg.SyncTimeout)
	defer cancel()
	trig := triggerPoll
	if strings.HasPrefix(actor, triggerWebhook+":") {
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
