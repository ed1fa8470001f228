package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// runctlNow is the API's clock in these tests: backfill windows end
// before it.
var runctlNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// The definitions the run-control tests act on.
var runctlDefinitions = map[string]string{
	// A cron sweep on pool b (no worker polls it), with typed inputs.
	"team.sweep": `id: team.sweep
run_on: b
trigger:
  trigger_type: cron
  cron_expression: "*/15 * * * *"
  timezone: Europe/Berlin
  inputs: {repo: org/hub}
inputs:
  repo: {type: string, required: true, description: "org/name of the repository"}
  depth: {type: int, default: 3}
  mode: {type: enum, values: [fast, full], default: fast}
instruction: {kind: shell, cmd: "echo sweep"}
`,
	// Default-pool definitions whose runs the fake runner ends at once,
	// each with the status its id names.
	"team.succeeds":  eventDef("team.succeeds"),
	"team.fails":     eventDef("team.fails"),
	"team.skips":     eventDef("team.skips"),
	"team.cancels":   eventDef("team.cancels"),
	"team.times-out": eventDef("team.times-out"),
}

func eventDef(id string) string {
	return "id: " + id + "\ntrigger: {trigger_type: event, event_type: org.test.happened}\ninstruction: {kind: shell, cmd: \"echo hi\"}\n"
}

// runctlAPI is the real API over a SQLite store, with fakes only for
// Temporal's side (starting, canceling, backfilling, describing pools).
type runctlAPI struct {
	url                string
	st                 store.Store
	admin, read, alice string // alice: a named operate token from tokens new
	runner             *fakeRunner
	canceler           *fakeCanceler
	backfiller         *fakeBackfiller
}

// flags are the client flags with token.
func (a *runctlAPI) flags(token string) []string {
	return []string{"--server", a.url, "--token", token}
}

// as runs a command line as the holder of token.
func (a *runctlAPI) as(t *testing.T, token string, args ...string) (int, string, string) {
	t.Helper()
	return run(t, append(args, a.flags(token)...)...)
}

func newRunctlAPI(t *testing.T) *runctlAPI {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "runctl.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for id, y := range runctlDefinitions {
		d, err := definition.Parse(id+".yaml", []byte(y))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if _, err := st.UpsertDefinitions(ctx, store.Definition{ID: d.ID, ContentHash: d.ContentHash(), Spec: d.CanonicalJSON(),
			SourceFile: "/defs/" + id + ".yaml", SourceDir: "/defs", Enabled: true, TriggerType: store.TriggerType(d.Trigger.Type), EventType: d.Trigger.EventType}); err != nil {
			t.Fatal(err)
		}
	}
	a := &runctlAPI{st: st, admin: "admin-token-0123456789", read: "read-token-0123456789",
		runner: &fakeRunner{st: st}, canceler: &fakeCanceler{}, backfiller: &fakeBackfiller{}}
	tokensFile := filepath.Join(t.TempDir(), "tokens")
	a.alice = tokenInFile(t, tokensFile, "alice", "operate")
	api, err := adminapi.New(adminapi.Config{Store: st, AdminToken: a.admin, ReadToken: a.read, TokensFile: tokensFile,
		Runner: a.runner, Canceler: a.canceler, Backfiller: a.backfiller, Pools: fakePools{}, Logger: quiet, Now: func() time.Time { return runctlNow }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// tokenInFile makes a token with "tokens new", writes its line to the
// tokens file the API reads, and returns the token.
func tokenInFile(t *testing.T, file, name, role string) string {
	t.Helper()
	code, out, errOut := run(t, "tokens", "new", name, role)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 2 {
		t.Fatalf("tokens new: exit %d %s%s", code, out, errOut)
	}
	if err := os.WriteFile(file, []byte("# people\n"+lines[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return lines[0]
}

// fakeRunner stands for Temporal and the engine: it records each start,
// and for a definition whose id names a final status it ends the run with
// that status at once.
type fakeRunner struct {
	st   store.Store
	mu   sync.Mutex
	reqs []adminapi.RunRequest
}

var finalByDefinition = map[string]store.RunStatus{
	"team.succeeds": store.RunSucceeded, "team.fails": store.RunFailed, "team.skips": store.RunSkipped,
	"team.cancels": store.RunCanceled, "team.times-out": store.RunTimedOut,
}

func (f *fakeRunner) StartRun(ctx context.Context, req adminapi.RunRequest) (adminapi.RunStarted, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if final, ok := finalByDefinition[req.DefinitionID]; ok {
		r, err := f.st.GetRun(ctx, req.RunID)
		if err != nil {
			return adminapi.RunStarted{}, err
		}
		r.Status, r.StartedAt, r.FinishedAt, r.Stdout = final, &runctlNow, &runctlNow, "hi\n"
		if _, err := f.st.UpdateRun(ctx, r); err != nil {
			return adminapi.RunStarted{}, err
		}
	}
	return adminapi.RunStarted{RunID: req.RunID, WorkflowID: "wf-" + req.RunID}, nil
}

func (f *fakeRunner) requests() []adminapi.RunRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]adminapi.RunRequest(nil), f.reqs...)
}

type fakeCanceler struct {
	mu       sync.Mutex
	canceled []string
}

func (f *fakeCanceler) Cancel(_ context.Context, r store.Run) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canceled = append(f.canceled, r.ID)
	return nil
}

type backfillCall struct {
	id       string
	from, to time.Time
	overlap  string
}

type fakeBackfiller struct {
	mu    sync.Mutex
	calls []backfillCall
}

func (f *fakeBackfiller) Backfill(_ context.Context, id string, from, to time.Time, overlap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, backfillCall{id, from, to, overlap})
	return nil
}

func (f *fakeBackfiller) called() []backfillCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]backfillCall(nil), f.calls...)
}

// fakePools: one worker polls the default pool; none polls any other.
type fakePools struct{}

func (fakePools) Describe(_ context.Context, pools []string) ([]adminapi.PoolStatus, error) {
	out := make([]adminapi.PoolStatus, len(pools))
	for i, p := range pools {
		out[i] = adminapi.PoolStatus{Pool: p, TaskQueue: "activity-core." + p, Backlog: -1}
		if p == definition.PoolDefault {
			out[i].TaskQueue, out[i].Backlog = "activity-core", 2
			out[i].Workers = []adminapi.Poller{{Identity: "4242@host-a", Host: "host-a", LastSeen: runctlNow.Add(-3 * time.Second)}}
		}
	}
	return out, nil
}
