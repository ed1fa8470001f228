// Package githook syncs a git source when its forge says it changed: it
// answers the push webhooks of GitHub, GitLab, Gitea and Forgejo on POST
// /hooks/git/{source}, checks their signature against the source's
// allow-listed secret, and polls sources that ask for it. Pushes and polls
// of one source are coalesced: one sync runs, at most one waits.
// docs/git-sources.md#webhooks and #polling say how to set them up.
package githook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coulomb/activity-core/internal/gitsource"
)

// Defaults of Config.
const (
	// MaxBodyBytesDefault bounds a webhook body, which is read before it
	// can be authenticated. Push payloads are usually tens of kilobytes;
	// GitHub's can reach 25 MB (every pushed commit with up to 5000 paths
	// each), but such pushes are rare and a refused one is synced at the
	// next poll or sync (docs/git-sources.md#webhooks).
	MaxBodyBytesDefault = 5 << 20
	// syncTimeoutDefault bounds one sync the receiver starts.
	syncTimeoutDefault = 10 * time.Minute
	// bodyReadsDefault bounds the webhook bodies read at once, over all
	// sources: with MaxBodyBytesDefault, at most ~40 MiB of buffers
	// however many connections an outsider opens. Forges send one push
	// at a time per repository.
	bodyReadsDefault = 4
	// readTimeoutDefault bounds reading one webhook body, so a caller
	// that sends a body slowly holds a read slot that long at most.
	readTimeoutDefault = 10 * time.Second
	// syncSpacingDefault is the least time between the starts of two
	// syncs of one source asked for by webhooks.
	syncSpacingDefault = 5 * time.Second
	// deliveriesKept is how many delivery ids each source remembers to
	// answer a replayed delivery without syncing again.
	deliveriesKept = 128
	// logEvery is how often each kind of refused webhook is logged per
	// source; the refusals in between are counted in the next line.
	logEvery = 10 * time.Second
)

// Config configures a Receiver.
type Config struct {
	// Sources are the configured definition sources; only git sources
	// take webhooks (those with a WebhookSecret) and are polled (those
	// with an Interval).
	Sources []gitsource.Spec
	// Secret resolves an allow-listed secret by name, as
	// secret.AllowList.Resolve does; it is called for each webhook, so a
	// rotated secret file takes effect at once. Required when a source
	// has a WebhookSecret.
	Secret func(name string) (string, error)
	// Sync syncs one source; required. actor is "webhook:<source>" or
	// "poll:<source>": the app runs the sync as that principal so the
	// audit says who asked (docs/git-sources.md#webhooks).
	Sync func(ctx context.Context, source, actor string) error
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
	// MaxBodyBytes bounds a webhook body (MaxBodyBytesDefault when 0);
	// larger bodies get 413.
	MaxBodyBytes int64
	// SyncTimeout bounds one sync (SyncTimeoutDefault when 0).
	SyncTimeout time.Duration
	// BodyReads bounds the webhook bodies read at once, over all sources
	// (4 when 0); a webhook that finds them all taken gets 503 with
	// Retry-After, before its body is read.
	BodyReads int
	// ReadTimeout bounds reading one webhook body (10 s when 0).
	ReadTimeout time.Duration
	// SyncSpacing is the least time between the starts of two webhook
	// syncs of one source (5 s when 0): pushes inside it coalesce into
	// the sync that starts when it ends. Polls are not spaced.
	SyncSpacing time.Duration
}

// Receiver answers git webhooks and polls git sources. Create it with New,
// mount it on POST /hooks/git/{source}, call Run for the polling, and
// Close (or cancel Run's context) to stop the syncs it started.
type Receiver struct {
	cfg     Config
	log     *slog.Logger
	sources map[string]*source
	metrics *metrics
	limiter *logLimiter
	// bodies holds a token for each webhook body being read.
	bodies chan struct{}
	// sleep waits d or until ctx ends, reporting whether d passed; tests
	// replace it to hold a spaced sync until they let it go.
	sleep func(ctx context.Context, d time.Duration) bool

	// base is the context of the syncs: they outlive the webhook request
	// that asked for them, not the receiver.
	base   context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and every source's sync state and deliveries
	closed bool
	wg     sync.WaitGroup
}

// source is one git source and its coalescing state.
type source struct {
	spec gitsource.Spec
	// running: a sync goroutine exists for this source; queued: one more
	// sync is due (after the running one, or once the spacing since
	// lastHook passes), asked for by queuedBy.
	running  bool
	queued   bool
	queuedBy string
	// lastHook is when the last sync a webhook asked for started.
	lastHook time.Time
	// catchUp: a sync for webhooks refused as busy is pending; lastCatchUp
	// is when the last one was asked for.
	catchUp     bool
	lastCatchUp time.Time
	// deliveries are the ids of the latest authenticated deliveries.
	deliveries *recent
}

// New checks the configuration.
func New(cfg Config) (*Receiver, error) {
	if cfg.Sync == nil {
		return nil, errors.New("githook: Config.Sync is required")
	}
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, MaxBodyBytesDefault)
	cfg.SyncTimeout = cmp.Or(cfg.SyncTimeout, syncTimeoutDefault)
	cfg.BodyReads = cmp.Or(cfg.BodyReads, bodyReadsDefault)
	cfg.ReadTimeout = cmp.Or(cfg.ReadTimeout, readTimeoutDefault)
	cfg.SyncSpacing = cmp.Or(cfg.SyncSpacing, syncSpacingDefault)
	if cfg.MaxBodyBytes < 0 || cfg.SyncTimeout < 0 || cfg.BodyReads < 0 || cfg.ReadTimeout < 0 || cfg.SyncSpacing < 0 {
		return nil, errors.New("githook: MaxBodyBytes, SyncTimeout, BodyReads, ReadTimeout and SyncSpacing must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Receiver{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), sources: map[string]*source{},
		bodies: make(chan struct{}, cfg.BodyReads), sleep: sleep}
	for _, s := range cfg.Sources {
		if _, dup := r.sources[s.Name]; dup {
			return nil, fmt.Errorf("githook: two sources are named %q", s.Name)
		}
		if s.Git != nil && s.Git.WebhookSecret != "" && cfg.Secret == nil {
			return nil, fmt.Errorf("githook: source %s has a webhook_secret but Config.Secret is nil", s.Name)
		}
		if s.Git != nil && s.Git.Interval < 0 {
			return nil, fmt.Errorf("githook: source %s: interval %s is negative", s.Name, s.Git.Interval)
		}
		r.sources[s.Name] = &source{spec: s, deliveries: newRecent(deliveriesKept)}
	}
	var err error
	if r.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	r.limiter = newLogLimiter(cfg.Now)
	r.base, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Close cancels the syncs the receiver started and waits for them to
// return; later webhooks are still answered but start nothing.
func (r *Receiver) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// ServeHTTP answers one webhook (docs/git-sources.md#webhooks).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("source")
	res := r.handle(w, req, name)
	label := name
	if res.outcome == outcomeUnknownSource {
		label = "" // what a caller types must not become a label
	}
	r.metrics.webhooks.WithLabelValues(label, res.outcome).Inc()
	r.logResult(req, label, res)
	writeJSON(w, res.status, res.body)
}
