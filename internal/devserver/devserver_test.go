package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// One Temporal and one NATS for the whole package: a server start costs
// about a second and, because the SQLite plugin never releases a database,
// memory for the rest of the process.
var (
	testTemporal *Temporal
	testNATS     *NATS
)

const (
	saSpecHash     = "ActivityCoreSpecHash"
	saDefinitionID = "ActivityCoreDefinitionID"
)

var (
	specHashKey     = temporal.NewSearchAttributeKeyKeyword(saSpecHash)
	definitionIDKey = temporal.NewSearchAttributeKeyKeyword(saDefinitionID)
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	tmp, err := StartTemporal(ctx, TemporalConfig{Logger: serverLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "devserver: in-memory Temporal ready in %s on %s\n", time.Since(start).Round(time.Millisecond), tmp.Address())
	testTemporal = tmp
	defer func() {
		if err := tmp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "TestMain: stop Temporal:", err)
		}
	}()

	start = time.Now()
	n, err := StartNATS(NATSConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "devserver: NATS ready in %s on %s\n", time.Since(start).Round(time.Millisecond), n.ClientURL())
	testNATS = n
	defer n.Stop()

	return m.Run()
}

// serverLogger shows the server's warnings and errors on stderr, so a test
// failure caused by the server explains itself.
func serverLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func dial(t *testing.T, tmp *Temporal) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  tmp.Address(),
		Namespace: tmp.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", tmp.Address(), err)
	}
	t.Cleanup(c.Close)
	return c
}

func requireKeywordAttributes(t *testing.T, c client.Client, ns string, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("list search attributes: %v", err)
	}
	for _, name := range names {
		got, ok := resp.GetCustomAttributes()[name]
		if !ok {
			t.Errorf("search attribute %s not registered (custom: %v)", name, resp.GetCustomAttributes())
			continue
		}
		if got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s is %v, want Keyword", name, got)
		}
	}
}

func TestClientSeesNamespaceAndSearchAttributes(t *testing.T) {
	c := dial(t, testTemporal)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if testTemporal.Namespace() != defaultNamespace {
		t.Errorf("Namespace() = %q, want %q", testTemporal.Namespace(), defaultNamespace)
	}
	resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: testTemporal.Namespace()})
	if err != nil {
		t.Fatalf("describe namespace: %v", err)
	}
	if resp.GetNamespaceInfo().GetState() != enumspb.NAMESPACE_STATE_REGISTERED {
		t.Errorf("namespace state = %v", resp.GetNamespaceInfo().GetState())
	}
	if !strings.HasPrefix(testTemporal.Address(), loopback+":") {
		t.Errorf("Address() = %q, want a loopback address", testTemporal.Address())
	}
	requireKeywordAttributes(t, c, testTemporal.Namespace(), saSpecHash, saDefinitionID)
}

// listedAttribute returns the Keyword value of name on a listed schedule.
func listedAttribute(e *client.ScheduleListEntry, name string) string {
	p := e.SearchAttributes.GetIndexedFields()[name]
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return "<" + err.Error() + ">"
	}
	return s
}

// findSchedule lists schedules matching query and returns the entry with id.
func findSchedule(ctx context.Context, c client.Client, query, id string) (*client.ScheduleListEntry, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{Query: query})
	if err != nil {
		return nil, err
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		if e.ID == id {
			return e, nil
		}
	}
	return nil, nil
}

func TestScheduleSearchAttributeLifecycle(t *testing.T) {
	c := dial(t, testTemporal)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sc := c.ScheduleClient()

	id := fmt.Sprintf("activity-core:test-%d", time.Now().UnixNano())
	h, err := sc.Create(ctx, client.ScheduleOptions{
		ID:            id,
		Spec:          client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action:        &client.ScheduleWorkflowAction{ID: "wf-" + id, Workflow: "NeverRuns", TaskQueue: "devserver-unused"},
		Paused:        true,
		CatchupWindow: time.Minute,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			specHashKey.ValueSet("hash-1"),
			definitionIDKey.ValueSet("def-1"),
		),
	})
	if err != nil {
		t.Fatalf("create schedule: %v", err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = h.Delete(context.Background())
		}
	})

	// A second create with the same ID is how sync learns "exists: update".
	_, err = sc.Create(ctx, client.ScheduleOptions{
		ID:     id,
		Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action: &client.ScheduleWorkflowAction{ID: "wf-" + id, Workflow: "NeverRuns", TaskQueue: "devserver-unused"},
	})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		t.Errorf("duplicate create: err = %v, want ErrScheduleAlreadyRunning", err)
	}

	testsupport.Eventually(t, 20*time.Second, "listed by spec hash", func() error {
		e, err := findSchedule(ctx, c, saSpecHash+" = 'hash-1'", id)
		if err != nil || e == nil {
			return fmt.Errorf("entry=%v err=%v", e, err)
		}
		if got := listedAttribute(e, saDefinitionID); got != "def-1" {
			return fmt.Errorf("%s = %q, want def-1", saDefinitionID, got)
		}
		return nil
	})
	testsupport.Eventually(t, 20*time.Second, "listed by ID prefix", func() error {
		e, err := findSchedule(ctx, c, "ScheduleId STARTS_WITH 'activity-core:'", id)
		if err != nil || e == nil {
			return fmt.Errorf("entry=%v err=%v", e, err)
		}
		if got := listedAttribute(e, saSpecHash); got != "hash-1" {
			return fmt.Errorf("%s = %q, want hash-1", saSpecHash, got)
		}
		return nil
	})

	err = h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sa := temporal.NewSearchAttributes(specHashKey.ValueSet("hash-2"), definitionIDKey.ValueSet("def-1"))
			return &client.ScheduleUpdate{Schedule: &in.Description.Schedule, TypedSearchAttributes: &sa}, nil
		},
	})
	if err != nil {
		t.Fatalf("update schedule: %v", err)
	}
	testsupport.Eventually(t, 20*time.Second, "updated hash is queryable", func() error {
		e, err := findSchedule(ctx, c, saSpecHash+" = 'hash-2'", id)
		if err != nil || e == nil {
			return fmt.Errorf("new hash: entry=%v err=%v", e, err)
		}
		if old, err := findSchedule(ctx, c, saSpecHash+" = 'hash-1'", id); err != nil || old != nil {
			return fmt.Errorf("old hash still listed: entry=%v err=%v", old, err)
		}
		return nil
	})
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if !desc.Schedule.State.Paused {
		t.Errorf("update unpaused the schedule")
	}

	if err := h.Delete(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	deleted = true
	_, err = h.Describe(ctx)
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("describe after delete: err = %v, want NotFound", err)
	}
	testsupport.Eventually(t, 20*time.Second, "deleted schedule leaves the list", func() error {
		e, err := findSchedule(ctx, c, "ScheduleId = '"+id+"'", id)
		if err != nil || e != nil {
			return fmt.Errorf("entry=%v err=%v", e, err)
		}
		return nil
	})
}

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greetActivity, name).Get(ctx, &out)
	return out, err
}

func greetActivity(ctx context.Context, name string) (string, error) {
	return "hello " + name + " from " + activity.GetInfo(ctx).ActivityType.Name, nil
}

func TestWorkflowAndActivityRunToCompletion(t *testing.T) {
	c := dial(t, testTemporal)
	queue := fmt.Sprintf("devserver-test-%d", time.Now().UnixNano())
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterActivity(greetActivity)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, greetWorkflow, "devserver")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if want := "hello devserver from greetActivity"; out != want {
		t.Errorf("result = %q, want %q", out, want)
	}
	t.Logf("workflow + activity completed in %s", time.Since(start).Round(time.Millisecond))
}

// TestFileModeSurvivesRestart is the `dev` lifecycle: create a data dir,
// stop, start again on the same dir and port. The first run registers only
// one search attribute, so the second exercises adding a missing one to an
// existing database through the operator API.
func TestFileModeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	scheduleID := "activity-core:persisted"

	start := time.Now()
	first, err := StartTemporal(ctx, TemporalConfig{
		DataDir:          dir,
		Logger:           serverLogger(),
		SearchAttributes: map[string]enumspb.IndexedValueType{saSpecHash: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	})
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	t.Logf("new SQLite file: ready in %s", time.Since(start).Round(time.Millisecond))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = first.Stop()
		}
	})
	c := dial(t, first)
	requireKeywordAttributes(t, c, first.Namespace(), saSpecHash)
	if _, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:                    scheduleID,
		Spec:                  client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action:                &client.ScheduleWorkflowAction{ID: "wf-persisted", Workflow: "NeverRuns", TaskQueue: "devserver-unused"},
		Paused:                true,
		CatchupWindow:         time.Minute,
		TypedSearchAttributes: temporal.NewSearchAttributes(specHashKey.ValueSet("persisted")),
	}); err != nil {
		t.Fatalf("create schedule: %v", err)
	}
	// Describe waits for the schedule's first workflow task. Stopping with
	// that task in flight would make the first Describe after the restart
	// wait out the 10 s workflow task timeout (seen in 2 of 5 runs): real
	// Temporal behaviour after a crash, but not what this test is about.
	if _, err := c.ScheduleClient().GetHandle(ctx, scheduleID).Describe(ctx); err != nil {
		t.Fatalf("describe schedule: %v", err)
	}
	c.Close()
	addr := first.Address()
	clusterID, err := os.ReadFile(filepath.Join(dir, temporalSubdir, clusterIDFile))
	if err != nil {
		t.Fatalf("cluster id: %v", err)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true

	// Same dir, same (now fixed) frontend port: Stop must have freed it.
	for _, run := range []struct {
		name string
		dir  string
	}{
		{"restart on the same dir", dir},
		// The plugin keeps the first run's connection open in this process,
		// so also open a copy: that proves the state is in the file.
		{"start on a copy of the dir", copyDir(t, dir)},
	} {
		t.Run(run.name, func(t *testing.T) {
			start := time.Now()
			tmp, err := StartTemporal(ctx, TemporalConfig{DataDir: run.dir, FrontendAddr: addr, Logger: serverLogger()})
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			t.Logf("existing SQLite file: ready in %s", time.Since(start).Round(time.Millisecond))
			defer func() {
				if err := tmp.Stop(); err != nil {
					t.Errorf("stop: %v", err)
				}
			}()
			if tmp.Address() != addr {
				t.Errorf("Address() = %s, want %s", tmp.Address(), addr)
			}
			c := dial(t, tmp)
			requireKeywordAttributes(t, c, tmp.Namespace(), saSpecHash, saDefinitionID)
			desc, err := c.ScheduleClient().GetHandle(ctx, scheduleID).Describe(ctx)
			if err != nil {
				t.Fatalf("schedule did not survive: %v", err)
			}
			if !desc.Schedule.State.Paused {
				t.Errorf("schedule lost its paused state")
			}
			testsupport.Eventually(t, 20*time.Second, "persisted schedule listed by hash", func() error {
				e, err := findSchedule(ctx, c, saSpecHash+" = 'persisted'", scheduleID)
				if err != nil || e == nil {
					return fmt.Errorf("entry=%v err=%v", e, err)
				}
				return nil
			})
			got, err := os.ReadFile(filepath.Join(run.dir, temporalSubdir, clusterIDFile))
			if err != nil || string(got) != string(clusterID) {
				t.Errorf("cluster id changed: %q -> %q (%v)", clusterID, got, err)
			}
		})
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}

func TestStopFreesFrontendPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	goroutinesBefore := runtime.NumGoroutine()
	start := time.Now()
	tmp, err := StartTemporal(ctx, TemporalConfig{Logger: serverLogger()})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("in memory (not the first server in this process): ready in %s", time.Since(start).Round(time.Millisecond))
	addr := tmp.Address()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("frontend %s not accepting before Stop: %v", addr, err)
	}
	_ = conn.Close()
	goroutinesRunning := runtime.NumGoroutine()
	if err := tmp.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := tmp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = conn.Close()
		t.Fatalf("frontend %s still accepts connections after Stop", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("frontend port not reusable after Stop: %v", err)
	}
	_ = l.Close()

	// Goroutines wind down asynchronously after Stop. The server never
	// closes its internode gRPC client connections (~30 idle goroutines)
	// nor the SQLite plugin's pooled connection (1), so this cannot be zero;
	// the bound catches regressions such as the never-stopped system
	// workers devDynamicConfig turns off (~100 goroutines, still polling).
	left := -1
	testsupport.Eventually(t, 10*time.Second, "server goroutines exit", func() error {
		left = runtime.NumGoroutine() - goroutinesBefore
		if left > 50 {
			return fmt.Errorf("%d more goroutines than before start", left)
		}
		return nil
	})
	t.Logf("goroutines: %d before start, %d running, %d more than before after Stop", goroutinesBefore, goroutinesRunning, left)
}

func TestStartTemporalRejectsBusyFrontendAddr(t *testing.T) {
	l, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tmp, err := StartTemporal(ctx, TemporalConfig{FrontendAddr: l.Addr().String()})
	if err == nil {
		_ = tmp.Stop()
		t.Fatalf("StartTemporal on a busy address succeeded")
	}
	if !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("error does not name the address: %v", err)
	}
}

func TestNATSJetStream(t *testing.T) {
	nc, err := nats.Connect(testNATS.ClientURL())
	if err != nil {
		t.Fatalf("connect %s: %v", testNATS.ClientURL(), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "DEVSERVER_TEST", Subjects: []string{"devserver.test.>"}})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "devserver.test.hello", []byte("payload-1")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "devserver-test", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var got []string
	for msg := range batch.Messages() {
		got = append(got, msg.Subject()+"="+string(msg.Data()))
		if err := msg.DoubleAck(ctx); err != nil {
			t.Errorf("ack: %v", err)
		}
	}
	if batch.Error() != nil {
		t.Fatalf("fetch: %v", batch.Error())
	}
	if len(got) != 1 || got[0] != "devserver.test.hello=payload-1" {
		t.Errorf("consumed %q, want one devserver.test.hello=payload-1", got)
	}
}

func TestNATSStopFreesPortAndTempDir(t *testing.T) {
	n, err := StartNATS(NATSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(n.ClientURL(), "nats://")
	tempDir := n.tempDir
	if tempDir == "" {
		t.Fatalf("no temporary store dir for an empty DataDir")
	}
	n.Stop()
	n.Stop() // idempotent
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = conn.Close()
		t.Errorf("NATS %s still accepts connections after Stop", addr)
	}
	if _, err := os.Stat(tempDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary store dir %s not removed: %v", tempDir, err)
	}

	// A data dir keeps streams across restarts.
	dir := t.TempDir()
	n1, err := StartNATS(NATSConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	createStream := func(n *NATS) jetstream.JetStream {
		nc, err := nats.Connect(n.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	js := createStream(n1)
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "KEPT", Subjects: []string{"kept.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "kept.a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	n1.Stop()
	n2, err := StartNATS(NATSConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Stop()
	s, err := createStream(n2).Stream(ctx, "KEPT")
	if err != nil {
		t.Fatalf("stream lost across restart: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream has %d messages after restart, want 1", info.State.Msgs)
	}
}

func TestConfigValidation(t *testing.T) {
	ctx := context.Background()
	if _, err := StartTemporal(ctx, TemporalConfig{FrontendAddr: "not-an-address"}); err == nil {
		t.Errorf("bad FrontendAddr accepted")
	}
	if _, err := StartTemporal(ctx, TemporalConfig{SearchAttributes: map[string]enumspb.IndexedValueType{"X": enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED}}); err == nil {
		t.Errorf("unspecified search attribute type accepted")
	}
	if _, err := StartNATS(NATSConfig{Host: "example.com"}); err == nil {
		t.Errorf("non-IP NATS host accepted")
	}
	for _, tc := range []struct{ in, ip string }{
		{"", "127.0.0.1"}, {"localhost:7233", "127.0.0.1"}, {":7233", "127.0.0.1"}, {"0.0.0.0:7233", "0.0.0.0"},
	} {
		ip, _, err := splitAddr(tc.in, "127.0.0.1:0")
		if err != nil || ip != tc.ip {
			t.Errorf("splitAddr(%q) = %q, %v; want %q", tc.in, ip, err, tc.ip)
		}
	}
	if got := dialHost("0.0.0.0"); got != loopback {
		t.Errorf("dialHost(0.0.0.0) = %q", got)
	}
}
