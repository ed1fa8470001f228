package adminapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/coulomb/activity-core/internal/githook"
	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/testsupport/teststore"
)

// TestGitHookRoute sends webhooks through the API to a real receiver:
// the route takes no token, and every answer matches the schema the
// OpenAPI document gives its status (docs/git-sources.md#webhooks).
func TestGitHookRoute(t *testing.T) {
	st := teststore.SQLite(t)
	var mu sync.Mutex
	var synced []string
	rcv, err := githook.New(githook.Config{
		Sources:   []gitsource.Spec{{Name: "defs", Kind: gitsource.KindGit, Git: &gitsource.Remote{URL: "https://git.example.com/defs.git", Ref: "main", WebhookSecret: "HOOK"}}},
		BodyReads: 1,
		Secret:    func(string) (string, error) { return "hook-secret", nil },
		Sync: func(_ context.Context, source, actor string) error {
			mu.Lock()
			defer mu.Unlock()
			synced = append(synced, source+" "+actor)
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{Store: st, GitHooks: rcv, AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	noHooks, err := New(Config{Store: st, AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	schemaFor := openAPISchemas(t)
	push := []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567","repository":{"default_branch":"main"}}`)
	sign := func(b []byte) string {
		mac := hmac.New(sha256.New, []byte("hook-secret"))
		mac.Write(b)
		return "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	notFound := map[string]string{}
	for _, tc := range []struct {
		name       string
		srv        http.Handler
		path       string
		event, sig string
		delivery   string
		body       io.Reader
		code       int
	}{
		{"push", api, "/hooks/git/defs", "push", sign(push), "d1", bytes.NewReader(push), 202},
		{"duplicate", api, "/hooks/git/defs", "push", sign(push), "d1", bytes.NewReader(push), 202},
		{"other branch", api, "/hooks/git/defs", "push", sign([]byte(`{"ref":"refs/heads/x"}`)), "d2", strings.NewReader(`{"ref":"refs/heads/x"}`), 202},
		{"ping", api, "/hooks/git/defs", "ping", sign([]byte(`{"zen":"z"}`)), "d3", strings.NewReader(`{"zen":"z"}`), 200},
		{"bad signature", api, "/hooks/git/defs", "push", sign([]byte("other")), "d4", bytes.NewReader(push), 401},
		{"malformed signature", api, "/hooks/git/defs", "push", "sha256=00", "d5", bytes.NewReader(push), 401},
		{"not a push payload", api, "/hooks/git/defs", "push", sign([]byte("[1]")), "d6", strings.NewReader("[1]"), 400},
		{"unknown source", api, "/hooks/git/nope", "push", sign(push), "d7", bytes.NewReader(push), 404},
		{"no receiver", noHooks, "/hooks/git/defs", "push", sign(push), "d8", bytes.NewReader(push), 404},
		{"oversize", api, "/hooks/git/defs", "push", "sha256=" + strings.Repeat("00", 32), "d9", bytes.NewReader(bytes.Repeat([]byte("x"), githook.MaxBodyBytesDefault+1)), 413},
		{"busy", api, "/hooks/git/defs", "push", sign(push), "d10", bytes.NewReader(push), 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code == 503 {
				release := holdBodyRead(t, api, sign(push))
				defer release()
			}
			req := httptest.NewRequest(http.MethodPost, tc.path, tc.body)
			req.Header.Set("X-GitHub-Event", tc.event)
			req.Header.Set("X-GitHub-Delivery", tc.delivery)
			req.Header.Set("X-Hub-Signature-256", tc.sig)
			rec := httptest.NewRecorder()
			tc.srv.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.code)
			}
			if tc.code == 404 {
				notFound[tc.name] = rec.Body.String()
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(rec.Body.Bytes()))
			if err != nil {
				t.Fatalf("body is not JSON: %s", rec.Body)
			}
			if err := mustSchema(t, schemaFor, "/hooks/git/{source}", "post", tc.code).Validate(inst); err != nil {
				t.Errorf("%d %s does not match the document: %v", rec.Code, rec.Body, err)
			}
		})
	}
	if notFound["unknown source"] != notFound["no receiver"] || strings.Contains(notFound["no receiver"], "defs") {
		t.Errorf("404s differ: an unknown source answers %s, a process without webhooks %s", notFound["unknown source"], notFound["no receiver"])
	}
	rcv.Close()
	if fmt.Sprint(synced) != "[defs webhook:defs]" {
		t.Errorf("syncs = %q, want one of defs as webhook:defs", synced)
	}
}

// holdBodyRead sends a webhook whose body is held back until the
// returned func is called, and returns once the receiver is reading it.
func holdBodyRead(t *testing.T, api http.Handler, sig string) (release func()) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := httptest.NewRequest(http.MethodPost, "/hooks/git/defs", pr)
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sig)
		api.ServeHTTP(httptest.NewRecorder(), req)
	}()
	if _, err := pw.Write([]byte("{")); err != nil { // returns once read
		t.Fatal(err)
	}
	return func() {
		pw.CloseWithError(errors.New("the sender went away"))
		<-done
	}
}

// TestGitHookRouteCutsOffASlowBody checks the receiver's read deadline
// reaches the connection through the API (a wrapping ResponseWriter
// without Unwrap would silently drop it): a webhook whose body stops
// coming is answered without the sender finishing.
func TestGitHookRouteCutsOffASlowBody(t *testing.T) {
	st := teststore.SQLite(t)
	rcv, err := githook.New(githook.Config{
		Sources:     []gitsource.Spec{{Name: "defs", Kind: gitsource.KindGit, Git: &gitsource.Remote{URL: "https://git.example.com/defs.git", Ref: "main", WebhookSecret: "HOOK"}}},
		Secret:      func(string) (string, error) { return "hook-secret", nil },
		Sync:        func(context.Context, string, string) error { return nil },
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReadTimeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rcv.Close)
	api, err := New(Config{Store: st, GitHooks: rcv, AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /hooks/git/defs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=%s\r\n\r\n{\"ref\":", strings.Repeat("00", 32))
	if err != nil {
		t.Fatal(err)
	}
	// A guard, so that a missing deadline fails instead of hanging.
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body is held back: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("%d, want 400", resp.StatusCode)
	}
}
