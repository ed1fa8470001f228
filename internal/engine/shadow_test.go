package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/eventbus"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// Shadow runs on the embedded Temporal server, announcing on the
// machine's NATS (docs/cutover.md#shadow-runs).

// recordingStore keeps the last record the engine wrote of each run: what
// the engine asked the store to keep, whatever the store's driver does
// with it.
type recordingStore struct {
	store.Store
	mu      sync.Mutex
	written map[string]store.Run
}

func (s *recordingStore) UpdateRun(ctx context.Context, r store.Run) (store.Run, error) {
	s.mu.Lock()
	s.written[r.ID] = r
	s.mu.Unlock()
	return s.Store.UpdateRun(ctx, r)
}

func (s *recordingStore) last(id string) store.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written[id]
}

// lifecycleWatch subscribes to <prefix>.run.> (activity.run.> in a
// deployment) on ACTIVITY_TEST_NATS_URL and has the harness announce
// there.
type lifecycleWatch struct {
	nc   *nats.Conn
	msgs chan *nats.Msg
}

func watchLifecycle(t *testing.T, h *liveHarness) *lifecycleWatch {
	t.Helper()
	u := os.Getenv("ACTIVITY_TEST_NATS_URL")
	if u == "" {
		t.Skip("ACTIVITY_TEST_NATS_URL is not set; set it to a NATS server (e.g. nats://127.0.0.1:4222) to run the shadow-run test")
	}
	pubConn, err := nats.Connect(u, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connecting to ACTIVITY_TEST_NATS_URL: %v", err)
	}
	t.Cleanup(pubConn.Close)
	js, err := jetstream.New(pubConn)
	if err != nil {
		t.Fatal(err)
	}
	h.acts.cfg.Publisher = eventbus.NewPublisher(pubConn, js)
	// A prefix of this test's own, with a stream as a deployment has on
	// activity.run.>: without one, a JetStream publish is a request the
	// subscription below would receive and never answer.
	h.acts.cfg.LifecyclePrefix = "shadowtest" + strings.ToLower(nats.NewInbox()[len("_INBOX."):])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := strings.ToUpper(h.acts.cfg.LifecyclePrefix)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{h.acts.cfg.LifecyclePrefix + ".run.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatalf("creating the lifecycle stream: %v", err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })
	w := &lifecycleWatch{msgs: make(chan *nats.Msg, 1024)}
	if w.nc, err = nats.Connect(u, nats.Timeout(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.nc.Close)
	if _, err := w.nc.ChanSubscribe(h.acts.cfg.LifecyclePrefix+".run.>", w.msgs); err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

// about returns the subjects of the messages received so far that name
// runID. The caller has seen the run end: its announcement, if any, was
// published (and flushed) before, and the flush here makes the server
// deliver everything it routed to this connection before answering.
func (w *lifecycleWatch) about(t *testing.T, runID string) []string {
	t.Helper()
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for {
		select {
		case m := <-w.msgs:
			var ev LifecycleEvent
			if json.Unmarshal(m.Data, &ev) == nil && ev.RunID == runID {
				subjects = append(subjects, m.Subject)
			}
		default:
			return subjects
		}
	}
}

// fire starts a cron fire of a definition and waits for its workflow.
func (h *liveHarness) fire(t *testing.T, definitionID string) (string, RunOutput) {
	t.Helper()
	runID := NewRunID()
	wr, err := h.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "shadow-" + runID, TaskQueue: h.queue},
		RunWorkflowName, RunInput{RunID: runID, DefinitionID: definitionID, Trigger: store.RunTriggerCron})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out RunOutput
	if err := wr.Get(ctx, &out); err != nil {
		t.Fatalf("run %s: %v", runID, err)
	}
	return runID, out
}

// shadowDef is a definition with context and a rule, whose command would
// create marker; %[1]s is the context server, %[5]s the mode line.
func shadowDef(id, hub, marker, dir, when, mode string) string {
	return cronShell(id, fmt.Sprintf(`%[5]scontext:
  - {kind: http_get, url: '%[1]s/ok', bind: hub}
rule: {when: ["%[4]s"]}
concurrency_key: shadow-test-key
inputs: {repo: {type: string, default: org/app}}
instruction:
  kind: shell
  cmd: 'touch %[2]s'
  workdir: %[3]s
  env: {TOKEN: '${env:HUB_TOKEN}', PLAIN: x}
`, hub, marker, dir, when, mode))
}

// TestShadowRun: a shadow definition whose rule says run records shadow
// with the plan, runs nothing, takes no lock and announces nothing; rule
// false is skipped; switched to active, the same definition runs.
func TestShadowRun(t *testing.T) {
	h := newLiveHarness(t)
	rec := &recordingStore{Store: h.acts.cfg.Store, written: map[string]store.Run{}}
	h.acts.cfg.Store = rec
	watch := watchLifecycle(t, h)
	hub := contextServer(t)
	const secretValue = "hub-secret-value-0042"
	h.env["HUB_TOKEN"] = secretValue
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")

	h.put(shadowDef("s.shadow", hub.URL, marker, dir, "hub.count > 3", "mode: shadow\n"))
	runID, out := h.fire(t, "s.shadow")
	if out.Status != store.RunShadow || !strings.HasPrefix(out.Reason, "shadow: would have run /bin/sh -c touch ") {
		t.Errorf("workflow result: %+v", out)
	}
	run := h.waitStatus(t, runID, store.RunShadow)
	if len(run.ContextSnapshot) == 0 || len(run.RuleOutcome) == 0 || run.ExitCode != nil || run.Stdout != "" {
		t.Errorf("shadow run record: context %s rule %s exit %v stdout %q", run.ContextSnapshot, run.RuleOutcome, run.ExitCode, run.Stdout)
	}
	checkShadowPlan(t, rec.last(runID).ShadowPlan, marker, dir, secretValue)
	checkShadowPlan(t, run.ShadowPlan, marker, dir, secretValue) // as the store kept it
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the shadow run ran its command: %v", err)
	}
	var notFound *serviceerror.NotFound
	if _, err := h.tc.DescribeWorkflowExecution(context.Background(), lockWorkflowID("shadow-test-key"), ""); !errors.As(err, &notFound) {
		t.Errorf("the shadow run took its concurrency key: %v", err)
	}
	if got := watch.about(t, runID); len(got) != 0 {
		t.Errorf("the shadow run was announced: %v", got)
	}

	// A manual run of a shadow definition is a shadow run too.
	manualID, _ := h.startRun(t, "s.shadow")
	if manual := h.waitStatus(t, manualID, store.RunShadow); manual.Trigger != store.RunTriggerManual {
		t.Errorf("manual run: trigger %s", manual.Trigger)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the manual shadow run ran its command: %v", err)
	}

	h.put(shadowDef("s.shadow", hub.URL, marker, dir, "hub.count > 10", "mode: shadow\n"))
	skippedID, _ := h.fire(t, "s.shadow")
	skipped := h.waitStatus(t, skippedID, store.RunSkipped)
	if !strings.HasPrefix(skipped.SkipReason, "rule false: ") || len(rec.last(skippedID).ShadowPlan) != 0 {
		t.Errorf("rule-false shadow run: reason %q plan %s", skipped.SkipReason, rec.last(skippedID).ShadowPlan)
	}
	if got := watch.about(t, skippedID); len(got) != 0 {
		t.Errorf("the shadow definition's skipped run was announced: %v", got)
	}

	h.put(shadowDef("s.shadow", hub.URL, marker, dir, "hub.count > 3", "mode: active\n"))
	activeID, out := h.fire(t, "s.shadow")
	if out.Status != store.RunSucceeded {
		t.Fatalf("active run: %+v", out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the active run did not run its command: %v", err)
	}
	if len(rec.last(activeID).ShadowPlan) != 0 {
		t.Errorf("an active run has a shadow plan: %s", rec.last(activeID).ShadowPlan)
	}
	testsupport.Eventually(t, 10*time.Second, "the active run's announcement", func() error {
		if got := watch.about(t, activeID); !slices.Equal(got, []string{h.acts.cfg.LifecyclePrefix + ".run.succeeded"}) {
			return fmt.Errorf("announced %v", got)
		}
		return nil
	})
}

// checkShadowPlan checks a recorded plan: the argv the shell would have
// started, every variable's name (a secret by its reference, never a
// value), the directory and the resolved inputs.
func checkShadowPlan(t *testing.T, raw json.RawMessage, marker, dir, secretValue string) {
	t.Helper()
	var plan store.ShadowPlan
	if err := json.Unmarshal(raw, &plan); err != nil {
		t.Fatalf("shadow plan %q: %v", raw, err)
	}
	if want := []string{"/bin/sh", "-c", "touch " + marker}; !slices.Equal(plan.Argv, want) {
		t.Errorf("argv %q, want %q", plan.Argv, want)
	}
	if plan.Dir != dir {
		t.Errorf("dir %q, want %q", plan.Dir, dir)
	}
	var inputs map[string]any
	if err := json.Unmarshal(plan.Inputs, &inputs); err != nil || inputs["repo"] != "org/app" || len(inputs) != 1 {
		t.Errorf("inputs %s (%v)", plan.Inputs, err)
	}
	for _, name := range []string{"PATH", "PLAIN", "TOKEN (${env:HUB_TOKEN})", "ACTIVITY_RUN_ID", "ACTIVITY_DEFINITION_ID", "ACTIVITY_TRIGGER",
		"ACTIVITY_CONTEXT_JSON", "ACTIVITY_INPUT_REPO", "ACTIVITY_CONTEXT_FILE", "ACTIVITY_EVENT_FILE", "ACTIVITY_INPUTS_FILE"} {
		if !slices.Contains(plan.EnvNames, name) {
			t.Errorf("env names %q lack %q", plan.EnvNames, name)
		}
	}
	for _, name := range plan.EnvNames {
		if strings.Contains(name, "=") {
			t.Errorf("env name %q carries a value", name)
		}
	}
	if strings.Contains(string(raw), secretValue) {
		t.Errorf("the plan holds a value: %s", raw)
	}
}
