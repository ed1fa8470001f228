package attack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
)

func nested(depth int) []byte {
	return []byte(strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth))
}

func eventDef(id, subject, cmd, extra string) string {
	return fmt.Sprintf("id: %s\ntrigger:\n  trigger_type: event\n  event_type: %s\n%sinstruction:\n  kind: shell\n  cmd: %q\n  timeout: 60s\non_failure: log_and_continue\n", id, subject, extra, cmd)
}

// publishThenMarker publishes the attack event, then a harmless marker
// event to the same definition, and waits until the marker's run exists:
// the router has then handled the attack event too (one stream, in order).
func publishThenMarker(t *testing.T, d *devProc, defID, subject string, attack []byte, tag string) []run {
	t.Helper()
	if err := d.publish(subject, attack, tag+"-attack"); err != nil {
		t.Logf("publish refused by NATS itself (also a hold): %v", err)
	}
	if err := d.publish(subject, []byte(`{"marker":true}`), tag+"-marker"); err != nil {
		t.Fatal(err)
	}
	var runs []run
	testsupport.Eventually(t, time.Minute, "the marker event's run", func() error {
		runs = d.runsOf(defID)
		for _, r := range runs {
			if terminal(r.Status) && strings.Contains(r.Stdout, "marker") {
				return nil
			}
		}
		var seen []string
		for _, r := range runs {
			seen = append(seen, fmt.Sprintf("%s %s %q %q", r.Trigger, r.Status, clip([]byte(r.Stdout)), r.Error))
		}
		return fmt.Errorf("%d runs, no finished marker run: %v", len(runs), seen)
	})
	return runs
}

func costAttacks(t *testing.T, d *devProc) {
	d.write("cost/deep.yaml", eventDef("attack.cost-deep", "org.attack.deep", `cat "$ACTIVITY_EVENT_FILE" | head -c 40`, ""))
	d.write("cost/big.yaml", eventDef("attack.cost-big", "org.attack.big", `wc -c < "$ACTIVITY_EVENT_FILE"; head -c 20 "$ACTIVITY_EVENT_FILE"`, ""))
	d.write("cost/rule.yaml", eventDef("attack.cost-rule", "org.attack.rule", "true",
		"rule:\n  when:\n    - \"event.payload.items.all(x, event.payload.items.all(y, event.payload.items.all(z, x + y + z >= 0)))\"\n"))
	if res := d.sync(); strings.Contains(res.errorText(), "cost/") {
		t.Fatalf("sync refused the cost definitions: %s", res.errorText())
	}

	attack(t, "cost", "deep-payload-not-routed", func(t *testing.T) {
		runs := publishThenMarker(t, d, "attack.cost-deep", "org.attack.deep", nested(10000), "deep")
		if len(runs) != 1 {
			t.Fatalf("a 10,000-deep payload was routed: %d runs", len(runs))
		}
	})
	attack(t, "cost", "deep-payload-explained", func(t *testing.T) {
		body := `{"subject":"org.attack.deep","payload":` + string(nested(10000)) + `}`
		code, b := d.call("POST", "/api/v1/events/explain", readToken, body)
		if len(b) > 64<<10 {
			t.Fatalf("explain answered %d bytes for a 60 KB request", len(b))
		}
		if code == 200 && !strings.Contains(strings.ToLower(string(b)), "depth") {
			t.Fatalf("explain does not say the payload is too deep: %d %s", code, clip(b))
		}
		if code != 200 && code != 400 && code != 413 {
			t.Fatalf("explain: status %d %s", code, clip(b))
		}
	})
	attack(t, "cost", "oversize-payload-not-routed", func(t *testing.T) {
		big := []byte(`{"blob":"` + strings.Repeat("x", 900<<10) + `"}`)
		runs := publishThenMarker(t, d, "attack.cost-big", "org.attack.big", big, "oversize")
		for _, r := range runs {
			if n, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[0])); n > 800<<10 {
				t.Fatalf("a 900 KiB payload was routed (run %s read %d bytes)", r.ID, n)
			}
		}
	})
	attack(t, "cost", "large-payload-reaches-shell-by-file", func(t *testing.T) {
		payload := []byte(`{"blob":"` + strings.Repeat("y", 200<<10) + `"}`)
		if err := d.publish("org.attack.big", payload, "big-200k"); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, time.Minute, "the 200 KiB event's run succeeds", func() error {
			for _, r := range d.runsOf("attack.cost-big") {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[0]))
				if n >= 200<<10 {
					if r.Status != "succeeded" {
						return fmt.Errorf("run %s: %s %s", r.ID, r.Status, r.Error)
					}
					return nil
				}
			}
			return fmt.Errorf("no run read the 200 KiB payload yet")
		})
	})
	attack(t, "cost", "large-context-reaches-shell-by-file", func(t *testing.T) {
		blob := strings.Repeat("z", 600<<10)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "blob": blob})
		}))
		defer srv.Close()
		d.write("cost/ctx.yaml", "id: attack.cost-context\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"context:\n  - kind: http_get\n    url: "+srv.URL+"\n    bind: big\n"+
			"instruction:\n  kind: shell\n  cmd: 'wc -c < \"$ACTIVITY_CONTEXT_FILE\"'\n  timeout: 30s\n")
		d.sync()
		r := d.waitRun(d.runNow("attack.cost-context"), time.Minute)
		n, _ := strconv.Atoi(strings.TrimSpace(r.Stdout))
		if r.Status != "succeeded" || n < 600<<10 {
			t.Fatalf("a 600 KiB context did not reach the command: %s %q %s", r.Status, clip([]byte(r.Stdout)), r.Error)
		}
		code, b := d.call("GET", "/api/v1/runs?limit=1&definition_id=attack.cost-context", readToken, "")
		if code != 200 || len(b) > 3*(600<<10)+(64<<10) {
			t.Fatalf("GET /api/v1/runs sent %d bytes for one run with a 600 KiB context", len(b))
		}
	})
	attack(t, "cost", "explain-cel-cost-limit", func(t *testing.T) {
		items := make([]int, 200)
		for i := range items {
			items[i] = i
		}
		p, _ := json.Marshal(map[string]any{"items": items})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		done := make(chan struct{})
		var code int
		var b []byte
		go func() {
			code, b = d.call("POST", "/api/v1/events/explain", readToken, `{"subject":"org.attack.rule","payload":`+string(p)+`}`)
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("explain of an expensive rule did not answer within two minutes")
		}
		if code != 200 || !strings.Contains(strings.ToLower(string(b)), "cost") {
			t.Fatalf("explain does not report the cost limit: %d %s", code, clip(b))
		}
	})
	attack(t, "cost", "rule-that-cannot-finish-refused-at-sync", func(t *testing.T) {
		list := make([]string, 300)
		for i := range list {
			list[i] = strconv.Itoa(i)
		}
		l := "[" + strings.Join(list, ",") + "]"
		d.write("cost/const.yaml", eventDef("attack.cost-const", "org.attack.const", "true",
			"rule:\n  when:\n    - \""+l+".all(x, "+l+".all(y, "+l+".all(z, x + y + z >= 0)))\"\n"))
		res := d.sync()
		if !strings.Contains(res.errorText(), "const.yaml") || !strings.Contains(strings.ToLower(res.errorText()), "cost") {
			t.Fatalf("sync accepted a rule that cannot finish within the cost limit:\n%s", res.errorText())
		}
		_ = os.Remove(filepath.Join(d.defs, "cost/const.yaml"))
	})
	attack(t, "cost", "symlink-diamonds-linear", func(t *testing.T) {
		root := t.TempDir()
		leaf := filepath.Join(root, "l0")
		if err := os.MkdirAll(leaf, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(leaf, "x.yaml"), []byte("id: bad id\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 16; i++ {
			dir := filepath.Join(root, fmt.Sprintf("l%d", i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"a", "b"} {
				if err := os.Symlink(filepath.Join(root, fmt.Sprintf("l%d", i-1)), filepath.Join(dir, n)); err != nil {
					t.Fatal(err)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_, out := d.cli(ctx, "validate", filepath.Join(root, "l16"))
		if ctx.Err() != nil {
			t.Fatal("validate of a 16-level symlink diamond did not finish in 90 s")
		}
		if len(out) > 64<<10 {
			t.Fatalf("validate printed %d bytes for one bad file reached 65,536 ways", len(out))
		}
	})
	attack(t, "cost", "duplicate-id-errors-capped", func(t *testing.T) {
		root := t.TempDir()
		for i := 0; i < 300; i++ {
			_ = os.WriteFile(filepath.Join(root, fmt.Sprintf("d%03d.yaml", i)), []byte(shellDef("attack.same-id", "true", "")), 0o644)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_, out := d.cli(ctx, "validate", root)
		if lines := strings.Count(out, "\n"); lines > 3*300 {
			t.Fatalf("300 files with one id gave %d lines of errors (quadratic)", lines)
		}
	})
}
