package schedule

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// One embedded Temporal server for the package (a start costs about a second
// and, with the SQLite plugin, memory until the process exits). Tests keep
// apart by schedule prefix, one per test.
var (
	testServer *devserver.Temporal
	testClient client.Client
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.StartTemporal(ctx, devserver.TemporalConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: starting Temporal:", err)
		return 1
	}
	defer func() { _ = srv.Stop() }()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.Address(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: dialing Temporal:", err)
		return 1
	}
	defer c.Close()
	testServer, testClient = srv, c
	return m.Run()
}

var prefixSeq atomic.Int64

// env is one test's world: its own prefix, store and projector on the
// shared server.
type env struct {
	t      testing.TB
	prefix string
	store  *sqlite.Store
	client *countingClient
	p      *Projector
	// offset moves the projector's clock (operator pause expiry).
	offset atomic.Int64
}

const defsDir = "/defs"

func newEnv(t testing.TB, configure ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, t.Name())
	e.prefix = fmt.Sprintf("t%d-%s:", prefixSeq.Add(1), name)
	st, err := sqlite.New(context.Background(), sqlite.Config{
		Path:   filepath.Join(t.TempDir(), "store.db"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrating store: %v", err)
	}
	e.store = st
	e.client = newCountingClient(testClient)
	cfg := Config{
		Client: e.client,
		Store:  st,
		Prefix: e.prefix,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    e.now,
	}
	for _, f := range configure {
		f(&cfg)
	}
	if e.p, err = New(cfg); err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func (e *env) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

func (e *env) advance(d time.Duration) { e.offset.Add(int64(d)) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// setDefs makes the store's live definitions exactly these YAML documents
// (others are marked removed), as a definitions sync would.
func (e *env) setDefs(docs ...string) {
	e.t.Helper()
	var recs []store.Definition
	var ids []string
	for i, doc := range docs {
		def, err := definition.Parse(fmt.Sprintf("defs/%d.yaml", i), []byte(doc))
		if err != nil {
			e.t.Fatalf("parsing definition %d: %v\n%s", i, err, doc)
		}
		recs = append(recs, storeDef(def))
		ids = append(ids, def.ID)
	}
	e.putDefs(recs, ids)
}

func (e *env) putDefs(recs []store.Definition, ids []string) {
	e.t.Helper()
	ctx := ctxT(e.t)
	if len(recs) > 0 {
		if _, err := e.store.UpsertDefinitions(ctx, recs...); err != nil {
			e.t.Fatalf("UpsertDefinitions: %v", err)
		}
	}
	if _, err := e.store.MarkDefinitionsRemoved(ctx, defsDir, ids); err != nil {
		e.t.Fatalf("MarkDefinitionsRemoved: %v", err)
	}
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

func cronYAML(id, expr string, enabled bool) string {
	return fmt.Sprintf(`id: %s
enabled: %t
trigger:
  trigger_type: cron
  cron_expression: %q
instruction:
  kind: shell
  cmd: echo %s
`, id, enabled, expr, id)
}

func onceYAML(id string, at time.Time, enabled bool) string {
	return fmt.Sprintf(`id: %s
enabled: %t
trigger:
  trigger_type: once
  run_at: %q
instruction:
  kind: shell
  cmd: echo %s
`, id, enabled, at.UTC().Format(time.RFC3339), id)
}

func eventYAML(id string) string {
	return fmt.Sprintf(`id: %s
trigger:
  trigger_type: event
  event_type: org.repo.commit.pushed
instruction:
  kind: shell
  cmd: echo %s
`, id, id)
}

func (e *env) sync(dryRun bool) *Result {
	e.t.Helper()
	res, err := e.p.Sync(ctxT(e.t), dryRun)
	if err != nil {
		e.t.Fatalf("Sync(dryRun=%t): %v", dryRun, err)
	}
	return res
}

// syncOK is sync that also fails the test on per-schedule errors.
func (e *env) syncOK(dryRun bool) *Result {
	e.t.Helper()
	res := e.sync(dryRun)
	if len(res.Errors) > 0 {
		e.t.Fatalf("Sync(dryRun=%t) errors: %+v", dryRun, res.Errors)
	}
	return res
}

func (e *env) sid(defID string) string { return e.prefix + defID }

// listed returns this test's managed schedules as Temporal lists them now.
func (e *env) listed() (map[string]*client.ScheduleListEntry, error) {
	it, err := testClient.ScheduleClient().List(ctxT(e.t), client.ScheduleListOptions{Query: "ScheduleId STARTS_WITH '" + e.prefix + "'"})
	if err != nil {
		return nil, err
	}
	out := map[string]*client.ScheduleListEntry{}
	for it.HasNext() {
		s, err := it.Next()
		if err != nil {
			return nil, err
		}
		out[strings.TrimPrefix(s.ID, e.prefix)] = s
	}
	return out, nil
}

// waitListed polls the schedule list (which lags writes) until check accepts
// it, or fails the test at the deadline with check's last complaint.
func (e *env) waitListed(check func(map[string]*client.ScheduleListEntry) error) {
	e.t.Helper()
	testsupport.Eventually(e.t, 60*time.Second, "schedule list converged", func() error {
		got, err := e.listed()
		if err != nil {
			return err
		}
		return check(got)
	})
}

// want describes a listed schedule: present, and paused or not.
type want struct {
	paused bool
	note   string // checked when not empty
}

// listedExactly checks the managed schedules are exactly these.
func listedExactly(wants map[string]want) func(map[string]*client.ScheduleListEntry) error {
	return func(got map[string]*client.ScheduleListEntry) error {
		for id, w := range wants {
			s, ok := got[id]
			switch {
			case !ok:
				return fmt.Errorf("%s not listed", id)
			case s.Paused != w.paused:
				return fmt.Errorf("%s paused = %t, want %t (note %q)", id, s.Paused, w.paused, s.Note)
			case w.note != "" && s.Note != w.note:
				return fmt.Errorf("%s note = %q, want %q", id, s.Note, w.note)
			}
		}
		for id := range got {
			if _, ok := wants[id]; !ok {
				return fmt.Errorf("%s listed, want it gone", id)
			}
		}
		return nil
	}
}

// countingClient counts the schedule calls a Projector makes, and can hide
// schedules from (or add fake entries to) list results to reproduce a
// stale list.
type countingClient struct {
	client.Client
	sc *countingSchedules
}

func newCountingClient(c client.Client) *countingClient {
	return &countingClient{Client: c, sc: &countingSchedules{inner: c.ScheduleClient(), calls: map[string]int{}}}
}

func (c *countingClient) ScheduleClient() client.ScheduleClient { return c.sc }

type countingSchedules struct {
	inner client.ScheduleClient

	mu    sync.Mutex
	calls map[string]int // "list", "create", "describe", "update", "pause", …
	hide  map[string]bool
	extra []*client.ScheduleListEntry
	// createErr, when set, is what Create returns (Temporal down).
	createErr error
}

func (c *countingSchedules) count(call string) {
	c.mu.Lock()
	c.calls[call]++
	c.mu.Unlock()
}

// take returns the calls counted so far and starts counting anew.
func (c *countingSchedules) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

// perSchedule is the number of calls other than list in calls.
func perSchedule(calls map[string]int) int {
	n := 0
	for k, v := range calls {
		if k != "list" {
			n += v
		}
	}
	return n
}

func (c *countingSchedules) Create(ctx context.Context, o client.ScheduleOptions) (client.ScheduleHandle, error) {
	c.count("create")
	c.mu.Lock()
	err := c.createErr
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.inner.Create(ctx, o)
}

func (c *countingSchedules) GetHandle(ctx context.Context, id string) client.ScheduleHandle {
	return &countingHandle{ScheduleHandle: c.inner.GetHandle(ctx, id), c: c}
}

func (c *countingSchedules) List(ctx context.Context, o client.ScheduleListOptions) (client.ScheduleListIterator, error) {
	c.count("list")
	it, err := c.inner.List(ctx, o)
	c.mu.Lock()
	hide, extra := c.hide, c.extra
	c.mu.Unlock()
	if err != nil || (hide == nil && extra == nil) {
		return it, err
	}
	var entries []*client.ScheduleListEntry
	for it.HasNext() {
		s, err := it.Next()
		if err != nil {
			return nil, err
		}
		if !hide[s.ID] {
			entries = append(entries, s)
		}
	}
	return &sliceIterator{entries: append(entries, extra...)}, nil
}

type sliceIterator struct{ entries []*client.ScheduleListEntry }

func (s *sliceIterator) HasNext() bool { return len(s.entries) > 0 }

func (s *sliceIterator) Next() (*client.ScheduleListEntry, error) {
	e := s.entries[0]
	s.entries = s.entries[1:]
	return e, nil
}

type countingHandle struct {
	client.ScheduleHandle
	c *countingSchedules
}

func (h *countingHandle) Delete(ctx context.Context) error {
	h.c.count("delete")
	return h.ScheduleHandle.Delete(ctx)
}

func (h *countingHandle) Backfill(ctx context.Context, o client.ScheduleBackfillOptions) error {
	h.c.count("backfill")
	return h.ScheduleHandle.Backfill(ctx, o)
}

func (h *countingHandle) Update(ctx context.Context, o client.ScheduleUpdateOptions) error {
	h.c.count("update") // the SDK describes, then updates
	return h.ScheduleHandle.Update(ctx, o)
}

func (h *countingHandle) Describe(ctx context.Context) (*client.ScheduleDescription, error) {
	h.c.count("describe")
	return h.ScheduleHandle.Describe(ctx)
}

func (h *countingHandle) Trigger(ctx context.Context, o client.ScheduleTriggerOptions) error {
	h.c.count("trigger")
	return h.ScheduleHandle.Trigger(ctx, o)
}

func (h *countingHandle) Pause(ctx context.Context, o client.SchedulePauseOptions) error {
	h.c.count("pause")
	return h.ScheduleHandle.Pause(ctx, o)
}

func (h *countingHandle) Unpause(ctx context.Context, o client.ScheduleUnpauseOptions) error {
	h.c.count("unpause")
	return h.ScheduleHandle.Unpause(ctx, o)
}
