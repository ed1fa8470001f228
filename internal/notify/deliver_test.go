package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// TestStormIsOneGroupedMessage: 200 notifications due for one target go
// as one message carrying Count 200 and at most GroupShown in full; every
// row is sent under the same group ID, and each definition's timeline
// records it.
func TestStormIsOneGroupedMessage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		rcv := &receiver{secret: []byte(hookSecret)}
		srv := httptest.NewServer(rcv)
		defer srv.Close()
		w := newWorld(t, st, map[string]string{"OPS_HOOK_SECRET": hookSecret}, nil)
		ops := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: srv.URL + "/ops", Secret: "OPS_HOOK_SECRET"}
		other := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: srv.URL + "/other", Secret: "OPS_HOOK_SECRET"}
		for i := range 200 {
			event := definition.EventFailed
			if i%4 == 3 {
				event = definition.EventMissed
			}
			def := fmt.Sprintf("sweep-%03d", i)
			w.enqueue(fmt.Sprintf("%s|%s|run-%03d|ops", def, event, i), def, event, ops, Message{Status: event, Reason: "exit status 1", RunID: fmt.Sprintf("run-%03d", i)})
		}
		w.enqueue("lonely|failed|run-x|other", "lonely", definition.EventFailed, other, failedMessage())
		w.deliver()

		got := rcv.received()
		if len(got) != 2 {
			t.Fatalf("receiver got %d requests, want 2 (one per target)", len(got))
		}
		byPath := map[string]received{}
		for _, r := range got {
			if !r.valid {
				t.Errorf("signature does not verify")
			}
			var probe struct{ Event string }
			if err := json.Unmarshal(r.body, &probe); err != nil {
				t.Fatal(err)
			}
			byPath[probe.Event] = r
		}
		group := byPath[eventGroup]
		var g Group
		if err := json.Unmarshal(group.body, &g); err != nil {
			t.Fatal(err)
		}
		if g.Count != 200 || len(g.Messages) != groupShown || g.Counts["failed"] != 150 || g.Counts["missed"] != 50 || len(g.Counts) != 2 {
			t.Errorf("group: count %d, %d messages, counts %v", g.Count, len(g.Messages), g.Counts)
		}
		if g.Messages[0].DefinitionID != "sweep-000" || g.Messages[0].RunURL != "https://activity.example.com/ui/runs/run-000" {
			t.Errorf("first message: %+v", g.Messages[0])
		}
		if e := group.header.Get(eventHeader); e != "group" {
			t.Errorf("event header %q", e)
		}
		groupID := group.header.Get(deliveryHeader)
		if !strings.HasPrefix(groupID, "group-") {
			t.Errorf("delivery header %q", groupID)
		}
		if single := byPath["failed"]; single.header.Get(deliveryHeader) != "lonely|failed|run-x|other" {
			t.Errorf("the other target's delivery: %q", single.header.Get(deliveryHeader))
		}
		sent := 0
		for _, row := range w.rows() {
			switch {
			case row.ID == "lonely|failed|run-x|other":
				if row.Status != store.NotificationSent || row.GroupID != "" {
					t.Errorf("single row: %+v", row)
				}
			case row.Status != store.NotificationSent || row.GroupID != groupID:
				t.Errorf("row %s: status %s, group %q", row.ID, row.Status, row.GroupID)
			default:
				sent++
			}
		}
		if sent != 200 {
			t.Errorf("%d grouped rows sent, want 200", sent)
		}
		if tl := w.timeline("sweep-121"); len(tl) != 1 || tl[0].Summary != "failed notification sent to "+targetKey(ops)+" (one message with 199 others)" {
			t.Errorf("timeline of sweep-121: %+v", tl)
		}
		w.deliver()
		if n := len(rcv.received()); n != 2 {
			t.Errorf("a second pass sent again: %d requests", n)
		}
	})
}

// TestGroupRetryKeepsItsDeliveryID: a group that failed is retried as the
// same group, so a receiver that saw the first attempt can drop the repeat.
func TestGroupRetryKeepsItsDeliveryID(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		var mu sync.Mutex
		var deliveries []string
		fail := true
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			defer mu.Unlock()
			deliveries = append(deliveries, r.Header.Get(deliveryHeader))
			if fail {
				http.Error(w, "busy", http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		w := newWorld(t, st, nil, nil)
		target := definition.NotifyTarget{Kind: definition.TargetWebhook, URL: srv.URL}
		for i := range 3 {
			w.enqueue(fmt.Sprintf("n%d", i), fmt.Sprintf("d%d", i), definition.EventFailed, target, failedMessage())
		}
		w.deliver()
		for _, row := range w.rows() {
			if row.Status != store.NotificationPending || row.Attempts != 1 || row.GroupID != "" || !strings.Contains(row.LastError, "503 Service Unavailable: busy") {
				t.Errorf("after the refusal: %+v", row)
			}
		}
		mu.Lock()
		fail = false
		mu.Unlock()
		w.clock.Add(time.Minute)
		w.deliver()
		if len(deliveries) != 2 || deliveries[0] != deliveries[1] {
			t.Errorf("deliveries %q: want the same group twice", deliveries)
		}
		for _, row := range w.rows() {
			if row.Status != store.NotificationSent || row.GroupID != deliveries[0] || row.Attempts != 2 {
				t.Errorf("after the retry: %+v", row)
			}
		}
	})
}

// TestGiveUpAfter24Hours: a notification that still fails 24 hours after
// it was enqueued is given up, recorded on the row and in the timeline.
func TestGiveUpAfter24Hours(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		addr := testsupport.FreeAddr(t) // nothing listens
		w := newWorld(t, st, nil, nil)
		target := definition.NotifyTarget{Kind: definition.TargetSlack, URL: "http://" + addr + "/hook"}
		w.enqueue("n1", "backup-db", definition.EventFailed, target, failedMessage())
		created := w.row("n1").CreatedAt
		attempts := 0
		for w.clock.Now().Sub(created) < giveUpAfter {
			w.deliver()
			attempts++
			row := w.row("n1")
			if row.Status != store.NotificationPending || row.Attempts != attempts {
				t.Fatalf("attempt %d at +%s: %+v", attempts, w.clock.Now().Sub(created), row)
			}
			if want := w.clock.Now().Add(backoff(attempts)); !row.NextAttemptAt.Equal(want) {
				t.Fatalf("attempt %d: next at %s, want %s", attempts, row.NextAttemptAt, want)
			}
			w.clock.Set(row.NextAttemptAt)
		}
		w.deliver()
		row := w.row("n1")
		if row.Status != store.NotificationFailed || row.Attempts != attempts+1 || !strings.Contains(row.LastError, "connection refused") {
			t.Fatalf("at +%s: %+v", w.clock.Now().Sub(created), row)
		}
		if attempts != 29 { // at 0, 1, 3, 7, 15, 31, 63 minutes, then hourly to 23h03m
			t.Errorf("%d attempts before giving up", attempts)
		}
		tl := w.timeline("backup-db")
		if len(tl) != 1 || tl[0].Kind != store.TimelineNotification || !strings.Contains(tl[0].Summary, "failed notification to "+targetKey(target)+" given up after 30 attempts: slack: POST failed") {
			t.Errorf("timeline: %+v", tl)
		}
		if w.metric("slack", "failed") != 1 || w.metric("slack", "retry") != 29 {
			t.Errorf("metrics: failed %v retry %v", w.metric("slack", "failed"), w.metric("slack", "retry"))
		}
		w.clock.Add(time.Hour)
		w.deliver()
		if row := w.row("n1"); row.Attempts != 30 {
			t.Errorf("a failed notification was tried again: %+v", row)
		}
		if !strings.Contains(w.logs.String(), "notify: gave up delivering") {
			t.Errorf("no log of giving up:\n%s", w.logs.String())
		}
	})
}

// TestNoSecretLeaks: secret URLs, signing keys and the SMTP password
// appear in no error kept on a notification, no timeline entry and no log
// line, whatever the receiver answers.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st *testStore) {
		const (
			slackToken = "xoxb-SLACK-TOKEN-0123456789"
			hookToken  = "hook-path-token-abcdef"
			smtpPass   = "smtp-password-Zq9"
		)
		// A receiver that quotes the request back, as some do.
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no such hook: "+r.URL.RequestURI()+" "+r.Header.Get(signatureHeader), http.StatusNotFound)
		}))
		defer echo.Close()
		env := map[string]string{
			"SLACK_OPS_URL":   echo.URL + "/services/T0/B0/" + slackToken,
			"OPS_HOOK_URL":    echo.URL + "/hooks?token=" + hookToken,
			"OPS_HOOK_SECRET": hookSecret,
		}
		const literalToken = "literal-token-0987654321"
		w := newWorld(t, st, env, func(c *Config) {
			c.SMTP = smtpSettings{Addr: testsupport.FreeAddr(t), From: "a@example.com", Username: "alerts", Password: smtpPass, Plaintext: true}
		})
		w.enqueue("slack", "d1", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetSlack, URL: "${env:SLACK_OPS_URL}"}, failedMessage())
		w.enqueue("hook", "d1", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetWebhook, URL: "${env:OPS_HOOK_URL}", Secret: "OPS_HOOK_SECRET"}, failedMessage())
		w.enqueue("mail", "d1", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com"}}, failedMessage())
		w.enqueue("literal", "d1", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetSlack, URL: echo.URL + "/services/T1/B1/" + literalToken}, failedMessage())
		w.enqueue("bad-ref", "d1", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetSlack, URL: "${env:NOT_ALLOWED_URL}"}, failedMessage())
		w.deliver()
		w.clock.Add(25 * time.Hour)
		w.deliver() // given up: timeline entries with the last error

		stored := w.rows()
		for i := range stored {
			stored[i].TargetSpec = nil // the definition's own target, as its file has it
		}
		rows, _ := json.Marshal(stored)
		tl, _ := json.Marshal(w.timeline("d1"))
		everything := string(rows) + string(tl) + w.logs.String()
		for _, s := range []string{slackToken, hookToken, hookSecret, smtpPass, literalToken, "/services/T0/B0", "/services/T1/B1", sign([]byte(hookSecret), nil)[:20]} {
			if strings.Contains(everything, s) {
				t.Errorf("%q leaked into\n%s", s, everything)
			}
		}
		for id, want := range map[string]string{
			"slack":   "slack: POST answered 404 Not Found: no such hook: xxxxx",
			"hook":    "webhook: POST answered 404 Not Found: no such hook: xxxxx?xxxxx",
			"mail":    "email: dial tcp",
			"literal": "slack: POST answered 404 Not Found: no such hook: xxxxx",
			"bad-ref": "slack: url: secret not allowed: NOT_ALLOWED_URL is not in the operator's allow-list",
		} {
			if row := w.row(id); row.Status != store.NotificationFailed || !strings.Contains(row.LastError, want) {
				t.Errorf("%s: want failed with %q, got %+v", id, want, row)
			}
		}
	})
}

func TestUnknownTargetKindIsGivenUp(t *testing.T) {
	t.Parallel()
	w := newWorld(t, openSQLite(t), nil, nil)
	w.enqueue("n1", "d1", definition.EventFailed, definition.NotifyTarget{Kind: "pager"}, failedMessage())
	w.deliver()
	if row := w.row("n1"); row.Status != store.NotificationFailed || row.LastError != `pager: unknown target kind "pager" (want webhook, slack, email or nats)` {
		t.Errorf("row: %+v", row)
	}
	if w.metric("unknown", "failed") != 0 && w.metric("pager", "failed") != 0 {
		t.Error("metric label not bounded")
	}
}

// TestSlowAndLoudReceivers: a receiver that does not answer is given up on
// after SendTimeout, and one that answers with a huge body is read only in
// part; both are retried.
func TestSlowAndLoudReceivers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	loud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 160 { // 10 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer loud.Close()
	w := newWorld(t, openSQLite(t), nil, func(c *Config) { c.SendTimeout = 300 * time.Millisecond })
	w.enqueue("slow", "d1", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetWebhook, URL: slow.URL}, failedMessage())
	w.enqueue("loud", "d2", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetWebhook, URL: loud.URL}, failedMessage())
	w.deliver()
	if row := w.row("slow"); row.Status != store.NotificationPending || row.Attempts != 1 || !strings.Contains(row.LastError, "context deadline exceeded") {
		t.Errorf("slow: %+v", row)
	}
	row := w.row("loud")
	if row.Status != store.NotificationPending || !strings.Contains(row.LastError, "500 Internal Server Error: xxxx") || len(row.LastError) > 300 {
		t.Errorf("loud: %d bytes: %.300s", len(row.LastError), row.LastError)
	}
}

// TestPendingGauge: activity_notifications_pending counts what is left
// after a pass.
func TestPendingGauge(t *testing.T) {
	t.Parallel()
	w := newWorld(t, openSQLite(t), nil, nil)
	down := "http://" + testsupport.FreeAddr(t)
	for i := range 3 {
		w.enqueue(fmt.Sprintf("n%d", i), fmt.Sprintf("d%d", i), definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetWebhook, URL: down}, failedMessage())
	}
	w.deliver()
	if got := w.gauge("activity_notifications_pending"); got != 3 {
		t.Errorf("pending = %v, want 3", got)
	}
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer up.Close()
	w.enqueue("n-up", "d9", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetWebhook, URL: up.URL}, failedMessage())
	w.deliver()
	if got := w.gauge("activity_notifications_pending"); got != 3 {
		t.Errorf("pending = %v, want 3 (the one to a live receiver sent)", got)
	}
}

// TestShutdownIsNotAnAttempt: a pass whose context ends while a send is
// under way (the process stopping) leaves the notification as it was, to
// be sent by the next pass or replica.
func TestShutdownIsNotAnAttempt(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a closed connection only once the body is read
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	w := newWorld(t, openSQLite(t), nil, nil)
	w.enqueue("n1", "d1", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetWebhook, URL: srv.URL}, failedMessage())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	if err := w.n.Deliver(ctx); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if row := w.row("n1"); row.Status != store.NotificationPending || row.Attempts != 0 || row.LastError != "" {
		t.Errorf("row after shutdown: %+v", row)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil || err.Error() != "notify: Config.Store is nil" {
		t.Errorf("nil store: %v", err)
	}
	if _, err := New(Config{Store: openSQLite(t), SendTimeout: -time.Second}); err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("negative timeout: %v", err)
	}
}
