package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// TestRunPageFollowsStoredSize: a run whose trigger detail and context are
// nested 9,000 deep (encoding/json refuses 10,000) is shown in about the
// bytes stored; re-indenting it made a 20 KB payload a page of 200 MB.
func TestRunPageFollowsStoredSize(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{})
	deep := json.RawMessage(`{"p":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`)
	run, err := e.st.CreateRun(context.Background(), store.Run{ID: "r-deep", DefinitionID: "t.a", Trigger: store.RunTriggerEvent,
		Status: store.RunSucceeded, TriggerDetail: deep, ContextSnapshot: deep})
	if err != nil {
		t.Fatal(err)
	}
	stored := len(run.TriggerDetail) + len(run.ContextSnapshot)
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/runs/r-deep")
	b.expect(http.StatusOK, `id="trigger"`, strings.Repeat("[", 9000))
	if bound := 2*stored + 64<<10; len(b.body) > bound {
		t.Errorf("run page is %d bytes for %d stored (bound %d)", len(b.body), stored, bound)
	}
}

// TestSpecYAMLBoundedByDepth: a spec nested deeper than yamlDepthMax is
// shown as stored, not as YAML whose indentation grows with depth.
func TestSpecYAMLBoundedByDepth(t *testing.T) {
	deep := json.RawMessage(`{"id":"t.a","x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`)
	if got := specYAML(deep); len(got) > 2*len(deep) {
		t.Errorf("specYAML of %d bytes gave %d", len(deep), len(got))
	}
	if got := specYAML(json.RawMessage(`{"id":"t.a","trigger":{"trigger_type":"cron"}}`)); !strings.Contains(got, "trigger:\n  trigger_type: cron") {
		t.Errorf("a shallow spec is not YAML: %q", got)
	}
	for doc, want := range map[string]int{`1`: 0, `{}`: 1, `{"a":[{"b":"[[[["}]}`: 3, `["\"[["]`: 1} {
		if got := jsonDepth([]byte(doc)); got != want {
			t.Errorf("jsonDepth(%s) = %d, want %d", doc, got, want)
		}
	}
}

// TestRunPageStartedInFuture: ?started= in the future does not keep the
// page reloading (it used to wait a minute from a time that never came).
func TestRunPageStartedInFuture(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{})
	b := e.browser()
	b.login(adminToken)
	future := strconv.FormatInt(e.clock().Add(24*time.Hour).Unix(), 10)
	b.get("/ui/runs/r-nope?started=" + future)
	b.expect(http.StatusNotFound, "not found")
	if strings.Contains(b.body, `http-equiv="refresh"`) {
		t.Error("a page started in the future reloads itself")
	}
	b.get("/ui/runs/r-nope?started=garbage")
	b.expect(http.StatusNotFound)
}
