package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
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

// TestSignInRateLimited: a client gets SignInBurst sign-in attempts, then
// 429 with Retry-After until its bucket refills; another address is not
// affected, and refused tokens are counted in /metrics.
func TestSignInRateLimited(t *testing.T) {
	e := newEnv(t, adminToken, readToken, Config{SignInPerMinute: 2, SignInBurst: 3})
	b := e.browser()
	attempt := func(token string, header ...string) {
		t.Helper()
		b.get("/ui/login")
		m := nonceRe.FindStringSubmatch(b.body)
		if m == nil {
			t.Fatalf("no nonce: %d %s", b.status, b.body)
		}
		b.post("/ui/login", url.Values{"nonce": {m[1]}, "token": {token}}, header...)
	}
	for range 3 {
		attempt("guess-0000000000000000")
		b.expect(http.StatusUnauthorized, "not one of this server&#39;s tokens")
	}
	// Over the limit, even the right token waits: attempts are what is
	// limited, not failures. A forwarded header does not change the client.
	attempt(adminToken, "X-Forwarded-For", "203.0.113.9")
	b.expect(http.StatusTooManyRequests, "too many sign-in attempts")
	if ra := b.header.Get("Retry-After"); ra != "30" {
		t.Errorf("Retry-After %q, want 30", ra)
	}
	e.advance(30 * time.Second)
	attempt(adminToken)
	if b.status != http.StatusSeeOther {
		t.Fatalf("after the wait: %d %s", b.status, b.body)
	}
	code, metrics := e.get("/metrics")
	if code != 200 || !strings.Contains(metrics, `activity_core_auth_failures_total{reason="invalid_token",surface="ui"} 3`) {
		t.Errorf("metrics: %d\n%s", code, metrics)
	}
}

func TestSignInLimitsTableIsBounded(t *testing.T) {
	l := newSignInLimits(1, 1, 4)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		if ok, _ := l.take(fmt.Sprintf("10.0.0.%d", i), now); !ok {
			t.Fatalf("client %d refused on its first attempt", i)
		}
	}
	if len(l.m) > 4 {
		t.Errorf("%d clients kept, max 4", len(l.m))
	}
	if ok, wait := l.take("10.0.0.9", now); ok || wait != time.Minute {
		t.Errorf("second attempt: ok=%v wait=%s", ok, wait)
	}
}

// get fetches path outside the dashboard's browser (no cookies).
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// pendingSchedules reports a recorded pause that Temporal lacks.
type pendingSchedules struct{ *fakeSchedules }

func (p pendingSchedules) Describe(ctx context.Context, id string) (*adminapi.ScheduleInfo, error) {
	info, err := p.fakeSchedules.Describe(ctx, id)
	if info != nil {
		info.Paused, info.Pending = false, "the operator pause is recorded but Temporal's schedule is not paused: the next sync pauses it"
	}
	return info, err
}

// TestDefinitionPageShowsDisagreement: the definition page says when
// Temporal lacks a pause the store records.
func TestDefinitionPageShowsDisagreement(t *testing.T) {
	e := newEnv(t, adminToken, "", Config{})
	putDefinitions(t, e.st, e.dir, "id: t.a\ntrigger: {trigger_type: cron, cron_expression: '0 3 * * *'}\ninstruction: {kind: shell, cmd: 'true'}\n")
	api, err := adminapi.New(adminapi.Config{Store: e.st, Schedules: pendingSchedules{e.sched}, AdminToken: adminToken, Logger: quiet, Now: e.clock,
		UI: NewHandler(Config{Store: e.st, Logger: quiet, Now: e.clock})})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(api)
	t.Cleanup(e.srv.Close)
	b := e.browser()
	b.login(adminToken)
	b.get("/ui/definitions/t.a")
	b.expect(http.StatusOK, `id="pending"`, "Temporal and the store disagree", "the next sync pauses it")
}

// TestSignInLimitPerIPv6Prefix: the addresses of one IPv6 /64 share one
// sign-in bucket; IPv4 addresses have one each.
func TestSignInLimitPerIPv6Prefix(t *testing.T) {
	l := newSignInLimits(5, 2, 100)
	now := time.Now()
	for i, a := range []string{"2001:db8::1", "2001:db8::2"} {
		if ok, _ := l.take(a, now); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if ok, _ := l.take("2001:db8::3", now); ok {
		t.Error("a third address of the same /64 got a fresh bucket")
	}
	if ok, _ := l.take("2001:db8:0:1::1", now); !ok {
		t.Error("another /64 was refused")
	}
	for _, a := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2"} {
		_, _ = l.take(a, now)
	}
	if ok, _ := l.take("192.0.2.2", now); !ok {
		t.Error("IPv4 addresses share a bucket")
	}
	if ok, _ := l.take("::ffff:192.0.2.2", now); ok {
		t.Error("an IPv4-mapped address got a bucket of its own")
	}
}
