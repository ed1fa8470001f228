package adminapi

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
	"github.com/coulomb/activity-core/internal/testsupport/teststore"
)

// TestAuthFailuresCountedAndLogRateLimited: every refused token is counted
// in /metrics by reason; the log gets one line per reason per interval,
// then one that says how many it suppressed. No token reaches the log.
func TestAuthFailuresCountedAndLogRateLimited(t *testing.T) {
	st := teststore.SQLite(t)
	var logs testsupport.SyncBuffer
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	api, err := New(Config{Store: st, AdminToken: adminToken, ReadToken: readToken, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv}
	for range 20 {
		if code, _ := e.do("GET", "/api/v1/definitions", "guess-0123456789abcdef", ""); code != 401 {
			t.Fatalf("wrong token: %d", code)
		}
	}
	e.do("GET", "/api/v1/definitions", "", "")
	e.do("POST", "/admin/sync", readToken, "")
	_, metrics := e.do("GET", "/metrics", "", "")
	for _, want := range []string{
		`activity_core_auth_failures_total{reason="invalid_token",surface="api"} 20`,
		`activity_core_auth_failures_total{reason="missing_token",surface="api"} 1`,
		`activity_core_auth_failures_total{reason="insufficient_role",surface="api"} 1`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := strings.Count(logs.String(), "reason=invalid_token"); n != 1 {
		t.Errorf("%d log lines for 20 invalid tokens, want 1:\n%s", n, logs.String())
	}
	mu.Lock()
	now = now.Add(authLogEvery)
	mu.Unlock()
	e.do("GET", "/api/v1/definitions", "guess-0123456789abcdef", "")
	if !strings.Contains(logs.String(), "reason=invalid_token remote=127.0.0.1 method=GET path=/api/v1/definitions suppressed_since_last=19") {
		t.Errorf("the next line does not count the suppressed ones:\n%s", logs.String())
	}
	for _, tok := range []string{"guess-0123456789abcdef", adminToken, readToken} {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("the log shows a token: %s", logs.String())
		}
	}
}
