package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

func mustPayload(t testing.TB, s string) map[string]any {
	t.Helper()
	p, err := DecodePayload([]byte(s))
	if err != nil {
		t.Fatalf("DecodePayload(%s): %v", s, err)
	}
	return p
}

func matchIDs(ms []Match) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.DefinitionID)
	}
	return out
}

func TestMatchTable(t *testing.T) {
	t.Parallel()
	defs := []store.Definition{
		// The seed's commit hook: any repository.
		eventDef(t, "seed.commit-hook", "org.repo.commit.pushed", map[string]any{"repo_slug": "*"}, ""),
		eventDef(t, "w.star", "org.*.commit.pushed", nil, ""),
		eventDef(t, "w.rest", "org.repo.>", nil, ""),
		eventDef(t, "w.all-org", "org.>", nil, ""),
		eventDef(t, "f.glob", "org.repo.commit.pushed", map[string]any{"repo_slug": "team-*"}, ""),
		eventDef(t, "f.list", "org.repo.commit.pushed", map[string]any{"branch": []string{"main", "release/*"}}, ""),
		eventDef(t, "f.nested", "org.repo.commit.pushed", map[string]any{"repo.owner.login": "alice"}, ""),
		eventDef(t, "f.number", "org.repo.commit.pushed", map[string]any{"priority": 1}, ""),
		eventDef(t, "f.bool", "org.repo.commit.pushed", map[string]any{"forced": true}, ""),
		eventDef(t, "f.two", "org.repo.commit.pushed", map[string]any{"repo_slug": "api", "branch": "main"}, ""),
		eventDef(t, "f.array-any", "org.repo.commit.pushed", map[string]any{"labels": "urgent"}, ""),
		eventDef(t, "f.array-fanout", "org.repo.commit.pushed", map[string]any{"commits.author": "bob"}, ""),
		eventDef(t, "f.array-index", "org.repo.commit.pushed", map[string]any{"commits.0.author": "carol"}, ""),
		eventDef(t, "f.escaped", "org.repo.commit.pushed", map[string]any{"title": `wip\*`}, ""),
		eventDef(t, "f.null", "org.repo.commit.pushed", map[string]any{"reviewer": "null"}, ""),
		eventDef(t, "x.exact-short", "org.repo", nil, ""),
		disabled(eventDef(t, "x.disabled", "org.repo.commit.pushed", nil, "")),
		// Not event definitions: ignored.
		{ID: "x.cron", TriggerType: store.TriggerCron, Enabled: true, Spec: json.RawMessage(`{}`)},
	}
	ix := NewIndex(defs, IndexOptions{})
	if p := ix.Problems(); len(p) != 0 {
		t.Fatalf("problems: %v", p)
	}
	always := []string{"seed.commit-hook", "w.all-org", "w.rest", "w.star"}
	with := func(ids ...string) []string {
		out := append(slices.Clone(always), ids...)
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name, subject, payload string
		want                   []string
	}{
		{"seed shape", "org.repo.commit.pushed", `{"repo_slug": "web"}`, with()},
		{"missing field never matches, not even *", "org.repo.commit.pushed", `{}`, []string{"w.all-org", "w.rest", "w.star"}},
		{"star token", "org.fork.commit.pushed", `{}`, []string{"w.all-org", "w.star"}},
		{"star needs exactly one token", "org.a.b.commit.pushed", `{}`, []string{"w.all-org"}},
		{"> needs at least one token", "org.repo", `{}`, []string{"w.all-org", "x.exact-short"}},
		{"> alone", "org", `{}`, []string{}},
		{"other root", "acme.repo.commit.pushed", `{"repo_slug": "x"}`, []string{}},
		{"glob", "org.repo.commit.pushed", `{"repo_slug": "team-api"}`, with("f.glob")},
		{"glob is anchored", "org.repo.commit.pushed", `{"repo_slug": "my-team-api"}`, with()},
		{"list: first", "org.repo.commit.pushed", `{"repo_slug": "x", "branch": "main"}`, with("f.list")},
		{"list: glob item", "org.repo.commit.pushed", `{"repo_slug": "x", "branch": "release/1.2"}`, with("f.list")},
		{"list: none", "org.repo.commit.pushed", `{"repo_slug": "x", "branch": "dev"}`, with()},
		{"nested path", "org.repo.commit.pushed", `{"repo_slug": "x", "repo": {"owner": {"login": "alice"}}}`, with("f.nested")},
		{"nested path: scalar in the way", "org.repo.commit.pushed", `{"repo_slug": "x", "repo": "alice"}`, with()},
		{"number by text", "org.repo.commit.pushed", `{"repo_slug": "x", "priority": 1}`, with("f.number")},
		{"number 1.0 reads 1", "org.repo.commit.pushed", `{"repo_slug": "x", "priority": 1.0}`, with("f.number")},
		{"string \"1\" matches too", "org.repo.commit.pushed", `{"repo_slug": "x", "priority": "1"}`, with("f.number")},
		{"number 10 is not 1", "org.repo.commit.pushed", `{"repo_slug": "x", "priority": 10}`, with()},
		{"boolean by text", "org.repo.commit.pushed", `{"repo_slug": "x", "forced": true}`, with("f.bool")},
		{"boolean false", "org.repo.commit.pushed", `{"repo_slug": "x", "forced": false}`, with()},
		{"all filters must match", "org.repo.commit.pushed", `{"repo_slug": "api", "branch": "main"}`, with("f.list", "f.two")},
		{"all filters: one fails", "org.repo.commit.pushed", `{"repo_slug": "api", "branch": "dev"}`, with()},
		{"array: any element", "org.repo.commit.pushed", `{"repo_slug": "x", "labels": ["a", "urgent"]}`, with("f.array-any")},
		{"array: empty offers nothing", "org.repo.commit.pushed", `{"repo_slug": "x", "labels": []}`, with()},
		{"array: fan out over objects", "org.repo.commit.pushed", `{"repo_slug": "x", "commits": [{"author": "al"}, {"author": "bob"}]}`, with("f.array-fanout")},
		{"array: index", "org.repo.commit.pushed", `{"repo_slug": "x", "commits": [{"author": "carol"}, {"author": "bob"}]}`, with("f.array-fanout", "f.array-index")},
		{"array: index is exact", "org.repo.commit.pushed", `{"repo_slug": "x", "commits": [{"author": "bob"}, {"author": "carol"}]}`, with("f.array-fanout")},
		{"escaped star is literal", "org.repo.commit.pushed", `{"repo_slug": "x", "title": "wip*"}`, with("f.escaped")},
		{"escaped star: not a wildcard", "org.repo.commit.pushed", `{"repo_slug": "x", "title": "wip: x"}`, with()},
		{"null is present, reads null", "org.repo.commit.pushed", `{"repo_slug": null, "reviewer": null}`, with("f.null")},
		{"object value matches *", "org.repo.commit.pushed", `{"repo_slug": {"a": 1}}`, with()},
		{"shell text is just text", "org.repo.commit.pushed", "{\"repo_slug\": \"$(rm -rf /); `id`\"}", with()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := matchIDs(ix.Match(tc.subject, mustPayload(t, tc.payload)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Match(%s, %s)\n got %v\nwant %v", tc.subject, tc.payload, got, tc.want)
			}
		})
	}
}

func TestMatchReusesUnchangedEntries(t *testing.T) {
	t.Parallel()
	a := eventDef(t, "n.a", "org.x", nil, "")
	b := eventDef(t, "n.b", "org.x", nil, "")
	ix1 := NewIndex([]store.Definition{a, b}, IndexOptions{})
	b2 := eventDef(t, "n.b", "org.y", nil, "")
	ix2 := newIndex([]store.Definition{a, b2, disabled(eventDef(t, "n.c", "org.x", nil, ""))}, IndexOptions{}, ix1)
	if ix2.entries[0] != ix1.entries[0] {
		t.Error("unchanged definition compiled again")
	}
	if ix2.entries[1] == ix1.entries[1] {
		t.Error("changed definition reused")
	}
	if got := matchIDs(ix2.Match("org.x", map[string]any{})); !slices.Equal(got, []string{"n.a"}) {
		t.Errorf("got %v", got)
	}
	if ix2.Len() != 3 || ix2.Enabled() != 2 {
		t.Errorf("Len %d Enabled %d", ix2.Len(), ix2.Enabled())
	}
}

func TestIndexProblems(t *testing.T) {
	t.Parallel()
	good := eventDef(t, "p.good", "org.x", nil, "")
	bad := store.Definition{ID: "p.bad", TriggerType: store.TriggerEvent, Enabled: true, ContentHash: "h", Spec: json.RawMessage(`{"id": 3}`)}
	ix := NewIndex([]store.Definition{good, bad}, IndexOptions{})
	if p := ix.Problems(); len(p) != 1 || p[0].DefinitionID != "p.bad" {
		t.Fatalf("problems = %v", p)
	}
	if got := matchIDs(ix.Match("org.x", map[string]any{})); !slices.Equal(got, []string{"p.good"}) {
		t.Errorf("got %v", got)
	}
}

// TestMatchAgreesWithReference checks the trie and the literal keys
// against the obvious scan on random definitions and events, including
// many definitions on one subject (keyed buckets).
func TestMatchAgreesWithReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	toks := []string{"org", "repo", "commit", "pushed", "a", "b"}
	vals := []string{"api", "web", "db", "x", "team-api", "1", "true"}
	var defs []store.Definition
	for i := range 600 {
		n := 1 + rng.IntN(4)
		var pat []string
		for j := range n {
			switch r := rng.IntN(10); {
			case r == 0:
				pat = append(pat, "*")
			case r == 1 && j == n-1:
				pat = append(pat, ">")
			default:
				pat = append(pat, toks[rng.IntN(len(toks))])
			}
		}
		if i%3 == 0 { // crowd one subject so its bucket is keyed
			pat = []string{"org", "repo", "commit", "pushed"}
		}
		filters := map[string]any{}
		for range rng.IntN(3) {
			path := []string{"repo_slug", "branch", "meta.kind", "tags"}[rng.IntN(4)]
			switch rng.IntN(6) {
			case 4:
				filters[path] = "*-api"
			case 5:
				filters[path] = []string{"*b", "te?m-*"}
			case 0:
				filters[path] = "*"
			case 1:
				filters[path] = []string{vals[rng.IntN(len(vals))], vals[rng.IntN(len(vals))]}
			case 2:
				filters[path] = "team-*"
			default:
				filters[path] = vals[rng.IntN(len(vals))]
			}
		}
		defs = append(defs, eventDef(t, fmt.Sprintf("r.d%d", i), strings.Join(pat, "."), filters, ""))
	}
	ix := NewIndex(defs, IndexOptions{})
	keyed := 0
	var count func(n *node)
	count = func(n *node) {
		for _, b := range []*bucket{n.here, n.rest} {
			if b != nil && b.exact != nil {
				keyed++
			}
		}
		for _, c := range n.children {
			count(c)
		}
		if n.star != nil {
			count(n.star)
		}
	}
	count(ix.root)
	if keyed == 0 {
		t.Fatal("no keyed bucket: the test does not exercise literal keys")
	}
	for range 3000 {
		n := 1 + rng.IntN(5)
		var st []string
		for range n {
			st = append(st, toks[rng.IntN(len(toks))])
		}
		if rng.IntN(3) == 0 {
			st = []string{"org", "repo", "commit", "pushed"}
		}
		payload := map[string]any{}
		if rng.IntN(4) > 0 {
			payload["repo_slug"] = vals[rng.IntN(len(vals))]
		}
		if rng.IntN(2) == 0 {
			payload["branch"] = json.Number(vals[5])
		}
		if rng.IntN(2) == 0 {
			payload["meta"] = map[string]any{"kind": vals[rng.IntN(len(vals))]}
		}
		if rng.IntN(3) == 0 {
			payload["tags"] = []any{vals[rng.IntN(len(vals))], vals[rng.IntN(len(vals))]}
		}
		subject := strings.Join(st, ".")
		got := matchIDs(ix.Match(subject, payload))
		want := []string{}
		for _, e := range ix.entries {
			if ok, _ := e.matchFilters(payload); ok && definition.SubjectTokensMatch(e.pattern, st) {
				want = append(want, e.id)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Match(%s, %v)\n got %v\nwant %v", subject, payload, got, want)
		}
	}
}

func TestGlobAffixes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ glob, prefix, suffix string }{
		{"team-*", "team-", ""},
		{"*-api", "", "-api"},
		{"a*b?c", "a", "c"},
		{`x\*y*z`, "x*y", "z"},
		{`*\?`, "", "?"},
		{"*", "", ""},
	} {
		if p, s := globPrefix(tc.glob), globSuffix(tc.glob); p != tc.prefix || s != tc.suffix {
			t.Errorf("%q: prefix %q suffix %q, want %q %q", tc.glob, p, s, tc.prefix, tc.suffix)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		wantErr error
	}{
		{`{"a": 1}`, nil},
		{"  \n{}\n ", nil},
		{``, errEmptyPayload},
		{`   `, errEmptyPayload},
		{`[1, 2]`, errNotObject},
		{`"x"`, errNotObject},
		{`null`, errNotObject},
		{`3`, errNotObject},
		{`not json`, errNotJSON},
		{`{"a": }`, errNotJSON},
		{`{"a": 1} x`, errNotJSON},
		{`{"a": 1}{}`, errNotJSON},
	} {
		_, err := DecodePayload([]byte(tc.in))
		if !errors.Is(err, tc.wantErr) && !(err == nil && tc.wantErr == nil) {
			t.Errorf("DecodePayload(%q) = %v, want %v", tc.in, err, tc.wantErr)
		}
	}
	p := mustPayload(t, `{"big": 12345678901234567890, "f": 1.50, "e": 1e3}`)
	for k, want := range map[string]string{"big": "12345678901234567890", "f": "1.5", "e": "1000"} {
		if got, _ := valueText(p[k]); got != want {
			t.Errorf("valueText(%s) = %q, want %q", k, got, want)
		}
	}
}

func TestValueText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   any
		want string
	}{
		{"s", "s"}, {float64(1), "1"}, {1.5, "1.5"}, {1e21, "1e+21"}, {1e-7, "1e-7"}, {true, "true"}, {nil, "null"},
		{json.Number("-0"), "0"}, {json.Number("2.50"), "2.5"}, {7, "7"},
		{map[string]any{"b": json.Number("1.0"), "a": "x"}, `{"a":"x","b":1}`},
	} {
		if got, ok := valueText(tc.in); !ok || got != tc.want {
			t.Errorf("valueText(%#v) = %q, %t; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestGuard(t *testing.T) {
	t.Parallel()
	ix := NewIndex(nil, IndexOptions{LifecyclePrefix: "activity", ChainDepthLimit: 3})
	for _, tc := range []struct {
		subject, payload, def string
		depth                 int
		blocked               bool
	}{
		{"org.repo.commit.pushed", `{"chain_depth": 7, "definition_id": "a.b"}`, "a.b", 0, false},
		{"activity.run.failed", `{"definition_id": "x.y"}`, "a.b", 1, false},
		{"activity.run.failed", `{"definition_id": "x.y", "chain_depth": 2}`, "a.b", 3, false},
		{"activity.run.failed", `{"definition_id": "x.y", "chain_depth": 3}`, "a.b", 4, true},
		{"activity.run.failed", `{"definition_id": "a.b", "chain_depth": 0}`, "a.b", 1, true},
		{"activity.run.failed", `{"chain_depth": "lots"}`, "a.b", 1, false},
		{"activity.run.failed", `{"chain_depth": -5}`, "a.b", 1, false},
		{"activity.run.failed.extra", `{"definition_id": "a.b"}`, "a.b", 0, false},
		{"activityx.run.failed", `{"definition_id": "a.b"}`, "a.b", 0, false},
	} {
		depth, blocked := ix.Guard(tc.subject, mustPayload(t, tc.payload), tc.def)
		if depth != tc.depth || (blocked != "") != tc.blocked {
			t.Errorf("Guard(%s, %s, %s) = %d, %q; want %d, blocked %t", tc.subject, tc.payload, tc.def, depth, blocked, tc.depth, tc.blocked)
		}
	}
}

func TestSubjectSets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b          string
		overlap, aInB bool
	}{
		{"org.>", "org.>", true, true},
		{"org.repo.>", "org.>", true, true},
		{"org.>", "org.repo.>", true, false},
		{"org.*", "org.>", true, true},
		{"org.>", "org.*", true, false},
		{"org.a", "org.*", true, true},
		{"org", "org.>", false, false},
		{"org.a.b", "org.*", false, false},
		{"acme.>", "org.>", false, false},
		{"*.x", "org.*", true, false},
		{">", "org.>", true, false},
		{"org.>", ">", true, true},
	} {
		if got := subjectsOverlap(tc.a, tc.b); got != tc.overlap {
			t.Errorf("subjectsOverlap(%s, %s) = %t", tc.a, tc.b, got)
		}
		if got := subjectsOverlap(tc.b, tc.a); got != tc.overlap {
			t.Errorf("subjectsOverlap(%s, %s) = %t (reversed)", tc.b, tc.a, got)
		}
		if got := subjectSubset(tc.a, tc.b); got != tc.aInB {
			t.Errorf("subjectSubset(%s, %s) = %t", tc.a, tc.b, got)
		}
	}
	if got := normalizeSubjects([]string{"org.>", "org.repo.>", "activity.>", "org.>"}); !slices.Equal(got, []string{"org.>", "activity.>"}) {
		t.Errorf("normalizeSubjects = %v", got)
	}
}

func TestWorkflowID(t *testing.T) {
	t.Parallel()
	if got := workflowID("a.b", "42"); got != "activity-core:evt:a.b:42" {
		t.Errorf("got %s", got)
	}
	long := strings.Repeat("x", 2000)
	got := workflowID("a.b", long)
	if len(got) > maxWorkflowIDLen || !strings.HasPrefix(got, "activity-core:evt:a.b:sha256-") || got != workflowID("a.b", long) {
		t.Errorf("long id: %s", got)
	}
}
