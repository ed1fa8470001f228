package router

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
)

// Defaults of Config.
const (
	streamDefault          = "ACTIVITY"
	DurableDefault         = "activity-core-router"
	maxPayloadDefault      = limits.MaxEventPayload
	concurrencyDefault     = 16
	ackWaitDefault         = 30 * time.Second
	refreshIntervalDefault = 30 * time.Second
	startTimeoutDefault    = 10 * time.Second
	streamMaxAgeDefault    = 7 * 24 * time.Hour
	nakDelayMinDefault     = time.Second
	nakDelayMaxDefault     = 2 * time.Minute

	// workflowIDPrefix starts the id of every event-triggered run:
	// activity-core:evt:<definition id>:<event id>.
	workflowIDPrefix = "activity-core:evt:"

	// duplicateWindow is the Nats-Msg-Id window of a stream the router
	// creates (JetStream's default).
	duplicateWindow = 2 * time.Minute
	// maxWorkflowIDLen is Temporal's default limit on workflow ids; an
	// event id that would exceed it is replaced by its SHA-256.
	maxWorkflowIDLen = 1000
)

// defaultSubjects are the stream subjects when none are configured: org.>
// for events from the outside, activity.> for run lifecycle events.
func defaultSubjects() []string { return []string{"org.>", "activity.>"} }

// DefinitionStore is what the router reads from the store; every
// store.Store satisfies it.
type DefinitionStore interface {
	ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]store.Definition, error)
	LastSyncResult(ctx context.Context) (store.SyncResult, error)
	ListEventTypes(ctx context.Context, f store.EventTypeFilter) ([]store.EventType, error)
}

// Config configures a Router. JS (or Conn), Temporal and Store are
// required; everything else has a default.
type Config struct {
	// JS is the JetStream context; when nil one is made from Conn.
	JS   jetstream.JetStream
	Conn *nats.Conn

	Temporal client.Client
	Store    DefinitionStore
	// TaskQueue is the deployment's base task queue: a run starts on its
	// definition's pool's queue, engine.TaskQueueFor(TaskQueue, pool)
	// (docs/run-control.md#placement). Default engine.TaskQueueDefault.
	TaskQueue string

	// Stream is the JetStream stream (ACTIVITY_NATS_STREAM, "ACTIVITY").
	Stream string
	// Subjects the stream must hold (ACTIVITY_NATS_SUBJECTS; defaultSubjects).
	Subjects []string
	// Durable is the pull consumer all router replicas share.
	Durable string
	// MaxPayload: bigger messages are acked and counted as invalid
	// (limits.MaxEventPayload, 256 KiB). Deeper nesting than
	// limits.MaxPayloadDepth is refused the same way.
	MaxPayload int
	// ChainDepthLimit and LifecyclePrefix configure the loop guard (see
	// Index.Guard).
	ChainDepthLimit int
	LifecyclePrefix string
	// SchemaMode is what happens to an event whose payload does not
	// conform to its event type's schema (ACTIVITY_EVENT_SCHEMA_MODE):
	// schemaEnforce (default) acks it unrouted, schemaWarn routes it; both
	// count it.
	SchemaMode string

	// Concurrency is how many messages are routed at once (16).
	Concurrency int
	// AckWait is the consumer's ack wait (30s): a message a router took and
	// neither acked nor naked (it crashed) is redelivered after it.
	AckWait time.Duration
	// StartTimeout bounds one StartWorkflow call (10s).
	StartTimeout time.Duration
	// NakDelayMin and NakDelayMax bound the redelivery delay after a failed
	// start, which doubles with each delivery (1s .. 2m).
	NakDelayMin, NakDelayMax time.Duration
	// RefreshInterval reloads the index periodically as a safety net (30s).
	RefreshInterval time.Duration
	// StreamMaxAge is the MaxAge of a stream the router creates (7 days);
	// an existing stream keeps its own.
	StreamMaxAge time.Duration
	// StreamReplicas is the replica count of a stream the router creates
	// (ACTIVITY_NATS_STREAM_REPLICAS; 1). On a JetStream cluster, 3 keeps
	// the stream available while one server is down. An existing stream
	// keeps its own.
	StreamReplicas int
	// SkipSyncCheck turns off the per-message check that no sync finished
	// since the index was loaded (see the package doc, "Hot definitions").
	// Only safe when every sync runs in this process and calls Refresh.
	SkipSyncCheck bool

	Logger *slog.Logger
	// Metrics registers the router's metrics; nil keeps them unregistered
	// (they still count).
	Metrics prometheus.Registerer

	// onStarted, when set (tests, benchmarks), sees each run started:
	// latency from the event's store time, and the router's own part,
	// from receiving the message to calling StartWorkflow.
	onStarted func(definitionID, eventID string, latency, own time.Duration)
}

// Router turns stream messages into runs (the router role).
type Router struct {
	cfg Config
	js  jetstream.JetStream
	log *slog.Logger
	m   *metrics

	idx       atomic.Pointer[Index]
	refreshMu sync.Mutex
	fresh     freshness

	createdStream atomic.Bool
	ready         chan struct{}
	readyOnce     sync.Once
	warnLimit     logLimiter
}

// New checks the configuration and registers the metrics. Nothing is
// contacted until Run (or EnsureStream, Refresh).
func New(cfg Config) (*Router, error) {
	if cfg.Temporal == nil {
		return nil, errors.New("router: no Temporal client")
	}
	if cfg.Store == nil {
		return nil, errors.New("router: no store")
	}
	js := cfg.JS
	if js == nil {
		if cfg.Conn == nil {
			return nil, errors.New("router: no NATS connection (Config.JS or Config.Conn)")
		}
		var err error
		if js, err = jetstream.New(cfg.Conn); err != nil {
			return nil, fmt.Errorf("router: %w", err)
		}
	}
	cfg.TaskQueue = cmp.Or(cfg.TaskQueue, engine.TaskQueueDefault)
	cfg.Stream = cmp.Or(cfg.Stream, streamDefault)
	if len(cfg.Subjects) == 0 {
		cfg.Subjects = defaultSubjects()
	}
	for _, s := range cfg.Subjects {
		if err := validateStreamSubject(s); err != nil {
			return nil, fmt.Errorf("router: stream subject: %w", err)
		}
	}
	cfg.Subjects = normalizeSubjects(cfg.Subjects)
	cfg.Durable = cmp.Or(cfg.Durable, DurableDefault)
	cfg.MaxPayload = cmp.Or(cfg.MaxPayload, maxPayloadDefault)
	cfg.ChainDepthLimit = cmp.Or(cfg.ChainDepthLimit, chainDepthLimitDefault)
	cfg.LifecyclePrefix = cmp.Or(cfg.LifecyclePrefix, engine.LifecyclePrefixDefault)
	if !validSchemaMode(cfg.SchemaMode) {
		return nil, fmt.Errorf("router: schema mode must be %q or %q, got %q", schemaEnforce, schemaWarn, cfg.SchemaMode)
	}
	cfg.SchemaMode = cmp.Or(cfg.SchemaMode, schemaModeDefault)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, concurrencyDefault)
	cfg.AckWait = cmp.Or(cfg.AckWait, ackWaitDefault)
	cfg.StartTimeout = cmp.Or(cfg.StartTimeout, startTimeoutDefault)
	cfg.NakDelayMin = cmp.Or(cfg.NakDelayMin, nakDelayMinDefault)
	cfg.NakDelayMax = max(cmp.Or(cfg.NakDelayMax, nakDelayMaxDefault), cfg.NakDelayMin)
	cfg.RefreshInterval = cmp.Or(cfg.RefreshInterval, refreshIntervalDefault)
	cfg.StreamMaxAge = cmp.Or(cfg.StreamMaxAge, streamMaxAgeDefault)
	if cfg.StreamReplicas < 0 || cfg.StreamReplicas > 5 {
		return nil, fmt.Errorf("router: stream replicas must be 1 to 5, got %d", cfg.StreamReplicas)
	}
	cfg.StreamReplicas = max(cfg.StreamReplicas, 1)
	if cfg.MaxPayload < 0 || cfg.Concurrency < 0 || cfg.AckWait < time.Second {
		return nil, errors.New("router: MaxPayload and Concurrency must be positive and AckWait at least 1s")
	}
	r := &Router{
		cfg:   cfg,
		js:    js,
		log:   cmp.Or(cfg.Logger, slog.Default()),
		ready: make(chan struct{}),
	}
	r.warnLimit.log = r.log
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	r.m = m
	lc := cfg.LifecyclePrefix + ".run.x"
	if !coveredBy(lc, cfg.Subjects) {
		r.log.Warn("router: lifecycle events are outside the stream's subjects: definitions cannot chain on runs",
			"lifecycle_subjects", cfg.LifecyclePrefix+".run.*", "subjects", cfg.Subjects)
	}
	return r, nil
}

func validateStreamSubject(s string) error {
	if s == "" {
		return errors.New("empty subject")
	}
	toks, _ := splitPattern(s)
	if toks == nil {
		return fmt.Errorf("%q is not a valid subject pattern", s)
	}
	return nil
}

func splitPattern(s string) ([]string, bool) {
	toks, ok := splitSubject(s, nil)
	if !ok {
		return nil, false
	}
	for i, t := range toks {
		if (t == ">" && i != len(toks)-1) || (len(t) > 1 && (containsByte(t, '*') || containsByte(t, '>'))) {
			return nil, false
		}
	}
	return toks, true
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// Ready is closed once the router reads its consumer (the stream exists,
// the index is loaded): events published from then on are routed.
func (r *Router) Ready() <-chan struct{} { return r.ready }

// Index is the index the router matches with now (nil before the first
// load).
func (r *Router) Index() *Index { return r.idx.Load() }

// Refresh reloads the index from the store and swaps it in atomically;
// matching goes on with the old index meanwhile, and keeps it if the load
// fails. Definitions whose content hash did not change are not compiled
// again. Call it after a sync changed definitions (syncer's
// OnDefinitionsChanged); the router also reloads every RefreshInterval and
// whenever it sees a newer sync in the store.
func (r *Router) Refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	return r.refreshLocked(ctx)
}

func (r *Router) refreshLocked(ctx context.Context) error {
	start := time.Now()
	// The sync id is read before the definitions: a sync finishing in
	// between makes the next check reload again, never miss it.
	syncID, err := r.lastSyncID(ctx)
	if err != nil {
		return err
	}
	defs, err := r.cfg.Store.ListDefinitions(ctx, store.DefinitionFilter{TriggerType: store.TriggerEvent})
	if err != nil {
		return fmt.Errorf("router: listing event definitions: %w", err)
	}
	types, err := r.cfg.Store.ListEventTypes(ctx, store.EventTypeFilter{})
	if err != nil {
		return fmt.Errorf("router: listing event types: %w", err)
	}
	prev := r.idx.Load()
	ix := newIndex(defs, IndexOptions{LifecyclePrefix: r.cfg.LifecyclePrefix, ChainDepthLimit: r.cfg.ChainDepthLimit,
		EventTypes: types, SchemaMode: r.cfg.SchemaMode}, prev)
	ix.syncID, ix.loadedAt = syncID, start
	r.logProblems(prev, ix)
	r.idx.Store(ix)
	r.fresh.markChecked(start)
	r.m.indexLoads.Inc()
	r.m.definitions.Set(float64(ix.Enabled()))
	if prev == nil || prev.Enabled() != ix.Enabled() || prev.syncID != ix.syncID {
		r.log.Info("router: index loaded", "definitions", ix.Len(), "enabled", ix.Enabled(), "problems", len(ix.problems),
			"sync_id", syncID, "duration", time.Since(start).Round(time.Microsecond))
	}
	return nil
}

func (r *Router) lastSyncID(ctx context.Context) (string, error) {
	res, err := r.cfg.Store.LastSyncResult(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("router: reading the last sync: %w", err)
	}
	return res.SyncID, nil
}

func (r *Router) logProblems(prev, ix *Index) {
	seen := map[string]bool{}
	if prev != nil {
		for _, p := range prev.problems {
			seen[p.DefinitionID+"@"+p.ContentHash] = true
		}
	}
	for _, p := range ix.problems {
		if !seen[p.DefinitionID+"@"+p.ContentHash] {
			r.log.Warn("router: event definition left out of routing", "definition_id", p.DefinitionID, "error", p.Err)
		}
	}
}

// ensureFresh makes sure the index reflects every sync that finished
// before the message was received: a check of the store's last sync id
// that started after received, shared by every message waiting for one
// (single flight), and a reload when the id changed. When the store cannot
// be asked, routing goes on with the current index (and retries the check
// a second later) rather than stopping events.
func (r *Router) ensureFresh(ctx context.Context, received time.Time) {
	if r.cfg.SkipSyncCheck {
		return
	}
	f := &r.fresh
	for {
		f.mu.Lock()
		if !f.checked.Before(received) || time.Now().Before(f.backoffUntil) {
			f.mu.Unlock()
			return
		}
		if ch := f.running; ch != nil {
			f.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return
			}
		}
		start := time.Now()
		ch := make(chan struct{})
		f.running = ch
		f.mu.Unlock()

		err := r.checkSync(ctx)

		f.mu.Lock()
		f.running = nil
		if err == nil {
			if start.After(f.checked) {
				f.checked = start
			}
		} else {
			f.backoffUntil = time.Now().Add(time.Second)
		}
		close(ch)
		f.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			r.m.refreshErrors.Inc()
			r.warnLimit.do(func() {
				r.log.Warn("router: cannot check the store for new syncs; routing with the definitions loaded before", "error", err)
			})
		}
	}
}

func (r *Router) checkSync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	id, err := r.lastSyncID(ctx)
	if err != nil {
		return err
	}
	if cur := r.idx.Load(); cur != nil && cur.syncID == id {
		return nil
	}
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	if cur := r.idx.Load(); cur != nil && cur.syncID == id {
		return nil // another goroutine reloaded meanwhile
	}
	return r.refreshLocked(ctx)
}

type freshness struct {
	mu           sync.Mutex
	checked      time.Time // start of the last check that found (or made) the index current
	running      chan struct{}
	backoffUntil time.Time
}

func (f *freshness) markChecked(t time.Time) {
	f.mu.Lock()
	if t.After(f.checked) {
		f.checked = t
	}
	f.mu.Unlock()
}

// Run routes until ctx ends, then finishes the messages in hand and
// returns nil. It ensures the stream, loads the index (events wait until it
// is loaded: routing with no definitions would ack them unrouted), and
// reads the durable consumer; NATS, Temporal or the store being away makes
// it retry with backoff, not return. It returns an error only for a
// configuration the router cannot work with (subjects that overlap
// another stream, a consumer of the same name that is not explicit-ack).
func (r *Router) Run(ctx context.Context) error {
	if err := retry(ctx, r.log, "ensuring the stream", func() error {
		err := r.EnsureStream(ctx)
		var oe *overlapError
		if errors.As(err, &oe) {
			return permanent{err}
		}
		return err
	}); err != nil {
		return unwrapPermanent(err, ctx)
	}
	if err := retry(ctx, r.log, "loading event definitions", func() error { return r.Refresh(ctx) }); err != nil {
		return unwrapPermanent(err, ctx)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.refreshLoop(ctx) })

	delay := time.Second
	for {
		cons, err := r.consumer(ctx)
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
		if err == nil {
			err = r.consume(ctx, cons)
			delay = time.Second
		}
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("router: reading the stream failed; retrying", "stream", r.cfg.Stream, "consumer", r.cfg.Durable, "error", err, "retry_in", delay)
		if !sleepCtx(ctx, delay) {
			return nil
		}
		delay = min(delay*2, 30*time.Second)
	}
}

func (r *Router) refreshLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				r.m.refreshErrors.Inc()
				r.log.Warn("router: periodic index reload failed; keeping the loaded definitions", "error", err)
			}
		}
	}
}

// consumer binds the durable pull consumer, creating it when missing.
// A consumer created on a stream this router created reads from the start
// (nothing is lost between the two); one created on a stream that already
// existed reads new messages only, so a first deployment does not replay
// the stream's history as runs. Works on nats-server 2.9: no filter
// subject, one consumer for the whole stream.
func (r *Router) consumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		deliver := jetstream.DeliverNewPolicy
		if r.createdStream.Load() {
			deliver = jetstream.DeliverAllPolicy
		}
		c, err = r.js.CreateConsumer(ctx, r.cfg.Stream, jetstream.ConsumerConfig{
			Durable:       r.cfg.Durable,
			Description:   "activity-core router (shared by every router replica)",
			DeliverPolicy: deliver,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       r.cfg.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: max(1000, 4*r.cfg.Concurrency),
		})
		if err != nil {
			// Another replica may have created it first.
			if c2, err2 := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable); err2 == nil {
				return c2, r.checkConsumer(c2)
			}
			return nil, fmt.Errorf("creating consumer %s on stream %s: %w", r.cfg.Durable, r.cfg.Stream, err)
		}
		r.log.Info("router: created durable consumer", "stream", r.cfg.Stream, "consumer", r.cfg.Durable, "deliver", deliver.String())
		return c, nil
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		// Deleted under us: create it again.
		if err := r.EnsureStream(ctx); err != nil {
			return nil, err
		}
		return nil, errors.New("the stream was missing and has been created again")
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s: %w", r.cfg.Durable, r.cfg.Stream, err)
	}
	return c, r.checkConsumer(c)
}

func (r *Router) checkConsumer(c jetstream.Consumer) error {
	info := c.CachedInfo()
	if info.Config.AckPolicy != jetstream.AckExplicitPolicy {
		return permanent{fmt.Errorf("router: consumer %s on stream %s exists with ack policy %s: the router needs explicit acks; delete it or set another durable name",
			r.cfg.Durable, r.cfg.Stream, info.Config.AckPolicy)}
	}
	if info.Config.FilterSubject != "" {
		r.log.Warn("router: the consumer has a filter subject: events outside it are not routed",
			"consumer", r.cfg.Durable, "filter_subject", info.Config.FilterSubject)
	}
	return nil
}

// consume reads messages until ctx ends or the consumer is gone;
// Concurrency workers route them. It uses Consume (a callback on an
// ordinary subscription) rather than the Messages iterator: the iterator's
// bounded channel drops messages as a slow consumer when a reconnect
// re-pulls while it is full, and dropped deliveries only come back after
// AckWait. Messages in hand when ctx ends are finished with a context of
// their own (each start bounded by StartTimeout), so a stop acks what it
// started; messages still buffered are left unacked and redelivered to
// another replica after AckWait.
func (r *Router) consume(ctx context.Context, cons jetstream.Consumer) error {
	type work struct {
		msg      jetstream.Msg
		received time.Time
	}
	ch := make(chan work)
	var (
		gate   sync.RWMutex // held (read) by callbacks while they hand a message over
		closed bool
	)
	fatal := make(chan error, 1)
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		gate.RLock()
		defer gate.RUnlock()
		if closed {
			return
		}
		select {
		case ch <- work{msg, time.Now()}:
		case <-ctx.Done():
		}
	},
		jetstream.PullMaxMessages(2*r.cfg.Concurrency),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
				errors.Is(err, jetstream.ErrBadRequest) {
				select {
				case fatal <- err:
				default:
				}
				return
			}
			r.warnLimit.do(func() {
				r.log.Warn("router: consuming", "stream", r.cfg.Stream, "consumer", r.cfg.Durable, "error", err)
			})
		}))
	if err != nil {
		return err
	}
	r.readyOnce.Do(func() { close(r.ready) })

	var wg sync.WaitGroup
	hctx := context.WithoutCancel(ctx)
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for w := range ch {
				r.handle(hctx, w.msg, w.received)
			}
		})
	}
	var result error
	select {
	case <-ctx.Done():
	case result = <-fatal:
	case <-cc.Closed():
		result = errors.New("consuming stopped")
		select {
		case result = <-fatal:
		default:
		}
	}
	cc.Stop()
	gate.Lock()
	closed = true
	close(ch)
	gate.Unlock()
	wg.Wait()
	if ctx.Err() != nil {
		return nil //nolint:nilerr // ctx ending is the normal stop, not a failure
	}
	return result
}

// handle routes one message and acks or naks it.
func (r *Router) handle(ctx context.Context, msg jetstream.Msg, received time.Time) {
	r.m.received.Inc()
	subject := msg.Subject()
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream message: nothing to ack.
		r.log.Warn("router: message without JetStream metadata", "subject", subject, "error", err)
		return
	}
	data := msg.Data()
	payload, err := decodePayload(data, r.cfg.MaxPayload)
	if err != nil {
		r.invalid(ctx, msg, meta, invalidReason(err), err)
		return
	}
	eventID := msg.Headers().Get(jetstream.MsgIDHeader)
	if eventID == "" {
		eventID = strconv.FormatUint(meta.Sequence.Stream, 10)
	}

	r.ensureFresh(ctx, received)
	ix := r.idx.Load()
	if err := ix.CheckSchema(subject, payload); err != nil {
		if ix.opts.SchemaMode != schemaWarn {
			r.invalid(ctx, msg, meta, "schema", err)
			return
		}
		r.m.schemaWarned.Inc()
		r.warnLimit.do(func() {
			r.log.Warn("router: event does not conform to its schema; routed (schema mode warn)", "subject", subject,
				"stream_seq", meta.Sequence.Stream, "error", err)
		})
	}
	matches := ix.Match(subject, payload)
	if len(matches) == 0 {
		r.ack(ctx, msg, meta)
		return
	}
	r.m.matched.Inc()

	stop := r.keepAlive(msg)
	defer stop()
	ev := &engine.Event{Subject: subject, ID: eventID, Time: meta.Timestamp, Payload: json.RawMessage(data)}
	if failed := r.startAll(ctx, ix, matches, ev, payload, meta, received); failed > 0 {
		r.nak(msg, meta)
		return
	}
	r.ack(ctx, msg, meta)
}

// startAll starts a run per match the loop guard allows, up to 8 at once,
// and returns how many starts failed (the message is then naked).
func (r *Router) startAll(ctx context.Context, ix *Index, matches []Match, ev *engine.Event, payload map[string]any,
	meta *jetstream.MsgMetadata, received time.Time) int {
	var failed atomic.Int32
	start := func(m Match) {
		depth, blocked := ix.Guard(ev.Subject, payload, m.DefinitionID)
		if blocked != "" {
			r.m.guarded.Inc()
			r.warnLimit.do(func() {
				r.log.Warn("router: run not started", "definition_id", m.DefinitionID, "subject", ev.Subject, "event_id", ev.ID, "reason", blocked)
			})
			return
		}
		if err := r.startRun(ctx, m, ev, depth, meta.Timestamp, received); err != nil {
			failed.Add(1)
			r.m.startFailures.Inc()
			r.warnLimit.do(func() {
				r.log.Warn("router: starting a run failed; the event will be redelivered", "definition_id", m.DefinitionID,
					"subject", ev.Subject, "event_id", ev.ID, "delivery", meta.NumDelivered, "error", err)
			})
		}
	}
	if len(matches) == 1 {
		start(matches[0])
		return int(failed.Load())
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, m := range matches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			start(m)
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// startRun starts one run on the matched definition's pool
// (docs/run-control.md#placement); an id Temporal already knows is success
// (the event was routed before: a redelivery, or a repeated Nats-Msg-Id).
func (r *Router) startRun(ctx context.Context, m Match, ev *engine.Event, depth int, published, received time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StartTimeout)
	defer cancel()
	defID := m.DefinitionID
	opts := client.StartWorkflowOptions{
		ID:                                       workflowID(defID, ev.ID),
		TaskQueue:                                engine.TaskQueueFor(r.cfg.TaskQueue, m.Definition.Pool()),
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
	in := engine.RunInput{DefinitionID: defID, Trigger: store.RunTriggerEvent, Event: ev, ChainDepth: depth}
	own := time.Since(received)
	_, err := r.cfg.Temporal.ExecuteWorkflow(ctx, opts, engine.RunWorkflowName, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		r.m.deduplicated.Inc()
		return nil
	case err != nil:
		return err
	}
	lat := time.Since(published)
	r.m.started.Inc()
	r.m.latency.Observe(lat.Seconds())
	if r.cfg.onStarted != nil {
		r.cfg.onStarted(defID, ev.ID, lat, own)
	}
	return nil
}

// WorkflowID is the id of the run an event starts for a definition:
// activity-core:evt:<definition id>:<event id>. An event id that would make
// it longer than Temporal accepts is replaced by "sha256-" and its hash.
func workflowID(definitionID, eventID string) string {
	id := workflowIDPrefix + definitionID + ":" + eventID
	if len(id) <= maxWorkflowIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(eventID))
	return workflowIDPrefix + definitionID + ":sha256-" + hex.EncodeToString(sum[:])
}

// keepAlive tells the server the message is still being worked on while
// starts take long (Temporal slow), so it is not redelivered to another
// replica meanwhile.
func (r *Router) keepAlive(msg jetstream.Msg) func() {
	every := r.cfg.AckWait / 3
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	mu.Lock() // the callback cannot see t before it is set
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		_ = msg.InProgress()
		t.Reset(every)
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// invalidReason is the metric label of a payload DecodePayload refused.
func invalidReason(err error) string {
	switch {
	case errors.Is(err, errPayloadTooLarge):
		return "too_large"
	case errors.Is(err, errPayloadTooDeep):
		return "too_deep"
	case errors.Is(err, errPayloadDuplicateKey):
		return "duplicate_key"
	case errors.Is(err, errNotObject):
		return "not_object"
	}
	return "not_json"
}

func (r *Router) invalid(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, reason string, err error) {
	r.m.invalid.WithLabelValues(reason).Inc()
	r.warnLimit.do(func() {
		r.log.Warn("router: invalid event acked without routing", "subject", msg.Subject(), "stream_seq", meta.Sequence.Stream,
			"msg_id", msg.Headers().Get(jetstream.MsgIDHeader), "reason", reason, "error", err)
	})
	r.ack(ctx, msg, meta)
}

// ack confirms the ack with the server (DoubleAck), retrying for a few
// seconds while NATS is reconnecting or JetStream is restarting (the ack
// stays valid across a server restart). An ack lost even so means a
// redelivery after AckWait, which the workflow ids make harmless.
func (r *Router) ack(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) {
	var err error
	delay := 50 * time.Millisecond
	for attempt := 0; attempt < 7; attempt++ {
		if attempt > 0 && !sleepCtx(ctx, delay) {
			break
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = msg.DoubleAck(actx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			r.m.acked.Inc()
			return
		}
		if errors.Is(err, nats.ErrConnectionClosed) {
			break
		}
		delay *= 2
	}
	r.warnLimit.do(func() {
		r.log.Warn("router: ack not confirmed; the event will be redelivered (its runs will not repeat)",
			"subject", msg.Subject(), "stream_seq", meta.Sequence.Stream, "error", err)
	})
}

// nak asks for redelivery after a delay that doubles with each delivery.
func (r *Router) nak(msg jetstream.Msg, meta *jetstream.MsgMetadata) {
	d := nakDelay(r.cfg.NakDelayMin, r.cfg.NakDelayMax, meta.NumDelivered)
	if err := msg.NakWithDelay(d); err != nil {
		r.log.Warn("router: nak failed; the event is redelivered after the ack wait", "subject", msg.Subject(), "error", err)
		return
	}
	r.m.naked.Inc()
}

func nakDelay(lo, hi time.Duration, delivered uint64) time.Duration {
	d := lo
	for i := uint64(1); i < delivered && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	// ±10% jitter, so events naked together do not return together.
	j := time.Duration(rand.Int64N(int64(d)/5 + 1))
	return d - d/10 + j
}

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

func unwrapPermanent(err error, ctx context.Context) error {
	var p permanent
	if errors.As(err, &p) {
		return p.err
	}
	if ctx.Err() != nil {
		return nil //nolint:nilerr // retry gave up because ctx ended: Run stops without an error
	}
	return err
}

// retry calls fn until it succeeds, returns a permanent error, or ctx ends.
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	delay := 500 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("router: "+what+" failed; retrying", "error", err, "retry_in", delay)
		if !sleepCtx(ctx, delay) {
			return ctx.Err()
		}
		delay = min(delay*2, 30*time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// logLimiter lets at most 10 warnings a second through, so a flood of bad
// events cannot flood the log (the counters still count every one).
type logLimiter struct {
	log    *slog.Logger
	mu     sync.Mutex
	window time.Time
	n      int
	quiet  int
}

func (l *logLimiter) do(fn func()) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.window) >= time.Second {
		l.window, l.n = now, 0
	}
	l.n++
	ok := l.n <= 10
	quiet := 0
	if ok {
		quiet, l.quiet = l.quiet, 0
	} else {
		l.quiet++
	}
	l.mu.Unlock()
	if ok {
		if quiet > 0 {
			l.log.Warn("router: warnings suppressed in the last second", "count", quiet)
		}
		fn()
	}
}
