package githook

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// An outsider can send any headers and any body, as slowly as it likes:
// the body is read only behind a well-formed signature, a bounded number
// at once, within a deadline (docs/git-sources.md#webhooks).

// unreadBody fails the test when the handler reads it.
type unreadBody struct{ t *testing.T }

func (b unreadBody) Read([]byte) (int, error) {
	b.t.Error("the body was read")
	return 0, errors.New("must not be read")
}

func TestMissingOrMalformedSignatureIsRefusedBeforeTheBody(t *testing.T) {
	body := payload(t, "github_push.json")
	for _, tc := range []struct {
		name, forge, event, header, value string
	}{
		{"github none", providerGitHub, "push", "X-Hub-Signature-256", ""},
		{"github no prefix", providerGitHub, "push", "X-Hub-Signature-256", sign(hookSecret, body)},
		{"github short", providerGitHub, "push", "X-Hub-Signature-256", "sha256=00"},
		{"gitea not hex", providerGitea, "push", "X-Gitea-Signature", strings.Repeat("zz", 32)},
		{"forgejo none", providerForgejo, "push", "X-Forgejo-Signature", ""},
		{"gitlab none", providerGitLab, "Push Hook", "X-Gitlab-Token", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			hdr := headers(tc.forge, tc.event, hookSecret, body)
			hdr.Set(tc.header, tc.value)
			if rec := h.send("defs", hdr, unreadBody{t}); rec.Code != http.StatusUnauthorized {
				t.Errorf("%d %s, want 401", rec.Code, rec.Body)
			}
			if got := h.count("defs", outcomeBadSignature); got != 1 {
				t.Errorf("bad_signature counted %d times, want 1", got)
			}
		})
	}
}

// heldBody is a body whose first Read reports on started and then waits
// for release; it then ends.
type heldBody struct {
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (b *heldBody) Read([]byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return 0, errors.New("the sender went away")
}

// holdOnlySlot starts a harness with one body slot and a signed push
// whose body is held back in it; done gets that request's status once
// held.release is closed.
func holdOnlySlot(t *testing.T) (h *harness, body []byte, held *heldBody, done chan int) {
	t.Helper()
	h = newHarness(t, func(c *Config) { c.BodyReads = 1 })
	body = payload(t, "github_push.json")
	held = &heldBody{started: make(chan struct{}), release: make(chan struct{})}
	done = make(chan int)
	go func() { done <- h.send("defs", headers(providerGitHub, "push", hookSecret, body), held).Code }()
	<-held.started
	return h, body, held, done
}

func TestBodyReadsAreBounded(t *testing.T) {
	h, body, held, done := holdOnlySlot(t)

	rec := h.send("defs", headers(providerGitHub, "push", hookSecret, body), unreadBody{t})
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("with every read slot taken: %d (Retry-After %q) %s, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if got := h.count("defs", outcomeBusy); got != 1 {
		t.Errorf("busy counted %d times, want 1", got)
	}
	close(held.release)
	if code := <-done; code != http.StatusBadRequest {
		t.Errorf("the held webhook: %d, want 400", code)
	}
	if code, out := h.post("defs", headers(providerGitHub, "push", hookSecret, body), body); code != http.StatusAccepted {
		t.Errorf("once the slot is free: %d %v, want 202", code, out)
	}
}

// TestSlowBodyIsCutOff sends the headers and part of the body, then
// nothing: the answer must come without the sender finishing.
func TestSlowBodyIsCutOff(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ReadTimeout = 50 * time.Millisecond })
	srv := httptest.NewServer(h.mux)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := payload(t, "github_push.json")
	var req strings.Builder
	fmt.Fprintf(&req, "POST /hooks/git/defs HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", len(body))
	for k, v := range headers(providerGitHub, "push", hookSecret, body) {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v[0])
	}
	fmt.Fprintf(&req, "\r\n%s", body[:len(body)/2])
	if _, err := conn.Write([]byte(req.String())); err != nil {
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
	if resp.StatusCode != http.StatusBadRequest || h.count("defs", outcomeBadPayload) != 1 {
		t.Errorf("%d, want 400 counted as bad_payload", resp.StatusCode)
	}
}

// TestBusyWebhookIsCaughtUp: a webhook refused unread because every slot
// is taken still gets its source synced, once: further refusals within a
// minute add nothing, so a flood costs at most a sync a minute.
func TestBusyWebhookIsCaughtUp(t *testing.T) {
	h, body, held, done := holdOnlySlot(t)

	if rec := h.send("defs", headers(providerGitHub, "push", hookSecret, body), unreadBody{t}); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("with every read slot taken: %d, want 503", rec.Code)
	}
	testsupport.Eventually(t, 10*time.Second, "a catch-up sync of defs", func() error {
		if calls, _, _ := h.syncs.snapshot(); !slices.Equal(calls, []string{"defs webhook:defs"}) {
			return fmt.Errorf("syncs %q", calls)
		}
		return nil
	})
	for range 3 {
		if rec := h.send("defs", headers(providerGitHub, "push", hookSecret, body), unreadBody{t}); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("still busy: %d, want 503", rec.Code)
		}
	}
	close(held.release)
	<-done
	if calls := h.settle(); len(calls) != 1 {
		t.Errorf("syncs %q, want the one catch-up within the minute", calls)
	}
}
