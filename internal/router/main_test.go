package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// One embedded NATS and one in-memory Temporal for the package, plus a
// worker that runs a stub under engine.RunWorkflowName recording what the
// router started (the router only starts workflows; the engine has its own
// tests). Tests keep apart by unique stream names, subjects and
// definition ids.
var (
	testNATS     *devserver.NATS
	testTemporal *devserver.Temporal
	testClient   client.Client
	runs         = &recorder{byID: map[string][]engine.RunInput{}}
)

const (
	testTaskQueue = "router-test"
	// benchTaskQueue has no worker: benchmarks measure starts, not runs.
	benchTaskQueue = "router-bench-no-worker"
	// systemNATSEnv names the machine's nats-server (2.9) for the same
	// consumer tests.
	systemNATSEnv = "ACTIVITY_TEST_NATS_URL"
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := devserver.StartNATS(devserver.NATSConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: starting NATS:", err)
		return 1
	}
	defer n.Stop()
	testNATS = n
	tmp, err := devserver.StartTemporal(ctx, devserver.TemporalConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: starting Temporal:", err)
		return 1
	}
	defer func() { _ = tmp.Stop() }()
	testTemporal = tmp
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  tmp.Address(),
		Namespace: tmp.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: dialing Temporal:", err)
		return 1
	}
	defer c.Close()
	testClient = c
	w := worker.New(c, testTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(stubRunWorkflow, workflow.RegisterOptions{Name: engine.RunWorkflowName})
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: starting worker:", err)
		return 1
	}
	defer w.Stop()
	return m.Run()
}

// stubRunWorkflow stands in for RunActivityWorkflow and records its input.
func stubRunWorkflow(ctx workflow.Context, in engine.RunInput) error {
	runs.add(workflow.GetInfo(ctx).WorkflowExecution.ID, in)
	return nil
}

type recorder struct {
	mu   sync.Mutex
	byID map[string][]engine.RunInput
}

func (r *recorder) add(id string, in engine.RunInput) {
	r.mu.Lock()
	r.byID[id] = append(r.byID[id], in)
	r.mu.Unlock()
}

// with returns the runs whose workflow id starts with
// workflowIDPrefix+defPrefix, by workflow id.
func (r *recorder) with(defPrefix string) map[string][]engine.RunInput {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]engine.RunInput{}
	for id, ins := range r.byID {
		if strings.HasPrefix(id, workflowIDPrefix+defPrefix) {
			out[id] = append([]engine.RunInput(nil), ins...)
		}
	}
	return out
}

// natsTargets are the servers consumer tests run against: the embedded
// one always, the machine's (2.9) when ACTIVITY_TEST_NATS_URL is set.
func natsTargets() []struct{ name, url string } {
	out := []struct{ name, url string }{{"embedded", testNATS.ClientURL()}}
	if u := os.Getenv(systemNATSEnv); u != "" {
		out = append(out, struct{ name, url string }{"system", u})
	}
	return out
}

// forEachNATS runs fn as a subtest per NATS server.
func forEachNATS(t *testing.T, fn func(t *testing.T, w *world)) {
	for _, target := range natsTargets() {
		t.Run(target.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newWorld(t, target.url))
		})
	}
}

var worldSeq atomic.Int64

// world is one test's corner of the shared engines: its own stream,
// subjects, lifecycle prefix, definition namespace and store.
type world struct {
	t         testing.TB
	url       string
	nc        *nats.Conn
	js        jetstream.JetStream
	st        *sqlite.Store
	tok       string // unique token: subject root and definition namespace
	stream    string
	subjects  []string
	lifecycle string
}

func newWorld(t testing.TB, url string) *world {
	t.Helper()
	w := newWorldNames(t, url)
	w.nc = w.connect()
	js, err := jetstream.New(w.nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	w.js = js
	return w.withStore()
}

// newWorldOn is newWorld on a connection and JetStream context the test
// made (a secured server, a JetStream domain).
func newWorldOn(t testing.TB, url string, nc *nats.Conn, js jetstream.JetStream) *world {
	t.Helper()
	w := newWorldNames(t, url)
	w.nc, w.js = nc, js
	return w.withStore()
}

func newWorldNames(t testing.TB, url string) *world {
	n := worldSeq.Add(1)
	tok := fmt.Sprintf("rt%d%s", n, strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
	w := &world{t: t, url: url, tok: tok, stream: "RT_" + strings.ToUpper(tok)}
	w.subjects = []string{tok + ".org.>", tok + ".activity.>"}
	w.lifecycle = tok + ".activity"
	return w
}

// withStore gives w its store and deletes its streams when the test ends.
func (w *world) withStore() *world {
	t := w.t
	st, err := sqlite.New(context.Background(), sqlite.Config{
		Path:   filepath.Join(t.TempDir(), "store.db"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	w.st = st
	t.Cleanup(func() {
		// Only the streams this test made: never touch others.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, name := range []string{w.stream, w.stream + "_OTHER"} {
			if err := w.js.DeleteStream(ctx, name); err != nil && !isNotFound(err) {
				t.Errorf("deleting stream %s: %v", name, err)
			}
		}
	})
	return w
}

func isNotFound(err error) bool { return errors.Is(err, jetstream.ErrStreamNotFound) }

func (w *world) connect() *nats.Conn {
	nc, err := nats.Connect(w.url, nats.Name("router-test"), nats.MaxReconnects(-1))
	if err != nil {
		w.t.Fatalf("connecting to NATS %s: %v", w.url, err)
	}
	w.t.Cleanup(nc.Close)
	return nc
}

// id is a definition id in this world's namespace.
func (w *world) id(slug string) string { return w.tok + "." + slug }

// subj is a subject under this world's root.
func (w *world) subj(s string) string { return w.tok + "." + s }

func (w *world) config(nc *nats.Conn) Config {
	return Config{
		Conn:            nc,
		Temporal:        testClient,
		Store:           w.st,
		TaskQueue:       testTaskQueue,
		Stream:          w.stream,
		Subjects:        w.subjects,
		LifecyclePrefix: w.lifecycle,
		NakDelayMin:     20 * time.Millisecond,
		NakDelayMax:     200 * time.Millisecond,
		Logger:          testLogger(w.t),
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ROUTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (w *world) newRouter(configure ...func(*Config)) *Router {
	w.t.Helper()
	cfg := w.config(w.nc)
	for _, f := range configure {
		f(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		w.t.Fatalf("New: %v", err)
	}
	return r
}

// start runs r until the returned stop is called (or the test ends) and
// waits until it reads its consumer.
func (w *world) start(r *Router) (stop func()) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					w.t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				w.t.Errorf("Run did not return 30s after cancel")
			}
		})
	}
	w.t.Cleanup(stop)
	select {
	case <-r.Ready():
	case err := <-done:
		w.t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		w.t.Fatalf("router not ready after 30s")
	}
	return stop
}

// setDefs makes the store's live definitions exactly these, as a sync
// would, and records a sync so routers in "other processes" notice.
func (w *world) setDefs(defs ...store.Definition) {
	w.t.Helper()
	ctx := context.Background()
	var ids []string
	for _, d := range defs {
		ids = append(ids, d.ID)
	}
	if len(defs) > 0 {
		if _, err := w.st.UpsertDefinitions(ctx, defs...); err != nil {
			w.t.Fatalf("UpsertDefinitions: %v", err)
		}
	}
	if _, err := w.st.MarkDefinitionsRemoved(ctx, defsDir, ids); err != nil {
		w.t.Fatalf("MarkDefinitionsRemoved: %v", err)
	}
	now := time.Now().UTC()
	if err := w.st.SaveSyncResult(ctx, store.SyncResult{
		SyncID: uuid.NewString(), StartedAt: now, FinishedAt: now, OK: true, Result: json.RawMessage(`{}`),
	}); err != nil {
		w.t.Fatalf("SaveSyncResult: %v", err)
	}
}

func (w *world) publish(subject string, payload any, msgID string) *jetstream.PubAck {
	w.t.Helper()
	var data []byte
	switch p := payload.(type) {
	case []byte:
		data = p
	case string:
		data = []byte(p)
	default:
		var err error
		if data, err = json.Marshal(p); err != nil {
			w.t.Fatalf("marshal: %v", err)
		}
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := w.js.Publish(ctx, subject, data, opts...)
	if err != nil {
		w.t.Fatalf("publish %s: %v", subject, err)
	}
	return ack
}

// waitRuns waits until exactly n runs of this world's definitions have
// been recorded and returns them.
func (w *world) waitRuns(n int) map[string][]engine.RunInput {
	w.t.Helper()
	var got map[string][]engine.RunInput
	testsupport.Eventually(w.t, 60*time.Second, fmt.Sprintf("%d runs", n), func() error {
		got = runs.with(w.tok + ".")
		if len(got) < n {
			return fmt.Errorf("%d runs so far", len(got))
		}
		return nil
	})
	if len(got) != n {
		w.t.Fatalf("%d runs, want %d: %v", len(got), n, sortedKeys(got))
	}
	for id, ins := range got {
		if len(ins) != 1 {
			w.t.Errorf("workflow %s ran %d times", id, len(ins))
		}
	}
	return got
}

// waitIdle waits until the router's consumer has nothing pending and
// nothing unacknowledged: every message was routed and acked.
func (w *world) waitIdle(durable string) *jetstream.ConsumerInfo {
	w.t.Helper()
	var info *jetstream.ConsumerInfo
	testsupport.Eventually(w.t, 60*time.Second, "consumer idle", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := w.js.Consumer(ctx, w.stream, durable)
		if err != nil {
			return err
		}
		if info, err = c.Info(ctx); err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	return info
}

// counts are the router's counters, read from its Prometheus metrics.
type counts struct {
	Received, Invalid, Matched, Started, Deduplicated, LoopGuarded, StartFailures, Acked, Naked, IndexLoads uint64
}

func countsOf(r *Router) counts {
	n := func(c prometheus.Collector) uint64 { return uint64(testutil.ToFloat64(c)) }
	var invalid uint64
	for _, reason := range []string{"not_json", "not_object", "too_large", "too_deep", "duplicate_key", "schema"} {
		invalid += n(r.m.invalid.WithLabelValues(reason))
	}
	return counts{
		Received: n(r.m.received), Invalid: invalid, Matched: n(r.m.matched), Started: n(r.m.started),
		Deduplicated: n(r.m.deduplicated), LoopGuarded: n(r.m.guarded), StartFailures: n(r.m.startFailures),
		Acked: n(r.m.acked), Naked: n(r.m.naked), IndexLoads: n(r.m.indexLoads),
	}
}

// settledCounts waits until the router has counted an outcome (ack or
// nak) for every delivery the consumer made, then returns its counts: the
// server sees an ack before the router's counter does, so reading them
// right after waitIdle races with the last ack.
func (w *world) settledCounts(r *Router) counts {
	w.t.Helper()
	var c counts
	testsupport.Eventually(w.t, 60*time.Second, "router counted every delivery", func() error {
		info := w.waitIdle(DurableDefault)
		c = countsOf(r)
		if done := c.Acked + c.Naked; done < info.Delivered.Consumer {
			return fmt.Errorf("%d deliveries, %d acked or naked", info.Delivered.Consumer, done)
		}
		return nil
	})
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const defsDir = "/defs"

// eventDef builds a stored event definition from its parts through the
// real parser, as a sync would store it.
func eventDef(t testing.TB, id, eventType string, filters map[string]any, extra string) store.Definition {
	t.Helper()
	doc := fmt.Sprintf("id: %s\ntrigger:\n  trigger_type: event\n  event_type: %q\n", id, eventType)
	if len(filters) > 0 {
		b, err := json.Marshal(filters)
		if err != nil {
			t.Fatal(err)
		}
		doc += "  filters: " + string(b) + "\n"
	}
	doc += "instruction:\n  kind: shell\n  cmd: echo hi\n" + extra
	def, err := definition.Parse(id+".yaml", []byte(doc))
	if err != nil {
		t.Fatalf("parsing %s: %v\n%s", id, err, doc)
	}
	return storeDef(def)
}

func storeDef(def *definition.Definition) store.Definition {
	return store.Definition{
		ID:          def.ID,
		ContentHash: def.ContentHash(),
		Spec:        def.CanonicalJSON(),
		SourceFile:  defsDir + "/" + def.ID + ".yaml",
		SourceDir:   defsDir,
		Enabled:     def.Enabled,
		TriggerType: store.TriggerType(def.Trigger.Type),
		EventType:   def.Trigger.EventType,
	}
}

func disabled(d store.Definition) store.Definition {
	def, err := definition.FromCanonicalJSON(d.Spec)
	if err != nil {
		panic(err)
	}
	def.Enabled = false
	return storeDef(def)
}
