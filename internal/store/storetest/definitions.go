package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

func testMigrate(t *testing.T, d Driver) {
	e := setup(t, d)
	// Again, on the same store and on another: nothing to do, no error.
	if err := e.s.Migrate(ctx(t)); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := e.open().Migrate(ctx(t)); err != nil {
		t.Fatalf("Migrate from another store: %v", err)
	}
	e.upsert(def("ex.a", "h1"))
	if got := e.get("ex.a"); got.Version != 1 {
		t.Errorf("after re-migrating, version = %d, want 1", got.Version)
	}
}

func testMigrateConcurrently(t *testing.T, d Driver) {
	url := d.NewDatabase(t)
	e := &env{t: t, d: d, url: url, logs: &logBuffer{}}
	const n = 4
	stores := make([]store.Store, n)
	for i := range stores {
		stores[i] = e.open()
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(ctx(t))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate from store %d of %d at once: %v", i, n, err)
		}
	}
	e.s = stores[0]
	e.upsert(def("ex.a", "h1"))
}

func testDefinitionLifecycle(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)

	if _, err := e.s.GetDefinition(c, "ex.missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDefinition of a missing id: err = %v, want ErrNotFound", err)
	}

	before := time.Now().UTC().Add(-time.Second)
	res := e.upsert(def("ex.a", "h1"), def("ex.b", "h1"))
	want := []store.UpsertResult{{ID: "ex.a", Outcome: store.Created, Version: 1}, {ID: "ex.b", Outcome: store.Created, Version: 1}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("first upsert = %+v, want %+v", res, want)
	}
	a1 := e.get("ex.a")
	if a1.Version != 1 || a1.ContentHash != "h1" || a1.Removed() || !a1.Enabled || a1.TriggerType != store.TriggerCron ||
		a1.SourceFile != "/srv/defs/ex.a.yaml" || a1.SourceDir != "/srv/defs" {
		t.Errorf("created definition = %+v", a1)
	}
	if a1.CreatedAt.Location() != time.UTC || a1.CreatedAt.Before(before) || !a1.UpdatedAt.Equal(a1.CreatedAt) {
		t.Errorf("created_at %v, updated_at %v: want UTC, now, equal", a1.CreatedAt, a1.UpdatedAt)
	}

	// Same hash: unchanged, and nothing written.
	res = e.upsert(def("ex.a", "h1"))
	if res[0] != (store.UpsertResult{ID: "ex.a", Outcome: store.Unchanged, Version: 1}) {
		t.Errorf("same hash: %+v, want unchanged at version 1", res[0])
	}
	if got := e.get("ex.a"); !reflect.DeepEqual(got, a1) {
		t.Errorf("an unchanged upsert wrote:\n got %+v\nwant %+v", got, a1)
	}

	// New hash: a new version, both versions kept.
	res = e.upsert(def("ex.a", "h2"))
	if res[0] != (store.UpsertResult{ID: "ex.a", Outcome: store.Updated, Version: 2}) {
		t.Errorf("new hash: %+v, want updated to version 2", res[0])
	}
	a2 := e.get("ex.a")
	if a2.Version != 2 || a2.ContentHash != "h2" || string(a2.Spec) != string(def("ex.a", "h2").Spec) ||
		!a2.CreatedAt.Equal(a1.CreatedAt) || !a2.UpdatedAt.After(a1.UpdatedAt) {
		t.Errorf("updated definition = %+v", a2)
	}
	for v, hash := range map[int]string{1: "h1", 2: "h2"} {
		got, err := e.s.GetDefinitionVersion(c, "ex.a", v)
		if err != nil {
			t.Fatalf("GetDefinitionVersion(%d): %v", v, err)
		}
		if got.DefinitionID != "ex.a" || got.Version != v || got.ContentHash != hash ||
			string(got.Spec) != string(def("ex.a", hash).Spec) || got.CreatedAt.IsZero() {
			t.Errorf("version %d = %+v", v, got)
		}
	}
	if _, err := e.s.GetDefinitionVersion(c, "ex.a", 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing version: err = %v, want ErrNotFound", err)
	}

	// Removed: tombstoned, still readable, gone from default lists.
	removed, err := e.s.MarkDefinitionsRemoved(c, "/srv/defs", []string{"ex.b"})
	if err != nil || !slices.Equal(removed, []string{"ex.a"}) {
		t.Fatalf("MarkDefinitionsRemoved = %v, %v; want [ex.a]", removed, err)
	}
	if again, err := e.s.MarkDefinitionsRemoved(c, "/srv/defs", []string{"ex.b"}); err != nil || len(again) != 0 {
		t.Errorf("removing again = %v, %v; want nothing", again, err)
	}
	gone := e.get("ex.a")
	if !gone.Removed() || gone.Version != 2 || gone.RemovedAt.Location() != time.UTC {
		t.Errorf("removed definition = %+v", gone)
	}
	if live := ids(t, e, store.DefinitionFilter{}); !slices.Equal(live, []string{"ex.b"}) {
		t.Errorf("live definitions = %v, want [ex.b]", live)
	}
	if all := ids(t, e, store.DefinitionFilter{IncludeRemoved: true}); !slices.Equal(all, []string{"ex.a", "ex.b"}) {
		t.Errorf("all definitions = %v, want [ex.a ex.b]", all)
	}

	// Back with the same content: restored, same version.
	res = e.upsert(def("ex.a", "h2"))
	if res[0] != (store.UpsertResult{ID: "ex.a", Outcome: store.Restored, Version: 2}) {
		t.Errorf("restore, same hash: %+v, want restored at version 2", res[0])
	}
	if got := e.get("ex.a"); got.Removed() || got.Version != 2 {
		t.Errorf("restored definition = %+v", got)
	}

	// Removed, then back with new content: restored as a new version.
	if _, err := e.s.MarkDefinitionsRemoved(c, "/srv/defs", nil); err != nil {
		t.Fatal(err)
	}
	if live := ids(t, e, store.DefinitionFilter{}); len(live) != 0 {
		t.Errorf("after removing with no ids to keep, live = %v", live)
	}
	res = e.upsert(def("ex.a", "h3"), def("ex.b", "h1"))
	want = []store.UpsertResult{{ID: "ex.a", Outcome: store.Restored, Version: 3}, {ID: "ex.b", Outcome: store.Restored, Version: 1}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("restore = %+v, want %+v", res, want)
	}
	if v, err := e.s.GetDefinitionVersion(c, "ex.a", 3); err != nil || v.ContentHash != "h3" {
		t.Errorf("version 3 = %+v, %v", v, err)
	}

	// The planning function agrees with what the store did.
	cur := e.get("ex.a")
	for _, tc := range []struct {
		cur  *store.Definition
		next store.Definition
		want store.UpsertOutcome
	}{
		{nil, def("ex.a", "h3"), store.Created},
		{&cur, def("ex.a", "h3"), store.Unchanged},
		{&cur, def("ex.a", "h4"), store.Updated},
		{&gone, def("ex.a", "h2"), store.Restored},
	} {
		if got := store.PlanDefinitionUpsert(tc.cur, tc.next); got != tc.want {
			t.Errorf("PlanDefinitionUpsert(%v, %s) = %s, want %s", tc.cur != nil, tc.next.ContentHash, got, tc.want)
		}
	}
}

func testDefinitionMoved(t *testing.T, d Driver) {
	e := setup(t, d)
	e.upsert(def("ex.a", "h1"))
	moved := def("ex.a", "h1")
	moved.SourceFile, moved.SourceDir = "/srv/other/a.yaml", "/srv/other"
	res := e.upsert(moved)
	if res[0] != (store.UpsertResult{ID: "ex.a", Outcome: store.Unchanged, Version: 1}) {
		t.Errorf("moved file, same content: %+v, want unchanged at version 1", res[0])
	}
	got := e.get("ex.a")
	if got.SourceFile != moved.SourceFile || got.SourceDir != moved.SourceDir {
		t.Errorf("after the move, source = %s in %s, want %s in %s", got.SourceFile, got.SourceDir, moved.SourceFile, moved.SourceDir)
	}
	// The old source no longer owns it: a sync of that source removes
	// nothing.
	if removed, err := e.s.MarkDefinitionsRemoved(ctx(t), "/srv/defs", nil); err != nil || len(removed) != 0 {
		t.Errorf("removing from the old source = %v, %v; want nothing", removed, err)
	}
}

func testDefinitionBatchInvalid(t *testing.T, d Driver) {
	e := setup(t, d)
	noHash := def("ex.c", "")
	badJSON := def("ex.c", "h1")
	badJSON.Spec = json.RawMessage(`{"id":`)
	noSpec := def("ex.c", "h1")
	noSpec.Spec = nil
	badTrigger := def("ex.c", "h1")
	badTrigger.TriggerType = "sometimes"
	nul := def("ex.\x00c", "h1")
	for name, bad := range map[string][]store.Definition{
		"empty id":        {def("ex.a", "h1"), def("", "h1")},
		"empty hash":      {def("ex.a", "h1"), noHash},
		"invalid JSON":    {def("ex.a", "h1"), badJSON},
		"no spec":         {def("ex.a", "h1"), noSpec},
		"unknown trigger": {def("ex.a", "h1"), badTrigger},
		"NUL in id":       {def("ex.a", "h1"), nul},
		"id twice":        {def("ex.a", "h1"), def("ex.a", "h2")},
	} {
		if _, err := e.s.UpsertDefinitions(ctx(t), bad...); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if all := ids(t, e, store.DefinitionFilter{IncludeRemoved: true}); len(all) != 0 {
		t.Errorf("invalid batches wrote %v", all)
	}
	if res, err := e.s.UpsertDefinitions(ctx(t)); err != nil || len(res) != 0 {
		t.Errorf("empty batch = %v, %v", res, err)
	}
	if _, err := e.s.MarkDefinitionsRemoved(ctx(t), "", nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("removing from an empty source: err = %v, want ErrInvalid", err)
	}
}

func testDefinitionsRemovedPerSource(t *testing.T, d Driver) {
	e := setup(t, d)
	var defs []store.Definition
	for _, id := range []string{"one.a", "one.b", "one.c"} {
		defs = append(defs, def(id, "h1"))
	}
	for _, id := range []string{"two.a", "two.b"} {
		x := def(id, "h1")
		x.SourceDir, x.SourceFile = "/srv/two", "/srv/two/"+id+".yaml"
		defs = append(defs, x)
	}
	e.upsert(defs...)
	removed, err := e.s.MarkDefinitionsRemoved(ctx(t), "/srv/defs", []string{"one.b", "two.a"})
	if err != nil || !slices.Equal(removed, []string{"one.a", "one.c"}) {
		t.Errorf("MarkDefinitionsRemoved(/srv/defs) = %v, %v; want [one.a one.c]", removed, err)
	}
	if live := ids(t, e, store.DefinitionFilter{}); !slices.Equal(live, []string{"one.b", "two.a", "two.b"}) {
		t.Errorf("live = %v: another source's definitions must stay", live)
	}
	// Many ids to keep at once (a large source).
	keep := make([]string, 5000)
	for i := range keep {
		keep[i] = fmt.Sprintf("keep.%05d", i)
	}
	keep = append(keep, "two.b")
	removed, err = e.s.MarkDefinitionsRemoved(ctx(t), "/srv/two", keep)
	if err != nil || !slices.Equal(removed, []string{"two.a"}) {
		t.Errorf("MarkDefinitionsRemoved(/srv/two, 5001 ids) = %v, %v; want [two.a]", removed, err)
	}
}

func testDefinitionFilters(t *testing.T, d Driver) {
	e := setup(t, d)
	cron := def("f.cron", "h1")
	off := def("f.off", "h1")
	off.Enabled = false
	ev := def("f.event", "h1")
	ev.TriggerType, ev.EventType = store.TriggerEvent, "org.repo.>"
	once := def("f.once", "h1")
	once.TriggerType = store.TriggerOnce
	other := def("f.other", "h1")
	other.SourceDir = "/srv/other"
	gone := def("f.gone", "h1")
	gone.SourceDir = "/srv/gone"
	e.upsert(cron, off, ev, once, other, gone)
	if _, err := e.s.MarkDefinitionsRemoved(ctx(t), "/srv/gone", nil); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	for _, tc := range []struct {
		f    store.DefinitionFilter
		want []string
	}{
		{store.DefinitionFilter{}, []string{"f.cron", "f.event", "f.off", "f.once", "f.other"}},
		{store.DefinitionFilter{IncludeRemoved: true}, []string{"f.cron", "f.event", "f.gone", "f.off", "f.once", "f.other"}},
		{store.DefinitionFilter{TriggerType: store.TriggerEvent}, []string{"f.event"}},
		{store.DefinitionFilter{TriggerType: store.TriggerCron, Enabled: &yes}, []string{"f.cron", "f.other"}},
		{store.DefinitionFilter{Enabled: &no}, []string{"f.off"}},
		{store.DefinitionFilter{SourceDir: "/srv/other"}, []string{"f.other"}},
		{store.DefinitionFilter{SourceDir: "/srv/gone"}, nil},
		{store.DefinitionFilter{SourceDir: "/srv/gone", IncludeRemoved: true}, []string{"f.gone"}},
	} {
		if got := ids(t, e, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("ListDefinitions(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	list, err := e.s.ListDefinitions(ctx(t), store.DefinitionFilter{TriggerType: store.TriggerEvent})
	if err != nil || len(list) != 1 || list[0].EventType != "org.repo.>" || !reflect.DeepEqual(list[0], e.get("f.event")) {
		t.Errorf("listed event definition = %+v, %v; want what GetDefinition returns", list, err)
	}
}

func testSpecJSONRoundTrip(t *testing.T, d Driver) {
	e := setup(t, d)
	// Whitespace, key order, numbers beyond float64, escapes (\u0000
	// included), non-ASCII: all kept byte for byte.
	spec := "{ \"z\": 1,\n  \"a\": [1, 2.50, 1e3, 12345678901234567890123],\n" +
		"  \"s\": \"emoji 🎉 CJK 漢字 \\u00e9 nul \\u0000 quote \\\" tab \\t\",\n" +
		"  \"nested\": {\"b\": null, \"a\": true, \"a\": false}, \"empty\": {} }"
	x := def("ex.json", "h1")
	x.Spec = json.RawMessage(spec)
	e.upsert(x)
	if got := e.get("ex.json"); string(got.Spec) != spec {
		t.Errorf("spec round trip:\n got %s\nwant %s", got.Spec, spec)
	}
	if v, err := e.s.GetDefinitionVersion(ctx(t), "ex.json", 1); err != nil || string(v.Spec) != spec {
		t.Errorf("version spec round trip: %s, %v", v.Spec, err)
	}
	list, err := e.s.ListDefinitions(ctx(t), store.DefinitionFilter{})
	if err != nil || len(list) != 1 || string(list[0].Spec) != spec {
		t.Errorf("listed spec round trip: %v, %v", list, err)
	}
	// Invalid UTF-8 can only sit in JSON strings; it becomes U+FFFD.
	y := def("ex.utf8", "h1")
	y.Spec = json.RawMessage("{\"s\":\"a\xffb\"}")
	e.upsert(y)
	if got := e.get("ex.utf8"); string(got.Spec) != "{\"s\":\"a\uFFFDb\"}" {
		t.Errorf("spec with invalid UTF-8 stored as %q", got.Spec)
	}
}

func testEventTypes(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	et := func(name, hash string) store.EventType {
		return store.EventType{Name: name, Description: "pushed 🚀", ContentHash: hash,
			Schema:     json.RawMessage(`{"type": "object", "required": ["repo"]}`),
			SourceFile: "/srv/defs/event-types/" + name + ".yaml", SourceDir: "/srv/defs"}
	}
	noSchema := et("org.repo.tagged", "h1")
	noSchema.Schema = nil
	res, err := e.s.UpsertEventTypes(c, et("org.repo.pushed", "h1"), noSchema)
	want := []store.UpsertResult{{ID: "org.repo.pushed", Outcome: store.Created}, {ID: "org.repo.tagged", Outcome: store.Created}}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Fatalf("UpsertEventTypes = %+v, %v; want %+v", res, err, want)
	}
	list := func(f store.EventTypeFilter) []store.EventType {
		t.Helper()
		l, err := e.s.ListEventTypes(c, f)
		if err != nil {
			t.Fatalf("ListEventTypes: %v", err)
		}
		return l
	}
	got := list(store.EventTypeFilter{})
	if len(got) != 2 || got[0].Name != "org.repo.pushed" || string(got[0].Schema) != string(et("x", "h").Schema) ||
		got[0].Description != "pushed 🚀" || got[1].Schema != nil || got[0].CreatedAt.IsZero() || got[0].Removed() {
		t.Fatalf("ListEventTypes = %+v", got)
	}
	first := got[0]

	res, err = e.s.UpsertEventTypes(c, et("org.repo.pushed", "h1"))
	if err != nil || res[0].Outcome != store.Unchanged {
		t.Errorf("same hash: %+v, %v", res, err)
	}
	if again := list(store.EventTypeFilter{})[0]; !reflect.DeepEqual(again, first) {
		t.Errorf("an unchanged upsert wrote: %+v", again)
	}
	changed := et("org.repo.pushed", "h2")
	changed.Description = "pushed, v2"
	if res, err = e.s.UpsertEventTypes(c, changed); err != nil || res[0].Outcome != store.Updated {
		t.Errorf("new hash: %+v, %v", res, err)
	}
	if got := list(store.EventTypeFilter{})[0]; got.Description != "pushed, v2" || got.ContentHash != "h2" {
		t.Errorf("updated event type = %+v", got)
	}

	removed, err := e.s.MarkEventTypesRemoved(c, "/srv/defs", []string{"org.repo.tagged"})
	if err != nil || !slices.Equal(removed, []string{"org.repo.pushed"}) {
		t.Errorf("MarkEventTypesRemoved = %v, %v", removed, err)
	}
	if _, err := e.s.MarkEventTypesRemoved(c, "", nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("removing from an empty source: %v, want ErrInvalid", err)
	}
	if got := list(store.EventTypeFilter{}); len(got) != 1 || got[0].Name != "org.repo.tagged" {
		t.Errorf("live event types = %+v", got)
	}
	if got := list(store.EventTypeFilter{IncludeRemoved: true, SourceDir: "/srv/defs"}); len(got) != 2 || !got[0].Removed() {
		t.Errorf("all event types = %+v", got)
	}
	if got := list(store.EventTypeFilter{SourceDir: "/srv/else"}); len(got) != 0 {
		t.Errorf("event types of another source = %+v", got)
	}
	if res, err = e.s.UpsertEventTypes(c, changed); err != nil || res[0].Outcome != store.Restored {
		t.Errorf("back again: %+v, %v; want restored", res, err)
	}
	bad := et("org.bad", "h1")
	bad.Schema = json.RawMessage(`{`)
	if _, err := e.s.UpsertEventTypes(c, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("invalid schema: %v, want ErrInvalid", err)
	}
	if _, err := e.s.UpsertEventTypes(c, et("a", "h"), et("a", "h")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("name twice: %v, want ErrInvalid", err)
	}
}

// ids lists definition ids matching f.
func ids(t *testing.T, e *env, f store.DefinitionFilter) []string {
	t.Helper()
	defs, err := e.s.ListDefinitions(ctx(t), f)
	if err != nil {
		t.Fatalf("ListDefinitions(%+v): %v", f, err)
	}
	var out []string
	for _, d := range defs {
		out = append(out, d.ID)
	}
	return out
}
