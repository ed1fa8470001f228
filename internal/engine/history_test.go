package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/store"
)

// The tests here run the workflow on a real (embedded) Temporal server,
// because what they check is what the server records: the number of
// history events a run costs, the histories the replay test reads, and
// the run record each path leaves behind.

var (
	temporalOnce sync.Once
	temporalSrv  *devserver.Temporal
	temporalErr  error
)

func TestMain(m *testing.M) {
	warmBinaryChecksum()
	code := m.Run()
	if temporalSrv != nil {
		_ = temporalSrv.Stop()
	}
	os.Exit(code)
}

// warmBinaryChecksum runs one activity in the SDK's test environment
// before any test. The environment hashes the test binary on its first
// activity (once per process); in a workflow test that happens inside
// workflow code, and this package's binary embeds the server, so the hash
// can take long enough to trip the environment's one-second deadlock
// detector.
func warmBinaryChecksum() {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: "warm"})
	_, _ = env.ExecuteActivity("warm")
}

// embeddedTemporal starts one server for the package, on first use.
func embeddedTemporal(t testing.TB) *devserver.Temporal {
	t.Helper()
	temporalOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		temporalSrv, temporalErr = devserver.StartTemporal(ctx, devserver.TemporalConfig{})
	})
	if temporalErr != nil {
		t.Fatalf("embedded Temporal: %v", temporalErr)
	}
	return temporalSrv
}

// liveHarness is the unit-test harness with a real worker on the embedded
// server instead of the SDK's test environment.
type liveHarness struct {
	*harness
	tc    client.Client
	queue string
}

func newLiveHarness(t testing.TB) *liveHarness {
	t.Helper()
	srv := embeddedTemporal(t)
	h := newHarness(t)
	tc, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	queue := "engine-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	h.acts.cfg.Temporal, h.acts.cfg.TaskQueue = tc, queue
	w := worker.New(tc, queue, WorkerOptions(worker.Options{}))
	Register(w, h.acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &liveHarness{harness: h, tc: tc, queue: queue}
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// runPath is one shape of run: a definition and how it is fired.
type runPath struct {
	name string
	def  string // YAML; %s is the context server's URL
	in   RunInput
}

var pathEvent = &Event{Subject: "org.repo.pushed", ID: "ev-1", Time: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), Payload: json.RawMessage(`{"repo":"a/b"}`)}

// runPaths are the paths whose cost and records are tracked
// (docs/architecture.md#the-run-workflow).
func runPaths() []runPath {
	ev := func(id string) RunInput {
		return RunInput{DefinitionID: id, Trigger: store.RunTriggerEvent, Event: pathEvent}
	}
	evDef := func(id, extra string) string {
		return "id: " + id + "\ntrigger: {trigger_type: event, event_type: org.repo.pushed}\n" + extra
	}
	return []runPath{
		{"simplest", evDef("p.simplest", "instruction: {kind: shell, cmd: 'echo hi'}\n"), ev("p.simplest")},
		{"context", evDef("p.context", "context:\n  - {kind: http_get, url: '%s/ok', bind: hub}\ninstruction: {kind: shell, cmd: 'printf %%s \"$ACTIVITY_CONTEXT_JSON\"'}\n"), ev("p.context")},
		{"rule", evDef("p.rule", "rule: {when: [\"event.payload.repo == 'a/b'\"]}\ninstruction: {kind: shell, cmd: 'echo hi'}\n"), ev("p.rule")},
		{"context-rule", evDef("p.context-rule", "context:\n  - {kind: http_get, url: '%s/ok', bind: hub}\nrule: {when: [\"hub.count > 3\"]}\ninstruction: {kind: shell, cmd: 'echo hi'}\n"), ev("p.context-rule")},
		{"rule-false", evDef("p.rule-false", "rule: {when: [\"event.payload.repo == 'c/d'\"]}\ninstruction: {kind: shell, cmd: 'echo hi'}\n"), ev("p.rule-false")},
		{"key", evDef("p.key", "concurrency_key: pathkey\ninstruction: {kind: shell, cmd: 'echo hi'}\n"), ev("p.key")},
		{"guard", "id: p.guard\ntrigger: {trigger_type: cron, cron_expression: '0 0 1 1 *'}\ninstruction: {kind: shell, cmd: 'echo hi'}\n", RunInput{DefinitionID: "p.guard", Trigger: store.RunTriggerCron}},
		{"failed", evDef("p.failed", "on_failure: log_and_continue\ninstruction: {kind: shell, cmd: 'echo out; exit 3'}\n"), ev("p.failed")},
		{"disabled", evDef("p.disabled", "enabled: false\ninstruction: {kind: shell, cmd: 'echo hi'}\n"), ev("p.disabled")},
	}
}

// pathRun is what one path left: its history and its records.
type pathRun struct {
	events    []json.RawMessage
	run       store.Run
	lifecycle []published
}

// runLive starts a path's workflow on the embedded server and waits for it.
func (h *liveHarness) runLive(t *testing.T, p runPath, hubURL string) pathRun {
	t.Helper()
	src := p.def
	if strings.Contains(src, "%s") {
		src = fmt.Sprintf(src, hubURL)
	}
	h.put(src)
	ctx := context.Background()
	wr, err := h.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "path-" + p.name + "-" + NewRunID(), TaskQueue: h.queue}, RunWorkflowName, p.in)
	if err != nil {
		t.Fatal(err)
	}
	var out RunOutput
	if err := wr.Get(ctx, &out); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	it := h.tc.GetWorkflowHistory(ctx, wr.GetID(), wr.GetRunID(), false, 0)
	var res pathRun
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		res.events = append(res.events, b)
	}
	res.run, err = h.store.GetRun(ctx, out.RunID)
	if err != nil {
		t.Fatalf("%s: run %s: %v", p.name, out.RunID, err)
	}
	h.pub.mu.Lock()
	for _, m := range h.pub.msgs {
		var ev LifecycleEvent
		if json.Unmarshal(m.Data, &ev) == nil && ev.RunID == out.RunID {
			res.lifecycle = append(res.lifecycle, m)
		}
	}
	h.pub.mu.Unlock()
	return res
}

func contextServer(t *testing.T) *httptest.Server {
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok","count":4}`)
	}))
	t.Cleanup(hub.Close)
	return hub
}

// TestRecordPathHistories writes the history of each path for the replay
// test, with the prefix ACTIVITY_RECORD_HISTORY names (v0, v1, …: the
// shape of the workflow that made them). It runs only when asked:
//
//	ACTIVITY_RECORD_HISTORY=v1 go test ./internal/engine -run TestRecordPathHistories
func TestRecordPathHistories(t *testing.T) {
	prefix := os.Getenv("ACTIVITY_RECORD_HISTORY")
	if prefix == "" {
		t.Skip("set ACTIVITY_RECORD_HISTORY=<shape> to record internal/engine/testdata histories")
	}
	h := newLiveHarness(t)
	hub := contextServer(t)
	for _, p := range runPaths() {
		res := h.runLive(t, p, hub.URL)
		doc, _ := json.MarshalIndent(map[string]any{"events": res.events}, "", " ")
		path := filepath.Join("testdata", prefix+"-"+p.name+".history.json")
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		rec, _ := json.MarshalIndent(comparableRecord(t, res), "", " ")
		if err := os.WriteFile(filepath.Join("testdata", prefix+"-"+p.name+".run.json"), rec, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d events", p.name, len(res.events))
	}
}

// comparableRecord is a path's run record and lifecycle events with what
// differs between two runs of the same path (ids, clocks, hashes of a
// definition naming a test server's port) blanked, and what is set kept
// as "set": two shapes of the workflow must leave the same.
func comparableRecord(t testing.TB, res pathRun) map[string]any {
	t.Helper()
	r := res.run
	set := func(ok bool) string {
		if ok {
			return "set"
		}
		return ""
	}
	rec := map[string]any{
		"id":                 set(r.ID != ""),
		"definition_id":      r.DefinitionID,
		"definition_version": r.DefinitionVersion,
		"content_hash":       set(r.ContentHash != ""),
		"trigger":            r.Trigger,
		"trigger_detail":     r.TriggerDetail,
		"status":             r.Status,
		"stage":              r.Stage,
		"skip_reason":        r.SkipReason,
		"workflow_id":        set(r.WorkflowID != ""),
		"workflow_run_id":    set(r.WorkflowRunID != ""),
		"scheduled_at":       set(r.ScheduledAt != nil),
		"started_at":         set(r.StartedAt != nil),
		"finished_at":        set(r.FinishedAt != nil),
		"attempt":            r.Attempt,
		"exit_code":          r.ExitCode,
		"stdout":             r.Stdout,
		"stderr":             r.Stderr,
		"error":              r.Error,
		"context_snapshot":   json.RawMessage(nullIfEmpty(r.ContextSnapshot)),
		"rule_outcome":       json.RawMessage(nullIfEmpty(r.RuleOutcome)),
	}
	var events []map[string]any
	for _, m := range res.lifecycle {
		var ev map[string]any
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("lifecycle event %s: %v", m.Subject, err)
		}
		for _, k := range []string{"run_id", "workflow_id", "started_at", "finished_at"} {
			if _, ok := ev[k]; ok {
				ev[k] = "set"
			}
		}
		events = append(events, map[string]any{"subject": m.Subject, "msg_id_is_run_status": m.MsgID == r.ID+":"+string(r.Status), "event": ev})
	}
	rec["lifecycle"] = events
	return rec
}

func nullIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// simplestEventsMax is the goal for the cheapest run: a definition with no
// context, rule, guard or key (docs/architecture.md#the-run-workflow).
const simplestEventsMax = 14

// TestRunCostPerPath runs every path on the embedded server and checks
// what it costs in history events (a property of the workflow's shape, not
// of timing) and what it leaves: the same run record and lifecycle event
// as the first shape left (testdata/v0-<path>.run.json).
func TestRunCostPerPath(t *testing.T) {
	h := newLiveHarness(t)
	hub := contextServer(t)
	var table strings.Builder
	fmt.Fprintf(&table, "| path | events before (v0) | events now |\n|---|---|---|\n")
	for _, p := range runPaths() {
		res := h.runLive(t, p, hub.URL)
		before := recordedEvents(t, "v0-"+p.name)
		fmt.Fprintf(&table, "| %s | %d | %d |\n", p.name, before, len(res.events))
		if len(res.events) > before {
			t.Errorf("%s: %d history events, more than the first shape's %d", p.name, len(res.events), before)
		}
		if p.name == "simplest" && len(res.events) > simplestEventsMax {
			t.Errorf("simplest path: %d history events, want at most %d", len(res.events), simplestEventsMax)
		}
		got, _ := json.Marshal(comparableRecord(t, res))
		want, err := os.ReadFile(filepath.Join("testdata", "v0-"+p.name+".run.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, got, want) {
			t.Errorf("%s: the run record or lifecycle event differs from the first shape's\n got %s\nwant %s", p.name, got, want)
		}
	}
	t.Logf("history events per run:\n%s", table.String())
}

func recordedEvents(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".history.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return len(doc.Events)
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	ca, _ := json.Marshal(x)
	cb, _ := json.Marshal(y)
	return string(ca) == string(cb)
}

// flakyStore is the real store answering "unavailable" to the first writes
// of runs, as PostgreSQL does while it restarts.
type flakyStore struct {
	store.Store
	mu               sync.Mutex
	creates, updates int // failures left
	failedC, failedU int
}

// refuse reports whether this write fails, counting it down from left and
// up in failed.
func (s *flakyStore) refuse(left, failed *int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *left == 0 {
		return false
	}
	*left--
	*failed++
	return true
}

func (s *flakyStore) CreateRun(ctx context.Context, r store.Run) (store.Run, error) {
	if s.refuse(&s.creates, &s.failedC) {
		return store.Run{}, fmt.Errorf("connection refused: %w", store.ErrUnavailable)
	}
	return s.Store.CreateRun(ctx, r)
}

func (s *flakyStore) UpdateRun(ctx context.Context, r store.Run) (store.Run, error) {
	if s.refuse(&s.updates, &s.failedU) {
		return store.Run{}, fmt.Errorf("connection refused: %w", store.ErrUnavailable)
	}
	return s.Store.UpdateRun(ctx, r)
}

// TestStoreOutageDelaysRuns: while the store refuses writes, the local
// activities that start and end a run are retried (docs/architecture.md#the-run-workflow),
// so the run is delayed and recorded as it would have been, not lost.
func TestStoreOutageDelaysRuns(t *testing.T) {
	h := newLiveHarness(t)
	hub := contextServer(t)
	for _, p := range runPaths() {
		if p.name != "simplest" && p.name != "failed" && p.name != "key" {
			continue
		}
		flaky := &flakyStore{Store: h.store, creates: 1, updates: 1}
		h.acts.cfg.Store = flaky
		res := h.runLive(t, p, hub.URL)
		h.acts.cfg.Store = flaky.Store
		if flaky.failedC != 1 || flaky.failedU != 1 {
			t.Errorf("%s: the outage was not met: %d creates, %d updates refused", p.name, flaky.failedC, flaky.failedU)
		}
		got, _ := json.Marshal(comparableRecord(t, res))
		want, err := os.ReadFile(filepath.Join("testdata", "v0-"+p.name+".run.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, got, want) {
			t.Errorf("%s: after the outage the run record differs\n got %s\nwant %s", p.name, got, want)
		}
		t.Logf("%s: %d history events through the outage", p.name, len(res.events))
	}
}
