package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// seedAlerting writes what the detector and the notifier would: t.a is
// failing since a run failed (with a problem entry and a sent
// notification), and has a missed record.
func seedAlerting(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	p := store.Problem{Kind: store.HealthFailing, Since: since, Reason: "1 consecutive failure", RunID: "r1", Notified: true}
	if err := st.PutHealth(ctx, store.DefinitionHealth{DefinitionID: "t.a", State: store.HealthFailing, Problems: []store.Problem{p}, ConsecutiveFailures: 1}); err != nil {
		t.Fatal(err)
	}
	detail, _ := json.Marshal(p)
	if err := st.AppendTimeline(ctx, store.TimelineEntry{DefinitionID: "t.a", Kind: store.TimelineProblem, Actor: "detector", RunID: "r1", Summary: "failing: 1 consecutive failure", Detail: detail}); err != nil {
		t.Fatal(err)
	}
	n := store.Notification{ID: "t.a|failed|r1|webhook:https://hooks.example/ops", DefinitionID: "t.a", RunID: "r1", Event: "failed", Target: "webhook:https://hooks.example/ops",
		TargetSpec: json.RawMessage(`{"kind":"webhook","url":"https://hooks.example/ops","secret":"OPS_HOOK_SECRET"}`), Message: json.RawMessage(`{"event":"failed"}`)}
	if _, err := st.EnqueueNotifications(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status, n.Attempts, n.LastError = store.NotificationFailed, 7, "connection refused"
	if err := st.UpdateNotifications(ctx, n); err != nil {
		t.Fatal(err)
	}
	fire := since.Add(-time.Hour)
	if _, err := st.CreateRun(ctx, store.Run{ID: "missed-t.a-1", DefinitionID: "t.a", Trigger: store.RunTriggerCron, Status: store.RunMissed, ScheduledAt: &fire,
		SkipReason: "no worker polling task queue activity-core", TriggerDetail: json.RawMessage(`{"count":1}`)}); err != nil {
		t.Fatal(err)
	}
}

func TestTimelineProblemsNotifications(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	for _, id := range []string{"a", "b", "c", "d"} {
		e.write(id+".yaml", "id: t."+id+"\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	}
	if code, body := e.do("POST", "/admin/sync", adminToken, ""); code != 200 {
		t.Fatalf("sync: %d %s", code, body)
	}
	seedAlerting(t, e.store)
	ctx := context.Background()
	// t.c is failing but its file is gone: not a problem now.
	if err := e.store.PutHealth(ctx, store.DefinitionHealth{DefinitionID: "t.c", State: store.HealthFailing,
		Problems: []store.Problem{{Kind: store.HealthFailing, Since: time.Now().Add(-5 * time.Hour), Reason: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.MarkDefinitionsRemoved(ctx, e.dir, []string{"t.a", "t.b", "t.d"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t.b", "t.d"} {
		if err := e.store.PutHealth(ctx, store.DefinitionHealth{DefinitionID: id, State: store.HealthStale,
			Problems: []store.Problem{{Kind: store.HealthStale, Since: time.Now().Add(-3 * time.Hour), Reason: "no success within 26h"}}}); err != nil {
			t.Fatal(err)
		}
	}

	code, body := e.do("GET", "/api/v1/definitions/t.a/timeline?since=1d&limit=50", readToken, "")
	var story struct {
		Items []struct{ Kind, Summary string } `json:"items"`
		Now   struct {
			Schedule string                  `json:"schedule"`
			Health   *store.DefinitionHealth `json:"health"`
		} `json:"now"`
	}
	if code != 200 || json.Unmarshal(body, &story) != nil || story.Now.Health == nil || story.Now.Health.State != store.HealthFailing || story.Now.Schedule != "active" {
		t.Fatalf("timeline: %d %s", code, body)
	}
	var kinds []string
	for _, it := range story.Items {
		kinds = append(kinds, it.Kind)
	}
	if got := strings.Join(kinds, ","); got != "missed,version,problem" {
		t.Errorf("timeline kinds %s\n%s", got, body)
	}
	for q, want := range map[string]string{
		"since=yesterday":   `since=\"yesterday\" is not a duration back from now`,
		"until=x":           `until=\"x\" is not a duration`,
		"since=1h&until=2h": `until=\"2h\" is not after since`,
		"limit=0":           `limit=\"0\" must be a number from 1 to 10000`,
	} {
		code, body := e.do("GET", "/api/v1/definitions/t.a/timeline?"+q, readToken, "")
		if code != 400 || !strings.Contains(string(body), want) {
			t.Errorf("timeline?%s: %d %s, want 400 saying %s", q, code, body, want)
		}
	}
	if code, _ := e.do("GET", "/api/v1/definitions/t.none/timeline", readToken, ""); code != 404 {
		t.Errorf("timeline of an unknown definition: %d", code)
	}

	code, body = e.do("GET", "/api/v1/problems", readToken, "")
	var probs struct {
		Count    int          `json:"count"`
		Problems []ProblemRow `json:"problems"`
	}
	if code != 200 || json.Unmarshal(body, &probs) != nil || probs.Count != 3 || probs.Problems[0].DefinitionID != "t.b" || probs.Problems[2].DefinitionID != "t.a" ||
		probs.Problems[2].Links.Run != "/api/v1/runs/r1" || probs.Problems[2].Links.Dashboard != "/ui/definitions/t.a" {
		t.Errorf("problems (oldest first): %d %s", code, body)
	}

	code, body = e.do("GET", "/api/v1/notifications?definition_id=t.a", readToken, "")
	if code != 200 || !strings.Contains(string(body), `"status":"failed"`) || !strings.Contains(string(body), `"last_error":"connection refused"`) ||
		strings.Contains(string(body), "target_spec") || strings.Contains(string(body), "OPS_HOOK_SECRET") {
		t.Errorf("notifications (no target spec): %d %s", code, body)
	}
	code, body = e.do("GET", "/api/v1/notifications?run_id=nope", readToken, "")
	if code != 200 || string(body) != "{\"notifications\":[]}\n" {
		t.Errorf("no notifications: %d %q", code, body)
	}

	code, body = e.do("GET", "/api/v1/runs?status=missed", readToken, "")
	if code != 200 || !strings.Contains(string(body), `"missed-t.a-1"`) {
		t.Errorf("missed runs: %d %s", code, body)
	}
	code, body = e.do("GET", "/api/v1/definitions/t.a", readToken, "")
	if code != 200 || !strings.Contains(string(body), `"health":{"definition_id":"t.a","state":"failing"`) {
		t.Errorf("definition lacks its health: %d %s", code, body)
	}
}

// TestDefinitionsHealthFilter: ?health= keeps the definitions whose
// health matches and pages them by its own cursors, both ways.
func TestDefinitionsHealthFilter(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	ctx := context.Background()
	for i := range 7 {
		id := fmt.Sprintf("t.%d", i)
		e.write(id+".yaml", "id: "+id+"\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	}
	if code, body := e.do("POST", "/admin/sync", adminToken, ""); code != 200 {
		t.Fatalf("sync: %d %s", code, body)
	}
	for i := range 7 {
		h := store.DefinitionHealth{DefinitionID: fmt.Sprintf("t.%d", i), State: store.HealthOK}
		if i%2 == 0 {
			h.State, h.Problems = store.HealthFailing, []store.Problem{{Kind: store.HealthFailing, Since: time.Now(), Reason: "x"}}
		}
		if err := e.store.PutHealth(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	type page struct {
		Definitions []struct {
			ID     string                  `json:"id"`
			Health *store.DefinitionHealth `json:"health"`
		} `json:"definitions"`
		Next, Prev string
	}
	get := func(q string) page {
		t.Helper()
		code, body := e.do("GET", "/api/v1/definitions?"+q, readToken, "")
		var p page
		if code != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("?%s: %d %s", q, code, body)
		}
		return p
	}
	ids := func(p page) string {
		var s []string
		for _, d := range p.Definitions {
			s = append(s, d.ID)
		}
		return strings.Join(s, ",")
	}
	p1 := get("health=failing&limit=2")
	if ids(p1) != "t.0,t.2" || p1.Next == "" || p1.Prev != "" || p1.Definitions[0].Health.State != store.HealthFailing {
		t.Fatalf("page 1: %s %+v", ids(p1), p1)
	}
	p2 := get("health=failing&limit=2&after=" + url.QueryEscape(p1.Next))
	if ids(p2) != "t.4,t.6" || p2.Prev == "" {
		t.Fatalf("page 2: %s %+v", ids(p2), p2)
	}
	if back := get("health=failing&limit=2&before=" + url.QueryEscape(p2.Prev)); ids(back) != "t.0,t.2" {
		t.Errorf("back from page 2: %s", ids(back))
	}
	if ok := get("health=ok"); ids(ok) != "t.1,t.3,t.5" {
		t.Errorf("health=ok: %s", ids(ok))
	}
	if all := get("health=problems&limit=10"); ids(all) != "t.0,t.2,t.4,t.6" || all.Next != "" {
		t.Errorf("health=problems: %s next %q", ids(all), all.Next)
	}
	for q, want := range map[string]string{
		"health=sick":                  `health=\"sick\" is not one of ok, failing, stale, late, missed, problems`,
		"health=failing&after=garbage": `after=\"garbage\" is not a cursor`,
		"health=failing&before=h:t.2":  `before=\"h:t.2\" is not a cursor`,
	} {
		code, body := e.do("GET", "/api/v1/definitions?"+q, readToken, "")
		if code != 400 || !strings.Contains(string(body), want) {
			t.Errorf("?%s: %d %s, want 400 saying %s", q, code, body, want)
		}
	}
}
