package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

func testConcurrentWriters(t *testing.T, d Driver) {
	e := setup(t, d)
	const writers, rounds = 8, 15
	stores := []store.Store{e.s, e.open()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	changes := 0 // outcomes that made a version of the shared definition
	for g := range writers {
		s := stores[g%len(stores)]
		wg.Go(func() {
			c := ctx(t)
			for i := range rounds {
				// Everyone fights over one definition, and owns another.
				res, err := s.UpsertDefinitions(c, def("shared.a", fmt.Sprintf("g%d-%d", g, i)), def(fmt.Sprintf("own.g%d", g), fmt.Sprint(i)))
				if err != nil {
					t.Errorf("writer %d: UpsertDefinitions: %v", g, err)
					return
				}
				if res[0].Outcome != store.Unchanged {
					mu.Lock()
					changes++
					mu.Unlock()
				}
				r, err := s.CreateRun(c, run(fmt.Sprintf("run-g%d-%d", g, i), "shared.a", store.RunRunning))
				if err != nil {
					t.Errorf("writer %d: CreateRun: %v", g, err)
					return
				}
				r.Status = store.RunSucceeded
				if _, err := s.UpdateRun(c, r); err != nil {
					t.Errorf("writer %d: UpdateRun: %v", g, err)
				}
				if err := s.PutScheduleStates(c, store.ScheduleState{ScheduleID: "activity-core:shared.a", DefinitionID: "shared.a", SpecHash: r.ID}); err != nil {
					t.Errorf("writer %d: PutScheduleStates: %v", g, err)
				}
				if _, err := s.ListRuns(c, store.RunFilter{DefinitionID: "shared.a", Limit: 5}); err != nil {
					t.Errorf("writer %d: ListRuns: %v", g, err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Every change of the shared definition made exactly one version, with
	// no gap and no duplicate.
	shared := e.get("shared.a")
	if shared.Version != changes {
		t.Errorf("shared definition at version %d after %d changes", shared.Version, changes)
	}
	for v := 1; v <= shared.Version; v++ {
		if _, err := e.s.GetDefinitionVersion(ctx(t), "shared.a", v); err != nil {
			t.Errorf("version %d: %v", v, err)
		}
	}
	all, _ := pages(t, e, store.RunFilter{Status: store.RunSucceeded, Limit: 50})
	if len(all) != writers*rounds {
		t.Errorf("%d succeeded runs, want %d", len(all), writers*rounds)
	}
}

// corruptOrSkip runs sql meant to corrupt a row. Some corruption cannot
// happen on some engines (PostgreSQL's json and timestamptz types refuse
// it); then there is nothing to test.
func (e *env) corruptOrSkip(sql string) bool {
	e.t.Helper()
	if err := e.exec(sql); err != nil {
		e.t.Logf("the database refuses this corruption, nothing to test: %s: %v", sql, err)
		return false
	}
	return true
}

// wantReported checks the store logged the corrupt row with its key.
func (e *env) wantReported(key string) {
	e.t.Helper()
	logs := e.logs.String()
	if !strings.Contains(logs, "corrupt row") || !strings.Contains(logs, key) {
		e.t.Errorf("corrupt row %q was not reported; logs:\n%s", key, logs)
	}
}

func wantCorrupt(t *testing.T, err error, key string) {
	t.Helper()
	var ce *store.CorruptError
	if !errors.Is(err, store.ErrCorrupt) || !errors.As(err, &ce) || ce.Key != key {
		t.Errorf("err = %v, want a CorruptError for %q", err, key)
	}
}

func testCorruptDefinitions(t *testing.T, d Driver) {
	e := setup(t, d)
	e.upsert(def("ex.a", "h1"), def("ex.bad-trigger", "h1"), def("ex.bad-json", "h1"), def("ex.z", "h1"))
	e.mustExec(`UPDATE definitions SET trigger_type = 'teleport' WHERE id = 'ex.bad-trigger'`)
	wantLive := []string{"ex.a", "ex.z"}
	if e.corruptOrSkip(`UPDATE definitions SET spec = '{"id": "ex.bad-json", oops' WHERE id = 'ex.bad-json'`) {
		e.mustExec(`UPDATE definition_versions SET spec = '[1,' WHERE definition_id = 'ex.bad-json'`)
		_, err := e.s.GetDefinitionVersion(ctx(t), "ex.bad-json", 1)
		wantCorrupt(t, err, "ex.bad-json@1")
		_, err = e.s.GetDefinition(ctx(t), "ex.bad-json")
		wantCorrupt(t, err, "ex.bad-json")
	} else {
		wantLive = []string{"ex.a", "ex.bad-json", "ex.z"}
	}
	if got := ids(t, e, store.DefinitionFilter{}); !slices.Equal(got, wantLive) {
		t.Errorf("ListDefinitions with corrupt rows = %v, want %v", got, wantLive)
	}
	e.wantReported("ex.bad-trigger")
	_, err := e.s.GetDefinition(ctx(t), "ex.bad-trigger")
	wantCorrupt(t, err, "ex.bad-trigger")

	// The next sync that carries the definition repairs the row.
	res := e.upsert(def("ex.bad-trigger", "h1"))
	if res[0].Outcome != store.Updated || res[0].Version != 2 {
		t.Errorf("upsert over a corrupt row: %+v, want updated to version 2", res[0])
	}
	if got := e.get("ex.bad-trigger"); got.TriggerType != store.TriggerCron {
		t.Errorf("repaired row = %+v", got)
	}
}

func testCorruptRuns(t *testing.T, d Driver) {
	e := setup(t, d)
	runs := createRuns(t, e, "run", 9)
	// runs are newest first: corrupt the 3rd and the 5th.
	bad1, bad2 := runs[2].ID, runs[4].ID
	e.mustExec(`UPDATE runs SET status = 'exploded' WHERE id = '` + bad1 + `'`)
	if !e.corruptOrSkip(`UPDATE runs SET context_snapshot = '{"half": ' WHERE id = '` + bad2 + `'`) {
		e.mustExec(`UPDATE runs SET stage = 'lunch' WHERE id = '` + bad2 + `'`)
	}
	_, err := e.s.GetRun(ctx(t), bad1)
	wantCorrupt(t, err, bad1)
	_, err = e.s.GetRun(ctx(t), bad2)
	wantCorrupt(t, err, bad2)

	// Pages skip corrupt rows but keep their place: paging by 3 sees
	// every good row once, and the page holding a bad row is short.
	var want []string
	for _, r := range runs {
		if r.ID != bad1 && r.ID != bad2 {
			want = append(want, r.ID)
		}
	}
	got, sizes := pages(t, e, store.RunFilter{Limit: 3})
	if !slices.Equal(runIDs(got), want) || !slices.Equal(sizes, []int{2, 2, 3}) {
		t.Errorf("pages over corrupt rows: %v in pages of %v; want %v in pages of [2 2 3]", runIDs(got), sizes, want)
	}
	e.wantReported(bad1)
	e.wantReported(bad2)

	// A bad time, where the engine lets one be stored.
	if e.corruptOrSkip(`UPDATE runs SET created_at = 'last tuesday' WHERE id = '` + runs[0].ID + `'`) {
		_, err := e.s.GetRun(ctx(t), runs[0].ID)
		wantCorrupt(t, err, runs[0].ID)
		if got, _ := pages(t, e, store.RunFilter{Limit: 2}); len(got) != len(want)-1 {
			t.Errorf("with a bad time too, %d good runs listed, want %d", len(got), len(want)-1)
		}
	}
}

func testCorruptOther(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	if _, err := e.s.UpsertEventTypes(c,
		store.EventType{Name: "org.good", ContentHash: "h", SourceDir: "/srv/defs"},
		store.EventType{Name: "org.bad", ContentHash: "h", SourceDir: "/srv/defs"}); err != nil {
		t.Fatal(err)
	}
	ok := store.SyncResult{SyncID: "s1", OK: true, StartedAt: time.Now(), FinishedAt: time.Now(), Result: []byte(`{}`)}
	if err := e.s.SaveSyncResult(c, ok); err != nil {
		t.Fatal(err)
	}
	if e.corruptOrSkip(`UPDATE event_types SET schema = 'nope' WHERE name = 'org.bad'`) {
		l, err := e.s.ListEventTypes(c, store.EventTypeFilter{})
		if err != nil || len(l) != 1 || l[0].Name != "org.good" {
			t.Errorf("ListEventTypes with a corrupt row = %+v, %v", l, err)
		}
		e.wantReported("org.bad")
		// The next sync repairs it.
		res, err := e.s.UpsertEventTypes(c, store.EventType{Name: "org.bad", ContentHash: "h", SourceDir: "/srv/defs"})
		if err != nil || res[0].Outcome != store.Updated {
			t.Errorf("upsert over a corrupt event type: %+v, %v", res, err)
		}
	}
	if e.corruptOrSkip(`UPDATE sync_results SET result = '{"sync_id": ' WHERE sync_id = 's1'`) {
		_, err := e.s.LastSyncResult(c)
		wantCorrupt(t, err, "s1")
	}
}

func testReconnect(t *testing.T, d Driver) {
	if d.Disrupt == nil {
		t.Skip("the engine has no server to lose")
	}
	e := setup(t, d)
	e.upsert(def("ex.a", "h1"))
	retried := 0
	for round := range 3 {
		d.Disrupt(t, e.url)
		// Until the pool notices, calls fail with an error the caller may
		// retry; then the store works again without being reopened.
		within(t, 30*time.Second, "the store recovers", func() bool {
			_, err := e.s.GetDefinition(ctx(t), "ex.a")
			if err != nil && !store.IsRetryable(err) {
				t.Fatalf("round %d: error after the database restarted is not retryable: %v", round, err)
			}
			if err != nil {
				retried++
				t.Logf("round %d: retryable: %v", round, err)
			}
			return err == nil
		})
		if _, err := e.s.CreateRun(ctx(t), run(fmt.Sprintf("run-%d", round), "ex.a", store.RunPending)); err != nil && !store.IsRetryable(err) {
			t.Fatalf("round %d: CreateRun: %v", round, err)
		}
	}
	t.Logf("%d retryable errors while the store reconnected", retried)
}
