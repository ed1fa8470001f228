package notify

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// natsConn connects to the machine's NATS (ACTIVITY_TEST_NATS_URL).
func natsConn(t *testing.T) *nats.Conn {
	t.Helper()
	u := os.Getenv("ACTIVITY_TEST_NATS_URL")
	if u == "" {
		t.Skip("ACTIVITY_TEST_NATS_URL is not set; set it to a NATS server (e.g. nats://127.0.0.1:4222) to run the NATS target tests")
	}
	nc, err := nats.Connect(u, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connecting to ACTIVITY_TEST_NATS_URL: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestNATSTarget(t *testing.T) {
	t.Parallel()
	nc := natsConn(t)
	forEachStore(t, func(t *testing.T, st *testStore) {
		subject := "test.notify." + nats.NewInbox()[len("_INBOX."):]
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		w := newWorld(t, st, nil, func(c *Config) { c.NATS = nc })
		w.enqueue("backup-db|stale|1|nats", "backup-db", definition.EventStale, definition.NotifyTarget{Kind: definition.TargetNATS, Subject: subject},
			Message{Status: "stale", Reason: "no success for 26h0m0s"})
		w.deliver()
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("no message on %s: %v", subject, err)
		}
		var m Message
		if err := json.Unmarshal(msg.Data, &m); err != nil {
			t.Fatal(err)
		}
		if m.Event != "stale" || m.DefinitionID != "backup-db" || m.Reason != "no success for 26h0m0s" || m.RunURL != "https://activity.example.com/ui/definitions/backup-db" {
			t.Errorf("message: %+v", m)
		}
		if msg.Header.Get(nats.MsgIdHdr) != "backup-db|stale|1|nats" || msg.Header.Get(eventHeader) != "stale" {
			t.Errorf("headers: %v", msg.Header)
		}
		if row := w.row("backup-db|stale|1|nats"); row.Status != store.NotificationSent {
			t.Errorf("row: %+v", row)
		}
	})
}

// TestNATSTargetWithoutConnection: a process without NATS keeps nats
// notifications and says why.
func TestNATSTargetWithoutConnection(t *testing.T) {
	t.Parallel()
	w := newWorld(t, openSQLite(t), nil, nil)
	w.enqueue("n1", "backup-db", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetNATS, Subject: "org.alerts"}, failedMessage())
	w.deliver()
	row := w.row("n1")
	if row.Status != store.NotificationPending || row.Attempts != 1 || !strings.Contains(row.LastError, "nats: no NATS connection: this process has no ACTIVITY_NATS_URL") {
		t.Errorf("row: %+v", row)
	}
}

func TestNATSWildcardSubjectRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, openSQLite(t), nil, func(c *Config) { c.NATS = &nats.Conn{} })
	w.enqueue("n1", "backup-db", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetNATS, Subject: "org.>"}, failedMessage())
	w.deliver()
	if row := w.row("n1"); row.Status != store.NotificationFailed || !strings.Contains(row.LastError, `subject "org.>" is not a literal NATS subject`) {
		t.Errorf("row: %+v", row)
	}
}
