package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/notify"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// The detector replicas' pass interval and lease, short so that a
// failover takes seconds.
const (
	detectorInterval = time.Second
	detectorLeaseTTL = 3 * time.Second
	// hookSecretName is the allow-listed secret that signs the scenario's
	// webhooks.
	hookSecretName = "TOPOLOGY_HOOK_SECRET"
	hookSecret     = "topology-hook-secret-0123456789"
)

// hookReceiver is a webhook target that counts what it is told, by
// definition and event, whether a message came alone or in a group.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	counts map[string]int // "definition event" -> messages
}

func newHookReceiver(t testing.TB) *hookReceiver {
	h := &hookReceiver{counts: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !notify.VerifySignature([]byte(hookSecret), b, r.Header.Get("X-Activity-Signature-256")) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var g notify.Group
		if err := json.Unmarshal(b, &g); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		msgs := g.Messages
		if g.Event != "group" {
			var m notify.Message
			_ = json.Unmarshal(b, &m)
			msgs = []notify.Message{m}
		}
		h.mu.Lock()
		for _, m := range msgs {
			h.counts[m.DefinitionID+" "+m.Event]++
		}
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) count(definitionID, event string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[definitionID+" "+event]
}

func (h *hookReceiver) waitCount(t testing.TB, definitionID, event string, want int) {
	t.Helper()
	if err := testsupport.Poll(time.Minute, func() error {
		if n := h.count(definitionID, event); n != want {
			return fmt.Errorf("%d %s notification(s) for %s, want %d", n, event, definitionID, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// detectorLeader is the detector replica that holds the store lease.
func (c *cluster) detectorLeader(t testing.TB) string {
	t.Helper()
	var leader string
	err := testsupport.Poll(30*time.Second, func() error {
		var holder string
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		if err := c.db.QueryRow(ctx, `SELECT holder FROM leases WHERE name = 'detector' AND expires_at > now()`).Scan(&holder); err != nil {
			return fmt.Errorf("no detector holds the lease: %w", err)
		}
		// The holder is host:pid-random.
		_, rest, _ := strings.Cut(holder, ":")
		pidText, _, _ := strings.Cut(rest, "-")
		pid, _ := strconv.Atoi(pidText)
		for _, name := range []string{"detector-1", "detector-2"} {
			if c.procs[name].pid() == pid {
				leader = name
				return nil
			}
		}
		return fmt.Errorf("lease holder %q is no detector replica", holder)
	})
	if err != nil {
		t.Fatal(err)
	}
	return leader
}

// TestTopology8DetectorFailover: the leading detector replica is SIGKILLed
// after it sent an alert; the other takes the lease when it expires and
// goes on alerting, and the alert already sent is not sent again
// (docs/alerting.md#detector).
func TestTopology8DetectorFailover(t *testing.T) {
	c := getCluster(t)
	hook := newHookReceiver(t)
	d := c.scenarioDefs(t, "s8")
	failing := func(id string) string {
		return fmt.Sprintf("id: %s\ntrigger: {trigger_type: cron, cron_expression: \"0 3 1 1 *\"}\n"+
			"instruction: {kind: shell, cmd: 'echo disk full >&2; exit 3'}\n"+
			"notify: {targets: [{webhook: {url: %q, secret: %s}}]}\n", id, hook.URL+"/hook", hookSecretName)
	}
	d.write("a.yaml", failing("s8.a"))
	d.write("b.yaml", failing("s8.b"))
	c.sync(t, "api-1", "")

	runFailed := func(id string) {
		t.Helper()
		var started struct {
			RunID string `json:"run_id"`
		}
		c.mustCall(t, "api-1", "POST", "/api/v1/definitions/"+id+"/run", "", &started)
		if run := c.waitRun(t, "api-1", started.RunID); run.Status != "failed" {
			t.Fatalf("%s run %s: %s, want failed", id, started.RunID, run.Status)
		}
	}
	runFailed("s8.a")
	hook.waitCount(t, "s8.a", "failed", 1)

	victim := c.detectorLeader(t)
	t.Logf("SIGKILL %s, the leading detector", victim)
	c.procs[victim].kill()
	t.Cleanup(func() {
		if !c.procs[victim].running() {
			c.restartActivityCore(t, victim)
		}
	})

	runFailed("s8.b")
	hook.waitCount(t, "s8.b", "failed", 1)
	if leader := c.detectorLeader(t); leader == victim {
		t.Errorf("the lease is still held by %s, which was killed", victim)
	}
	// A second failure of a definition already alerted on is the same
	// problem: no second alert, from either replica.
	runFailed("s8.a")
	c.restartActivityCore(t, victim)
	runFailed("s8.b")
	for _, id := range []string{"s8.a", "s8.b"} {
		if err := testsupport.Poll(3*detectorLeaseTTL, func() error {
			var n int
			ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
			defer cancel()
			err := c.db.QueryRow(ctx, `SELECT consecutive_failures FROM definition_health WHERE definition_id = $1`, id).Scan(&n)
			if err != nil || n != 2 {
				return fmt.Errorf("%s: %d consecutive failures recorded (%v), want 2", id, n, err)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		var queued int
		if err := c.db.QueryRow(c.ctx, `SELECT count(*) FROM notifications WHERE definition_id = $1 AND event = 'failed'`, id).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if n := hook.count(id, "failed"); n != 1 || queued != 1 {
			t.Errorf("%s: %d failed notifications received and %d queued across the failover, want 1 and 1", id, n, queued)
		}
	}
}
