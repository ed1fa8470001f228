package timeline

import (
	"context"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// originStore is weekStore whose version 2 came from a git commit.
type originStore struct {
	*memStore
	origins map[int]*store.Origin
}

func (o originStore) GetDefinitionVersion(ctx context.Context, id string, v int) (store.DefinitionVersion, error) {
	dv, err := o.memStore.GetDefinitionVersion(ctx, id, v)
	dv.Origin = o.origins[v]
	return dv, err
}

// TestVersionItemsNameTheirCommit: a version from a git source says which
// commit and author it came from; one without an origin reads as before.
func TestVersionItemsNameTheirCommit(t *testing.T) {
	sha := strings.Repeat("a1b2c3d4", 5)
	st := originStore{memStore: weekStore(), origins: map[int]*store.Origin{
		2: {Source: "ops", Commit: sha, Author: "Ann <ann@example.test>", Path: "automations/job.yaml"},
	}}
	s, err := Build(context.Background(), st, Query{DefinitionID: "t.job", Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	var v1, v2 *Item
	for i := range s.Items {
		switch it := &s.Items[i]; it.Version {
		case 1:
			v1 = it
		case 2:
			v2 = it
		}
	}
	if v1 == nil || v2 == nil {
		t.Fatalf("version items missing: %+v", s.Items)
	}
	if want := `v2 from a1b2c3d by Ann <ann@example.test> (was v1): trigger.cron_expression: "0 3 * * *" → "0 4 * * *"`; v2.Summary != want {
		t.Errorf("v2: %q, want %q", v2.Summary, want)
	}
	if v2.Origin == nil || v2.Origin.Commit != sha {
		t.Errorf("v2 origin %+v", v2.Origin)
	}
	if v1.Summary != "v1 created" || v1.Origin != nil {
		t.Errorf("v1 without origin: %q %+v", v1.Summary, v1.Origin)
	}
}

func TestOriginLine(t *testing.T) {
	sha := strings.Repeat("e4f5a6b7", 5)
	when := t0
	for _, tc := range []struct {
		o    *store.Origin
		want string
	}{
		{nil, ""},
		{&store.Origin{Source: "defs", Path: "team/x.yaml"}, "v3 from defs:team/x.yaml"},
		{&store.Origin{Source: "ops", Commit: sha, Path: "x.yaml", Author: "Ann <ann@x>", CommitTime: &when}, "v3 from e4f5a6b (ops:x.yaml) by Ann <ann@x> at 2026-03-02T00:00:00Z"},
		{&store.Origin{Source: "ops", Commit: sha, Path: "x.yaml", Author: "Eve \x1b[31m"}, "v3 from e4f5a6b (ops:x.yaml) by Eve \uFFFD[31m"},
	} {
		if got := OriginLine(3, tc.o); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.o, got, tc.want)
		}
	}
}
