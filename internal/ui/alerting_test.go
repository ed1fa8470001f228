package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// seedTrouble stores three cron definitions and what the detector and the
// notifier would have written: t.db failing since a run failed (alert
// sent), t.web missed (paused by an operator) with one missed record of
// two fires, t.ok fine. The clock is the env's (2026-03-28 12:00 UTC).
func seedTrouble(t testing.TB, e *env) {
	t.Helper()
	ctx := context.Background()
	now := e.clock()
	e.setClock(now.Add(-12 * time.Hour))
	putDefinitions(t, e.st, e.dir,
		"id: t.db\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'backup'}\n",
		"id: t.ok\ntrigger: {trigger_type: cron, cron_expression: '0 4 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n",
		"id: t.web\ntrigger: {trigger_type: cron, cron_expression: '*/30 * * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	e.setClock(now.Add(-10 * time.Hour))
	putDefinitions(t, e.st, e.dir, "id: t.db\ntrigger: {trigger_type: cron, cron_expression: '0 5 * * *'}\ninstruction: {kind: shell, cmd: 'backup'}\n")
	e.setClock(now)
	started, finished, code := now.Add(-9*time.Hour), now.Add(-9*time.Hour+41*time.Second), 1
	if _, err := e.st.CreateRun(ctx, store.Run{ID: "r-db", DefinitionID: "t.db", DefinitionVersion: 2, Trigger: store.RunTriggerCron, Status: store.RunFailed,
		Stage: store.StageInstruction, ExitCode: &code, Error: "no space left on <device>", StartedAt: &started, FinishedAt: &finished}); err != nil {
		t.Fatal(err)
	}
	first, last := now.Add(-2*time.Hour), now.Add(-90*time.Minute)
	detail, _ := json.Marshal(map[string]any{"first": first, "last": last, "count": 2})
	if _, err := e.st.CreateRun(ctx, store.Run{ID: "missed-t.web-1", DefinitionID: "t.web", Trigger: store.RunTriggerCron, Status: store.RunMissed,
		ScheduledAt: &first, SkipReason: "paused by operator: cert rotation", TriggerDetail: detail}); err != nil {
		t.Fatal(err)
	}
	failing := store.Problem{Kind: store.HealthFailing, Since: finished, Reason: "1 consecutive failure: run r-db failed, exit 1", RunID: "r-db", Notified: true}
	missed := store.Problem{Kind: store.HealthMissed, Since: first, Reason: "paused by operator: cert rotation"}
	if err := e.st.PutHealth(ctx,
		store.DefinitionHealth{DefinitionID: "t.db", State: store.HealthFailing, Problems: []store.Problem{failing}, ConsecutiveFailures: 1},
		store.DefinitionHealth{DefinitionID: "t.web", State: store.HealthMissed, Problems: []store.Problem{missed}, MissedTotal: 2},
		store.DefinitionHealth{DefinitionID: "t.ok", State: store.HealthOK}); err != nil {
		t.Fatal(err)
	}
	pd, _ := json.Marshal(failing)
	if err := e.st.AppendTimeline(ctx, store.TimelineEntry{DefinitionID: "t.db", At: finished.Add(10 * time.Second), Kind: store.TimelineProblem, Actor: "detector", RunID: "r-db",
		Summary: "failing: 1 consecutive failure: run r-db failed, exit 1", Detail: pd}); err != nil {
		t.Fatal(err)
	}
	n := store.Notification{ID: "t.db|failed|r-db|email:ops@example.com", DefinitionID: "t.db", RunID: "r-db", Event: "failed", Target: "email:ops@example.com",
		TargetSpec: json.RawMessage(`{"kind":"email","to":["ops@example.com"]}`), Message: json.RawMessage(`{}`)}
	if _, err := e.st.EnqueueNotifications(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status, n.Attempts, n.LastError = store.NotificationPending, 2, "dial tcp: connection <refused>"
	if err := e.st.UpdateNotifications(ctx, n); err != nil {
		t.Fatal(err)
	}
}

func TestProblemsPage(t *testing.T) {
	e := newEnv(t, adminToken, readToken, Config{})
	b := e.browser()
	b.login(readToken)
	b.get("/ui/problems")
	b.expect(http.StatusOK, `id="no-problems"`, `id="nav-problems" class="on"`)
	seedTrouble(t, e)
	b.get("/ui/problems")
	b.expect(http.StatusOK, "2 definitions failing, stale, late or missed now", `<tr id="p-t.web">`, `<tr id="p-t.db">`,
		"missed since 2026-03-28 10:00:00Z: paused by operator: cert rotation",
		"failing since 2026-03-28 03:00:41Z: 1 consecutive failure: run r-db failed, exit 1 (run r-db)", `href="/ui/runs/r-db">run</a>`)
	if strings.Index(b.body, `id="p-t.db"`) > strings.Index(b.body, `id="p-t.web"`) || strings.Contains(b.body, "p-t.ok") {
		t.Errorf("problems are not oldest first, or list an ok definition:\n%s", b.body)
	}
}

func TestHealthColumnAndFilter(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{DefinitionsPageSize: 1})
	seedTrouble(t, e)
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/definitions?health=problems")
	b.expect(http.StatusOK, `<tr id="def-t.db">`, `<span class="hstate h-failing">failing</span>`, `<option value="problems" selected>any problem</option>`)
	next := b.link("next")
	if !strings.Contains(next, "health=problems") {
		t.Fatalf("next link %q drops the health filter", next)
	}
	b.get(next)
	b.expect(http.StatusOK, `<tr id="def-t.web">`, `h-missed`, `rel="prev"`)
	b.get(b.link("prev"))
	b.expect(http.StatusOK, `<tr id="def-t.db">`)
	b.get("/ui/definitions?health=ok")
	b.expect(http.StatusOK, `<tr id="def-t.ok">`, "1 definition on this page")
	b.get("/ui/definitions?health=sick")
	b.expect(http.StatusBadRequest, "health=&#34;sick&#34; is not one of")
	b.get("/ui/definitions?health=failing&after=garbage")
	b.expect(http.StatusBadRequest, "cursor")
}

func TestDefinitionTimelineAndNotifications(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{})
	seedTrouble(t, e)
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/definitions/t.db")
	b.expect(http.StatusOK, `id="health-state"><span class="hstate h-failing">failing</span>`,
		`<table id="timeline">`, `<tr class="k-version">`, `<code>trigger.cron_expression</code>: <code>&#34;0 3 * * *&#34;</code> → <code>&#34;0 5 * * *&#34;</code>`,
		`<tr class="k-failed">`, "run r-db failed at stage instruction, exit 1 after 41s: no space left on &lt;device&gt;",
		`<tr class="k-problem">`, "activity-core why t.db --since 7d",
		`<table class="compact" id="notifications">`, "<code>email:ops@example.com</code>", `ns-pending`, "dial tcp: connection &lt;refused&gt;")
	if strings.Index(b.body, `class="k-version"`) > strings.Index(b.body, `class="k-failed"`) {
		t.Error("the timeline is not oldest first")
	}
	b.get("/ui/definitions/t.db?since=1h")
	b.expect(http.StatusOK, "Nothing happened in this window")
	b.get("/ui/definitions/t.db?since=yesterday")
	b.expect(http.StatusBadRequest, "since=&#34;yesterday&#34; is not a duration")

	b.get("/ui/runs/missed-t.web-1")
	b.expect(http.StatusOK, "Missed because", "paused by operator: cert rotation", `id="missed-fires">2: 2026-03-28 10:00:00Z to 2026-03-28 10:30:00Z`, "No notifications.")
	b.get("/ui/runs?status=missed")
	b.expect(http.StatusOK, "missed-t.web-1", `<option value="missed" selected>`)
	b.get("/ui/runs/r-db")
	b.expect(http.StatusOK, "<code>email:ops@example.com</code>", "dial tcp")
}

func (e *env) setClock(t time.Time) {
	e.nowMu.Lock()
	defer e.nowMu.Unlock()
	e.now = t
}
