package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// benchDefs builds n event definitions shaped like a large deployment,
// under subject root `root` (e.g. "org" or "<tok>.org"):
//
//   - 40%: exact subjects root.team<T>.<resource>.<action> (200 teams x 10
//     resources x 5 actions), half with a filter on env;
//   - 20%: wildcards: root.team<T>.*.created, root.team<T>.deploy.>;
//   - 25%: one hook per repository on root.repo.commit.pushed, filter
//     repo_slug: repo-<i> (and, for some, a branch list), the seed's shape
//     at scale: all share one subject;
//   - 15%: chained definitions on <lifecycle>.run.failed|succeeded with a
//     definition_id filter.
//
// The slug of the hook for repository i is "hook-<i>".
func benchDefs(tb testing.TB, n int, ns, root, lifecycle string) []store.Definition {
	tb.Helper()
	resources := []string{"deploy", "build", "issue", "alert", "release", "job", "backup", "cert", "user", "db"}
	actions := []string{"created", "updated", "deleted", "failed", "done"}
	var defs []store.Definition
	add := func(slug, subject string, filters map[string]any) {
		defs = append(defs, benchDef(tb, ns+"."+slug, subject, filters))
	}
	for i := range n {
		switch p := i % 20; {
		case p < 8:
			var f map[string]any
			if i%2 == 0 {
				f = map[string]any{"env": []string{"prod", "staging-*"}}
			}
			add(fmt.Sprintf("exact-%d", i), fmt.Sprintf("%s.team%d.%s.%s", root, i%200, resources[(i/200)%10], actions[(i/2000)%5]), f)
		case p < 10:
			add(fmt.Sprintf("wild-%d", i), fmt.Sprintf("%s.team%d.*.created", root, i%200), nil)
		case p < 12:
			add(fmt.Sprintf("rest-%d", i), fmt.Sprintf("%s.team%d.deploy.>", root, i%200), map[string]any{"service": fmt.Sprintf("svc-%d", i%50)})
		case p < 17:
			f := map[string]any{"repo_slug": fmt.Sprintf("repo-%d", i)}
			if i%3 == 0 {
				f["branch"] = []string{"main", "release/*"}
			}
			add(fmt.Sprintf("hook-%d", i), root+".repo.commit.pushed", f)
		default:
			status := []string{"failed", "succeeded"}[i%2]
			add(fmt.Sprintf("chain-%d", i), lifecycle+".run."+status, map[string]any{"definition_id": fmt.Sprintf("%s.exact-%d", ns, i-10)})
		}
	}
	return defs
}

// benchDef is eventDef without the YAML round trip (10,000 parses are
// slow and prove nothing new).
func benchDef(tb testing.TB, id, subject string, filters map[string]any) store.Definition {
	def := &definition.Definition{
		ID: id, Enabled: true,
		Trigger:     definition.Trigger{Type: definition.TriggerEvent, EventType: subject, Filters: map[string][]string{}},
		Instruction: definition.Instruction{Kind: definition.InstructionShell, Cmd: "true", Timeout: definition.Duration(time.Hour)},
		OnFailure:   definition.OnFailureFail,
	}
	for k, v := range filters {
		switch t := v.(type) {
		case string:
			def.Trigger.Filters[k] = []string{t}
		case []string:
			def.Trigger.Filters[k] = t
		}
	}
	return storeDef(def)
}

// benchEvents are events of every kind above, most matching one
// definition or a few, some matching none.
func benchEvents(tb testing.TB, n int, root, lifecycle, ns string) []struct {
	subject string
	payload map[string]any
} {
	rng := rand.New(rand.NewPCG(7, 7))
	resources := []string{"deploy", "build", "issue", "alert", "release", "job", "backup", "cert", "user", "db"}
	actions := []string{"created", "updated", "deleted", "failed", "done"}
	out := make([]struct {
		subject string
		payload map[string]any
	}, n)
	for i := range out {
		var subject, payload string
		switch rng.IntN(4) {
		case 0:
			subject = fmt.Sprintf("%s.team%d.%s.%s", root, rng.IntN(250), resources[rng.IntN(10)], actions[rng.IntN(5)])
			payload = fmt.Sprintf(`{"env": "prod", "service": "svc-%d", "actor": {"login": "u%d"}, "n": %d}`, rng.IntN(60), rng.IntN(99), rng.IntN(1000))
		case 1, 2:
			subject = root + ".repo.commit.pushed"
			payload = fmt.Sprintf(`{"repo_slug": "repo-%d", "branch": "main", "commits": [{"id": "a1", "author": "x"}], "forced": false}`, rng.IntN(12000))
		default:
			subject = lifecycle + ".run." + []string{"failed", "succeeded"}[rng.IntN(2)]
			payload = fmt.Sprintf(`{"run_id": "r", "definition_id": "%s.exact-%d", "status": "failed", "chain_depth": 0}`, ns, rng.IntN(10000))
		}
		p, err := DecodePayload([]byte(payload))
		if err != nil {
			tb.Fatal(err)
		}
		out[i].subject, out[i].payload = subject, p
	}
	return out
}

// BenchmarkMatch10k: matching one event against an index of 10,000 event
// definitions (docs/benchmarks.md budget: under 20 µs per event). ns/op is per event.
func BenchmarkMatch10k(b *testing.B) {
	defs := benchDefs(b, 10000, "bench", "org", "activity")
	ix := NewIndex(defs, IndexOptions{})
	if ix.Enabled() != 10000 || len(ix.Problems()) != 0 {
		b.Fatalf("index: %d enabled, problems %v", ix.Enabled(), ix.Problems())
	}
	events := benchEvents(b, 4096, "org", "activity", "bench")
	matches := 0
	for _, e := range events {
		matches += len(ix.Match(e.subject, e.payload))
	}
	b.Run("mixed", func(b *testing.B) {
		i := 0
		for b.Loop() {
			e := &events[i%len(events)]
			ix.Match(e.subject, e.payload)
			i++
		}
		b.ReportMetric(float64(matches)/float64(len(events)), "matches/event")
	})
	b.Run("decode+match", func(b *testing.B) {
		raw := make([][]byte, len(events))
		for i, e := range events {
			raw[i], _ = json.Marshal(e.payload)
		}
		i := 0
		for b.Loop() {
			e := &events[i%len(events)]
			p, _ := DecodePayload(raw[i%len(raw)])
			ix.Match(e.subject, p)
			i++
		}
	})
	// 10,000 definitions on one subject, each with a glob on the same
	// field. Globs with a literal prefix (repo-77-*) or suffix (*-77) are
	// keyed by it; globs with wildcards at both ends (*-77-*) cannot be,
	// so every one is a candidate and checked: the case the index does
	// not help with.
	for _, tc := range []struct{ name, format, value string }{
		{"one-subject-prefix-globs", "repo-%d-*", "repo-77-x"},
		{"one-subject-suffix-globs", "*-%d", "repo-77"},
		{"one-subject-infix-globs-unkeyed", "*-%d-*", "repo-77-x"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var defs []store.Definition
			for i := range 10000 {
				defs = append(defs, benchDef(b, fmt.Sprintf("w.g%d", i), "org.repo.commit.pushed", map[string]any{"repo_slug": fmt.Sprintf(tc.format, i)}))
			}
			ix := NewIndex(defs, IndexOptions{})
			p := map[string]any{"repo_slug": tc.value}
			if got := ix.Match("org.repo.commit.pushed", p); len(got) != 1 {
				b.Fatalf("got %d matches", len(got))
			}
			for b.Loop() {
				ix.Match("org.repo.commit.pushed", p)
			}
		})
	}
}

// BenchmarkIndexBuild10k: building (and rebuilding, with the previous
// index's compiled entries reused) the index of 10,000 definitions.
func BenchmarkIndexBuild10k(b *testing.B) {
	defs := benchDefs(b, 10000, "bench", "org", "activity")
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			NewIndex(defs, IndexOptions{})
		}
	})
	b.Run("reload-unchanged", func(b *testing.B) {
		prev := NewIndex(defs, IndexOptions{})
		for b.Loop() {
			newIndex(defs, IndexOptions{}, prev)
		}
	})
}

// routeBench is the shared setup of the routed benchmarks: the embedded
// engines, 10,000 definitions in the store, and a world for the streams.
type routeBench struct {
	w *world
}

func newRouteBench(b *testing.B) *routeBench {
	w := newWorld(b, testNATS.ClientURL())
	defs := benchDefs(b, 10000, w.tok, w.tok+".org", w.lifecycle)
	if os.Getenv("BENCH_SMALL_INDEX") != "" {
		defs = slices.DeleteFunc(defs, func(d store.Definition) bool { return d.EventType != w.tok+".org.repo.commit.pushed" })
	}
	w.setDefs(defs...)
	return &routeBench{w: w}
}

// publishHookEvents publishes n commit events, each matching exactly one
// repository hook, and returns the stream sequence of the first.
func (rb *routeBench) publishHookEvents(b *testing.B, round, n int) uint64 {
	var first uint64
	ctx := context.Background()
	acks := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		repo := (i*20)%10000 + 12 + i%5 // i%20 in [12,17): a hook
		data := fmt.Appendf(nil, `{"repo_slug": "repo-%d", "branch": "main", "commits": [{"id": "c%d"}]}`, repo, i)
		f, err := rb.w.js.PublishAsync(rb.w.subj("org.repo.commit.pushed"), data, jetstream.WithMsgID(fmt.Sprintf("r%d-e%d", round, i)))
		if err != nil {
			b.Fatal(err)
		}
		acks = append(acks, f)
	}
	for i, f := range acks {
		select {
		case ack := <-f.Ok():
			if i == 0 {
				first = ack.Sequence
			}
		case err := <-f.Err():
			b.Fatal(err)
		case <-ctx.Done():
		}
	}
	return first
}

func (rb *routeBench) consumerAt(b *testing.B, name string, seq uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := rb.w.js.CreateConsumer(ctx, rb.w.stream, jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: -1,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq, MaxAckPending: 1000,
	})
	if err != nil {
		b.Fatal(err)
	}
}

// bare is the baseline: JetStream consume plus StartWorkflow, the same
// concurrency, options and ack as the router, no matching.
func (rb *routeBench) bare(b *testing.B, taskQueue, durable string, n, concurrency int, onStarted func(lat, own time.Duration)) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons, err := rb.w.js.Consumer(ctx, rb.w.stream, durable)
	if err != nil {
		b.Fatal(err)
	}
	type work struct {
		msg      jetstream.Msg
		received time.Time
	}
	ch := make(chan work)
	var done atomic.Int64
	finished := make(chan struct{})
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for w := range ch {
				msg := w.msg
				meta, _ := msg.Metadata()
				sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
				own := time.Since(w.received)
				_, err := testClient.ExecuteWorkflow(sctx, client.StartWorkflowOptions{
					ID: rb.bareID(durable, msg), TaskQueue: taskQueue,
					WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
					WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
					WorkflowExecutionErrorWhenAlreadyStarted: true,
				}, engine.RunWorkflowName, engine.RunInput{DefinitionID: "bare.x", Trigger: store.RunTriggerEvent,
					Event: &engine.Event{Subject: msg.Subject(), ID: "x", Time: meta.Timestamp, Payload: msg.Data()}})
				scancel()
				var already *serviceerror.WorkflowExecutionAlreadyStarted
				if err != nil && !errors.As(err, &already) {
					b.Errorf("bare start: %v", err)
				}
				if err == nil && onStarted != nil {
					onStarted(time.Since(meta.Timestamp), own)
				}
				_ = msg.DoubleAck(ctx)
				if done.Add(1) == int64(n) {
					close(finished)
				}
			}
		})
	}
	start := time.Now()
	var gate sync.RWMutex
	closed := false
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		gate.RLock()
		defer gate.RUnlock()
		if !closed {
			select {
			case ch <- work{msg, time.Now()}:
			case <-ctx.Done():
			}
		}
	}, jetstream.PullMaxMessages(2*concurrency))
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-finished:
	case <-time.After(5 * time.Minute):
		b.Fatal("bare consumer did not finish")
	}
	elapsed := time.Since(start)
	cc.Stop()
	cancel()
	gate.Lock()
	closed = true
	close(ch)
	gate.Unlock()
	wg.Wait()
	return elapsed
}

// bareID gives the baseline's workflows ids shaped and ordered like the
// router's (activity-core:evt:<definition>:<event id>, the definition
// read off the payload without any index), in their own namespace: the
// embedded server's SQLite visibility store inserts ids in random order
// markedly slower than ascending ones, so the baseline must not get a
// cheaper id order than the router.
func (rb *routeBench) bareID(durable string, msg jetstream.Msg) string {
	if os.Getenv("BENCH_BARE_SEQ_IDS") != "" {
		meta, _ := msg.Metadata()
		return fmt.Sprintf("bare:%s:%s:%d", rb.w.tok, durable, meta.Sequence.Stream)
	}
	var p struct {
		RepoSlug string `json:"repo_slug"`
	}
	_ = json.Unmarshal(msg.Data(), &p)
	hook := "hook-" + strings.TrimPrefix(p.RepoSlug, "repo-")
	return workflowID(rb.w.tok+"b."+hook, msg.Headers().Get(jetstream.MsgIDHeader))
}

func (rb *routeBench) routed(b *testing.B, durable string, n, concurrency int) time.Duration {
	var started atomic.Int64
	finished := make(chan struct{})
	cfg := rb.w.config(rb.w.nc)
	cfg.TaskQueue = benchTaskQueue
	cfg.Durable = durable
	cfg.Concurrency = concurrency
	cfg.SkipSyncCheck = os.Getenv("BENCH_SKIP_CHECK") != ""
	cfg.onStarted = func(_, _ string, _, _ time.Duration) {
		if started.Add(1) == int64(n) {
			close(finished)
		}
	}
	r, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Timing starts when the router reads its consumer (stream ensured,
	// index loaded): the measurement is routing, not startup.
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()
	select {
	case <-r.Ready():
	case err := <-runDone:
		b.Fatalf("Run: %v", err)
	}
	start := time.Now()
	select {
	case <-finished:
	case err := <-runDone:
		b.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Minute):
		b.Fatalf("router did not finish: %+v", countsOf(r))
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-runDone; err != nil {
		b.Fatal(err)
	}
	if st := countsOf(r); st.Started != uint64(n) || st.StartFailures != 0 {
		b.Fatalf("stats: %+v", st)
	}
	return elapsed
}

// BenchmarkRouteThroughput compares the router (10,000 definitions in the
// index, each event matching one) with the bare baseline on the same
// embedded NATS and Temporal, alternating rounds so neither gets a warmer
// or emptier server (docs/benchmarks.md budget: routed >= 80% of bare). Run with
// -benchtime=1x; ns/op is the whole comparison.
func BenchmarkRouteThroughput(b *testing.B) {
	const (
		perRound    = 1000
		rounds      = 3
		concurrency = 16
	)
	rb := newRouteBench(b)
	// The router creates the stream; a first throwaway round warms both
	// paths (connections, the Temporal task queue).
	cfg := rb.w.config(rb.w.nc)
	r, _ := New(cfg)
	if err := r.EnsureStream(context.Background()); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		var bare, routed time.Duration
		for round := range rounds + 1 {
			seq := rb.publishHookEvents(b, round, perRound)
			bd, rd := fmt.Sprintf("bare-%d", round), fmt.Sprintf("routed-%d", round)
			rb.consumerAt(b, bd, seq)
			rb.consumerAt(b, rd, seq)
			var tb, tr time.Duration
			if round%2 == 0 {
				tb = rb.bare(b, benchTaskQueue, bd, perRound, concurrency, nil)
				tr = rb.routed(b, rd, perRound, concurrency)
			} else {
				tr = rb.routed(b, rd, perRound, concurrency)
				tb = rb.bare(b, benchTaskQueue, bd, perRound, concurrency, nil)
			}
			b.Logf("round %d: bare %.0f ev/s, routed %.0f ev/s", round, perRound/tb.Seconds(), perRound/tr.Seconds())
			if round == 0 {
				continue // warm-up
			}
			bare += tb
			routed += tr
		}
		n := float64(perRound * rounds)
		b.ReportMetric(n/bare.Seconds(), "bare-ev/s")
		b.ReportMetric(n/routed.Seconds(), "routed-ev/s")
		b.ReportMetric(bare.Seconds()/routed.Seconds(), "routed/bare")
	}
}

// BenchmarkRouteLatency200 publishes at 200 events/s (each matching one of
// 10,000 definitions) and reports stream store time -> StartWorkflow
// returned latency percentiles for the router (docs/benchmarks.md budget: p99 under
// 50 ms), and for the bare baseline on the same engines, measured the same
// way in the same run; "own" is the part before the StartWorkflow call
// (waiting for a free worker, and for the router: decode, sync check,
// match). Starts go to a task queue without a worker, as in the
// throughput benchmark; BENCH_LAT_WORKER=1 has the package's stub worker
// run them. Run with -benchtime=2x (both orders).
func BenchmarkRouteLatency200(b *testing.B) {
	const (
		rate        = 200
		events      = 2000 // 10 s
		concurrency = 16
	)
	taskQueue := benchTaskQueue
	if os.Getenv("BENCH_LAT_WORKER") != "" {
		taskQueue = testTaskQueue
	}
	rb := newRouteBench(b)
	cfg := rb.w.config(rb.w.nc)
	if r, _ := New(cfg); r.EnsureStream(context.Background()) != nil {
		b.Fatal("EnsureStream")
	}
	nextSeq := func() uint64 {
		s, err := rb.w.js.Stream(context.Background(), rb.w.stream)
		if err != nil {
			b.Fatal(err)
		}
		return s.CachedInfo().State.LastSeq + 1
	}
	publish := func(tag string) {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := range events {
			<-tick.C
			repo := (i*20)%10000 + 12 + i%5
			data := fmt.Appendf(nil, `{"repo_slug": "repo-%d", "branch": "main"}`, repo)
			if _, err := rb.w.js.PublishAsync(rb.w.subj("org.repo.commit.pushed"), data, jetstream.WithMsgID(fmt.Sprintf("%s-%d", tag, i))); err != nil {
				b.Fatal(err)
			}
		}
	}
	type sample struct{ lat, own time.Duration }
	report := func(name string, ss []sample) {
		pct := func(ds []time.Duration, p float64) float64 {
			return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000
		}
		var lats, owns []time.Duration
		for _, s := range ss {
			lats, owns = append(lats, s.lat), append(owns, s.own)
		}
		slices.Sort(lats)
		slices.Sort(owns)
		b.ReportMetric(pct(lats, 0.50), name+"-p50-ms")
		b.ReportMetric(pct(lats, 0.99), name+"-p99-ms")
		b.ReportMetric(pct(lats, 1), name+"-max-ms")
		b.ReportMetric(pct(owns, 0.50), name+"-own-p50-ms")
		b.ReportMetric(pct(owns, 0.99), name+"-own-p99-ms")
	}
	var mu sync.Mutex
	var bare, routed []sample
	runBare := func(tag string) {
		bd := "lat-bare-" + tag
		rb.consumerAt(b, bd, nextSeq())
		var wg sync.WaitGroup
		wg.Go(func() {
			rb.bare(b, taskQueue, bd, events, concurrency, func(lat, own time.Duration) {
				mu.Lock()
				bare = append(bare, sample{lat, own})
				mu.Unlock()
			})
		})
		publish(bd)
		wg.Wait()
	}
	runRouted := func(tag string) {
		rd := "lat-routed-" + tag
		rb.consumerAt(b, rd, nextSeq())
		var started atomic.Int64
		cfg := rb.w.config(rb.w.nc)
		cfg.TaskQueue = taskQueue
		cfg.Durable = rd
		cfg.Concurrency = concurrency
		cfg.SkipSyncCheck = os.Getenv("BENCH_SKIP_CHECK") != ""
		cfg.onStarted = func(_, _ string, lat, own time.Duration) {
			mu.Lock()
			routed = append(routed, sample{lat, own})
			mu.Unlock()
			started.Add(1)
		}
		r, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		stop := rb.w.start(r)
		publish(rd)
		testsupport.Eventually(b, 60*time.Second, "all started", func() error {
			if s := started.Load(); s < events {
				return fmt.Errorf("%d started", s)
			}
			return nil
		})
		stop()
	}
	// Alternate which goes first (-benchtime=2x runs both orders): the
	// server slows as started workflows pile up.
	for iter := range b.N {
		tag := fmt.Sprintf("%d-%d", b.N, iter)
		if iter%2 == 0 {
			runBare(tag)
			runRouted(tag)
		} else {
			runRouted(tag)
			runBare(tag)
		}
	}
	report("bare", bare)
	report("routed", routed)
}
