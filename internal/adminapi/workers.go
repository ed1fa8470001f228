package adminapi

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// waitingFor is how long a pool's poller count is trusted: a page of runs
// asks Temporal at most once per pool in this time.
const waitingFor = 5 * time.Second

// Workers describes every pool in use (the default pool, the pools of live
// definitions) with the workers polling it, as GET /api/v1/workers does.
func (s *Server) Workers(ctx context.Context) ([]PoolStatus, error) {
	if _, err := s.require(ctx, RoleRead, auditEntry{}); err != nil {
		return nil, err
	}
	if s.cfg.Pools == nil {
		return nil, unavailable("workers")
	}
	defs, err := s.cfg.Store.ListDefinitions(ctx, store.DefinitionFilter{})
	if err != nil {
		return nil, err
	}
	count := map[string]int{definition.PoolDefault: 0}
	for _, d := range defs {
		count[poolOf(d)]++
	}
	pools := make([]string, 0, len(count))
	for p := range count {
		pools = append(pools, p)
	}
	slices.Sort(pools)
	out, err := s.cfg.Pools.Describe(ctx, pools)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Definitions = count[out[i].Pool]
		if out[i].Workers == nil {
			out[i].Workers = []Poller{}
		}
	}
	return out, nil
}

// poolOf reads a stored definition's pool from its spec without decoding
// the rest.
func poolOf(d store.Definition) string {
	var spec struct {
		RunOn string `json:"run_on"`
	}
	if json.Unmarshal(d.Spec, &spec) != nil || spec.RunOn == "" {
		return definition.PoolDefault
	}
	return spec.RunOn
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) error {
	pools, err := s.Workers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pools": pools})
	return nil
}

// RunsWaiting says, for each pending run whose pool has no worker polling,
// "waiting for a worker in pool P", keyed by run id. Temporal is asked
// once per distinct pool, and not again within waitingFor.
func (s *Server) RunsWaiting(ctx context.Context, runs []store.Run) map[string]string {
	out := map[string]string{}
	for _, r := range runs {
		if r.Status != store.RunPending {
			continue
		}
		if msg := s.waiting.poolWaiting(ctx, cmp.Or(r.Pool, definition.PoolDefault)); msg != "" {
			out[r.ID] = msg
		}
	}
	return out
}

// waitingCache remembers, per pool, whether a worker polls it.
type waitingCache struct {
	pools Pools
	now   func() time.Time
	mu    sync.Mutex
	seen  map[string]poolSeen
}

type poolSeen struct {
	at   time.Time
	idle bool
}

func newWaitingCache(p Pools, now func() time.Time) *waitingCache {
	return &waitingCache{pools: p, now: now, seen: map[string]poolSeen{}}
}

// poolWaiting is "waiting for a worker in pool P" when no worker polls
// the pool, else empty (also when Temporal cannot say: unknown is not
// shown as waiting).
func (c *waitingCache) poolWaiting(ctx context.Context, pool string) string {
	if c.pools == nil {
		return ""
	}
	c.mu.Lock()
	seen, ok := c.seen[pool]
	c.mu.Unlock()
	if !ok || c.now().Sub(seen.at) >= waitingFor {
		seen = poolSeen{at: c.now()}
		st, err := c.pools.Describe(ctx, []string{pool})
		seen.idle = err == nil && len(st) == 1 && len(st[0].Workers) == 0
		c.mu.Lock()
		if len(c.seen) > 1024 {
			clear(c.seen) // pools are few; this only bounds a misuse
		}
		c.seen[pool] = seen
		c.mu.Unlock()
	}
	if seen.idle {
		return "waiting for a worker in pool " + pool
	}
	return ""
}
