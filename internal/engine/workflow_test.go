package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// fakePublisher records what would go to NATS. It is a fake for a unit
// test of the workflow logic; the real NATS path is tested in integration.
type fakePublisher struct {
	mu   sync.Mutex
	msgs []published
	fail error
}

type published struct {
	Subject string
	Data    []byte
	MsgID   string
}

func (p *fakePublisher) Publish(_ context.Context, subject string, data []byte, msgID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.msgs = append(p.msgs, published{subject, data, msgID})
	return nil
}

func (p *fakePublisher) subjects() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.msgs {
		out = append(out, m.Subject)
	}
	return out
}

type harness struct {
	t     testing.TB
	store store.Store
	pub   *fakePublisher
	acts  *Activities
	env   map[string]string
	// held, asked, released: see stubLocks.
	held     map[string]string
	asked    []lockRequest
	released []string
	// lastStart is the start time of the last workflow run: the SDK's test
	// environment gives every workflow the same run ID, so the lean run's
	// record ID (from run ID and start millisecond) is unique only if no
	// two runs start in the same millisecond.
	lastStart time.Time
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "engine.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: st, pub: &fakePublisher{}, env: map[string]string{}}
	allow, err := secret.New(secret.Config{Env: "HUB_TOKEN,API_TOKEN,WHO,NOT_SET_ANYWHERE",
		LookupEnv: func(k string) (string, bool) { v, ok := h.env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	h.acts, err = NewActivities(Config{
		Store:          st,
		Publisher:      h.pub,
		Secrets:        allow,
		ShellGrace:     200 * time.Millisecond,
		HeartbeatEvery: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// put parses a definition and stores it as a sync would.
func (h *harness) put(src string) *definition.Definition {
	h.t.Helper()
	def, err := definition.Parse("test.yaml", []byte(src))
	if err != nil {
		h.t.Fatalf("definition: %v", err)
	}
	_, err = h.store.UpsertDefinitions(context.Background(), store.Definition{
		ID: def.ID, ContentHash: def.ContentHash(), Spec: def.CanonicalJSON(), SourceFile: "test.yaml", SourceDir: "defs",
		Enabled: def.Enabled, TriggerType: store.TriggerType(def.Trigger.Type), EventType: def.Trigger.EventType,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return def
}

// run executes the workflow in the SDK's test environment and returns its
// output, the stored run and its error.
func (h *harness) run(in RunInput) (*RunOutput, store.Run, error) {
	return h.runWith(in, nil)
}

// runWith is run with a hook on the test environment (to cancel it).
func (h *harness) runWith(in RunInput, hook func(*testsuite.TestWorkflowEnvironment)) (*RunOutput, store.Run, error) {
	h.t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RunActivityWorkflow, workflow.RegisterOptions{Name: RunWorkflowName})
	env.RegisterActivity(h.acts)
	h.stubLocks(env)
	env.SetTestTimeout(time.Minute)
	h.lastStart = later(time.Now(), h.lastStart.Add(time.Millisecond))
	env.SetStartTime(h.lastStart)
	if hook != nil {
		hook(env)
	}
	env.ExecuteWorkflow(RunActivityWorkflow, in)
	if !env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	var out RunOutput
	werr := env.GetWorkflowError()
	if werr == nil {
		if err := env.GetWorkflowResult(&out); err != nil {
			h.t.Fatal(err)
		}
	}
	page, err := h.store.ListRuns(context.Background(), store.RunFilter{DefinitionID: in.DefinitionID, Limit: 1})
	if err != nil || len(page.Runs) == 0 {
		h.t.Fatalf("no run recorded: %v", err)
	}
	run, err := h.store.GetRun(context.Background(), page.Runs[0].ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return &out, run, werr
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func cronShell(id, extra string) string {
	return fmt.Sprintf("id: %s\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\n%s", id, extra)
}

func TestRunSucceeds(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.ok", "instruction: {kind: shell, cmd: 'echo \"hi from $ACTIVITY_DEFINITION_ID ($ACTIVITY_TRIGGER)\"; echo warn >&2'}\n"))
	out, run, err := h.run(RunInput{DefinitionID: "t.ok", Trigger: store.RunTriggerCron})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != store.RunSucceeded || run.Status != store.RunSucceeded {
		t.Fatalf("out %+v run %+v", out, run)
	}
	if run.Stdout != "hi from t.ok (cron)\n" || run.Stderr != "warn\n" || run.ExitCode == nil || *run.ExitCode != 0 {
		t.Errorf("run output %q %q %v", run.Stdout, run.Stderr, run.ExitCode)
	}
	if run.DefinitionVersion != 1 || run.ContentHash == "" || run.StartedAt == nil || run.FinishedAt == nil {
		t.Errorf("run record incomplete: %+v", run)
	}
	if got := h.pub.subjects(); len(got) != 1 || got[0] != "activity.run.succeeded" {
		t.Errorf("lifecycle events %v", got)
	}
	var ev LifecycleEvent
	if err := json.Unmarshal(h.pub.msgs[0].Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RunID != run.ID || ev.DefinitionID != "t.ok" || h.pub.msgs[0].MsgID != run.ID+":succeeded" {
		t.Errorf("lifecycle event %+v (msg id %q)", ev, h.pub.msgs[0].MsgID)
	}
}

func TestDisabledRemovedMissing(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.off", "enabled: false\ninstruction: {kind: shell, cmd: 'echo ran'}\n"))
	out, run, err := h.run(RunInput{DefinitionID: "t.off", Trigger: store.RunTriggerCron})
	if err != nil || out.Status != store.RunSkipped || run.SkipReason != "definition disabled" || run.Stdout != "" {
		t.Errorf("disabled: %v %+v %+v", err, out, run)
	}
	// A manual run of a disabled definition runs.
	out, run, err = h.run(RunInput{DefinitionID: "t.off", Trigger: store.RunTriggerManual})
	if err != nil || out.Status != store.RunSucceeded || run.Stdout != "ran\n" {
		t.Errorf("manual: %v %+v %+v", err, out, run)
	}
	// Removed.
	h.put(cronShell("t.gone", "instruction: {kind: shell, cmd: 'echo ran'}\n"))
	if _, err := h.store.MarkDefinitionsRemoved(context.Background(), "defs", []string{"t.off"}); err != nil {
		t.Fatal(err)
	}
	out, run, _ = h.run(RunInput{DefinitionID: "t.gone", Trigger: store.RunTriggerCron})
	if out.Status != store.RunSkipped || !strings.HasPrefix(run.SkipReason, "definition removed") {
		t.Errorf("removed: %+v %+v", out, run)
	}
	// Never synced.
	out, run, _ = h.run(RunInput{DefinitionID: "t.never", Trigger: store.RunTriggerManual})
	if out.Status != store.RunSkipped || !strings.Contains(run.SkipReason, "not found") {
		t.Errorf("missing: %+v %+v", out, run)
	}
	if got := strings.Join(h.pub.subjects(), ","); got != "activity.run.skipped,activity.run.succeeded,activity.run.skipped,activity.run.skipped" {
		t.Errorf("lifecycle events %s", got)
	}
}

func TestContextAndRule(t *testing.T) {
	h := newHarness(t)
	var gotAuth string
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"status":"ok","count":4}`)
		case "/down":
			fmt.Fprint(w, `{"status":"degraded"}`)
		case "/text":
			fmt.Fprint(w, `plain words`)
		default:
			http.Error(w, "boom", http.StatusBadGateway)
		}
	}))
	defer hub.Close()
	h.env["HUB_TOKEN"] = "s3cret-token"
	def := func(id, path, rule string) string {
		return cronShell(id, fmt.Sprintf(`context:
  - kind: http_get
    url: %s%s
    bind: hub
    headers: {Authorization: "Bearer ${env:HUB_TOKEN}"}
rule:
  when: [%q]
instruction: {kind: shell, cmd: 'printf %%s "$ACTIVITY_CONTEXT_JSON"'}
`, hub.URL, path, rule))
	}
	h.put(def("t.rule-ok", "/ok", "hub.status == 'ok' && hub.count > 3"))
	out, run, err := h.run(RunInput{DefinitionID: "t.rule-ok", Trigger: store.RunTriggerCron})
	if err != nil || out.Status != store.RunSucceeded {
		t.Fatalf("%v %+v", err, out)
	}
	if gotAuth != "Bearer s3cret-token" {
		t.Errorf("header not resolved: %q", gotAuth)
	}
	if !strings.Contains(run.Stdout, `"status":"ok"`) || !strings.Contains(string(run.ContextSnapshot), `"count":4`) {
		t.Errorf("context not passed/recorded: stdout %q snapshot %s", run.Stdout, run.ContextSnapshot)
	}

	h.put(def("t.rule-no", "/down", "hub.status == 'ok'"))
	out, run, err = h.run(RunInput{DefinitionID: "t.rule-no", Trigger: store.RunTriggerCron})
	if err != nil || out.Status != store.RunSkipped || run.SkipReason != "rule false: hub.status == 'ok'" {
		t.Errorf("rule false: %v %+v %+v", err, out, run)
	}
	var outcome RuleOutcome
	if json.Unmarshal(run.RuleOutcome, &outcome) != nil || outcome.Passed || outcome.Failed != "hub.status == 'ok'" {
		t.Errorf("rule outcome %s", run.RuleOutcome)
	}

	h.put(def("t.rule-text", "/text", "hub == 'plain words'"))
	if out, _, _ := h.run(RunInput{DefinitionID: "t.rule-text", Trigger: store.RunTriggerCron}); out.Status != store.RunSucceeded {
		t.Errorf("text body not bound as string: %+v", out)
	}

	h.put(def("t.ctx-fail", "/broken", "true"))
	_, run, err = h.run(RunInput{DefinitionID: "t.ctx-fail", Trigger: store.RunTriggerCron})
	if err == nil || run.Status != store.RunFailed || run.Stage != store.StageContext || !strings.Contains(run.Error, "status 502") {
		t.Errorf("context failure: %v %+v", err, run)
	}

	h.put(def("t.rule-err", "/ok", "hub.missing == 1"))
	_, run, _ = h.run(RunInput{DefinitionID: "t.rule-err", Trigger: store.RunTriggerCron})
	if run.Status != store.RunFailed || run.Stage != store.StageRule {
		t.Errorf("rule error: %+v", run)
	}
}

func TestEventRuleAndEnv(t *testing.T) {
	h := newHarness(t)
	h.put(`id: t.evt
trigger: {trigger_type: event, event_type: org.repo.pushed}
rule: {when: ["event.payload.repo == 'a/b' && event.subject == 'org.repo.pushed'"]}
instruction: {kind: shell, args: [sh, -c, 'printf "%s|%s" "$ACTIVITY_EVENT_SUBJECT" "$ACTIVITY_EVENT_JSON"']}
`)
	payload := json.RawMessage(`{"repo":"a/b","msg":"$(rm -rf /); echo pwned"}`)
	out, run, err := h.run(RunInput{DefinitionID: "t.evt", Trigger: store.RunTriggerEvent, Event: &Event{Subject: "org.repo.pushed", ID: "42", Time: time.Now(), Payload: payload}})
	if err != nil || out.Status != store.RunSucceeded {
		t.Fatalf("%v %+v %+v", err, out, run)
	}
	if run.Stdout != "org.repo.pushed|"+string(payload) {
		t.Errorf("event data did not arrive verbatim: %q", run.Stdout)
	}
}

func TestFailurePolicies(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.fail", "instruction: {kind: shell, cmd: 'echo partial; exit 3'}\n"))
	out, run, err := h.run(RunInput{DefinitionID: "t.fail", Trigger: store.RunTriggerCron})
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) {
		t.Fatalf("on_failure fail: workflow error %v", err)
	}
	if run.Status != store.RunFailed || run.Stage != store.StageInstruction || run.ExitCode == nil || *run.ExitCode != 3 || run.Stdout != "partial\n" {
		t.Errorf("failed run: %+v", run)
	}
	_ = out

	h.put(cronShell("t.lac", "on_failure: log_and_continue\ninstruction: {kind: shell, cmd: 'exit 4'}\n"))
	out, run, err = h.run(RunInput{DefinitionID: "t.lac", Trigger: store.RunTriggerCron})
	if err != nil || out.Status != store.RunFailed || run.Status != store.RunFailed || *run.ExitCode != 4 {
		t.Errorf("log_and_continue: %v %+v %+v", err, out, run)
	}
	if got := h.pub.subjects(); len(got) != 2 || got[1] != "activity.run.failed" {
		t.Errorf("lifecycle %v", got)
	}
}

func TestRetryUntilSuccess(t *testing.T) {
	h := newHarness(t)
	counter := filepath.Join(t.TempDir(), "count")
	h.put(cronShell("t.retry", fmt.Sprintf(`retry: {max_attempts: 3, initial_interval: 1s}
instruction:
  kind: shell
  cmd: 'n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; echo attempt $n; [ $n -ge 3 ]'
`, counter)))
	out, run, err := h.run(RunInput{DefinitionID: "t.retry", Trigger: store.RunTriggerCron})
	if err != nil || out.Status != store.RunSucceeded || run.Stdout != "attempt 3\n" || run.Attempt != 3 {
		t.Errorf("%v %+v %+v", err, out, run)
	}
}

func TestSecretsRedacted(t *testing.T) {
	h := newHarness(t)
	h.env["API_TOKEN"] = "tok-1234567"
	h.put(cronShell("t.secret", `on_failure: log_and_continue
instruction:
  kind: shell
  cmd: 'echo "token is $TOKEN"; echo "$TOKEN" >&2; exit 1'
  env: {TOKEN: "${env:API_TOKEN}"}
`))
	_, run, _ := h.run(RunInput{DefinitionID: "t.secret", Trigger: store.RunTriggerCron})
	if run.Stdout != "token is ***\n" || run.Stderr != "***\n" {
		t.Errorf("not redacted: %q %q", run.Stdout, run.Stderr)
	}
	b, _ := json.Marshal(run)
	if strings.Contains(string(b), "tok-1234567") {
		t.Errorf("secret in run record: %s", b)
	}
	// An unset variable fails the run, naming it.
	h.put(cronShell("t.unset", `instruction:
  kind: shell
  cmd: 'true'
  env: {TOKEN: "${env:NOT_SET_ANYWHERE}"}
`))
	_, run, _ = h.run(RunInput{DefinitionID: "t.unset", Trigger: store.RunTriggerCron})
	if run.Status != store.RunFailed || !strings.Contains(run.Error, "NOT_SET_ANYWHERE") {
		t.Errorf("unset env: %+v", run)
	}
}

func TestTimeout(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.slow", "on_failure: log_and_continue\ninstruction: {kind: shell, cmd: 'echo started; sleep 30', timeout: 1s}\n"))
	out, run, err := h.run(RunInput{DefinitionID: "t.slow", Trigger: store.RunTriggerCron})
	if err != nil || out.Status != store.RunTimedOut || run.Status != store.RunTimedOut || run.Stdout != "started\n" || !strings.Contains(run.Error, "timed out after 1s") {
		t.Errorf("%v %+v %+v", err, out, run)
	}
}

func TestHTTPAndPublishInstructions(t *testing.T) {
	h := newHarness(t)
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 1024)
		n, _ := r.Body.Read(b)
		body = r.Method + " " + r.Header.Get("Content-Type") + " " + string(b[:n])
		if r.URL.Path == "/teapot" {
			w.WriteHeader(http.StatusTeapot)
		}
		fmt.Fprint(w, "done")
	}))
	defer srv.Close()
	h.env["WHO"] = "operator"
	h.put(cronShell("t.http", fmt.Sprintf("instruction: {kind: http, method: PUT, url: '%s/x', body: {who: '${env:WHO}', n: 2}}\n", srv.URL)))
	_, run, err := h.run(RunInput{DefinitionID: "t.http", Trigger: store.RunTriggerCron})
	if err != nil || run.Status != store.RunSucceeded || body != `PUT application/json {"n":2,"who":"operator"}` || run.Stdout != "done" {
		t.Errorf("http: %v %+v body %q", err, run, body)
	}
	h.put(cronShell("t.http-bad", fmt.Sprintf("on_failure: log_and_continue\ninstruction: {kind: http, url: '%s/teapot', expect_status: [200]}\n", srv.URL)))
	_, run, _ = h.run(RunInput{DefinitionID: "t.http-bad", Trigger: store.RunTriggerCron})
	if run.Status != store.RunFailed || !strings.Contains(run.Error, "status 418, expected 200") {
		t.Errorf("http expect_status: %+v", run)
	}
	h.put(cronShell("t.pub", "instruction: {kind: publish, subject: org.backup.done, payload: {by: '${env:WHO}', ok: true}}\n"))
	_, run, err = h.run(RunInput{DefinitionID: "t.pub", Trigger: store.RunTriggerCron})
	if err != nil || run.Status != store.RunSucceeded {
		t.Fatalf("publish: %v %+v", err, run)
	}
	var found bool
	for _, m := range h.pub.msgs {
		if m.Subject == "org.backup.done" {
			found = string(m.Data) == `{"by":"operator","ok":true}` && m.MsgID == run.ID
		}
	}
	if !found {
		t.Errorf("publish not sent as expected: %+v", h.pub.msgs)
	}
}

func TestShellStartFailureIsNotRetried(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.nostart", "retry: {max_attempts: 5}\ninstruction: {kind: shell, args: [/definitely/not/here]}\n"))
	_, run, err := h.run(RunInput{DefinitionID: "t.nostart", Trigger: store.RunTriggerCron})
	if err == nil || run.Status != store.RunFailed || !strings.Contains(run.Error, "did not start") {
		t.Errorf("%v %+v", err, run)
	}
	if run.Attempt > 1 {
		t.Errorf("start failure retried %d times", run.Attempt)
	}
}

func TestRetriesExhausted(t *testing.T) {
	h := newHarness(t)
	h.put(cronShell("t.exhaust", "retry: {max_attempts: 2, initial_interval: 1s}\ninstruction: {kind: shell, cmd: 'echo try; exit 7'}\n"))
	_, run, err := h.run(RunInput{DefinitionID: "t.exhaust", Trigger: store.RunTriggerCron})
	if err == nil || run.Status != store.RunFailed || run.Attempt != 2 || *run.ExitCode != 7 || run.Stdout != "try\n" {
		t.Errorf("%v %+v", err, run)
	}
}

func TestHostilePayloadIsOnlyData(t *testing.T) {
	h := newHarness(t)
	h.put("id: t.hostile\ntrigger: {trigger_type: event, event_type: org.x}\ninstruction: {kind: shell, cmd: 'printf %s \"$ACTIVITY_EVENT_JSON\"'}\n")
	payload := json.RawMessage(`{"a":"$(touch /tmp/pwned-by-payload)","b":"` + "`id`" + `","c":"; rm -rf / ;"}`)
	_, run, err := h.run(RunInput{DefinitionID: "t.hostile", Trigger: store.RunTriggerEvent, Event: &Event{Subject: "org.x", ID: "1", Payload: payload}})
	if err != nil || run.Stdout != string(payload) {
		t.Errorf("%v %q", err, run.Stdout)
	}
	if _, err := os.Stat("/tmp/pwned-by-payload"); err == nil {
		t.Errorf("payload text was executed")
	}
}
