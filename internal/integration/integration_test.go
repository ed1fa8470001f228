// Package integration runs whole activity-core processes (app.Run, every
// role) on the embedded Temporal and NATS servers and drives them through
// the HTTP API, the way an operator would. Nothing restarts between steps:
// that is the point of docs/architecture.md#syncer-internalsyncer.
package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/testsupport"
)

var (
	temporalSrv *devserver.Temporal
	natsSrv     *devserver.NATS
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	temporalSrv, err = devserver.StartTemporal(ctx, devserver.TemporalConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "embedded Temporal:", err)
		return 1
	}
	defer func() { _ = temporalSrv.Stop() }()
	natsSrv, err = devserver.StartNATS(devserver.NATSConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "embedded NATS:", err)
		return 1
	}
	defer natsSrv.Stop()
	return m.Run()
}

const token = "integration-admin-token-0123"

// instance is one activity-core process (all roles) with its own store,
// task queue and schedule prefix, so tests sharing the servers stay apart.
type instance struct {
	t      testing.TB
	base   string
	dir    string
	prefix string
	tc     client.Client
}

func start(t testing.TB) *instance {
	t.Helper()
	return startWith(t, temporalSrv.Address())
}

// startWith starts an instance whose Temporal client dials temporalAddr;
// opts adjust the app's options.
func startWith(t testing.TB, temporalAddr string, opts ...func(*app.Options)) *instance {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	inst := &instance{t: t, dir: t.TempDir(), prefix: "it-" + name + ":"}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	go func() {
		o := app.Options{
			Roles: app.AllRoles,
			Engines: config.Engines{
				DatabaseURL:       "sqlite://" + filepath.Join(t.TempDir(), "it.db"),
				TemporalAddress:   temporalAddr,
				TemporalNamespace: temporalSrv.Namespace(),
				TaskQueue:         "it-" + name,
				NATSURL:           natsSrv.ClientURL(),
				NATSStream:        "IT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
				NATSSubjects:      "it." + name + ".>",
				LifecyclePrefix:   "it-" + name,
			},
			Sync:             config.Sync{DefinitionPaths: []string{inst.dir}, SchedulePrefix: inst.prefix, SyncMaxErrors: 50},
			HTTP:             config.HTTP{HTTPAddr: testsupport.FreeAddr(t), AdminToken: token},
			Logger:           logger,
			TemporalLogLevel: slog.LevelError,
			ShellGrace:       500 * time.Millisecond,
			Ready:            func(addr string) { ready <- addr },
		}
		for _, f := range opts {
			f(&o)
		}
		done <- app.Run(ctx, o)
	}()
	select {
	case addr := <-ready:
		inst.base = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("app.Run: %v", err)
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("app did not become ready")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.Run returned %v", err)
		}
	})
	tc, err := client.Dial(client.Options{HostPort: temporalSrv.Address(), Namespace: temporalSrv.Namespace(), Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	inst.tc = tc
	inst.waitStartupSync()
	return inst
}

// waitStartupSync waits until the worker's startup sync (which runs in the
// background once the process is up) has finished, so that a test's own
// first sync is never the one that races it: otherwise files written right
// after start may be picked up by the startup sync and the test's sync
// would count them unchanged.
func (in *instance) waitStartupSync() {
	in.t.Helper()
	if in.base == "http://" { // no api role: nothing to ask
		return
	}
	testsupport.Eventually(in.t, time.Minute, "the worker's startup sync finished", func() error {
		var st adminapi.SyncStatus
		code := in.call("GET", "/admin/sync/status", "", &st)
		if code == http.StatusOK && !st.Running && (st.LastResult != nil && string(st.LastResult) != "null" || st.LastError != nil) {
			return nil
		}
		return fmt.Errorf("status %d, running %t", code, st.Running)
	})
}

func (in *instance) write(name, content string) {
	in.t.Helper()
	if err := os.WriteFile(filepath.Join(in.dir, name), []byte(content), 0o644); err != nil {
		in.t.Fatal(err)
	}
}

func (in *instance) remove(name string) {
	in.t.Helper()
	if err := os.Remove(filepath.Join(in.dir, name)); err != nil {
		in.t.Fatal(err)
	}
}

func (in *instance) call(method, path, body string, out any) int {
	in.t.Helper()
	req, _ := http.NewRequest(method, in.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			in.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

func (in *instance) sync(query string) *syncer.Result {
	in.t.Helper()
	var res syncer.Result
	if code := in.call("POST", "/admin/sync"+query, "", &res); code != 200 {
		in.t.Fatalf("sync: %d", code)
	}
	return &res
}

// schedules lists this instance's schedules in Temporal, polling until
// the listing equals want (visibility lags writes).
func (in *instance) waitSchedules(want map[string]bool) map[string]*client.ScheduleListEntry {
	in.t.Helper()
	var got map[string]*client.ScheduleListEntry
	testsupport.Eventually(in.t, 20*time.Second, "schedules listed", func() error {
		got = map[string]*client.ScheduleListEntry{}
		it, err := in.tc.ScheduleClient().List(context.Background(), client.ScheduleListOptions{})
		if err != nil {
			in.t.Fatal(err)
		}
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				in.t.Fatal(err)
			}
			if strings.HasPrefix(e.ID, in.prefix) {
				got[strings.TrimPrefix(e.ID, in.prefix)] = e
			}
		}
		match := len(got) == len(want)
		for id, paused := range want {
			e, ok := got[id]
			match = match && ok && e.Paused == paused
		}
		if match {
			return nil
		}
		var have []string
		for id, e := range got {
			have = append(have, fmt.Sprintf("%s(paused=%v)", id, e.Paused))
		}
		return fmt.Errorf("have %v, want %v", have, want)
	})
	return got
}

// waitRun polls the API until the run is finished.
func (in *instance) waitRun(id string) store.Run {
	in.t.Helper()
	var r store.Run
	testsupport.Eventually(in.t, 60*time.Second, "run "+id+" finished", func() error {
		r = store.Run{}
		if code := in.call("GET", "/api/v1/runs/"+id, "", &r); code != 200 || !r.Status.Terminal() {
			return fmt.Errorf("status %d, run %s", code, r.Status)
		}
		return nil
	})
	return r
}

func cron(id, expr, extra string) string {
	return fmt.Sprintf("id: %s\ntrigger: {trigger_type: cron, cron_expression: %q}\ninstruction: {kind: shell, cmd: 'echo %s'}\n%s", id, expr, id, extra)
}

// TestSeed000RenameWithoutRestart is the hot-reload story of seed 000:
// hourly definitions renamed to daily ones become live through POST
// /admin/sync alone.
func TestSeed000RenameWithoutRestart(t *testing.T) {
	in := start(t)
	in.write("report.yaml", cron("coulomb.customer-report-hourly", "0 * * * *", ""))
	in.write("cleanup.yaml", cron("coulomb.cleanup", "30 2 * * *", ""))
	in.write("hook.yaml", "id: coulomb.on-push\ntrigger: {trigger_type: event, event_type: it.repo.pushed}\ninstruction: {kind: shell, cmd: 'true'}\n")
	res := in.sync("")
	if res.Schedules.Upserted != 2 || !res.OK() {
		t.Fatalf("first sync: %+v %+v", res.Schedules, res.Errors)
	}
	in.waitSchedules(map[string]bool{"coulomb.customer-report-hourly": false, "coulomb.cleanup": false})

	// Rename hourly -> daily, disable cleanup.
	in.remove("report.yaml")
	in.write("report-daily.yaml", cron("coulomb.customer-report-daily", "0 6 * * *", ""))
	in.write("cleanup.yaml", cron("coulomb.cleanup", "30 2 * * *", "enabled: false\n"))
	plan := in.sync("?dry_run=true")
	if plan.Schedules.Upserted != 1 || plan.Schedules.Deleted != 1 || plan.Schedules.Paused != 1 {
		t.Fatalf("plan: %+v %+v", plan.Schedules, plan.Actions)
	}
	in.waitSchedules(map[string]bool{"coulomb.customer-report-hourly": false, "coulomb.cleanup": false}) // dry run changed nothing
	res = in.sync("")
	if res.Schedules != plan.Schedules || res.Definitions.Removed != 1 {
		t.Fatalf("sync %+v differs from plan %+v", res.Schedules, plan.Schedules)
	}
	in.waitSchedules(map[string]bool{"coulomb.customer-report-daily": false, "coulomb.cleanup": true})

	// Repeating the sync changes nothing.
	res = in.sync("")
	if res.Schedules.Upserted+res.Schedules.Paused+res.Schedules.Deleted != 0 || res.Definitions.Upserted != 0 {
		t.Fatalf("repeat sync: %+v %+v", res.Schedules, res.Definitions)
	}
	// Re-enable.
	in.write("cleanup.yaml", cron("coulomb.cleanup", "30 2 * * *", ""))
	in.sync("")
	in.waitSchedules(map[string]bool{"coulomb.customer-report-daily": false, "coulomb.cleanup": false})

	// Roll the rename back, twice: it converges and the repeat changes nothing.
	in.remove("report-daily.yaml")
	in.write("report.yaml", cron("coulomb.customer-report-hourly", "0 * * * *", ""))
	res = in.sync("")
	if res.Schedules.Upserted != 1 || res.Schedules.Deleted != 1 || res.Definitions.Upserted != 1 {
		t.Fatalf("rollback: %+v %+v", res.Schedules, res.Definitions)
	}
	in.waitSchedules(map[string]bool{"coulomb.customer-report-hourly": false, "coulomb.cleanup": false})
	if res = in.sync(""); res.Schedules.Upserted+res.Schedules.Deleted+res.Schedules.Paused+res.Definitions.Upserted != 0 {
		t.Fatalf("repeat after rollback: %+v %+v", res.Schedules, res.Definitions)
	}
}

// TestWatchSyncsOnChange: dev --watch syncs when a file changes, with no
// request.
func TestWatchSyncsOnChange(t *testing.T) {
	in := startWith(t, temporalSrv.Address(), func(o *app.Options) { o.Watch = true })
	in.write("w.yaml", cron("it.watched", "0 9 * * *", ""))
	in.waitSchedules(map[string]bool{"it.watched": false})
	in.write("w.yaml", cron("it.watched", "0 9 * * *", "enabled: false\n"))
	in.waitSchedules(map[string]bool{"it.watched": true})
}

// TestStageSelection: definitions-only stores without touching schedules;
// schedules-only projects what is stored.
func TestStageSelection(t *testing.T) {
	in := start(t)
	in.write("a.yaml", cron("it.a", "0 7 * * *", ""))
	res := in.sync("?schedules=false")
	if res.Definitions.Upserted != 1 || len(res.Stages) != 1 || res.Stages[0] != "definitions" {
		t.Fatalf("definitions only: %+v", res)
	}
	in.waitSchedules(map[string]bool{})
	res = in.sync("?definitions=false")
	if res.Schedules.Upserted != 1 || res.Definitions.Scanned != 0 {
		t.Fatalf("schedules only: %+v", res)
	}
	in.waitSchedules(map[string]bool{"it.a": false})
	res = in.sync("?event_types=true")
	if len(res.Stages) != 3 {
		t.Errorf("all stages: %v", res.Stages)
	}
}

// TestTemporalDownThenBack: with Temporal unreachable a sync stores the
// definitions and reports a schedules error; the next sync after Temporal
// is back converges. The process is not restarted.
func TestTemporalDownThenBack(t *testing.T) {
	px := newProxy(t, temporalSrv.Address())
	in := startWith(t, px.addr)
	in.write("a.yaml", cron("it.a", "0 8 * * *", ""))
	px.setUp(false)
	res := in.sync("")
	if res.Definitions.Upserted != 1 || len(res.Errors) == 0 || res.Errors[0].Stage != "schedules" {
		t.Fatalf("sync with Temporal down: %+v %+v", res.Definitions, res.Errors)
	}
	px.setUp(true)
	// The client reconnects with backoff: sync until it converges.
	testsupport.Eventually(t, 60*time.Second, "sync converged", func() error {
		res = in.sync("")
		if res.OK() && res.Schedules.Upserted == 1 {
			return nil
		}
		return fmt.Errorf("%+v %+v", res.Schedules, res.Errors)
	})
	in.waitSchedules(map[string]bool{"it.a": false})
}

// proxy forwards TCP to a target and can refuse and cut connections, to
// make Temporal unreachable without stopping the shared server.
type proxy struct {
	addr   string
	target string
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target, up: true}
	t.Cleanup(func() { ln.Close(); p.setUp(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			// Check and register under one lock so that a setUp(false)
			// racing with this accept cannot leave a live pair behind.
			p.mu.Lock()
			if !p.up {
				p.mu.Unlock()
				c.Close()
				d.Close()
				continue
			}
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(d, c); d.Close() }() // ends when either side is cut
			go func() { _, _ = io.Copy(c, d); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestScheduleFiresARun: a schedule's action starts RunActivityWorkflow
// with the right input, and the run lands in the store.
func TestScheduleFiresARun(t *testing.T) {
	in := start(t)
	in.write("tick.yaml", cron("it.tick", "0 0 1 1 *", ""))
	in.sync("")
	in.waitSchedules(map[string]bool{"it.tick": false})
	if err := in.tc.ScheduleClient().GetHandle(context.Background(), in.prefix+"it.tick").Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var page store.RunPage
	testsupport.Eventually(t, 30*time.Second, "a finished run after the trigger", func() error {
		page = store.RunPage{}
		in.call("GET", "/api/v1/runs?definition_id=it.tick", "", &page)
		if len(page.Runs) != 1 || !page.Runs[0].Status.Terminal() {
			return fmt.Errorf("runs: %+v", page)
		}
		return nil
	})
	r := in.waitRun(page.Runs[0].ID)
	if r.Status != store.RunSucceeded || r.Trigger != store.RunTriggerCron || r.Stdout != "it.tick\n" || !strings.HasPrefix(r.WorkflowID, in.prefix) {
		t.Fatalf("run %+v", r)
	}
}

// TestManualRunAndOperatorPause drives the API the way the CLI does.
func TestManualRunAndOperatorPause(t *testing.T) {
	in := start(t)
	in.write("job.yaml", cron("it.job", "0 3 * * *", "enabled: false\n"))
	in.sync("")
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := in.call("POST", "/api/v1/definitions/it.job/run", "", &started); code != 202 {
		t.Fatalf("run: %d", code)
	}
	if r := in.waitRun(started.RunID); r.Status != store.RunSucceeded || r.Trigger != store.RunTriggerManual || r.Stdout != "it.job\n" {
		t.Fatalf("manual run of a disabled definition: %+v", r)
	}
	// Enable, then pause as an operator: sync keeps the pause and its note.
	in.write("job.yaml", cron("it.job", "0 3 * * *", ""))
	in.sync("")
	in.waitSchedules(map[string]bool{"it.job": false})
	if code := in.call("POST", "/api/v1/definitions/it.job/pause", `{"note":"disk migration"}`, nil); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	in.sync("")
	in.sync("")
	got := in.waitSchedules(map[string]bool{"it.job": true})
	if !strings.Contains(got["it.job"].Note, "disk migration") {
		t.Errorf("note lost: %q", got["it.job"].Note)
	}
	var detail struct {
		Schedule struct {
			Paused   bool   `json:"paused"`
			PausedBy string `json:"paused_by"`
			Note     string `json:"note"`
		} `json:"schedule"`
	}
	in.call("GET", "/api/v1/definitions/it.job", "", &detail)
	if !detail.Schedule.Paused || detail.Schedule.PausedBy != "admin" || detail.Schedule.Note != "disk migration" {
		t.Errorf("detail: %+v", detail.Schedule)
	}
	// /metrics carries the schedule's Temporal counts.
	req, _ := http.NewRequest(http.MethodGet, in.base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(mb), `activity_core_schedule_overlap_skipped{definition="it.job"} 0`) || !strings.Contains(string(mb), `activity_core_schedule_missed_catchup_window{definition="it.job"}`) {
		t.Errorf("schedule counts missing from /metrics")
	}
	if code := in.call("POST", "/api/v1/definitions/it.job/resume", "", nil); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	in.waitSchedules(map[string]bool{"it.job": false})
}

// TestConcurrentSyncsThroughAPI: twenty syncs at once are serialized and
// leave the right end state.
func TestConcurrentSyncsThroughAPI(t *testing.T) {
	in := start(t)
	for i := range 10 {
		in.write(fmt.Sprintf("d%d.yaml", i), cron(fmt.Sprintf("it.d%d", i), fmt.Sprintf("%d 4 * * *", i), ""))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	upserted := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res syncer.Result
			if code := in.call("POST", "/admin/sync", "", &res); code != 200 || !res.OK() {
				t.Errorf("sync: %d %+v", code, res.Errors)
			}
			mu.Lock()
			upserted += res.Schedules.Upserted
			mu.Unlock()
		}()
	}
	wg.Wait()
	if upserted != 10 {
		t.Errorf("schedules upserted %d times in total, want 10 (syncs overlapped?)", upserted)
	}
	want := map[string]bool{}
	for i := range 10 {
		want[fmt.Sprintf("it.d%d", i)] = false
	}
	in.waitSchedules(want)
}

// TestConcurrencyKeyNeverOverlaps: runs of two definitions sharing a key,
// started together, never run at the same time (the lock is a Temporal
// workflow, so this holds across workers too).
func TestConcurrencyKeyNeverOverlaps(t *testing.T) {
	in := start(t)
	log := filepath.Join(t.TempDir(), "spans.log")
	for _, id := range []string{"it.key-a", "it.key-b"} {
		in.write(id+".yaml", fmt.Sprintf(`id: %s
trigger: {trigger_type: cron, cron_expression: "0 5 * * *", misfire_policy: allow_all}
concurrency_key: shared-disk
instruction:
  kind: shell
  cmd: 'echo "start $(date +%%s%%N)" >> %s; sleep 0.3; echo "end $(date +%%s%%N)" >> %s'
`, id, log, log))
	}
	in.sync("")
	var ids []string
	for i := range 4 {
		id := []string{"it.key-a", "it.key-b"}[i%2]
		var started struct {
			RunID string `json:"run_id"`
		}
		if code := in.call("POST", "/api/v1/definitions/"+id+"/run", "", &started); code != 202 {
			t.Fatalf("run: %d", code)
		}
		ids = append(ids, started.RunID)
	}
	for _, id := range ids {
		if r := in.waitRun(id); r.Status != store.RunSucceeded {
			t.Fatalf("run %s: %+v", id, r)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 8 {
		t.Fatalf("spans: %q", lines)
	}
	for i := 0; i < len(lines); i += 2 {
		if !strings.HasPrefix(lines[i], "start ") || !strings.HasPrefix(lines[i+1], "end ") {
			t.Fatalf("runs overlapped:\n%s", b)
		}
	}
}

// TestEventTriggersARun: an event published after a sync returns is
// matched against what that sync stored, runs once even when published
// twice with the same Nats-Msg-Id, and explain says why other definitions
// did not match.
func TestEventTriggersARun(t *testing.T) {
	in := start(t)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	subject := "it." + name + ".repo.pushed"
	in.write("on-push.yaml", fmt.Sprintf(`id: it.on-push
trigger:
  trigger_type: event
  event_type: it.%s.repo.*
  filters: {repo_slug: "coulomb/*"}
instruction: {kind: shell, cmd: 'printf %%s "$ACTIVITY_EVENT_JSON"'}
`, name))
	in.write("other.yaml", fmt.Sprintf("id: it.other\ntrigger: {trigger_type: event, event_type: it.%s.repo.*, filters: {repo_slug: \"elsewhere/*\"}}\ninstruction: {kind: shell, cmd: 'true'}\n", name))
	in.sync("")
	nc, err := nats.Connect(natsSrv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	payload := `{"repo_slug":"coulomb/state-hub","sha":"abc1234"}`
	ctx := context.Background()
	// The router creates the stream when it starts; wait for it.
	testsupport.Eventually(t, 20*time.Second, "publish once the stream exists", func() error {
		_, err := js.Publish(ctx, subject, []byte(payload), jetstream.WithMsgID("evt-1"))
		return err
	})
	if _, err := js.Publish(ctx, subject, []byte(payload), jetstream.WithMsgID("evt-1")); err != nil {
		t.Fatal(err)
	}
	var page store.RunPage
	testsupport.Eventually(t, 30*time.Second, "a finished run for the event", func() error {
		in.call("GET", "/api/v1/runs?definition_id=it.on-push", "", &page)
		if len(page.Runs) == 0 || !page.Runs[0].Status.Terminal() {
			return fmt.Errorf("runs: %+v", page)
		}
		return nil
	})
	r := in.waitRun(page.Runs[0].ID)
	if r.Status != store.RunSucceeded || r.Trigger != store.RunTriggerEvent || r.Stdout != payload || r.WorkflowID != "activity-core:evt:it.on-push:evt-1" {
		t.Fatalf("run %+v", r)
	}
	in.call("GET", "/api/v1/runs?definition_id=it.on-push", "", &page)
	if len(page.Runs) != 1 {
		t.Errorf("the event ran %d times, want once", len(page.Runs))
	}
	var other store.RunPage
	in.call("GET", "/api/v1/runs?definition_id=it.other", "", &other)
	if len(other.Runs) != 0 {
		t.Errorf("filter did not hold: %+v", other.Runs)
	}
	var ex struct {
		Definitions []struct {
			DefinitionID string `json:"definition_id"`
			Matched      bool   `json:"matched"`
		} `json:"definitions"`
	}
	if code := in.call("POST", "/api/v1/events/explain", fmt.Sprintf(`{"subject":%q,"payload":%s}`, subject, payload), &ex); code != 200 {
		t.Fatalf("explain: %d", code)
	}
	got := map[string]bool{}
	for _, d := range ex.Definitions {
		got[d.DefinitionID] = d.Matched
	}
	if !got["it.on-push"] || got["it.other"] || len(got) != 2 {
		t.Errorf("explain: %+v", ex.Definitions)
	}
	if code := in.call("POST", "/api/v1/events/explain", `{"subject":"x","payload":[1]}`, nil); code != 400 {
		t.Errorf("explain with a list payload: %d", code)
	}
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// BenchmarkFireToShellStart measures docs/benchmarks.md's "fire to shell process
// start" on the embedded default: from the moment a schedule is fired
// (the Trigger call; Temporal's own scheduled_at is truncated to the
// second, too coarse to measure with) to the moment the shell command
// starts (it prints its own clock). It reports
// p50 and p99 over b.N fires. Temporal names a fire's workflow after the
// schedule and the fire time in whole seconds, so fires are spread over
// several schedules and one schedule fires at most once a second.
func BenchmarkFireToShellStart(b *testing.B) {
	const schedules = 40
	in := start(b)
	want := map[string]bool{}
	for k := range schedules {
		id := fmt.Sprintf("it.fire-%02d", k)
		in.write(id+".yaml", fmt.Sprintf("id: %s\ntrigger: {trigger_type: cron, cron_expression: \"0 0 1 1 *\"}\ninstruction: {kind: shell, cmd: 'date +%%s%%N'}\n", id))
		want[id] = false
	}
	in.sync("")
	in.waitSchedules(want)
	lastFire := make([]time.Time, schedules)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % schedules
		id := fmt.Sprintf("it.fire-%02d", k)
		if wait := time.Until(lastFire[k].Add(1100 * time.Millisecond)); wait > 0 {
			time.Sleep(wait) // pacing: one fire per schedule per second (see above)
		}
		lastFire[k] = time.Now()
		before := map[string]bool{}
		var page store.RunPage
		in.call("GET", "/api/v1/runs?definition_id="+id+"&limit=1000", "", &page)
		for _, r := range page.Runs {
			before[r.ID] = true
		}
		fired := time.Now()
		if err := in.tc.ScheduleClient().GetHandle(context.Background(), in.prefix+id).Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
			b.Fatal(err)
		}
		// The latency is the shell's own clock minus fired: how soon
		// this poll sees the run does not change it.
		testsupport.Eventually(b, 30*time.Second, fmt.Sprintf("fire %d of %s ran", i, id), func() error {
			in.call("GET", "/api/v1/runs?definition_id="+id+"&status=succeeded&limit=1", "", &page)
			if len(page.Runs) != 1 || before[page.Runs[0].ID] {
				return errors.New("no new succeeded run")
			}
			return nil
		})
		r := in.waitRun(page.Runs[0].ID)
		ns, err := strconv.ParseInt(strings.TrimSpace(r.Stdout), 10, 64)
		if err != nil || r.ScheduledAt == nil {
			b.Fatalf("run %+v", r)
		}
		lat = append(lat, time.Unix(0, ns).Sub(fired))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}

// TestCancelKillsTheCommand: canceling a run's workflow in Temporal stops
// its shell command's whole process group and records the run canceled
// with the output it had.
func TestCancelKillsTheCommand(t *testing.T) {
	in := start(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	in.write("long.yaml", fmt.Sprintf(`id: it.long
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
instruction: {kind: shell, cmd: 'sleep 300 & echo $! > %s; echo waiting; wait'}
`, pidFile))
	in.sync("")
	var started struct {
		RunID      string `json:"run_id"`
		WorkflowID string `json:"workflow_id"`
	}
	if code := in.call("POST", "/api/v1/definitions/it.long/run", "", &started); code != 202 {
		t.Fatalf("run: %d", code)
	}
	var pid int
	testsupport.Eventually(t, 30*time.Second, "the command started", func() error {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	if err := in.tc.CancelWorkflow(context.Background(), started.WorkflowID, ""); err != nil {
		t.Fatal(err)
	}
	r := in.waitRun(started.RunID)
	if r.Status != store.RunCanceled || r.Stdout != "waiting\n" {
		t.Errorf("run %+v", r)
	}
	if err := testsupport.Poll(10*time.Second, func() error {
		if syscall.Kill(pid, 0) == nil {
			return errors.New("still alive")
		}
		return nil
	}); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL) // best effort: the test fails either way
		t.Fatalf("grandchild %d survived the cancel", pid)
	}
}

// TestRecordHistory writes the history of real runs for the engine's
// replay test (internal/engine/testdata). It runs only when asked:
//
//	ACTIVITY_RECORD_HISTORY=1 go test ./internal/integration -run TestRecordHistory
//
// Re-record after an intended change of the workflow's shape.
func TestRecordHistory(t *testing.T) {
	if os.Getenv("ACTIVITY_RECORD_HISTORY") == "" {
		t.Skip("set ACTIVITY_RECORD_HISTORY=1 to re-record internal/engine/testdata histories")
	}
	in := start(t)
	in.write("ok.yaml", `id: it.replay-ok
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
rule: {when: ["definition.id == 'it.replay-ok'"]}
instruction: {kind: shell, cmd: 'echo replay'}
`)
	in.write("fail.yaml", `id: it.replay-fail
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
on_failure: log_and_continue
retry: {max_attempts: 2, initial_interval: 1s}
concurrency_key: replay
instruction: {kind: shell, cmd: 'exit 3'}
`)
	in.sync("")
	for _, id := range []string{"it.replay-ok", "it.replay-fail"} {
		var started struct {
			RunID         string `json:"run_id"`
			WorkflowID    string `json:"workflow_id"`
			WorkflowRunID string `json:"workflow_run_id"`
		}
		if code := in.call("POST", "/api/v1/definitions/"+id+"/run", "", &started); code != 202 {
			t.Fatalf("run: %d", code)
		}
		in.waitRun(started.RunID)
		it := in.tc.GetWorkflowHistory(context.Background(), started.WorkflowID, started.WorkflowRunID, false, 0)
		var events []json.RawMessage
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			b, err := protojsonMarshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, b)
		}
		doc, _ := json.MarshalIndent(map[string]any{"events": events}, "", " ")
		path := filepath.Join("..", "engine", "testdata", strings.TrimPrefix(id, "it.")+".history.json")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d events)", path, len(events))
	}
}

// TestWorkerOpsListener: a worker-only process with ACTIVITY_OPS_ADDR serves
// its readiness (store, Temporal, NATS) and its metrics, and its startup
// sync shows there; it serves nothing of the API.
func TestWorkerOpsListener(t *testing.T) {
	ops := testsupport.FreeAddr(t)
	in := startWith(t, temporalSrv.Address(), func(o *app.Options) {
		o.Roles = []string{app.RoleWorker}
		o.OpsAddr = ops
	})
	in.write("a.yaml", cron("it.ops", "0 8 * * *", ""))
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + ops + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/readyz")
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != http.StatusOK || !ready.Ready ||
		ready.Checks["store"] != "ok" || ready.Checks["temporal"] != "ok" || ready.Checks["nats"] != "ok" {
		t.Fatalf("readyz: %d %s", code, body)
	}
	testsupport.Eventually(t, 30*time.Second, "the worker's startup sync in its metrics", func() error {
		if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "activity_core_syncs_total{") {
			return fmt.Errorf("%d\n%s", code, body)
		}
		return nil
	})
	if code, _ := get("/api/v1/definitions"); code != http.StatusNotFound {
		t.Errorf("the API on an ops listener: %d", code)
	}
}
