package router

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/store"
)

// nested is a payload object nested depth levels deep: {"a":{"a":...}}.
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat(`}`, depth-1)
}

func TestDecodePayloadBounds(t *testing.T) {
	t.Parallel()
	if _, err := DecodePayload([]byte(nested(limits.MaxPayloadDepth))); err != nil {
		t.Errorf("payload at the depth limit: %v", err)
	}
	_, err := DecodePayload([]byte(nested(limits.MaxPayloadDepth + 1)))
	if !errors.Is(err, errPayloadTooDeep) {
		t.Errorf("one level over: err = %v, want errPayloadTooDeep", err)
	}
	// The shape of the report: 20 KB of arrays, 10,000 deep.
	_, err = DecodePayload([]byte(`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`))
	if !errors.Is(err, errPayloadTooDeep) {
		t.Errorf("10,000 deep: err = %v, want errPayloadTooDeep", err)
	}
	_, err = DecodePayload([]byte(`{"big":"` + strings.Repeat("x", limits.MaxEventPayload) + `"}`))
	if !errors.Is(err, errPayloadTooLarge) {
		t.Errorf("over the size limit: err = %v, want errPayloadTooLarge", err)
	}
	// A key given twice: the schema would check one value, a command's
	// parser might read the other.
	for _, p := range []string{`{"ref":"$(evil)","ref":"main"}`, `{"a":{"x":1,"y":[{"k":1}],"x":2}}`} {
		if _, err := DecodePayload([]byte(p)); !errors.Is(err, errPayloadDuplicateKey) {
			t.Errorf("%s: err = %v, want errPayloadDuplicateKey", p, err)
		}
	}
	for _, p := range []string{`{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}`, `{"x":[1,"x",{"x":"x"}],"y":"x"}`} {
		if _, err := DecodePayload([]byte(p)); err != nil {
			t.Errorf("%s: the same key in different objects is fine: %v", p, err)
		}
	}
}

const shaSchemaType = `name: %s
schema:
  type: object
  required: [sha, repo_slug]
  properties:
    sha: {type: string, pattern: "^[0-9a-f]{40}$"}
    repo_slug: {type: string, pattern: "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"}
`

func eventType(t testing.TB, name string) store.EventType {
	t.Helper()
	et, err := definition.ParseEventType("et.yaml", []byte(strings.ReplaceAll(shaSchemaType, "%s", name)))
	if err != nil {
		t.Fatal(err)
	}
	return store.EventType{Name: et.Name, Schema: et.Schema, SourceFile: "/defs/event-types/et.yaml", SourceDir: defsDir, ContentHash: et.ContentHash()}
}

const goodSHA = "0123456789abcdef0123456789abcdef01234567"

// A payload nested too deep or failing its event type's schema is acked,
// counted by reason and not routed; in warn mode the schema failure is
// routed and counted.
func TestIngestBoundsAndSchema(t *testing.T) {
	t.Parallel()
	forEachNATS(t, func(t *testing.T, w *world) {
		subject := w.subj("org.repo.commit.pushed")
		if _, err := w.st.UpsertEventTypes(context.Background(), eventType(t, subject)); err != nil {
			t.Fatal(err)
		}
		w.setDefs(eventDef(t, w.id("hook"), subject, nil, ""))
		r := w.newRouter()
		w.start(r)
		w.publish(subject, nested(limits.MaxPayloadDepth+1), "deep")
		w.publish(subject, map[string]any{"sha": goodSHA, "repo_slug": "x$(shell touch /tmp/p)"}, "bad-slug")
		w.publish(subject, map[string]any{"sha": "main", "repo_slug": "a/b"}, "bad-sha")
		w.publish(subject, map[string]any{"sha": goodSHA, "repo_slug": "a/b"}, "good")
		got := w.waitRuns(1)
		w.waitIdle(DurableDefault)
		if _, ok := got[workflowID(w.id("hook"), "good")]; !ok || len(got) != 1 {
			t.Errorf("runs: %v, want only the conforming event", sortedKeys(got))
		}
		st := w.settledCounts(r)
		if st.Invalid != 3 || st.Acked != 4 || st.Started != 1 {
			t.Errorf("stats: %+v", st)
		}
		if n := testutil.ToFloat64(r.m.invalid.WithLabelValues("too_deep")); n != 1 {
			t.Errorf("too_deep = %v, want 1", n)
		}
		if n := testutil.ToFloat64(r.m.invalid.WithLabelValues("schema")); n != 2 {
			t.Errorf("schema = %v, want 2", n)
		}
	})
}

func TestSchemaWarnModeRoutes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testNATS.ClientURL())
	subject := w.subj("org.repo.commit.pushed")
	if _, err := w.st.UpsertEventTypes(context.Background(), eventType(t, subject)); err != nil {
		t.Fatal(err)
	}
	w.setDefs(eventDef(t, w.id("hook"), subject, nil, ""))
	r := w.newRouter(func(c *Config) { c.SchemaMode = schemaWarn })
	w.start(r)
	w.publish(subject, map[string]any{"sha": "main", "repo_slug": "a/b"}, "bad-sha")
	got := w.waitRuns(1)
	if _, ok := got[workflowID(w.id("hook"), "bad-sha")]; !ok {
		t.Errorf("runs: %v", sortedKeys(got))
	}
	if n := testutil.ToFloat64(r.m.schemaWarned); n != 1 {
		t.Errorf("schema warned = %v, want 1", n)
	}
	if _, err := New(Config{Conn: w.nc, Temporal: testClient, Store: w.st, SchemaMode: "lenient"}); err == nil {
		t.Error("New accepted schema mode lenient")
	}
}

// Explain says which field fails the schema and that the event is not
// routed.
func TestExplainSchema(t *testing.T) {
	t.Parallel()
	subject := "org.repo.commit.pushed"
	defs := []store.Definition{eventDef(t, "team.hook", subject, nil, "")}
	payload := map[string]any{"sha": goodSHA, "repo_slug": "x$(shell touch /tmp/p)"}
	for _, mode := range []string{schemaEnforce, schemaWarn} {
		ix := NewIndex(defs, IndexOptions{EventTypes: []store.EventType{eventType(t, subject)}, SchemaMode: mode})
		xs := ix.Explain(t.Context(), subject, payload)
		if len(xs) != 1 {
			t.Fatalf("%s: %d explanations", mode, len(xs))
		}
		x := xs[0]
		if !strings.Contains(x.SchemaError, "/repo_slug") || !strings.Contains(x.SchemaError, "does not match pattern") {
			t.Errorf("%s: schema error %q does not name the field and the failure", mode, x.SchemaError)
		}
		if mode == schemaEnforce && (x.Matched || x.Stage != StageSchema) {
			t.Errorf("enforce: %+v, want stage schema, not matched", x)
		}
		if mode == schemaWarn && !x.Matched {
			t.Errorf("warn: %+v, want matched", x)
		}
	}
}

// An explained rule that would run for seconds is stopped by the cost
// limit and reported as an error; a canceled request stops evaluation.
func TestExplainRuleCostAndCancel(t *testing.T) {
	t.Parallel()
	subject := "org.repo.commit.pushed"
	rule := "rule:\n  when:\n    - \"event.payload.items.all(a, event.payload.items.all(b, event.payload.items.all(c, a + b + c >= 0.0)))\"\n"
	ix := NewIndex([]store.Definition{eventDef(t, "team.hook", subject, nil, rule)}, IndexOptions{})
	items := make([]any, 200)
	for i := range items {
		items[i] = json.Number("1")
	}
	payload := map[string]any{"items": items}
	x := ix.Explain(t.Context(), subject, payload)[0]
	if x.Rule == nil || x.Rule.Outcome != ruleError || !strings.Contains(x.Rule.Message, "cost limit") {
		t.Fatalf("rule: %+v, want an error naming the cost limit", x.Rule)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	x = ix.Explain(ctx, subject, payload)[0]
	if x.Rule != nil && !strings.Contains(x.Rule.Message, "canceled") {
		t.Fatalf("canceled: rule %+v, want not evaluated or stopped", x.Rule)
	}
}
