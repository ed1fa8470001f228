package attack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
)

func correctnessAttacks(t *testing.T, d *devProc) {
	attack(t, "correctness", "manual-run-overlap-skipped", func(t *testing.T) {
		d.write("ok/overlap.yaml", "id: attack.overlap\ntrigger:\n  trigger_type: cron\n  cron_expression: \"0 0 1 1 *\"\n  misfire_policy: skip\n"+
			"instruction:\n  kind: shell\n  cmd: 'sleep 6; echo first-done'\n  timeout: 60s\n")
		d.sync()
		first := d.runNow("attack.overlap")
		testsupport.Eventually(t, 30*time.Second, "first run is running", func() error {
			if r, ok := d.getRun(first); !ok || r.Status != "running" {
				return fmt.Errorf("status %q", r.Status)
			}
			return nil
		})
		second := d.waitRun(d.runNow("attack.overlap"), time.Minute)
		if second.Status != "skipped" || !strings.Contains(second.SkipReason, "overlap") {
			t.Fatalf("a manual run during a running one: %s %q, want skipped (overlap)", second.Status, second.SkipReason)
		}
		d.waitRun(first, time.Minute)
	})
	attack(t, "correctness", "event-and-manual-runs-never-overlap-on-a-key", func(t *testing.T) {
		log := filepath.Join(t.TempDir(), "intervals")
		d.write("ok/overlap-ev.yaml", "id: attack.overlap-event\ntrigger:\n  trigger_type: event\n  event_type: org.attack.overlap\n"+
			"instruction:\n  kind: shell\n  cmd: 'echo start >> "+log+"; sleep 2; echo end >> "+log+"'\n  timeout: 60s\n"+
			"concurrency_key: attack-overlap\n")
		d.sync()
		manual := d.runNow("attack.overlap-event")
		for i := 0; i < 2; i++ {
			if err := d.publish("org.attack.overlap", []byte(`{}`), fmt.Sprintf("overlap-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		d.waitRun(manual, time.Minute)
		testsupport.Eventually(t, 2*time.Minute, "three runs finished", func() error {
			done := 0
			for _, r := range d.runsOf("attack.overlap-event") {
				if terminal(r.Status) {
					done++
				}
			}
			if done < 3 {
				return fmt.Errorf("%d of 3 runs finished", done)
			}
			return nil
		})
		b, _ := os.ReadFile(log)
		if want := strings.Repeat("start\nend\n", 3); string(b) != want {
			t.Fatalf("runs sharing a concurrency_key overlapped (manual and event): %q", b)
		}
	})
	attack(t, "correctness", "long-pause-note-refused-consistently", func(t *testing.T) {
		d.write("ok/pause.yaml", "id: attack.pause\ntrigger:\n  trigger_type: cron\n  cron_expression: \"0 0 1 1 *\"\ninstruction:\n  kind: shell\n  cmd: 'true'\n")
		d.sync()
		note, _ := json.Marshal(map[string]string{"note": strings.Repeat("n", 5000)})
		code, b := d.call("POST", "/api/v1/definitions/attack.pause/pause", adminToken, string(note))
		if code != 400 {
			t.Fatalf("a 5,000-character note: status %d %s, want 400", code, clip(b))
		}
		_, def := d.call("GET", "/api/v1/definitions/attack.pause", readToken, "")
		if strings.Contains(strings.ToLower(string(def)), `"paused":true`) {
			t.Fatalf("a refused pause left the definition paused: %s", clip(def))
		}
		if res := d.sync(); strings.Contains(res.errorText(), "attack.pause") {
			t.Fatalf("sync after a refused pause reports an error: %s", res.errorText())
		}
		d.mustJSON("POST", "/api/v1/definitions/attack.pause/pause", adminToken, `{"note":"maintenance window"}`, 200, nil)
		_, def = d.call("GET", "/api/v1/definitions", readToken, "")
		if !strings.Contains(string(def), "maintenance window") {
			t.Fatalf("GET /api/v1/definitions does not show the operator pause: %s", clip(def))
		}
	})
	attack(t, "correctness", "definitions-list-shows-state", func(t *testing.T) {
		code, out := d.cli(context.Background(), "definitions", "list")
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "attack.pause") {
				line = l
			}
		}
		if code != 0 || !strings.Contains(strings.ToLower(line), "paused") {
			t.Fatalf("definitions list does not show the paused state: %d %q\n%s", code, line, out)
		}
	})
	attack(t, "correctness", "unreadable-subfolder-keeps-definitions", func(t *testing.T) {
		d.write("loop/kept.yaml", shellDef("attack.kept", "true", ""))
		d.sync()
		sub := filepath.Join(d.defs, "loop")
		if err := os.Rename(sub, sub+".away"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("loop", sub); err != nil { // loop -> loop: ELOOP
			t.Fatal(err)
		}
		for i := 0; i < 60; i++ {
			d.write(fmt.Sprintf("noise/bad%02d.yaml", i), "id: [not an id\n")
		}
		res := d.sync()
		if res.Definitions.Removed != 0 {
			t.Errorf("sync removed %d definitions while a folder could not be read", res.Definitions.Removed)
		}
		if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].File+res.Errors[0].Message, "loop") {
			t.Errorf("the unreadable folder is not the first error (of %d, %d dropped): %s", len(res.Errors), res.ErrorsDropped, clip([]byte(res.errorText())))
		}
		if code, b := d.call("GET", "/api/v1/definitions/attack.kept", readToken, ""); code != 200 || strings.Contains(string(b), `"removed_at":"2`) {
			t.Errorf("the definition under the unreadable folder was removed: %d %s", code, clip(b))
		}
		_ = os.Remove(sub)
		_ = os.Rename(sub+".away", sub)
		_ = os.RemoveAll(filepath.Join(d.defs, "noise"))
	})
	attack(t, "correctness", "run-wait-exit-codes", func(t *testing.T) {
		d.write("ok/fails.yaml", shellDef("attack.fails", "exit 3", "")+"on_failure: log_and_continue\n")
		d.write("ok/skips.yaml", shellDef("attack.skips", "true", "")+"rule:\n  when: [\"1 == 2\"]\n")
		d.write("ok/works.yaml", shellDef("attack.works", "true", ""))
		d.sync()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		okCode, okOut := d.cli(ctx, "run", "attack.works", "--wait")
		failCode, failOut := d.cli(ctx, "run", "attack.fails", "--wait")
		skipCode, skipOut := d.cli(ctx, "run", "attack.skips", "--wait")
		if okCode != 0 {
			t.Errorf("succeeded run: exit %d\n%s", okCode, okOut)
		}
		if failCode == 0 {
			t.Errorf("failed run: exit 0\n%s", failOut)
		}
		if skipCode == 0 || skipCode == failCode {
			t.Errorf("skipped run: exit %d (failed gave %d): want non-zero and distinct\n%s", skipCode, failCode, skipOut)
		}
	})
	attack(t, "correctness", "schema-violation-not-routed", func(t *testing.T) {
		d.write("event-types/org.attack.pushed.yaml", "name: org.attack.pushed\ndescription: x\nschema:\n  type: object\n  required: [sha]\n  properties:\n    sha: {type: string, pattern: \"^[0-9a-f]{7,40}$\"}\n")
		d.write("ok/pushed.yaml", eventDef("attack.pushed", "org.attack.pushed", `cat "$ACTIVITY_EVENT_FILE"`, ""))
		d.sync()
		bad := []byte(`{"sha":"$(touch /tmp/pwned)"}`)
		code, b := d.call("POST", "/api/v1/events/explain", readToken, `{"subject":"org.attack.pushed","payload":`+string(bad)+`}`)
		if code != 200 || !strings.Contains(strings.ToLower(string(b)), "schema") {
			t.Errorf("explain does not say the payload breaks the schema: %d %s", code, clip(b))
		}
		if err := d.publish("org.attack.pushed", bad, "schema-bad"); err != nil {
			t.Fatal(err)
		}
		// The same key twice: the schema would see the last value, a
		// command's parser maybe the first.
		if err := d.publish("org.attack.pushed", []byte(`{"sha":"$(touch /tmp/pwned)","sha":"abcdef2"}`), "schema-dup"); err != nil {
			t.Fatal(err)
		}
		if err := d.publish("org.attack.pushed", []byte(`{"sha":"abcdef1","marker":1}`), "schema-good"); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, time.Minute, "the conforming event runs", func() error {
			runs := d.runsOf("attack.pushed")
			for _, r := range runs {
				if strings.Contains(r.Stdout, "touch") {
					return fmt.Errorf("the non-conforming event was routed (run %s)", r.ID)
				}
			}
			for _, r := range runs {
				if terminal(r.Status) && strings.Contains(r.Stdout, "abcdef1") {
					return nil
				}
			}
			return fmt.Errorf("no run of the conforming event yet")
		})
		if runs := d.runsOf("attack.pushed"); len(runs) != 1 {
			t.Errorf("%d runs, want only the conforming event's", len(runs))
		}
	})
	attack(t, "correctness", "commit-hook-example-not-injectable", func(t *testing.T) {
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		marker := filepath.Join(t.TempDir(), "pwned")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		events := filepath.Join(t.TempDir(), "events.jsonl")
		ev, _ := json.Marshal(map[string]any{"subject": "org.repo.commit.pushed", "payload": map[string]any{"repo_slug": "x$(shell touch " + marker + ")", "sha": "abcdef1"}})
		if err := os.WriteFile(events, append(ev, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		_, out := d.cli(ctx, "test", filepath.Join(root, "examples/definitions"), "--events", events)
		if strings.Contains(out, "would run") && strings.Contains(out, "state-hub-commit-consistency") && !strings.Contains(strings.ToLower(out), "schema") {
			t.Errorf("the shipped commit-hook example would run for an injected slug:\n%s", out)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("the injected make function ran")
		}
	})
	attack(t, "correctness", "fifo-named-yaml-reported", func(t *testing.T) {
		if err := syscall.Mkfifo(filepath.Join(d.defs, "fifo.yaml"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(d.defs, "fifo.yaml"))
		res := d.sync()
		if !strings.Contains(res.errorText(), "fifo.yaml") {
			t.Fatalf("a FIFO named *.yaml was skipped silently: %s", res.errorText())
		}
	})
	attack(t, "correctness", "outside-symlink-not-quoted", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "shadow")
		if err := os.WriteFile(outside, []byte("root:$6$SHADOWLINE$abc:19000:0:99999:7:::\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(d.defs, "shadow.yaml")
		if err := os.Symlink(outside, link); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(link)
		res := d.sync()
		if strings.Contains(res.errorText(), "SHADOWLINE") {
			t.Fatalf("sync errors quote a file outside the source: %s", res.errorText())
		}
	})
}

func accessAttacks(t *testing.T, d *devProc) {
	attack(t, "access", "read-token-cannot-act", func(t *testing.T) {
		for _, p := range []string{"/admin/sync", "/api/v1/definitions/attack.works/run", "/api/v1/definitions/attack.works/pause"} {
			if code, _ := d.call("POST", p, readToken, ""); code != 403 && code != 401 {
				t.Errorf("read token on POST %s: %d", p, code)
			}
		}
	})
	attack(t, "access", "failed-auth-counted", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			d.call("GET", "/api/v1/runs", "wrong-token-wrong-token", "")
		}
		_, m := d.call("GET", "/metrics", "", "")
		re := regexp.MustCompile(`(?m)^activity\w*auth\w*fail\w*(\{[^}]*\})? ([0-9.e+]+)$`)
		total := 0.0
		for _, mm := range re.FindAllStringSubmatch(string(m), -1) {
			var v float64
			if _, err := fmt.Sscan(mm[2], &v); err != nil {
				t.Fatalf("metric value %q: %v", mm[2], err)
			}
			total += v
		}
		if total < 3 {
			t.Fatalf("3 failed authentications, /metrics counts %v", total)
		}
	})
	attack(t, "access", "sign-in-rate-limited", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		limited := false
		for i := 0; i < 30 && !limited; i++ {
			resp, err := c.Get(d.base + "/ui/login")
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			_, _ = fmt.Fprint(&buf, readAll(resp))
			m := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindStringSubmatch(buf.String())
			nonce := ""
			if m != nil {
				nonce = m[1]
			}
			resp, err = c.PostForm(d.base+"/ui/login", url.Values{"nonce": {nonce}, "token": {fmt.Sprintf("guess-%d-guess-guess", i)}})
			if err != nil {
				t.Fatal(err)
			}
			readAll(resp)
			limited = resp.StatusCode == http.StatusTooManyRequests
		}
		if !limited {
			t.Fatal("30 wrong sign-ins in a row were never rate-limited")
		}
	})
	attack(t, "access", "explain-trailing-garbage", func(t *testing.T) {
		if code, b := d.call("POST", "/api/v1/events/explain", readToken, `{"subject":"org.attack.x","payload":{}} {"more":1}`); code != 400 {
			t.Fatalf("explain with trailing data: %d %s", code, clip(b))
		}
	})
	attack(t, "access", "ui-future-started-stops-reloading", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Get(d.base + "/ui/login")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindStringSubmatch(readAll(resp))
		if m == nil {
			t.Fatal("no sign-in form")
		}
		resp, err = c.PostForm(d.base+"/ui/login", url.Values{"nonce": {m[1]}, "token": {readToken}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(resp)
		resp, err = c.Get(d.base + "/ui/runs/01900000-0000-7000-8000-000000000000?started=" + fmt.Sprint(time.Now().Add(100*365*24*time.Hour).Unix()))
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(resp); strings.Contains(strings.ToLower(page), `http-equiv="refresh"`) {
			t.Fatalf("a run page with a future ?started= reloads: %d", resp.StatusCode)
		}
	})
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for b.Len() < 4<<20 {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// TestTokenRefusals starts serve with tokens an attacker could guess: each
// must stop startup with a line naming the setting.
func TestTokenRefusals(t *testing.T) {
	requireSuite(t)
	for name, env := range map[string][]string{
		"short-admin":      {"ACTIVITY_ADMIN_TOKEN=hunter2"},
		"whitespace-admin": {"ACTIVITY_ADMIN_TOKEN=                        "},
		"short-read":       {"ACTIVITY_ADMIN_TOKEN=" + adminToken, "ACTIVITY_READ_TOKEN=read"},
		"whitespace-read":  {"ACTIVITY_ADMIN_TOKEN=" + adminToken, "ACTIVITY_READ_TOKEN=\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t"},
	} {
		attack(t, "access", "serve-refuses-"+name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := execServe(ctx, t, env)
			out, err := cmd.CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("serve started (or hung) with a weak token: %v\n%s", err, out)
			}
			setting := strings.SplitN(env[len(env)-1], "=", 2)[0]
			if !strings.Contains(string(out), setting) {
				t.Fatalf("the refusal does not name %s:\n%s", setting, out)
			}
		})
	}
}
