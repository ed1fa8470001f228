package attack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
)

// TestAttacks runs every attack that one shared dev process can take.
func TestAttacks(t *testing.T) {
	requireSuite(t)
	d := startDev(t)
	secretAttacks(t, d)
	redirectAttacks(t, d)
	costAttacks(t, d)
	processAttacks(t, d)
	correctnessAttacks(t, d)
	accessAttacks(t, d)
}

// leakForms are the shapes in which a secret must never be shown.
func leakForms(secret string) []string {
	return []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(secret)), "="),
		base64.StdEncoding.EncodeToString([]byte(secret + "\n"))[:len(secret)/3*4],
		hex.EncodeToString([]byte(secret)),
		strings.ToUpper(hex.EncodeToString([]byte(secret))),
	}
}

func assertNoLeak(t *testing.T, where string, text []byte) {
	t.Helper()
	for _, s := range []string{hubSecret, fileSecret, adminToken, readToken, "not-allowed-value-31337"} {
		for _, f := range leakForms(s) {
			if bytes.Contains(text, []byte(f)) {
				t.Errorf("%s shows a form of a secret (%q)", where, f)
			}
		}
	}
}

func shellDef(id, cmd, extra string) string {
	return fmt.Sprintf("id: %s\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\ninstruction:\n  kind: shell\n  cmd: %q\n  timeout: 60s\n%s", id, cmd, extra)
}

func secretAttacks(t *testing.T, d *devProc) {
	refused := map[string]string{
		"admin-token-env":     "instruction:\n  kind: shell\n  cmd: 'printf %s \"$T\" | base64'\n  env: {T: \"${env:ACTIVITY_ADMIN_TOKEN}\"}\n",
		"database-url-header": "context:\n  - kind: http_get\n    url: http://127.0.0.1:9/x\n    bind: c\n    headers: {X-Db: \"${env:ACTIVITY_DATABASE_URL}\"}\ninstruction:\n  kind: shell\n  cmd: 'true'\n",
		"unlisted-variable":   "instruction:\n  kind: http\n  method: POST\n  url: http://127.0.0.1:9/x\n  body: {v: \"${env:NOT_ALLOWED_SECRET}\"}\n",
		"temporal-setting":    "instruction:\n  kind: publish\n  subject: org.attack.x\n  payload: {v: \"${env:TEMPORAL_ADDRESS}\"}\n",
		"path-variable":       "instruction:\n  kind: shell\n  cmd: 'echo \"$P\"'\n  env: {P: \"${env:PATH}\"}\n",
		"tagged-body-value":   "instruction:\n  kind: http\n  method: POST\n  url: http://127.0.0.1:9/x\n  body: {v: !x \"${env:ACTIVITY_ADMIN_TOKEN}\"}\n",
	}
	for name, body := range refused {
		attack(t, "secrets", "refused-at-sync/"+name, func(t *testing.T) {
			id := "attack.secret-" + name
			d.write("secrets/"+name+".yaml", "id: "+id+"\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+body)
			res := d.sync()
			if !strings.Contains(res.errorText(), name+".yaml") || !strings.Contains(strings.ToLower(res.errorText()), "allow") {
				t.Fatalf("sync did not refuse the definition with an allow-list error:\n%s", res.errorText())
			}
			if code, _ := d.call("GET", "/api/v1/definitions/"+id, readToken, ""); code != 404 {
				t.Errorf("definition %s was stored (status %d) although it names a secret outside the allow-list", id, code)
			}
			d.write("secrets/"+name+".yaml", "id: "+id+"\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\ninstruction:\n  kind: shell\n  cmd: 'true'\n")
		})
	}

	attack(t, "secrets", "encodings-redacted", func(t *testing.T) {
		cmd := `printf '%s\n' "$T" "$F"; printf %s "$T" | base64; echo "$T" | base64; printf %s "$F" | base64 -w0; echo; ` +
			`printf %s "$T" | od -An -tx1 | tr -d ' \n'; echo; printf %s "$F" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; echo; echo "$T" >&2`
		d.write("secrets/encodings.yaml", shellDef("attack.secret-encodings", cmd, "  env: {T: \"${env:HUB_TOKEN}\", F: \"${env:DB_PASS}\"}\n"))
		if res := d.sync(); len(res.Errors) > 0 && strings.Contains(res.errorText(), "encodings") {
			t.Fatalf("sync: %s", res.errorText())
		}
		r := d.waitRun(d.runNow("attack.secret-encodings"), time.Minute)
		if r.Status != "succeeded" {
			t.Fatalf("run %s: %s %s", r.ID, r.Status, r.Error)
		}
		if !strings.Contains(r.Stdout, "***") {
			t.Errorf("stdout shows no redaction at all: %q", r.Stdout)
		}
		_, raw := d.call("GET", "/api/v1/runs/"+r.ID, readToken, "")
		assertNoLeak(t, "GET /api/v1/runs/{id}", raw)
		_, list := d.call("GET", "/api/v1/runs?definition_id=attack.secret-encodings", readToken, "")
		assertNoLeak(t, "GET /api/v1/runs", list)
	})

	attack(t, "secrets", "long-secret-wrapped-encodings-redacted", func(t *testing.T) {
		cmd := `echo "$L" | base64; printf %s "$L" | od -An -tx1 | tr -d ' \n' | fold -w 60; echo`
		d.write("secrets/long.yaml", shellDef("attack.secret-long", cmd, "  env: {L: \"${env:LONG_TOKEN}\"}\n"))
		d.sync()
		r := d.waitRun(d.runNow("attack.secret-long"), time.Minute)
		flat := strings.ReplaceAll(r.Stdout, "\n", "")
		b64 := base64.StdEncoding.EncodeToString([]byte(longSecret))
		hx := hex.EncodeToString([]byte(longSecret))
		if r.Status != "succeeded" || strings.Contains(flat, b64[8:48]) || strings.Contains(flat, hx[8:48]) {
			t.Fatalf("a long secret, wrapped over lines, shows through: %s %q", r.Status, r.Stdout)
		}
	})
	attack(t, "secrets", "numeric-secret-in-context", func(t *testing.T) {
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"status":"ok","account":%s}`, r.Header.Get("X-Pin"))
		}))
		defer src.Close()
		d.write("secrets/pin.yaml", "id: attack.secret-pin\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"context:\n  - kind: http_get\n    url: "+src.URL+"\n    bind: acct\n    headers: {X-Pin: \"${env:HUB_PIN}\"}\n"+
			"instruction:\n  kind: shell\n  cmd: 'cat \"$ACTIVITY_CONTEXT_FILE\"'\n  timeout: 30s\n")
		d.sync()
		r := d.waitRun(d.runNow("attack.secret-pin"), time.Minute)
		if r.Status != "succeeded" || strings.Contains(string(mustMarshal(r)), pinSecret) {
			t.Fatalf("a numeric secret answered by a context source shows: %s %q", r.Status, r.Stdout)
		}
		if strings.Contains(string(historyBytes(t, d, r.WorkflowID)), pinSecret) {
			t.Fatal("a numeric secret reached Temporal history")
		}
	})
	attack(t, "secrets", "context-echo-not-in-history", func(t *testing.T) {
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "echo": r.Header.Get("X-Token")})
		}))
		defer echo.Close()
		d.write("secrets/echo.yaml", "id: attack.secret-echo\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"context:\n  - kind: http_get\n    url: "+echo.URL+"\n    bind: hub\n    headers: {X-Token: \"${env:HUB_TOKEN}\"}\n"+
			"rule:\n  when: [\"hub.status == 'ok'\"]\n"+
			"instruction:\n  kind: shell\n  cmd: 'cat \"$ACTIVITY_CONTEXT_FILE\" >/dev/null; echo done'\n  timeout: 30s\n")
		d.sync()
		r := d.waitRun(d.runNow("attack.secret-echo"), time.Minute)
		if r.Status != "succeeded" {
			t.Fatalf("run: %s %s", r.Status, r.Error)
		}
		assertNoLeak(t, "run record", mustMarshal(r))
		hist := historyBytes(t, d, r.WorkflowID)
		if len(hist) == 0 {
			t.Fatal("empty history")
		}
		assertNoLeak(t, "Temporal history of "+r.WorkflowID, hist)
	})

	attack(t, "secrets", "secret-in-failing-url", func(t *testing.T) {
		d.write("secrets/url.yaml", "id: attack.secret-url\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"instruction:\n  kind: http\n  method: GET\n  url: \"http://127.0.0.1:9/${env:HUB_TOKEN}\"\n  timeout: 5s\non_failure: log_and_continue\n")
		d.sync()
		r := d.waitRun(d.runNow("attack.secret-url"), time.Minute)
		if r.Status == "succeeded" {
			t.Fatalf("the request to a closed port succeeded")
		}
		assertNoLeak(t, "failed run record", mustMarshal(r))
		assertNoLeak(t, "Temporal history", historyBytes(t, d, r.WorkflowID))
	})
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// historyBytes is the whole history of a workflow, every event encoded as
// Temporal stores it.
func historyBytes(t *testing.T, d *devProc, workflowID string) []byte {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: d.temporal, Namespace: "default", Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, 0)
	var buf bytes.Buffer
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}

// recorder is an HTTP server that records what reached it.
type recorder struct {
	mu   sync.Mutex
	reqs []string
	srv  *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, fmt.Sprintf("%s %s %v %s", r.Method, r.URL, r.Header, body))
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) seen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.reqs, "\n")
}

// redirector redirects every request to target, keeping the path.
func redirector(t *testing.T, target string, code int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/final") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"ok"}`)
			return
		}
		http.Redirect(w, r, target+"/final", code)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func redirectAttacks(t *testing.T, d *devProc) {
	attack(t, "redirects", "http-instruction-cross-origin", func(t *testing.T) {
		b := newRecorder(t)
		a := redirector(t, b.srv.URL, http.StatusTemporaryRedirect)
		d.write("redirects/http.yaml", "id: attack.redirect-http\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"instruction:\n  kind: http\n  method: POST\n  url: "+a.URL+"/start\n  headers: {X-Api-Key: \"${env:HUB_TOKEN}\"}\n  body: {marker: body-marker-7781}\n  timeout: 10s\non_failure: log_and_continue\n")
		d.sync()
		d.waitRun(d.runNow("attack.redirect-http"), time.Minute)
		if s := b.seen(); strings.Contains(s, hubSecret) || strings.Contains(s, "body-marker-7781") || strings.Contains(strings.ToLower(s), "x-api-key") {
			t.Fatalf("the other origin received the definition's header or body:\n%s", s)
		}
	})
	attack(t, "redirects", "http-get-context-cross-origin", func(t *testing.T) {
		b := newRecorder(t)
		a := redirector(t, b.srv.URL, http.StatusFound)
		d.write("redirects/ctx.yaml", "id: attack.redirect-ctx\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"context:\n  - kind: http_get\n    url: "+a.URL+"/start\n    bind: c\n    headers: {X-Api-Key: \"${env:HUB_TOKEN}\"}\n"+
			"instruction:\n  kind: shell\n  cmd: 'true'\non_failure: log_and_continue\n")
		d.sync()
		d.waitRun(d.runNow("attack.redirect-ctx"), time.Minute)
		if s := b.seen(); strings.Contains(s, hubSecret) || strings.Contains(strings.ToLower(s), "x-api-key") {
			t.Fatalf("the other origin received the definition's header:\n%s", s)
		}
	})
	attack(t, "redirects", "same-origin-redirect-followed", func(t *testing.T) {
		var a *httptest.Server
		a = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/final" {
				if r.Header.Get("X-Api-Key") == "" {
					http.Error(w, "no key", http.StatusUnauthorized)
					return
				}
				_, _ = io.WriteString(w, `{"status":"ok"}`)
				return
			}
			http.Redirect(w, r, a.URL+"/final", http.StatusFound)
		}))
		defer a.Close()
		d.write("redirects/same.yaml", "id: attack.redirect-same\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"instruction:\n  kind: http\n  method: GET\n  url: "+a.URL+"/start\n  headers: {X-Api-Key: \"${env:HUB_TOKEN}\"}\n  timeout: 10s\n")
		d.sync()
		if r := d.waitRun(d.runNow("attack.redirect-same"), time.Minute); r.Status != "succeeded" {
			t.Fatalf("a same-origin redirect with the header kept should succeed: %s %s", r.Status, r.Error)
		}
	})
}
