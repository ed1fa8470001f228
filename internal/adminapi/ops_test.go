package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// TestOpsHandler: a worker or router process serves health, readiness and
// metrics, and nothing of the API.
func TestOpsHandler(t *testing.T) {
	m := NewMetrics()
	m.RunFinished(store.Run{DefinitionID: "demo.x", Status: store.RunSucceeded})
	down := errors.New("connection refused")
	h := OpsHandler(m, []Check{
		{Name: "store", Check: func(context.Context) error { return nil }},
		{Name: "temporal", Check: func(context.Context) error { return down }},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	code, body := get("/readyz")
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || ready.Ready || ready.Checks["store"] != "ok" || ready.Checks["temporal"] != "connection refused" {
		t.Errorf("readyz with Temporal down: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "demo.x") {
		t.Errorf("metrics: %d, run metric missing:\n%s", code, body)
	}
	for _, p := range []string{"/api/v1/definitions", "/admin/sync/status", "/ui/"} {
		if code, body := get(p); code != http.StatusNotFound || !strings.Contains(body, "api role") {
			t.Errorf("%s on an ops listener: %d %s", p, code, body)
		}
	}
}
