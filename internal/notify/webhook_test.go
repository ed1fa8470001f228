package notify

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

const hookSecret = "whsec-0123456789abcdef-signing-key"

// receiver is a webhook endpoint that checks signatures as a real
// receiver would, with its copy of the shared secret.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	got    []received
}

type received struct {
	header http.Header
	body   []byte
	valid  bool
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	valid := VerifySignature(r.secret, body, req.Header.Get(signatureHeader))
	r.mu.Lock()
	r.got = append(r.got, received{header: req.Header.Clone(), body: body, valid: valid})
	r.mu.Unlock()
	if !valid {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func failedMessage() Message {
	return Message{
		Status: "failed", Reason: "exit status 1", RunID: "0193a-run", WorkflowID: "activity-core:run:0193a",
		StderrTail: "pg_dump: error: no space left on device\n", ConsecutiveFailures: 3, Description: "Nightly backup",
	}
}

func TestWebhookIsSignedAndVerifies(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		rcv := &receiver{secret: []byte(hookSecret)}
		srv := httptest.NewServer(rcv)
		defer srv.Close()
		w := newWorld(t, st, map[string]string{"OPS_HOOK_SECRET": hookSecret}, nil)
		target := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: srv.URL + "/hook", Secret: "OPS_HOOK_SECRET"}
		w.enqueue("backup-db|failed|0193a-run|webhook", "backup-db", definition.EventFailed, target, failedMessage())
		w.deliver()

		got := rcv.received()
		if len(got) != 1 {
			t.Fatalf("receiver got %d requests, want 1", len(got))
		}
		r := got[0]
		if !r.valid {
			t.Errorf("signature %q does not verify", r.header.Get(signatureHeader))
		}
		if VerifySignature([]byte("another-secret-entirely"), r.body, r.header.Get(signatureHeader)) {
			t.Error("the signature verifies under the wrong secret")
		}
		if e, d := r.header.Get(eventHeader), r.header.Get(deliveryHeader); e != "failed" || d != "backup-db|failed|0193a-run|webhook" {
			t.Errorf("%s %q, %s %q", eventHeader, e, deliveryHeader, d)
		}
		var m Message
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatal(err)
		}
		if m.RunURL != "https://activity.example.com/ui/runs/0193a-run" || m.WorkflowURL != "https://temporal.example.com/namespaces/prod/workflows/activity-core:run:0193a" {
			t.Errorf("links: %q %q", m.RunURL, m.WorkflowURL)
		}
		if m.Event != "failed" || m.DefinitionID != "backup-db" || m.Reason != "exit status 1" || m.ConsecutiveFailures != 3 {
			t.Errorf("message: %+v", m)
		}
		row := w.row("backup-db|failed|0193a-run|webhook")
		if row.Status != store.NotificationSent || row.SentAt == nil || row.Attempts != 1 || row.LastError != "" || row.GroupID != "" {
			t.Errorf("row after send: %+v", row)
		}
		tl := w.timeline("backup-db")
		if len(tl) != 1 || tl[0].Kind != store.TimelineNotification || tl[0].Actor != "notifier" || tl[0].RunID != "0193a-run" ||
			tl[0].Summary != "failed notification sent to "+targetKey(target) {
			t.Errorf("timeline: %+v", tl)
		}
		if v := w.metric("webhook", "sent"); v != 1 {
			t.Errorf("activity_notifications_total{webhook,sent} = %v", v)
		}
	})
}

// TestWebhookWrongSecret: a receiver that holds another secret refuses the
// message; the refusal is recorded and retried.
func TestWebhookWrongSecret(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		rcv := &receiver{secret: []byte("the-receivers-other-secret")}
		srv := httptest.NewServer(rcv)
		defer srv.Close()
		w := newWorld(t, st, map[string]string{"OPS_HOOK_SECRET": hookSecret}, nil)
		target := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: srv.URL, Secret: "OPS_HOOK_SECRET"}
		w.enqueue("n1", "backup-db", definition.EventFailed, target, failedMessage())
		w.deliver()
		if got := rcv.received(); len(got) != 1 || got[0].valid {
			t.Fatalf("receiver: %+v", got)
		}
		row := w.row("n1")
		if row.Status != store.NotificationPending || row.Attempts != 1 || !strings.Contains(row.LastError, "401 Unauthorized: bad signature") {
			t.Errorf("row: %+v", row)
		}
	})
}

func TestWebhookSecretNotAllowed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		srv := httptest.NewServer(&receiver{secret: []byte(hookSecret)})
		defer srv.Close()
		w := newWorld(t, st, map[string]string{}, nil)
		target := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: srv.URL, Secret: "OPS_HOOK_SECRET"}
		w.enqueue("n1", "backup-db", definition.EventFailed, target, failedMessage())
		w.deliver()
		row := w.row("n1")
		want := "webhook: signing secret: secret not allowed: OPS_HOOK_SECRET is not in the operator's allow-list"
		if row.Status != store.NotificationPending || !strings.Contains(row.LastError, want) {
			t.Errorf("want pending with %q, got %+v", want, row)
		}
	})
}

// TestReceiverDownIsRetried: a receiver that refuses connections is
// retried with backoff, each attempt recorded, and the message is
// delivered once it is up.
func TestReceiverDownIsRetried(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		addr := testsupport.FreeAddr(t)
		const token = "T0001/B0002/hook-token-secret"
		hookURL := "http://" + addr + "/services/" + token
		w := newWorld(t, st, map[string]string{"OPS_HOOK_URL": hookURL, "OPS_HOOK_SECRET": hookSecret}, nil)
		target := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: "${env:OPS_HOOK_URL}", Secret: "OPS_HOOK_SECRET"}
		w.enqueue("n1", "backup-db", definition.EventFailed, target, failedMessage())

		w.deliver()
		row := w.row("n1")
		if row.Status != store.NotificationPending || row.Attempts != 1 || !row.NextAttemptAt.Equal(w.clock.Now().Add(time.Minute)) ||
			!strings.Contains(row.LastError, "connection refused") {
			t.Fatalf("after the first attempt: %+v", row)
		}
		w.clock.Add(30 * time.Second)
		w.deliver() // not due yet
		if row = w.row("n1"); row.Attempts != 1 {
			t.Fatalf("attempted before its time: %+v", row)
		}
		w.clock.Add(30 * time.Second)
		w.deliver()
		if row = w.row("n1"); row.Attempts != 2 || !row.NextAttemptAt.Equal(w.clock.Now().Add(2*time.Minute)) {
			t.Fatalf("after the second attempt: %+v", row)
		}
		for _, text := range []string{row.LastError, w.logs.String()} {
			if strings.Contains(text, token) || strings.Contains(text, addr+"/services") {
				t.Errorf("the secret URL leaked: %s", text)
			}
		}

		rcv := &receiver{secret: []byte(hookSecret)}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: rcv}
		go func() { _ = srv.Serve(ln) }() // http.ErrServerClosed once closed
		defer srv.Close()
		w.clock.Add(2 * time.Minute)
		w.deliver()
		row = w.row("n1")
		if row.Status != store.NotificationSent || row.Attempts != 3 || row.SentAt == nil || !row.SentAt.Equal(w.clock.Now()) || row.LastError != "" {
			t.Errorf("after the receiver came up: %+v", row)
		}
		if got := rcv.received(); len(got) != 1 || !got[0].valid || got[0].header.Get(deliveryHeader) != "n1" {
			t.Errorf("receiver got %+v", got)
		}
		if w.metric("webhook", "retry") != 2 || w.metric("webhook", "sent") != 1 {
			t.Errorf("metrics: retry %v, sent %v", w.metric("webhook", "retry"), w.metric("webhook", "sent"))
		}
		if tl := w.timeline("backup-db"); len(tl) != 1 || !strings.Contains(tl[0].Summary, "sent to webhook:${env:OPS_HOOK_URL}") {
			t.Errorf("timeline: %+v", tl)
		}
	})
}

func TestRedirectToAnotherHostIsRefused(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		other := &receiver{secret: []byte(hookSecret)}
		otherSrv := httptest.NewServer(other)
		defer otherSrv.Close()
		// localhost and 127.0.0.1 are different hosts to the client.
		otherURL := strings.Replace(otherSrv.URL, "127.0.0.1", "localhost", 1)
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, otherURL, http.StatusTemporaryRedirect)
		}))
		defer redirector.Close()
		w := newWorld(t, st, map[string]string{"OPS_HOOK_SECRET": hookSecret}, nil)
		target := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: redirector.URL, Secret: "OPS_HOOK_SECRET"}
		w.enqueue("n1", "backup-db", definition.EventFailed, target, failedMessage())
		w.deliver()
		if got := other.received(); len(got) != 0 {
			t.Errorf("the redirect was followed: %+v", got)
		}
		if row := w.row("n1"); row.Status != store.NotificationPending || !strings.Contains(row.LastError, "redirect to another host refused") {
			t.Errorf("row: %+v", row)
		}
	})
}

func TestSlackBody(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		var mu sync.Mutex
		var bodies [][]byte
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
			_, _ = io.WriteString(w, "ok")
		}))
		defer srv.Close()
		w := newWorld(t, st, map[string]string{"SLACK_OPS_URL": srv.URL + "/services/T0/B0/slack-token-xyz"}, nil)
		target := definition.NotifyTarget{Kind: definition.TargetSlack, URL: "${env:SLACK_OPS_URL}"}
		m := failedMessage()
		m.Reason = "exit status 1 <after 3 tries> & gave up"
		m.StderrTail = "line one\n```breakout\nno space left on device\n"
		w.enqueue("n1", "backup-db", definition.EventFailed, target, m)
		w.deliver()

		if len(bodies) != 1 {
			t.Fatalf("slack got %d posts", len(bodies))
		}
		var body map[string]any
		if err := json.Unmarshal(bodies[0], &body); err != nil {
			t.Fatal(err)
		}
		if len(body) != 1 {
			t.Errorf("slack body has more than text: %s", bodies[0])
		}
		text, _ := body["text"].(string)
		want := "*failed* `backup-db`: exit status 1 &lt;after 3 tries&gt; &amp; gave up\n" +
			"status failed · 3 failures in a row · <https://activity.example.com/ui/runs/0193a-run|run> · " +
			"<https://temporal.example.com/namespaces/prod/workflows/activity-core:run:0193a|workflow>\n" +
			"```\nline one\n'''breakout\nno space left on device\n```\n"
		if text != want {
			t.Errorf("slack text:\n%s\nwant:\n%s", text, want)
		}
		if row := w.row("n1"); row.Status != store.NotificationSent {
			t.Errorf("row: %+v", row)
		}
	})
}
