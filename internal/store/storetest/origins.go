package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// gitOrigin is where a definition was read from a git source at commit,
// with a commit time in a zone other than UTC and with nanoseconds.
func gitOrigin(id, commit string, hour int) *store.Origin {
	at := time.Date(2026, 12, 1, hour, 0, 0, 987654321, time.FixedZone("UTC+1", 3600))
	return &store.Origin{Source: "ops", Commit: commit, CommitTime: &at,
		Author: "Ann Example <ann@example.org>", Path: "activities/" + id + ".yaml"}
}

// normalOrigin is o as the store gives it back.
func normalOrigin(o *store.Origin) *store.Origin {
	n := *o
	n.CommitTime = micro(o.CommitTime)
	return &n
}

func withOrigin(d store.Definition, o *store.Origin) store.Definition {
	d.Origin = o
	return d
}

func (e *env) version(id string, v int) store.DefinitionVersion {
	e.t.Helper()
	got, err := e.s.GetDefinitionVersion(ctx(e.t), id, v)
	if err != nil {
		e.t.Fatalf("GetDefinitionVersion(%q, %d): %v", id, v, err)
	}
	return got
}

// wantOrigin checks the origin of a definition everywhere it is read: Get,
// both lists, and its current version.
func (e *env) wantOrigin(id string, want *store.Origin) {
	e.t.Helper()
	c := ctx(e.t)
	d := e.get(id)
	if !reflect.DeepEqual(d.Origin, want) {
		e.t.Errorf("GetDefinition(%q).Origin = %+v, want %+v", id, d.Origin, want)
	}
	if v := e.version(id, d.Version); !reflect.DeepEqual(v.Origin, want) {
		e.t.Errorf("origin of %q version %d = %+v, want %+v", id, d.Version, v.Origin, want)
	}
	all, err := e.s.ListDefinitions(c, store.DefinitionFilter{IncludeRemoved: true})
	if err != nil {
		e.t.Fatalf("ListDefinitions: %v", err)
	}
	page, err := e.s.ListDefinitionsPage(c, store.DefinitionPageFilter{DefinitionFilter: store.DefinitionFilter{IncludeRemoved: true}})
	if err != nil {
		e.t.Fatalf("ListDefinitionsPage: %v", err)
	}
	for name, list := range map[string][]store.Definition{"ListDefinitions": all, "ListDefinitionsPage": page.Definitions} {
		found := false
		for _, l := range list {
			if l.ID == id {
				found = true
				if !reflect.DeepEqual(l, d) {
					e.t.Errorf("%s has %q as %+v, want %+v", name, id, l, d)
				}
			}
		}
		if !found {
			e.t.Errorf("%s lacks %q", name, id)
		}
	}
}

func testDefinitionOrigins(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	o1 := gitOrigin("ex.a", "1111111111111111111111111111111111111111", 9)
	in := withOrigin(def("ex.a", "h1"), o1)
	e.upsert(in, def("ex.plain", "h1"), withOrigin(def("ex.folder", "h1"), &store.Origin{Source: "local", Path: "ex.folder.yaml"}))
	if in.Origin != o1 || o1.CommitTime.Location() == time.UTC {
		t.Errorf("UpsertDefinitions changed the caller's origin: %+v", in.Origin)
	}
	e.wantOrigin("ex.a", normalOrigin(o1))
	e.wantOrigin("ex.plain", nil)
	e.wantOrigin("ex.folder", &store.Origin{Source: "local", Path: "ex.folder.yaml"})
	b, _ := json.Marshal(e.get("ex.a"))
	if !strings.Contains(string(b), `"origin":{"source":"ops","commit":"1111111111111111111111111111111111111111","commit_time":"2026-12-01T08:00:00.987654Z"`) {
		t.Errorf("JSON of a definition: %s", b)
	}
	a1 := e.get("ex.a")

	// The same content at a newer commit: unchanged, nothing written;
	// the origin stays the commit that introduced the content.
	o2 := gitOrigin("ex.a", "2222222222222222222222222222222222222222", 10)
	if res := e.upsert(withOrigin(def("ex.a", "h1"), o2)); res[0].Outcome != store.Unchanged {
		t.Errorf("same content at a newer commit: %+v, want unchanged", res[0])
	}
	if got := e.get("ex.a"); !reflect.DeepEqual(got, a1) {
		t.Errorf("an unchanged upsert wrote:\n got %+v\nwant %+v", got, a1)
	}
	// Moved too: the file is updated, the origin is still the version's.
	moved := withOrigin(def("ex.a", "h1"), o2)
	moved.SourceFile = "/srv/defs/moved/ex.a.yaml"
	e.upsert(moved)
	if got := e.get("ex.a"); got.SourceFile != moved.SourceFile {
		t.Errorf("moved definition's file = %q", got.SourceFile)
	}
	e.wantOrigin("ex.a", normalOrigin(o1))

	// New content: a new version with the new origin; the old version
	// keeps its own.
	o3 := gitOrigin("ex.a", "3333333333333333333333333333333333333333", 11)
	if res := e.upsert(withOrigin(def("ex.a", "h2"), o3)); res[0].Outcome != store.Updated || res[0].Version != 2 {
		t.Fatalf("new content: %+v, want updated to version 2", res[0])
	}
	e.wantOrigin("ex.a", normalOrigin(o3))
	if v1 := e.version("ex.a", 1); !reflect.DeepEqual(v1.Origin, normalOrigin(o1)) {
		t.Errorf("version 1 origin = %+v, want %+v", v1.Origin, normalOrigin(o1))
	}
	// A version without an origin clears the definition's.
	e.upsert(def("ex.a", "h3"))
	e.wantOrigin("ex.a", nil)

	// Removed and back: same content keeps the version's origin, new
	// content brings its own.
	if _, err := e.s.MarkDefinitionsRemoved(c, "/srv/defs", nil); err != nil {
		t.Fatal(err)
	}
	o4 := gitOrigin("ex.folder", "4444444444444444444444444444444444444444", 12)
	res := e.upsert(withOrigin(def("ex.folder", "h1"), o4), withOrigin(def("ex.plain", "h2"), o4))
	if res[0].Outcome != store.Restored || res[0].Version != 1 || res[1].Outcome != store.Restored || res[1].Version != 2 {
		t.Errorf("restored: %+v", res)
	}
	e.wantOrigin("ex.folder", &store.Origin{Source: "local", Path: "ex.folder.yaml"})
	e.wantOrigin("ex.plain", normalOrigin(o4))

	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, o := range map[string]*store.Origin{
		"no source":              {Path: "ex.b.yaml"},
		"a commit in year 10000": {Source: "ops", CommitTime: &far},
	} {
		if _, err := e.s.UpsertDefinitions(c, withOrigin(def("ex.b", "h1"), o)); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("origin with %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := e.s.GetDefinition(c, "ex.b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a definition with an invalid origin was stored: %v", err)
	}
}

// testCorruptOrigin: an origin is only provenance, so one that cannot be
// decoded is reported and read as none; the definition stays listed (the
// router and the syncer act on the lists).
func testCorruptOrigin(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	o := gitOrigin("ex.bad", "1111111111111111111111111111111111111111", 9)
	e.upsert(withOrigin(def("ex.a", "h1"), o), withOrigin(def("ex.bad", "h1"), o))
	// JSON both engines accept, but not an origin.
	e.mustExec(`UPDATE definitions SET origin = '{"source": 7}' WHERE id = 'ex.bad'`)
	e.mustExec(`UPDATE definition_versions SET origin = '"ops"' WHERE definition_id = 'ex.bad'`)
	if got := e.get("ex.bad"); got.Origin != nil || got.Version != 1 {
		t.Errorf("definition with a corrupt origin = %+v, want it with no origin", got)
	}
	if got := e.version("ex.bad", 1); got.Origin != nil {
		t.Errorf("version with a corrupt origin = %+v, want it with no origin", got)
	}
	if got := ids(t, e, store.DefinitionFilter{}); !reflect.DeepEqual(got, []string{"ex.a", "ex.bad"}) {
		t.Errorf("ListDefinitions = %v, want both", got)
	}
	page, err := e.s.ListDefinitionsPage(c, store.DefinitionPageFilter{})
	if err != nil || len(page.Definitions) != 2 || page.Definitions[1].Origin != nil ||
		!reflect.DeepEqual(page.Definitions[0].Origin, normalOrigin(o)) {
		t.Errorf("ListDefinitionsPage = %+v, %v", page, err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "corrupt origin") || !strings.Contains(logs, "ex.bad@1") || !strings.Contains(logs, "key=ex.bad ") {
		t.Errorf("corrupt origins were not reported; logs:\n%s", logs)
	}
	if e.corruptOrSkip(`UPDATE definitions SET origin = '{"source": ' WHERE id = 'ex.bad'`) {
		if got := e.get("ex.bad"); got.Origin != nil {
			t.Errorf("definition with invalid origin JSON = %+v", got)
		}
	}
	// The next new version writes a good one.
	e.upsert(withOrigin(def("ex.bad", "h2"), o))
	e.wantOrigin("ex.bad", normalOrigin(o))
}
