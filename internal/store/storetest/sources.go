package storetest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// gitState is the state of a git source with every field set, times in a
// zone other than UTC and with nanoseconds, to check normalization.
func gitState(name string) store.SourceState {
	zone := time.FixedZone("UTC-3", -3*3600)
	at := time.Date(2026, 12, 1, 9, 30, 0, 123456789, zone)
	fetched, ok := at.Add(time.Hour), at.Add(time.Hour)
	return store.SourceState{
		Name: name, Kind: store.SourceKindGit,
		URL:       "git+https://git.example.org/ops/defs.git//activities?ref=main",
		Ref:       "main",
		PinnedRef: "0123456789abcdef0123456789abcdef01234567",
		Commit:    "0123456789abcdef0123456789abcdef01234567", CommitTime: &at,
		CommitAuthor: "Ann Example <ann@example.org>", CommitSubject: "nightly: run at 02:00 ✓",
		FetchedAt: &fetched, OKAt: &ok,
		LastError: "fetching ops: remote said no",
	}
}

// normalState is s as the store gives it back.
func normalState(s store.SourceState) store.SourceState {
	s.CommitTime, s.FetchedAt, s.OKAt = micro(s.CommitTime), micro(s.FetchedAt), micro(s.OKAt)
	return s
}

func (e *env) sourceNames() []string {
	e.t.Helper()
	l, err := e.s.ListSourceStates(ctx(e.t))
	if err != nil {
		e.t.Fatalf("ListSourceStates: %v", err)
	}
	var names []string
	for _, s := range l {
		names = append(names, s.Name)
	}
	return names
}

func testSourceStates(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	if got := e.sourceNames(); len(got) != 0 {
		t.Errorf("sources of a new store: %v", got)
	}
	if _, err := e.s.GetSourceState(c, "ops"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSourceState of a missing source: %v, want ErrNotFound", err)
	}
	ops := gitState("ops")
	local := store.SourceState{Name: "local", Kind: store.SourceKindFolder, URL: "/srv/defs"}
	// Names sort bytewise: upper case before lower case, é after z.
	for _, s := range []store.SourceState{ops, local, {Name: "Zeta", Kind: "folder", URL: "/z"}, {Name: "été", Kind: "folder", URL: "/e"}} {
		if err := e.s.SaveSourceState(c, s); err != nil {
			t.Fatalf("SaveSourceState(%q): %v", s.Name, err)
		}
	}
	if got, want := e.sourceNames(), []string{"Zeta", "local", "ops", "été"}; !slices.Equal(got, want) {
		t.Errorf("ListSourceStates order = %q, want %q", got, want)
	}
	got, err := e.s.GetSourceState(c, "ops")
	if want := normalState(ops); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("GetSourceState = %+v, %v\nwant %+v", got, err, want)
	}
	if got.CommitTime.Location() != time.UTC {
		t.Errorf("commit time in %v, want UTC", got.CommitTime.Location())
	}

	// Saving again replaces the whole state: a success clears the error.
	ops.Commit, ops.PinnedRef, ops.LastError = "fedcba9876543210fedcba9876543210fedcba98", "", ""
	if err := e.s.SaveSourceState(c, ops); err != nil {
		t.Fatalf("replacing a state: %v", err)
	}
	if got, err := e.s.GetSourceState(c, "ops"); err != nil || !reflect.DeepEqual(got, normalState(ops)) {
		t.Errorf("after replacing, state = %+v, %v\nwant %+v", got, err, normalState(ops))
	}
	l, err := e.s.ListSourceStates(c)
	if err != nil || len(l) != 4 || !reflect.DeepEqual(l[1], local) || !reflect.DeepEqual(l[2], normalState(ops)) {
		t.Errorf("ListSourceStates = %+v, %v", l, err)
	}
}

func testSourceStatesInvalid(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	for name, s := range map[string]store.SourceState{
		"no name":      {Kind: store.SourceKindGit},
		"NUL in name":  {Name: "a\x00b", Kind: store.SourceKindGit},
		"no kind":      {Name: "ops"},
		"unknown kind": {Name: "ops", Kind: "svn"},
		"a commit in year 10000": {Name: "ops", Kind: store.SourceKindGit,
			CommitTime: new(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))},
	} {
		if err := e.s.SaveSourceState(c, s); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("SaveSourceState with %s: %v, want ErrInvalid", name, err)
		}
	}
	if got := e.sourceNames(); len(got) != 0 {
		t.Errorf("invalid states were stored: %v", got)
	}

	// A password in the URL never reaches the API through the store;
	// free text is stored as PostgreSQL text can hold it.
	s := store.SourceState{Name: "ops", Kind: store.SourceKindGit,
		URL:       "git+https://deploy:hunter2@git.example.org/ops/defs.git//x?ref=main",
		LastError: "fetch failed\x00: bad \xff byte"}
	if err := e.s.SaveSourceState(c, s); err != nil {
		t.Fatalf("SaveSourceState: %v", err)
	}
	got, err := e.s.GetSourceState(c, "ops")
	if err != nil || strings.Contains(got.URL, "hunter2") || !strings.Contains(got.URL, "git.example.org/ops/defs.git") ||
		got.LastError != "fetch failed\uFFFD: bad \uFFFD byte" {
		t.Errorf("stored state = %+v, %v", got, err)
	}
}

func testCorruptSourceStates(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	for _, name := range []string{"a", "bad", "z"} {
		if err := e.s.SaveSourceState(c, store.SourceState{Name: name, Kind: store.SourceKindFolder, URL: "/srv/" + name}); err != nil {
			t.Fatal(err)
		}
	}
	// JSON both engines accept, but not a state.
	e.mustExec(`UPDATE source_states SET state = '["ops"]' WHERE name = 'bad'`)
	_, err := e.s.GetSourceState(c, "bad")
	wantCorrupt(t, err, "bad")
	if got, want := e.sourceNames(), []string{"a", "z"}; !slices.Equal(got, want) {
		t.Errorf("ListSourceStates with a corrupt row = %v, want %v", got, want)
	}
	e.wantReported("bad")
	e.mustExec(`UPDATE source_states SET state = 'null' WHERE name = 'bad'`)
	_, err = e.s.GetSourceState(c, "bad")
	wantCorrupt(t, err, "bad")

	// The next sync repairs it.
	if err := e.s.SaveSourceState(c, store.SourceState{Name: "bad", Kind: store.SourceKindFolder, URL: "/srv/bad"}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.s.GetSourceState(c, "bad"); err != nil || got.URL != "/srv/bad" {
		t.Errorf("repaired state = %+v, %v", got, err)
	}
}
