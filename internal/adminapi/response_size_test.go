package adminapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// deepJSON is a document nested depth levels deep: about 2×depth bytes.
func deepJSON(depth int) json.RawMessage {
	return json.RawMessage(`{"p":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
}

// TestRunResponsesFollowStoredSize: a run whose trigger detail and context
// are nested 9,000 deep (encoding/json refuses 10,000) is answered in about the bytes stored, not in
// bytes times depth (indenting it made 20 KB answer 200 MB).
func TestRunResponsesFollowStoredSize(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	deep := deepJSON(9000)
	run, err := e.store.CreateRun(context.Background(), store.Run{ID: "run-deep", DefinitionID: "t.a", Trigger: store.RunTriggerEvent,
		Status: store.RunSucceeded, TriggerDetail: deep, ContextSnapshot: deep})
	if err != nil {
		t.Fatal(err)
	}
	stored := len(run.TriggerDetail) + len(run.ContextSnapshot)
	if stored < 2*len(deep)-16 {
		t.Fatalf("the store kept %d bytes of %d", stored, 2*len(deep))
	}
	bound := 2*stored + 64<<10
	for _, path := range []string{"/api/v1/runs?limit=1", "/api/v1/runs/run-deep"} {
		code, body := e.do("GET", path, readToken, "")
		if code != 200 {
			t.Fatalf("%s: %d %.200s", path, code, body)
		}
		if len(body) > bound {
			t.Errorf("%s answered %d bytes for %d stored (bound %d)", path, len(body), stored, bound)
		}
		if !strings.Contains(string(body), strings.Repeat("[", 9000)) {
			t.Errorf("%s does not carry the stored document as stored", path)
		}
	}
}
