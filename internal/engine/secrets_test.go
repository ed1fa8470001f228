package engine

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/limits"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// allowHarness is a harness whose worker has env as its environment and
// allow as its ACTIVITY_SECRET_ENV.
func allowHarness(t *testing.T, env map[string]string, allow string) *harness {
	t.Helper()
	h := newHarness(t)
	list, err := secret.New(secret.Config{Env: allow, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	h.acts, err = NewActivities(Config{Store: h.store, Publisher: h.pub, Secrets: list,
		ShellGrace: 200 * time.Millisecond, HeartbeatEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestEnvRefOnlyFromAllowList: ${env:NAME} reads nothing outside the
// operator's allow-list (the admin token, the database URL, PATH), and the
// run fails at once with a message naming the setting.
func TestEnvRefOnlyFromAllowList(t *testing.T) {
	env := map[string]string{"ACTIVITY_ADMIN_TOKEN": "admin-token-value", "ACTIVITY_DATABASE_URL": "postgres://u:pw@db/x", "PATH": "/bin", "HUB_TOKEN": "hub-token-value"}
	h := allowHarness(t, env, "HUB_*")
	for name, want := range map[string]string{
		"ACTIVITY_ADMIN_TOKEN":  "activity-core's own settings",
		"ACTIVITY_DATABASE_URL": "activity-core's own settings",
		"PATH":                  "ACTIVITY_SECRET_ENV",
	} {
		id := "t.ref-" + strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		h.put(cronShell(id, fmt.Sprintf("on_failure: log_and_continue\nretry: {max_attempts: 3}\ninstruction: {kind: shell, cmd: 'printf %%s \"$T\" | base64', env: {T: '${env:%s}'}}\n", name)))
		_, run, _ := h.run(RunInput{DefinitionID: id, Trigger: store.RunTriggerCron})
		if run.Status != store.RunFailed || !strings.Contains(run.Error, name) || !strings.Contains(run.Error, want) {
			t.Errorf("%s: status %s, error %q; want failed naming %s and %q", name, run.Status, run.Error, name, want)
		}
		if run.Attempt != 1 {
			t.Errorf("%s: %d attempts; a refused secret must not be retried", name, run.Attempt)
		}
		if run.Stdout != "" {
			t.Errorf("%s: the command ran: %q", name, run.Stdout)
		}
	}
	h.put(cronShell("t.ref-ok", "instruction: {kind: shell, cmd: 'printf %s \"$T\"', env: {T: '${env:HUB_TOKEN}'}}\n"))
	_, run, _ := h.run(RunInput{DefinitionID: "t.ref-ok", Trigger: store.RunTriggerCron})
	if run.Status != store.RunSucceeded || run.Stdout != Redacted {
		t.Errorf("allowed secret: %s %q", run.Status, run.Stdout)
	}
}

// TestRedactsEncodedSecrets: a command printing a secret base64-, hex- or
// URL-encoded leaves none of it in the run record.
func TestRedactsEncodedSecrets(t *testing.T) {
	const tok = "s3cr3t-hub-token-42"
	h := allowHarness(t, map[string]string{"HUB_TOKEN": tok}, "HUB_TOKEN")
	h.put(cronShell("t.enc", `on_failure: log_and_continue
instruction:
  kind: shell
  cmd: |
    printf %s "$T" | base64
    echo "$T" | base64
    printf x%s "$T" | base64
    printf %s "$T" | od -An -tx1 | tr -d ' \n'; echo
    printf %s "$T" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; echo
    printf '%s\n' "$T" >&2
    echo "$T" | base64 >&2
    exit 3
  env: {T: "${env:HUB_TOKEN}"}
`))
	_, run, _ := h.run(RunInput{DefinitionID: "t.enc", Trigger: store.RunTriggerCron})
	if run.Status != store.RunFailed || !strings.Contains(run.Stdout, Redacted) {
		t.Fatalf("run %s stdout %q", run.Status, run.Stdout)
	}
	b, _ := json.Marshal(run)
	for _, form := range []string{tok, base64.StdEncoding.EncodeToString([]byte(tok)), hex.EncodeToString([]byte(tok)), strings.ToUpper(hex.EncodeToString([]byte(tok))), base64.StdEncoding.EncodeToString([]byte(tok + "\n"))[:20]} {
		if strings.Contains(string(b), form) {
			t.Errorf("form %q of the secret is in the run record: %s", form, b)
		}
	}
}

// TestContextValuesRedactedBeforeHistory: a context source echoing a
// secret is redacted in GatherContext's result itself (values and
// snapshot), which is what workflow history stores and what the rule and
// the instruction receive.
func TestContextValuesRedactedBeforeHistory(t *testing.T) {
	const tok = "echoed-secret-123456"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(map[string]any{"auth": r.Header.Get("X-Api-Key"), "b64": base64.StdEncoding.EncodeToString([]byte(r.Header.Get("X-Api-Key"))), r.Header.Get("X-Api-Key"): 1, "n": json.Number("12345678901234567890")}); err != nil {
			t.Error(err)
		}
	}))
	defer echo.Close()
	text := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "token=%s%s", r.Header.Get("X-Api-Key"), r.URL.Query().Get("also"))
	}))
	defer text.Close()
	h := allowHarness(t, map[string]string{"HUB_TOKEN": tok, "DEPLOY_TOKEN": "deploy-token-98765"}, "HUB_TOKEN,DEPLOY_TOKEN")
	def := h.put(cronShell("t.echo", fmt.Sprintf(`context:
  - {kind: http_get, url: %q, bind: j, headers: {X-Api-Key: "${env:HUB_TOKEN}"}}
  - {kind: http_get, url: "%s/?also=deploy-token-98765", bind: s, headers: {X-Api-Key: "${env:HUB_TOKEN}"}}
instruction: {kind: shell, cmd: 'cat "$ACTIVITY_CONTEXT_FILE"', env: {D: "${env:DEPLOY_TOKEN}"}}
`, echo.URL, text.URL)))
	res, err := h.acts.GatherContext(context.Background(), GatherInput{Spec: def.CanonicalJSON()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	for _, form := range []string{tok, base64.StdEncoding.EncodeToString([]byte(tok))} {
		if strings.Contains(string(b), form) {
			t.Errorf("GatherContext result holds %q: %s", form, b)
		}
	}
	// The instruction's secret, echoed by a source, is redacted too.
	if string(res.Values["s"]) != `"token=******"` || !strings.Contains(string(res.Values["j"]), `"auth":"***"`) || !strings.Contains(string(res.Values["j"]), "12345678901234567890") {
		t.Errorf("values: %s", b)
	}
	_, run, _ := h.run(RunInput{DefinitionID: "t.echo", Trigger: store.RunTriggerCron})
	if run.Status != store.RunSucceeded || strings.Contains(run.Stdout, tok) || !strings.Contains(run.Stdout, "token=******") {
		t.Errorf("run %s stdout %q", run.Status, run.Stdout)
	}
}

// TestRedirectsStayInOrigin: the http instruction and http_get context
// follow a redirect to the same origin with the definition's headers, and
// do not follow one to another origin, which therefore never sees them.
func TestRedirectsStayInOrigin(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Method+" key="+r.Header.Get("X-Api-Key"))
		mu.Unlock()
		fmt.Fprint(w, `{"ok": true}`)
	}))
	defer other.Close()
	var sameKey string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
		case "/final":
			mu.Lock()
			sameKey = r.Header.Get("X-Api-Key")
			mu.Unlock()
			fmt.Fprintf(w, `{"ok": true, "echo": %q}`, r.Header.Get("X-Api-Key"))
		}
	}))
	defer origin.Close()
	h := allowHarness(t, map[string]string{"HUB_KEY": "redirect-key-1234"}, "HUB_KEY")
	h.put(cronShell("t.away", fmt.Sprintf("on_failure: log_and_continue\ninstruction: {kind: http, url: '%s/away', headers: {X-Api-Key: '${env:HUB_KEY}'}, body: {x: 1}}\n", origin.URL)))
	_, run, _ := h.run(RunInput{DefinitionID: "t.away", Trigger: store.RunTriggerCron})
	if run.Status != store.RunFailed || !strings.Contains(run.Error, "status 307") || !strings.Contains(run.Error, "another origin, is not followed") {
		t.Errorf("cross-origin http: %s %q", run.Status, run.Error)
	}
	h.put(cronShell("t.ctx-away", fmt.Sprintf("on_failure: log_and_continue\ncontext: [{kind: http_get, url: '%s/away', bind: x, headers: {X-Api-Key: '${env:HUB_KEY}'}}]\ninstruction: {kind: shell, cmd: 'true'}\n", origin.URL)))
	_, run, _ = h.run(RunInput{DefinitionID: "t.ctx-away", Trigger: store.RunTriggerCron})
	if run.Status != store.RunFailed || run.Stage != store.StageContext || !strings.Contains(run.Error, "another origin") {
		t.Errorf("cross-origin context: %s %s %q", run.Status, run.Stage, run.Error)
	}
	mu.Lock()
	if len(leaked) != 0 {
		t.Errorf("the other origin was reached: %v", leaked)
	}
	mu.Unlock()

	h.put(cronShell("t.here", fmt.Sprintf("instruction: {kind: http, url: '%s/here', headers: {X-Api-Key: '${env:HUB_KEY}'}, body: {x: 1}}\n", origin.URL)))
	_, run, _ = h.run(RunInput{DefinitionID: "t.here", Trigger: store.RunTriggerCron})
	mu.Lock()
	defer mu.Unlock()
	if run.Status != store.RunSucceeded || sameKey != "redirect-key-1234" || !strings.Contains(run.Stdout, `"echo": "***"`) {
		t.Errorf("same-origin redirect: %s %q, key %q", run.Status, run.Error, sameKey)
	}
}

// TestLargeContextThroughFile: a 600 KiB context value, over what Linux
// takes in one environment string, reaches the command through
// ACTIVITY_CONTEXT_FILE in a private directory removed after the run, and
// a context over limits.Context fails with a message naming the limit.
func TestLargeContextThroughFile(t *testing.T) {
	var size int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"blob": %q}`, strings.Repeat("a", size))
	}))
	defer srv.Close()
	h := allowHarness(t, nil, "")
	h.put(cronShell("t.big", fmt.Sprintf(`context: [{kind: http_get, url: %q, bind: big}]
instruction:
  kind: shell
  cmd: |
    d=$(dirname "$ACTIVITY_CONTEXT_FILE")
    echo "dir=$d"
    echo "mode=$(stat -c %%a "$d")"
    echo "bytes=$(wc -c < "$ACTIVITY_CONTEXT_FILE")"
    echo "env=${ACTIVITY_CONTEXT_JSON-unset}"
    echo "event=$(cat "$ACTIVITY_EVENT_FILE")"
`, srv.URL)))
	size = 600 << 10
	_, run, _ := h.run(RunInput{DefinitionID: "t.big", Trigger: store.RunTriggerCron})
	if run.Status != store.RunSucceeded {
		t.Fatalf("600 KiB context: %s %q %q", run.Status, run.Error, run.Stderr)
	}
	want := len(`{"big":{"blob":""}}`) + size
	for _, line := range []string{"mode=700", fmt.Sprintf("bytes=%d", want), "env=unset", "event=null"} {
		if !strings.Contains(run.Stdout, line+"\n") {
			t.Errorf("stdout %q lacks %q", run.Stdout, line)
		}
	}
	dir := strings.TrimPrefix(strings.SplitN(run.Stdout, "\n", 2)[0], "dir=")
	if _, err := os.Stat(dir); !os.IsNotExist(err) || !strings.Contains(filepath.Base(dir), "activity-run-") {
		t.Errorf("run directory %q not removed: %v", dir, err)
	}

	size = limits.Context
	_, run, _ = h.run(RunInput{DefinitionID: "t.big", Trigger: store.RunTriggerCron})
	if run.Status != store.RunFailed || run.Stage != store.StageContext || !strings.Contains(run.Error, "768 KiB") || !strings.Contains(run.Error, "docs/definitions.md#limits") {
		t.Errorf("over the limit: %s %s %q", run.Status, run.Stage, run.Error)
	}
}

// TestSmallValuesStayInEnv: small payloads keep ACTIVITY_*_JSON, and the
// files hold the same documents.
func TestSmallValuesStayInEnv(t *testing.T) {
	h := allowHarness(t, nil, "")
	h.put(cronShell("t.small", `instruction: {kind: shell, cmd: 'printf "%s|%s|%s|%s" "$ACTIVITY_EVENT_JSON" "$(cat "$ACTIVITY_EVENT_FILE")" "$ACTIVITY_CONTEXT_JSON" "$(cat "$ACTIVITY_CONTEXT_FILE")"'}
`))
	ev := &Event{Subject: "org.x", ID: "e1", Payload: json.RawMessage(`{"a":1}`)}
	_, run, _ := h.run(RunInput{DefinitionID: "t.small", Trigger: store.RunTriggerEvent, Event: ev})
	if run.Stdout != `{"a":1}|{"a":1}|{}|{}` {
		t.Errorf("stdout %q", run.Stdout)
	}
}

// TestContextLimitCountsEscaping: the context limit counts a value as
// Temporal stores it, so a body that grows when JSON-escaped (<, >, &
// become \u003c...) cannot get past it and break the payload limit.
func TestContextLimitCountsEscaping(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, strings.Repeat("<", 200<<10))
	}))
	defer srv.Close()
	h := allowHarness(t, nil, "")
	def := h.put(cronShell("t.esc", fmt.Sprintf("context: [{kind: http_get, url: %q, bind: x}]\ninstruction: {kind: shell, cmd: 'true'}\n", srv.URL)))
	_, err := h.acts.GatherContext(context.Background(), GatherInput{Spec: def.CanonicalJSON()})
	if err == nil || !strings.Contains(err.Error(), "768 KiB") {
		t.Errorf("200 KiB of '<' (1.2 MiB escaped): got %v, want the context limit", err)
	}
}

// TestPreviewShowsTheAllowList: with the worker's allow-list, the preview
// lists each reference the worker would refuse and why, and never shows
// its value.
func TestPreviewShowsTheAllowList(t *testing.T) {
	def := mustParse(t, `id: t.pv
trigger: {trigger_type: cron, cron_expression: "@daily"}
instruction: {kind: shell, cmd: 'true', env: {A: "${env:HUB_TOKEN}", B: "${env:ACTIVITY_ADMIN_TOKEN}", C: "${env:OTHER}"}}
`)
	list, err := secret.New(secret.Config{Env: "HUB_*", LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUB_TOKEN": "hub-value-123", "ACTIVITY_ADMIN_TOKEN": "admin-value-123", "OTHER": "other-value-123"}
	pv, err := PreviewRun(context.Background(), PreviewInput{Definition: def, Trigger: "cron", Now: time.Now(), RunID: "r", Secrets: list,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if len(pv.NotAllowed) != 2 || !strings.Contains(pv.NotAllowed["ACTIVITY_ADMIN_TOKEN"], "own settings") || !strings.Contains(pv.NotAllowed["OTHER"], "ACTIVITY_SECRET_ENV") {
		t.Errorf("not allowed: %v", pv.NotAllowed)
	}
	got := strings.Join(pv.Instruction.Env, " ")
	if !strings.Contains(got, "A=***") || !strings.Contains(got, "B=${env:ACTIVITY_ADMIN_TOKEN}") || strings.Contains(got, "value-123") {
		t.Errorf("env: %s", got)
	}
}

func mustParse(t *testing.T, src string) *definition.Definition {
	t.Helper()
	def, err := definition.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// TestNumericSecretRedactedInContext: a context source that answers a
// numeric secret as a JSON number does not carry it into history.
func TestNumericSecretRedactedInContext(t *testing.T) {
	const pin = "987654321"
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"account":%s,"other":12345}`, r.Header.Get("X-Pin"))
	}))
	defer src.Close()
	h := allowHarness(t, map[string]string{"HUB_PIN": pin}, "HUB_PIN")
	def := h.put(cronShell("t.pin", fmt.Sprintf(`context:
  - {kind: http_get, url: %q, bind: j, headers: {X-Pin: "${env:HUB_PIN}"}}
instruction: {kind: shell, cmd: 'true'}
`, src.URL)))
	res, err := h.acts.GatherContext(context.Background(), GatherInput{Spec: def.CanonicalJSON()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(string(b), pin) || !strings.Contains(string(b), "12345") {
		t.Errorf("GatherContext result: %s", b)
	}
}
