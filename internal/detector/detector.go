package detector

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
)

// Defaults of Config (docs/alerting.md#detector).
const (
	// IntervalDefault is the time between passes
	// (ACTIVITY_DETECTOR_INTERVAL).
	intervalDefault = 15 * time.Second
	// LeaseTTLDefault is how long the lease outlives its holder: the
	// longest a crashed holder's replica waits before taking over.
	leaseTTLDefault = 30 * time.Second
	// LeaseName is the store lease that elects the one evaluating replica.
	leaseName = "detector"
	// missedLookback is how far back a definition seen for the first time
	// is checked for missed fires.
	missedLookback = 15 * time.Minute
	// releaseTimeout bounds giving the lease up at exit.
	releaseTimeout = 5 * time.Second
)

// Store is what the detector reads and writes; every store.Store is one.
type Store interface {
	store.AlertStore
	ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]store.Definition, error)
	ListOperatorPauses(ctx context.Context) ([]store.OperatorPause, error)
	CreateRun(ctx context.Context, r store.Run) (store.Run, error)
	UpdateRun(ctx context.Context, r store.Run) (store.Run, error)
	GetRun(ctx context.Context, id string) (store.Run, error)
	ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error)
}

// Schedules lists Temporal's schedules in one pass: *schedule.Projector.
type schedules interface {
	States(ctx context.Context) (map[string]*schedule.State, error)
}

// Pollers says whether any worker polls a task queue: TemporalPollers.
type pollers interface {
	HasPollers(ctx context.Context, taskQueue string) (bool, error)
}

// Pauser makes the auto-pause of pause_after_failures, recorded as an
// operator pause with By schedule.ByAutoPause: *schedule.Projector.
type pauser interface {
	PauseBy(ctx context.Context, definitionID, note, by string, until *time.Time) error
}

// Config configures a Detector. Store and Schedules are required.
type Config struct {
	Store     Store
	Schedules schedules
	// Pollers answers "no worker polling"; nil never gives that reason.
	Pollers pollers
	// Pauser makes auto-pauses; nil logs them instead.
	Pauser pauser
	// TaskQueue is the workers' base task queue; a definition's fires
	// are judged by the pollers of its pool's queue,
	// engine.TaskQueueFor(TaskQueue, pool) (docs/run-control.md#placement).
	// Default engine.TaskQueueDefault.
	TaskQueue string
	// Holder names this replica in the lease. Default host:pid-random.
	Holder string
	// Interval is the time between passes. Default IntervalDefault.
	Interval time.Duration
	// LeaseTTL must be longer than Interval. Default LeaseTTLDefault.
	LeaseTTL time.Duration
	// Now is the clock problems are judged by. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer receives the detector's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Deliver is called after each pass while this replica holds the
	// lease: the notifier's delivery of the outbox. May be nil.
	Deliver func(ctx context.Context) error
	// Redact, when set, is applied to stderr tails put in messages (the
	// engine stores output redacted already).
	Redact func(string) string
}

// Detector evaluates every definition's health, one pass per Interval,
// while it holds the lease.
type Detector struct {
	cfg     Config
	log     *slog.Logger
	specs   specCache
	metrics *metrics
	leader  atomic.Bool

	// passMu serializes passes; the fields below are the leader's memory,
	// dropped when the lease is lost.
	passMu   sync.Mutex
	cursor   *feedCursor
	episodes map[string]episode
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Detector, error) {
	if cfg.Store == nil {
		return nil, errors.New("detector: Config.Store is required")
	}
	if cfg.Schedules == nil {
		return nil, errors.New("detector: Config.Schedules is required")
	}
	cfg.TaskQueue = cmp.Or(cfg.TaskQueue, engine.TaskQueueDefault)
	cfg.Holder = cmp.Or(cfg.Holder, defaultHolder())
	cfg.Interval = cmp.Or(cfg.Interval, intervalDefault)
	cfg.LeaseTTL = cmp.Or(cfg.LeaseTTL, leaseTTLDefault)
	if cfg.Interval < 0 || cfg.LeaseTTL <= cfg.Interval {
		return nil, fmt.Errorf("detector: the lease TTL (%s) must be longer than the interval (%s), or the lease lapses between passes", cfg.LeaseTTL, cfg.Interval)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, log: cfg.Logger, metrics: m, episodes: map[string]episode{}}, nil
}

func defaultHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d-%s", cmp.Or(host, "unknown"), os.Getpid(), hex.EncodeToString(b))
}

// Holder is the name this replica holds the lease under.
func (d *Detector) Holder() string { return d.cfg.Holder }

// Run takes or renews the lease every Interval and, while it holds it,
// makes a pass and delivers the outbox. It gives the lease up when ctx
// ends, and returns nil then.
func (d *Detector) Run(ctx context.Context) error {
	defer d.release(ctx)
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	for {
		d.tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// tick is one round of Run. The pass must end while the lease holds, so
// its context ends when the lease would expire.
func (d *Detector) tick(ctx context.Context) {
	start := time.Now()
	held, err := d.cfg.Store.AcquireLease(ctx, leaseName, d.cfg.Holder, d.cfg.LeaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("detector: taking the lease failed; not evaluating", "error", err)
		}
		d.setLeader(false)
		return
	}
	d.setLeader(held)
	if !held {
		return
	}
	pctx, cancel := context.WithDeadline(ctx, start.Add(d.cfg.LeaseTTL))
	defer cancel()
	if _, err := d.Pass(pctx); err != nil && ctx.Err() == nil {
		d.log.Warn("detector: pass failed; the next one retries", "error", err)
	}
	if d.cfg.Deliver != nil {
		if err := d.cfg.Deliver(pctx); err != nil && ctx.Err() == nil {
			d.log.Warn("detector: delivering notifications failed", "error", err)
		}
	}
}

// setLeader records whether this replica holds the lease; losing it drops
// the leader's memory, which the next leader rebuilds from the store.
func (d *Detector) setLeader(held bool) {
	was := d.leader.Swap(held)
	d.metrics.setLeader(held)
	switch {
	case was && !held:
		d.passMu.Lock()
		d.cursor, d.episodes = nil, map[string]episode{}
		d.passMu.Unlock()
		d.log.Info("detector: lease lost or given up", "holder", d.cfg.Holder)
	case !was && held:
		d.log.Info("detector: holding the lease; evaluating", "holder", d.cfg.Holder)
	}
}

func (d *Detector) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := d.cfg.Store.ReleaseLease(rctx, leaseName, d.cfg.Holder); err != nil {
		d.log.Warn("detector: giving the lease up failed; another replica takes it when it expires", "error", err)
	}
	d.setLeader(false)
}
