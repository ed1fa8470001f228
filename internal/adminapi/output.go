package adminapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coulomb/activity-core/internal/liveout"
	"github.com/coulomb/activity-core/internal/store"
)

// Live output timing (docs/run-control.md#live-output).
const (
	// outputWaitMax bounds how long a stream waits for a worker to start
	// streaming a pending or running run (and, between attempts, for the
	// next one) before it ends with the run's status as it stands.
	outputWaitMax = 10 * time.Minute
	// outputPoll is how often a waiting stream asks again.
	outputPoll = 500 * time.Millisecond
	// sseKeepalive is how long a stream stays silent before a comment
	// line keeps proxies from closing it.
	sseKeepalive = 15 * time.Second
)

// OutputViewer is the api side of live output (liveout.Viewer): a slot
// per stream, and watches of a run's worker.
type OutputViewer interface {
	Max() int
	Acquire() (release func(), ok bool)
	Watch(ctx context.Context, runID string, prev *liveout.Watch) (*liveout.Watch, error)
}

// getRunOutput streams a run's live output as server-sent events
// (docs/run-control.md#live-output).
func (s *Server) getRunOutput(w http.ResponseWriter, r *http.Request) error {
	return s.ServeRunOutput(w, r, r.PathValue("id"))
}

// ServeRunOutput writes the run's output as server-sent events: the last
// 64 KiB, then the live tail until the run ends. The API and the
// dashboard call it after their own authorization. A finished run
// answers its stored tails and the end at once; a pending or running one
// waits for its worker at most outputWaitMax. Each stream holds one of
// the process's Config.Output slots (ACTIVITY_OUTPUT_VIEWERS_MAX): the
// next one is refused with 503.
func (s *Server) ServeRunOutput(w http.ResponseWriter, r *http.Request, runID string) error {
	ctx := r.Context()
	run, err := s.cfg.Store.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	live := s.cfg.Output
	if live == nil && !run.Status.Terminal() {
		return &apiError{http.StatusServiceUnavailable, "unavailable", fmt.Sprintf("live output needs NATS and this api process has none (set ACTIVITY_NATS_URL); run %s's kept output is in GET /api/v1/runs/%s", run.ID, run.ID), ""}
	}
	if live != nil {
		p, _ := principalFrom(ctx)
		mine, ok := s.viewers.take(p.Name, viewerShare(live.Max()))
		if !ok {
			return &apiError{http.StatusServiceUnavailable, "unavailable", fmt.Sprintf("token %s already holds %d of this api process's live-output streams, its share of %d (ACTIVITY_OUTPUT_VIEWERS_MAX); close one", p.Name, viewerShare(live.Max()), live.Max()), ""}
		}
		defer mine()
		release, ok := live.Acquire()
		if !ok {
			return &apiError{http.StatusServiceUnavailable, "unavailable", fmt.Sprintf("this api process already serves %d live-output streams (ACTIVITY_OUTPUT_VIEWERS_MAX); try again later", live.Max()), ""}
		}
		defer release()
	}
	sse, err := startSSE(w)
	if err != nil {
		return err
	}
	if run.Status.Terminal() {
		_ = sse.finished(run)
		return nil
	}
	s.followOutput(ctx, sse, run)
	return nil
}

// followOutput streams the attempts of a run until it ends, the client
// goes or no worker has streamed it for outputWaitMax.
func (s *Server) followOutput(ctx context.Context, sse *sseWriter, run store.Run) {
	contact := time.Now()
	var prev *liveout.Watch
	for {
		wt, err := s.cfg.Output.Watch(ctx, run.ID, prev)
		switch {
		case err == nil:
			lost, ok := s.streamAttempt(ctx, sse, wt)
			if !ok {
				return
			}
			contact, prev = time.Now(), nil
			if lost {
				prev = wt
			}
		case errors.Is(err, liveout.ErrNoWorker), ctx.Err() != nil:
		case errors.Is(err, liveout.ErrBadRunID):
			_ = sse.event("end", map[string]string{"status": string(run.Status), "note": "this run's id cannot name a NATS subject, so its output cannot be streamed; see its kept output in GET /api/v1/runs/{id}"})
			return
		default:
			s.log.Warn("adminapi: watching a run's live output failed; asking again", "run_id", run.ID, "error", err)
		}
		if ctx.Err() != nil {
			return
		}
		if cur, err := s.cfg.Store.GetRun(ctx, run.ID); err == nil {
			run = cur
		}
		if run.Status.Terminal() {
			_ = sse.finished(run)
			return
		}
		if time.Since(contact) > outputWaitMax {
			_ = sse.event("end", map[string]string{"status": string(run.Status),
				"note": fmt.Sprintf("no worker streamed this run's output for %s; ask again to keep watching", outputWaitMax)})
			return
		}
		if !sse.pause(ctx, outputPoll) {
			return
		}
	}
}

// streamAttempt writes one attempt's events until its end (lost false)
// or until its worker stopped answering (lost true); ok is false when
// the client went away.
func (s *Server) streamAttempt(ctx context.Context, sse *sseWriter, wt *liveout.Watch) (lost, ok bool) {
	defer wt.Close()
	for {
		nctx, cancel := context.WithTimeout(ctx, sseKeepalive)
		ev, err := wt.Next(nctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return false, false
		case errors.Is(err, context.DeadlineExceeded):
			if sse.comment() != nil {
				return false, false
			}
			continue
		case err != nil:
			return true, true
		}
		switch ev.Kind {
		case liveout.EventOutput:
			err = sse.output(ev.Stream, ev.Data)
		case liveout.EventSkipped:
			err = sse.skipped(ev.Stream, ev.Bytes)
		case liveout.EventEnd:
			return false, sse.endAttempt() == nil
		}
		if err != nil {
			return false, false
		}
	}
}

// viewerShare is how many of limit live-output streams one principal may
// hold, so that one token cannot take them all from the others.
func viewerShare(limit int) int { return cmp.Or(limit/4, 1) }

// viewerCounts counts the live-output streams each principal holds.
type viewerCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more stream for name unless it holds share already;
// release uncounts it.
func (v *viewerCounts) take(name string, share int) (release func(), ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.n == nil {
		v.n = map[string]int{}
	}
	if v.n[name] >= share {
		return nil, false
	}
	v.n[name]++
	return func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.n[name]--; v.n[name] <= 0 {
			delete(v.n, name)
		}
	}, true
}
