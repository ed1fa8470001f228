package storetest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// definitionPages walks every page of f forward (After), checking each is
// no larger than the limit and that every page but the first offers a way
// back.
func definitionPages(t *testing.T, e *env, f store.DefinitionPageFilter) (all []string, sizes []int) {
	t.Helper()
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefinitionListLimitDefault
	}
	for range 10000 {
		page, err := e.s.ListDefinitionsPage(ctx(t), f)
		if err != nil {
			t.Fatalf("ListDefinitionsPage(%+v): %v", f, err)
		}
		if len(page.Definitions) > limit {
			t.Fatalf("page of %d definitions, limit %d", len(page.Definitions), limit)
		}
		if (f.After == "") != (page.Prev == "") {
			t.Errorf("page after %q has prev %q: want one exactly when a cursor led here", f.After, page.Prev)
		}
		for _, d := range page.Definitions {
			all = append(all, d.ID)
		}
		sizes = append(sizes, len(page.Definitions))
		if page.Next == "" {
			return all, sizes
		}
		if page.Next == f.After {
			t.Fatalf("ListDefinitionsPage returned its own cursor %q", page.Next)
		}
		f.After = page.Next
	}
	t.Fatal("ListDefinitionsPage never ended")
	return nil, nil
}

// manyDefinitions upserts n definitions p.000, p.001, … in one batch and
// returns their ids in order.
func manyDefinitions(t *testing.T, e *env, n int) []string {
	t.Helper()
	var defs []store.Definition
	var out []string
	for i := range n {
		d := def(fmt.Sprintf("p.%04d", i), "h1")
		defs = append(defs, d)
		out = append(out, d.ID)
	}
	e.upsert(defs...)
	return out
}

func testDefinitionPagination(t *testing.T, d Driver) {
	e := setup(t, d)
	want := manyDefinitions(t, e, 23)
	for _, tc := range []struct {
		limit int
		sizes []int
	}{
		{5, []int{5, 5, 5, 5, 3}},
		{23, []int{23}},
		{24, []int{23}},
		{0, []int{23}},
		{1, nil},
	} {
		got, sizes := definitionPages(t, e, store.DefinitionPageFilter{Limit: tc.limit})
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: paged ids\n %v\nwant\n %v", tc.limit, got, want)
		}
		if tc.sizes != nil && !slices.Equal(sizes, tc.sizes) {
			t.Errorf("limit %d: page sizes %v, want %v", tc.limit, sizes, tc.sizes)
		}
	}

	// Backward from the last page with Prev gives the same pages.
	f := store.DefinitionPageFilter{Limit: 5}
	for range 100 {
		page, err := e.s.ListDefinitionsPage(ctx(t), f)
		if err != nil {
			t.Fatal(err)
		}
		if page.Next == "" {
			f = store.DefinitionPageFilter{Limit: 5, Before: page.Prev}
			break
		}
		f.After = page.Next
	}
	var back [][]string
	for range 100 {
		page, err := e.s.ListDefinitionsPage(ctx(t), f)
		if err != nil {
			t.Fatalf("ListDefinitionsPage(%+v): %v", f, err)
		}
		var ids []string
		for _, d := range page.Definitions {
			ids = append(ids, d.ID)
		}
		back = append(back, ids)
		if page.Next == "" {
			t.Errorf("a page reached backward has no next")
		}
		if page.Prev == "" {
			break
		}
		f.Before = page.Prev
	}
	slices.Reverse(back)
	if got := slices.Concat(back...); !slices.Equal(got, want[:20]) || len(back) != 4 || len(back[0]) != 5 {
		t.Errorf("pages backward from the last: %v, want %v in pages of 5", back, want[:20])
	}

	// A listed definition is what GetDefinition returns.
	page, err := e.s.ListDefinitionsPage(ctx(t), store.DefinitionPageFilter{Limit: 1})
	if err != nil || len(page.Definitions) != 1 || !reflect.DeepEqual(page.Definitions[0], e.get(want[0])) {
		t.Errorf("first page = %+v, %v; want %s as GetDefinition returns it", page, err, want[0])
	}
	// Past the end: an empty last page that leads back.
	past, err := e.s.ListDefinitionsPage(ctx(t), store.DefinitionPageFilter{After: encodeDefinitionCursorForTest(want[len(want)-1])})
	if err != nil || len(past.Definitions) != 0 || past.Next != "" || past.Prev == "" {
		t.Errorf("page after the last definition = %+v, %v; want empty, no next, a prev", past, err)
	}
}

// encodeDefinitionCursorForTest builds a cursor as the drivers do. Clients
// treat cursors as opaque; the suite knows their form to test edges.
func encodeDefinitionCursorForTest(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("d:" + id))
}

func testDefinitionPaginationFilters(t *testing.T, d Driver) {
	e := setup(t, d)
	if got, err := e.s.ListDefinitionSources(ctx(t)); err != nil || len(got) != 0 {
		t.Errorf("ListDefinitionSources of an empty store = %q, %v", got, err)
	}
	var defs []store.Definition
	for i := range 30 {
		x := def(fmt.Sprintf("q.%02d", i), "h1")
		switch i % 5 {
		case 1:
			x.Enabled = false
		case 2:
			x.TriggerType, x.EventType = store.TriggerEvent, "org.repo.>"
		case 3:
			x.SourceDir = "/srv/other"
		case 4:
			x.SourceDir = "/srv/gone"
		}
		defs = append(defs, x)
	}
	e.upsert(defs...)
	if _, err := e.s.MarkDefinitionsRemoved(ctx(t), "/srv/gone", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := e.s.ListDefinitionSources(ctx(t)); err != nil || !slices.Equal(got, []string{"/srv/defs", "/srv/other"}) {
		t.Errorf("ListDefinitionSources = %q, %v; want the two sources with live definitions", got, err)
	}
	yes, no := true, false
	for _, f := range []store.DefinitionFilter{
		{},
		{IncludeRemoved: true},
		{TriggerType: store.TriggerEvent},
		{TriggerType: store.TriggerCron, Enabled: &yes},
		{Enabled: &no},
		{SourceDir: "/srv/other"},
		{SourceDir: "/srv/gone"},
		{SourceDir: "/srv/gone", IncludeRemoved: true},
	} {
		want := ids(t, e, f)
		got, _ := definitionPages(t, e, store.DefinitionPageFilter{DefinitionFilter: f, Limit: 2})
		if !slices.Equal(got, want) {
			t.Errorf("pages of %+v:\n %v\nwant\n %v", f, got, want)
		}
	}
}

// testDefinitionPaginationStable pages while definitions are created and
// removed: what was there throughout is seen once, in order, without gaps.
func testDefinitionPaginationStable(t *testing.T, d Driver) {
	e := setup(t, d)
	var defs []store.Definition
	for i := range 20 {
		defs = append(defs, def(fmt.Sprintf("s.%02d", i*2), "h1"))
	}
	e.upsert(defs...)
	first, err := e.s.ListDefinitionsPage(ctx(t), store.DefinitionPageFilter{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	// New definitions on both sides of the cursor and between the rows
	// still to come; one still to come is removed.
	e.upsert(def("s.01", "h1"), def("s.13", "h1"), def("s.99", "h1"))
	gone := def("s.20", "h1")
	gone.SourceDir = "/srv/gone"
	e.upsert(gone)
	if _, err := e.s.MarkDefinitionsRemoved(ctx(t), "/srv/gone", nil); err != nil {
		t.Fatal(err)
	}
	rest, _ := definitionPages(t, e, store.DefinitionPageFilter{Limit: 5, After: first.Next})
	var got []string
	for _, d := range first.Definitions {
		got = append(got, d.ID)
	}
	got = append(got, rest...)
	var want []string
	for i := range 20 {
		if id := fmt.Sprintf("s.%02d", i*2); id != "s.20" {
			want = append(want, id)
		}
		if i == 6 {
			want = append(want, "s.13")
		}
	}
	want = append(want, "s.99")
	if !slices.Equal(got, want) {
		t.Errorf("pages across writes:\n %v\nwant\n %v", got, want)
	}
}

func testDefinitionPaginationInvalid(t *testing.T, d Driver) {
	e := setup(t, d)
	manyDefinitions(t, e, 3)
	ok := encodeDefinitionCursorForTest("p.0000")
	for _, f := range []store.DefinitionPageFilter{
		{After: "!!!"},
		{Before: "!!!"},
		{After: base64.RawURLEncoding.EncodeToString([]byte("p.0000"))},
		{After: base64.RawURLEncoding.EncodeToString([]byte("d:"))},
		// A run cursor is not a definition cursor.
		{After: base64.RawURLEncoding.EncodeToString([]byte("1700000000000000:run-1"))},
		{After: ok, Before: ok},
		// Bytes no ID holds, which PostgreSQL refuses as text: a 400, not
		// a database error.
		{After: encodeDefinitionCursorForTest("\xff\xfe")},
		{Before: encodeDefinitionCursorForTest("a\x00b")},
	} {
		if _, err := e.s.ListDefinitionsPage(ctx(t), f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListDefinitionsPage(after %q, before %q): %v, want ErrInvalid", f.After, f.Before, err)
		}
	}
	if _, err := e.s.ListRuns(ctx(t), store.RunFilter{Before: ok}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a definition cursor given to ListRuns: %v, want ErrInvalid", err)
	}
	for _, id := range []string{"\xff\xfe", "a\x00b"} {
		c := base64.RawURLEncoding.EncodeToString([]byte("1700000000000000:" + id))
		if _, err := e.s.ListRuns(ctx(t), store.RunFilter{Before: c}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("a run cursor with the ID %q: %v, want ErrInvalid", id, err)
		}
	}
}

func testDefinitionPaginationLimits(t *testing.T, d Driver) {
	e := setup(t, d)
	manyDefinitions(t, e, store.DefinitionListLimitMax+1)
	for _, tc := range []struct{ limit, want int }{
		{0, store.DefinitionListLimitDefault},
		{-5, store.DefinitionListLimitDefault},
		{store.DefinitionListLimitMax + 500, store.DefinitionListLimitMax},
		{store.DefinitionListLimitMax, store.DefinitionListLimitMax},
	} {
		page, err := e.s.ListDefinitionsPage(ctx(t), store.DefinitionPageFilter{Limit: tc.limit})
		if err != nil || len(page.Definitions) != tc.want || page.Next == "" {
			t.Errorf("Limit %d: %d definitions, next %q, %v; want %d and a next page", tc.limit, len(page.Definitions), page.Next, err, tc.want)
		}
	}
}

// testDefinitionPaginationCorrupt checks a corrupt row is skipped and
// stepped over: the pages after it go on.
func testDefinitionPaginationCorrupt(t *testing.T, d Driver) {
	e := setup(t, d)
	want := manyDefinitions(t, e, 6)
	e.mustExec(`UPDATE definitions SET trigger_type = 'teleport' WHERE id = 'p.0001'`)
	got, sizes := definitionPages(t, e, store.DefinitionPageFilter{Limit: 2})
	want = slices.Delete(want, 1, 2)
	if !slices.Equal(got, want) || !slices.Equal(sizes, []int{1, 2, 2}) {
		t.Errorf("pages with a corrupt row: %v in pages of %v, want %v in 1, 2, 2", got, sizes, want)
	}
	e.wantReported("p.0001")
}
