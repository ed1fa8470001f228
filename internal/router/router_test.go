package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

func TestRouteEvents(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		w.setDefs(
			eventDef(t, w.id("commit-hook"), w.subj("org.repo.commit.pushed"), map[string]any{"repo_slug": "*"}, ""),
			eventDef(t, w.id("main-only"), w.subj("org.repo.commit.pushed"), map[string]any{"branch": "main"}, ""),
			eventDef(t, w.id("issues"), w.subj("org.issue.>"), nil, ""),
		)
		reg := prometheus.NewRegistry()
		r := w.newRouter(func(c *Config) { c.Metrics = reg })
		w.start(r)

		hostile := "$(touch /tmp/pwned); `id`; rm -rf /"
		ack1 := w.publish(w.subj("org.repo.commit.pushed"), map[string]any{"repo_slug": hostile, "branch": "main"}, "push-1")
		w.publish(w.subj("org.repo.commit.pushed"), map[string]any{"branch": "dev"}, "push-2") // matches nothing
		ack3 := w.publish(w.subj("org.issue.opened"), map[string]any{"n": 7}, "")              // no Nats-Msg-Id
		got := w.waitRuns(3)
		w.waitIdle(DurableDefault)

		in := got[workflowID(w.id("commit-hook"), "push-1")]
		if len(in) != 1 {
			t.Fatalf("commit-hook run missing: %v", sortedKeys(got))
		}
		ri := in[0]
		if ri.DefinitionID != w.id("commit-hook") || ri.Trigger != store.RunTriggerEvent || ri.ChainDepth != 0 || ri.Event == nil {
			t.Fatalf("run input: %+v", ri)
		}
		if ri.Event.Subject != w.subj("org.repo.commit.pushed") || ri.Event.ID != "push-1" || ri.Event.Time.IsZero() {
			t.Errorf("event: %+v", ri.Event)
		}
		var p map[string]any
		if err := json.Unmarshal(ri.Event.Payload, &p); err != nil || p["repo_slug"] != hostile {
			t.Errorf("payload not passed through verbatim: %s (%v)", ri.Event.Payload, err)
		}
		_ = ack1
		if _, ok := got[workflowID(w.id("main-only"), "push-1")]; !ok {
			t.Errorf("main-only did not run: %v", sortedKeys(got))
		}
		// Without Nats-Msg-Id the event id is the stream sequence.
		seq := strconv.FormatUint(ack3.Sequence, 10)
		if ins := got[workflowID(w.id("issues"), seq)]; len(ins) != 1 || ins[0].Event.ID != seq {
			t.Errorf("issues run by stream sequence %s missing: %v", seq, sortedKeys(got))
		}
		st := w.settledCounts(r)
		if st.Received != 3 || st.Matched != 2 || st.Started != 3 || st.Invalid != 0 || st.StartFailures != 0 || st.Acked != 3 {
			t.Errorf("stats: %+v", st)
		}
		for _, n := range []string{"activity_core_router_events_received_total", "activity_core_router_events_matched_total",
			"activity_core_router_events_invalid_total", "activity_core_router_loop_guarded_total",
			"activity_core_router_start_failures_total", "activity_core_router_routing_latency_seconds",
			"activity_core_router_events_acked_total", "activity_core_router_index_loads_total"} {
			if c, err := testutil.GatherAndCount(reg, n); err != nil || c == 0 {
				t.Errorf("metric %s not registered", n)
			}
		}
	})
}

// flakyClient starts the workflow and then reports a failure for the
// first start of each workflow id it is told to break: the router cannot
// tell this from a lost response, naks, and on redelivery Temporal says
// "already started".
type flakyClient struct {
	client.Client
	mu     sync.Mutex
	broken map[string]bool
	calls  atomic.Int64
	// failAll makes every start fail without starting (Temporal away).
	failAll atomic.Bool
	// delay makes every start slow.
	delay time.Duration
}

func (c *flakyClient) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	c.calls.Add(1)
	if c.delay > 0 {
		timer := time.NewTimer(c.delay) // a slow Temporal, not a wait for an event
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		}
	}
	if c.failAll.Load() {
		return nil, errors.New("injected: Temporal unavailable")
	}
	run, err := c.Client.ExecuteWorkflow(ctx, o, wf, args...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && c.broken[o.ID] {
		delete(c.broken, o.ID)
		return nil, errors.New("injected: response lost after the start")
	}
	return run, err
}

func TestRedeliveryRunsOnce(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		a, b := w.id("a"), w.id("b")
		w.setDefs(
			eventDef(t, a, w.subj("org.x"), nil, ""),
			eventDef(t, b, w.subj("org.x"), nil, ""),
		)
		fc := &flakyClient{Client: testClient, broken: map[string]bool{workflowID(b, "ev-1"): true}}
		r := w.newRouter(func(c *Config) { c.Temporal = fc })
		w.start(r)
		w.publish(w.subj("org.x"), map[string]any{}, "ev-1")
		w.waitRuns(2)
		info := w.waitIdle(DurableDefault)
		st := w.settledCounts(r)
		// Delivery 1: a started, b started but "failed" -> nak.
		// Delivery 2: both already started -> ack.
		if st.Received != 2 || st.Started != 1 || st.Deduplicated != 2 || st.StartFailures != 1 || st.Naked != 1 || st.Acked != 1 {
			t.Errorf("stats: %+v", st)
		}
		if info.NumRedelivered != 0 || info.AckFloor.Stream != info.Delivered.Stream {
			t.Errorf("consumer: redelivered %d, ack floor %d, delivered %d", info.NumRedelivered, info.AckFloor.Stream, info.Delivered.Stream)
		}
	})
}

func TestStartFailureBacksOffUntilTemporalReturns(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		w.setDefs(eventDef(t, w.id("a"), w.subj("org.x"), nil, ""))
		fc := &flakyClient{Client: testClient}
		fc.failAll.Store(true)
		r := w.newRouter(func(c *Config) { c.Temporal = fc })
		w.start(r)
		w.publish(w.subj("org.x"), map[string]any{}, "ev-1")
		testsupport.Eventually(t, 30*time.Second, "three failed deliveries", func() error {
			if n := countsOf(r).StartFailures; n < 3 {
				return fmt.Errorf("%d failures", n)
			}
			return nil
		})
		fc.failAll.Store(false)
		w.waitRuns(1)
		w.waitIdle(DurableDefault)
		if st := countsOf(r); st.Started != 1 || st.Naked < 3 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// TestSlowStartIsNotRedelivered: a start slower than AckWait keeps its
// message in progress, so the server does not hand it to another replica.
func TestSlowStartIsNotRedelivered(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		w.setDefs(eventDef(t, w.id("a"), w.subj("org.x"), nil, ""))
		fc := &flakyClient{Client: testClient, delay: 2500 * time.Millisecond}
		r := w.newRouter(func(c *Config) {
			c.Temporal = fc
			c.AckWait = time.Second
		})
		w.start(r)
		w.publish(w.subj("org.x"), map[string]any{}, "slow-1")
		w.waitRuns(1)
		w.waitIdle(DurableDefault)
		if st := w.settledCounts(r); st.Received != 1 || fc.calls.Load() != 1 || st.Acked != 1 {
			t.Errorf("redelivered while in progress: stats %+v, %d starts", st, fc.calls.Load())
		}
	})
}

// TestRepeatedMsgIDRunsOnce publishes the same Nats-Msg-Id again after the
// stream's duplicate window, so the stream stores it twice and the router
// sees it twice: one run.
func TestRepeatedMsgIDRunsOnce(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// An existing stream with a short duplicate window: the router
		// must use it as it is.
		if _, err := w.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: w.stream, Subjects: w.subjects, Duplicates: 100 * time.Millisecond, MaxAge: time.Hour,
		}); err != nil {
			t.Fatalf("create stream: %v", err)
		}
		w.setDefs(eventDef(t, w.id("a"), w.subj("org.x"), nil, ""))
		r := w.newRouter()
		w.start(r)
		first := w.publish(w.subj("org.x"), map[string]any{"n": 1}, "same-id")
		w.waitRuns(1)
		var second *jetstream.PubAck
		testsupport.Eventually(t, 10*time.Second, "republish outside the duplicate window", func() error {
			second = w.publish(w.subj("org.x"), map[string]any{"n": 2}, "same-id")
			if second.Duplicate {
				return errors.New("still a duplicate")
			}
			return nil
		})
		if second.Sequence == first.Sequence {
			t.Fatal("not stored twice")
		}
		w.waitIdle(DurableDefault)
		got := w.waitRuns(1)
		if ins := got[workflowID(w.id("a"), "same-id")]; len(ins) != 1 {
			t.Errorf("runs: %v", got)
		}
		if st := countsOf(r); st.Received != 2 || st.Started != 1 || st.Deduplicated != 1 {
			t.Errorf("stats: %+v", st)
		}
		info, err := w.js.Stream(ctx, w.stream)
		if err != nil {
			t.Fatal(err)
		}
		if d := info.CachedInfo().Config.Duplicates; d != 100*time.Millisecond {
			t.Errorf("router changed the existing stream's settings: duplicates %s", d)
		}
	})
}

// TestStopMidStreamAndRestart: N events, a router that dies abruptly
// (connection gone, acks lost) part way, a new router: exactly N runs.
func TestStopMidStreamAndRestart(t *testing.T) {
	t.Parallel()
	const n = 200
	forEachNATS(t, func(t *testing.T, w *world) {
		w.setDefs(eventDef(t, w.id("a"), w.subj("org.x.*"), nil, ""))
		nc1 := w.connect()
		cfg := w.config(nc1)
		cfg.AckWait = 2 * time.Second // so lost acks come back quickly
		cfg.Concurrency = 4
		r1, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		stop1 := w.start(r1)
		var pubWG sync.WaitGroup
		pubWG.Go(func() {
			for i := range n {
				w.publish(w.subj(fmt.Sprintf("org.x.%d", i)), map[string]any{"i": i}, fmt.Sprintf("ev-%d", i))
			}
		})
		testsupport.Eventually(t, 60*time.Second, "first router started some runs", func() error {
			if s := countsOf(r1).Started; s < n/4 {
				return fmt.Errorf("%d started", s)
			}
			return nil
		})
		nc1.Close() // the crash: in-flight acks are lost
		stop1()
		started1 := countsOf(r1).Started
		if started1 >= n {
			t.Logf("first router finished everything before the crash (%d)", started1)
		}

		cfg2 := w.config(w.connect())
		cfg2.AckWait = 2 * time.Second
		r2, err := New(cfg2)
		if err != nil {
			t.Fatal(err)
		}
		w.start(r2)
		pubWG.Wait()
		got := w.waitRuns(n)
		w.waitIdle(DurableDefault)
		for i := range n {
			if _, ok := got[workflowID(w.id("a"), fmt.Sprintf("ev-%d", i))]; !ok {
				t.Errorf("event %d has no run", i)
			}
		}
		s1, s2 := countsOf(r1), countsOf(r2)
		if s1.Started+s2.Started != n {
			t.Errorf("started %d + %d, want %d (stats %+v / %+v)", s1.Started, s2.Started, n, s1, s2)
		}
		t.Logf("router 1: %+v", s1)
		t.Logf("router 2: %+v", s2)
	})
}

func TestInvalidPayloadsAckedAndCounted(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		w.setDefs(eventDef(t, w.id("a"), w.subj("org.>"), nil, ""))
		r := w.newRouter(func(c *Config) { c.MaxPayload = 1024 })
		w.start(r)
		w.publish(w.subj("org.bad"), "not json {", "bad-1")
		w.publish(w.subj("org.bad"), "[1, 2, 3]", "bad-2")
		w.publish(w.subj("org.bad"), `{"big": "`+strings.Repeat("x", 2000)+`"}`, "bad-3")
		w.publish(w.subj("org.bad"), "", "bad-4")
		w.publish(w.subj("org.good"), map[string]any{"ok": true}, "good-1")
		got := w.waitRuns(1)
		info := w.waitIdle(DurableDefault)
		if _, ok := got[workflowID(w.id("a"), "good-1")]; !ok {
			t.Errorf("runs: %v", sortedKeys(got))
		}
		st := w.settledCounts(r)
		if st.Invalid != 4 || st.Received != 5 || st.Acked != 5 || st.Started != 1 {
			t.Errorf("stats: %+v", st)
		}
		if info.NumRedelivered != 0 || info.Delivered.Consumer != 5 {
			t.Errorf("invalid events redelivered: %+v", info)
		}
	})
}

func TestRefreshHotDefinitions(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		a := eventDef(t, w.id("a"), w.subj("org.x"), nil, "")
		b := eventDef(t, w.id("b"), w.subj("org.x"), nil, "")
		w.setDefs(a)
		// The in-process path: Refresh after the store changed (no
		// per-message store check).
		r := w.newRouter(func(c *Config) { c.SkipSyncCheck = true })
		w.start(r)
		w.publish(w.subj("org.x"), map[string]any{}, "e1")
		w.waitRuns(1)

		w.setDefs(a, b)
		if err := r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.publish(w.subj("org.x"), map[string]any{}, "e2")
		got := w.waitRuns(3)
		if _, ok := got[workflowID(w.id("b"), "e2")]; !ok {
			t.Errorf("added definition did not match the next event: %v", sortedKeys(got))
		}

		w.setDefs(disabled(a), b)
		if err := r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.publish(w.subj("org.x"), map[string]any{}, "e3")
		got = w.waitRuns(4)
		w.waitIdle(DurableDefault)
		if _, ok := got[workflowID(w.id("a"), "e3")]; ok {
			t.Errorf("disabled definition still matched")
		}

	})
}

func TestSyncInAnotherProcessIsSeenByTheNextEvent(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		a := eventDef(t, w.id("a"), w.subj("org.x"), nil, "")
		b := eventDef(t, w.id("b"), w.subj("org.x"), nil, "")
		w.setDefs(a)
		r := w.newRouter(func(c *Config) { c.RefreshInterval = time.Hour })
		w.start(r)
		w.publish(w.subj("org.x"), map[string]any{}, "e1")
		w.waitRuns(1)
		refreshes := countsOf(r).IndexLoads

		// As a sync in another process would: definitions and a sync
		// result stored, nobody calls Refresh.
		w.setDefs(disabled(a), b)
		w.publish(w.subj("org.x"), map[string]any{}, "e2")
		got := w.waitRuns(2)
		w.waitIdle(DurableDefault)
		if _, ok := got[workflowID(w.id("b"), "e2")]; !ok {
			t.Errorf("definition added by the sync did not match the next event: %v", sortedKeys(got))
		}
		if _, ok := got[workflowID(w.id("a"), "e2")]; ok {
			t.Errorf("definition disabled by the sync still matched")
		}
		if n := countsOf(r).IndexLoads; n != refreshes+1 {
			t.Errorf("refreshes %d -> %d, want exactly one reload", refreshes, n)
		}
		// No sync since: events do not reload.
		w.publish(w.subj("org.x"), map[string]any{}, "e3")
		w.waitRuns(3)
		if n := countsOf(r).IndexLoads; n != refreshes+1 {
			t.Errorf("reloaded without a new sync: %d", n)
		}
	})
}

func TestLoopGuard(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		notifier := w.id("notifier")
		w.setDefs(eventDef(t, notifier, w.lifecycle+".run.*", nil, ""))
		r := w.newRouter(func(c *Config) { c.ChainDepthLimit = 3 })
		w.start(r)
		life := func(status string, ev engine.LifecycleEvent, msgID string) {
			w.publish(w.lifecycle+".run."+status, ev, msgID)
		}
		life("failed", engine.LifecycleEvent{RunID: "r1", DefinitionID: w.id("other"), Status: store.RunFailed, ChainDepth: 0}, "l1")
		life("failed", engine.LifecycleEvent{RunID: "r2", DefinitionID: w.id("other"), Status: store.RunFailed, ChainDepth: 2}, "l2")
		life("failed", engine.LifecycleEvent{RunID: "r3", DefinitionID: w.id("other"), Status: store.RunFailed, ChainDepth: 3}, "l3") // depth 4 > 3
		life("succeeded", engine.LifecycleEvent{RunID: "r4", DefinitionID: notifier, Status: store.RunSucceeded}, "l4")               // itself
		got := w.waitRuns(2)
		w.waitIdle(DurableDefault)
		if ins := got[workflowID(notifier, "l1")]; len(ins) != 1 || ins[0].ChainDepth != 1 {
			t.Errorf("l1: %+v", ins)
		}
		if ins := got[workflowID(notifier, "l2")]; len(ins) != 1 || ins[0].ChainDepth != 3 {
			t.Errorf("l2: %+v", ins)
		}
		if st := w.settledCounts(r); st.LoopGuarded != 2 || st.Started != 2 || st.Acked != 4 || st.Naked != 0 {
			t.Errorf("stats: %+v", st)
		}
	})
}

func TestEnsureStream(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Created when missing, with the configured subjects.
		r := w.newRouter()
		if err := r.EnsureStream(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := w.js.Stream(ctx, w.stream)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Subjects; strings.Join(got, ",") != strings.Join(w.subjects, ",") {
			t.Errorf("subjects %v", got)
		}
		if got := s.CachedInfo().Config.Replicas; got != 1 {
			t.Errorf("replicas %d, want the default 1", got)
		}
		// Out-of-range replicas are refused before anything is contacted.
		for _, bad := range []int{-1, 6} {
			cfg := w.config(w.nc)
			cfg.StreamReplicas = bad
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "stream replicas must be 1 to 5") {
				t.Errorf("New with %d replicas: %v", bad, err)
			}
		}
		// Idempotent.
		if err := r.EnsureStream(ctx); err != nil {
			t.Fatal(err)
		}
		// A stream lacking a configured subject gets it added; its own
		// subjects are kept (never narrowed).
		extra := w.subj("extra.>")
		cfg := s.CachedInfo().Config
		cfg.Subjects = []string{w.subj("org.>"), extra}
		if _, err := w.js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if err := r.EnsureStream(ctx); err != nil {
			t.Fatal(err)
		}
		s, _ = w.js.Stream(ctx, w.stream)
		if got := strings.Join(s.CachedInfo().Config.Subjects, ","); got != strings.Join([]string{w.subj("org.>"), extra, w.subj("activity.>")}, ",") {
			t.Errorf("subjects after ensure: %s", got)
		}
		// A missing subject another stream holds: a warning, not an error.
		other := w.stream + "_OTHER"
		if _, err := w.js.CreateStream(ctx, jetstream.StreamConfig{Name: other, Subjects: []string{w.subj("held.>")}}); err != nil {
			t.Fatal(err)
		}
		r2 := w.newRouter(func(c *Config) { c.Subjects = append(slicesClone(w.subjects), w.subj("held.x")) })
		if err := r2.EnsureStream(ctx); err != nil {
			t.Errorf("EnsureStream with a subject held elsewhere: %v", err)
		}
		// Creating a stream whose subjects overlap another: a clear error.
		r3 := w.newRouter(func(c *Config) {
			c.Stream = w.stream + "_NEW"
			c.Subjects = []string{w.subj("held.>")}
		})
		err = r3.EnsureStream(ctx)
		var oe *overlapError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "ACTIVITY_NATS_STREAM") {
			t.Errorf("overlap error = %v", err)
		}
		if _, err := w.js.Stream(ctx, w.stream+"_NEW"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("overlapping stream created anyway: %v", err)
		}
		// Run reports it and returns instead of retrying forever.
		if err := r3.Run(ctx); !errors.As(err, &oe) {
			t.Errorf("Run = %v, want the overlap error", err)
		}
	})
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// TestNATSRestartLosesNoneDoublesNone restarts a NATS server (embedded,
// file storage, same port) while events are being published: the
// publisher retries with the same Nats-Msg-Id until acknowledged, the
// router reconnects on its own, and every event gets exactly one run.
func TestNATSRestartLosesNoneDoublesNone(t *testing.T) {
	t.Parallel()
	const n = 150
	dataDir := t.TempDir()
	port := freePort(t)
	srv, err := devserver.StartNATS(devserver.NATSConfig{DataDir: dataDir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	var srvMu sync.Mutex
	t.Cleanup(func() { srvMu.Lock(); srv.Stop(); srvMu.Unlock() })
	url := srv.ClientURL()

	w := newWorld(t, url)
	w.setDefs(eventDef(t, w.id("a"), w.subj("org.x"), nil, ""))
	rc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	r := w.newRouter(func(c *Config) { c.Conn = rc })
	w.start(r)

	pc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pc.Close)
	pjs, err := jetstream.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	var published atomic.Int64
	var pubWG sync.WaitGroup
	pubWG.Go(func() {
		for i := range n {
			id := fmt.Sprintf("ev-%d", i)
			// Retried while NATS restarts: the message id makes a retry
			// after a lost ack harmless.
			if err := testsupport.Poll(60*time.Second, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_, err := pjs.Publish(ctx, w.subj("org.x"), []byte(fmt.Sprintf(`{"i": %d}`, i)), jetstream.WithMsgID(id))
				return err
			}); err != nil {
				t.Errorf("publishing %s: %v", id, err)
				return
			}
			published.Add(1)
		}
	})
	testsupport.Eventually(t, 60*time.Second, "a third published", func() error {
		if p := published.Load(); p < n/3 {
			return fmt.Errorf("%d published", p)
		}
		return nil
	})
	t.Logf("restarting NATS after %d of %d events", published.Load(), n)
	srvMu.Lock()
	srv.Stop()
	srv, err = devserver.StartNATS(devserver.NATSConfig{DataDir: dataDir, Port: port})
	srvMu.Unlock()
	if err != nil {
		t.Fatalf("restarting NATS: %v", err)
	}
	pubWG.Wait()
	got := w.waitRuns(n)
	w.waitIdle(DurableDefault)
	for i := range n {
		if _, ok := got[workflowID(w.id("a"), fmt.Sprintf("ev-%d", i))]; !ok {
			t.Errorf("event %d lost", i)
		}
	}
	t.Logf("counts: %+v", countsOf(r))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestConsumerDeletedIsRecreated: an operator deletes the durable under a
// running router; it creates it again and goes on, and replayed events
// do not run twice.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		w.setDefs(eventDef(t, w.id("a"), w.subj("org.x"), nil, ""))
		r := w.newRouter()
		w.start(r)
		w.publish(w.subj("org.x"), map[string]any{}, "before")
		w.waitRuns(1)
		w.waitIdle(DurableDefault)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.js.DeleteConsumer(ctx, w.stream, DurableDefault); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, 60*time.Second, "consumer recreated", func() error {
			_, err := w.js.Consumer(ctx, w.stream, DurableDefault)
			return err
		})
		w.publish(w.subj("org.x"), map[string]any{}, "after")
		got := w.waitRuns(2)
		w.waitIdle(DurableDefault)
		if _, ok := got[workflowID(w.id("a"), "after")]; !ok {
			t.Errorf("runs: %v", sortedKeys(got))
		}
	})
}
