package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/payloadcodec"
	"github.com/coulomb/activity-core/internal/store"
)

// TestSecretsNeverInTemporalHistory: a context source that echoes the
// secret header it was sent, a rule and a command that read that context,
// and a command printing the secret base64-encoded leave no form of the
// secret anywhere in the workflow's Temporal history (every payload,
// failure and heartbeat, searched in the events' wire bytes), nor in the
// run record. The secret comes from ACTIVITY_SECRETS_DIR; a definition
// reading the admin token fails, naming why.
func TestSecretsNeverInTemporalHistory(t *testing.T) {
	const secretValue = "hub-secret-value-7f3a9c"
	var mu sync.Mutex
	var seen string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Get("X-Api-Key")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"you_sent": %q, "status": "ok"}`, r.Header.Get("X-Api-Key"))
	}))
	defer echo.Close()
	secretsDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretsDir, "HUB_KEY"), []byte(secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startWith(t, temporalSrv.Address(), func(o *app.Options) { o.Secrets.SecretsDir = secretsDir })
	in.write("echo.yaml", fmt.Sprintf(`id: it.echo
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
on_failure: log_and_continue
context:
  - {kind: http_get, url: %q, bind: hub, headers: {X-Api-Key: "${env:HUB_KEY}"}}
rule: {when: ["hub.status == 'ok' && hub.you_sent != ''"]}
instruction:
  kind: shell
  cmd: 'cat "$ACTIVITY_CONTEXT_FILE"; echo; printf %%s "$T" | base64; printf %%s "$T" >&2; exit 1'
  env: {T: "${env:HUB_KEY}"}
`, echo.URL))
	in.write("admin.yaml", `id: it.admin
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
on_failure: log_and_continue
instruction: {kind: shell, cmd: 'printf %s "$T" | base64', env: {T: "${env:ACTIVITY_ADMIN_TOKEN}"}}
`)
	res := in.sync("")
	refused := false
	for _, e := range res.Errors {
		refused = refused || strings.Contains(e.Message, "ACTIVITY_ADMIN_TOKEN")
	}
	if !refused {
		t.Errorf("sync did not refuse a definition reading ACTIVITY_ADMIN_TOKEN: %+v", res.Errors)
	}

	var started struct {
		RunID         string `json:"run_id"`
		WorkflowID    string `json:"workflow_id"`
		WorkflowRunID string `json:"workflow_run_id"`
	}
	if code := in.call("POST", "/api/v1/definitions/it.echo/run", "", &started); code != 202 {
		t.Fatalf("run: %d", code)
	}
	run := in.waitRun(started.RunID)
	mu.Lock()
	if seen != secretValue {
		t.Fatalf("the context source did not get the secret header: %q", seen)
	}
	mu.Unlock()
	if run.Status != store.RunFailed || !strings.Contains(run.Stdout, `"you_sent":"***"`) || run.Stderr != "***" {
		t.Fatalf("run: %s stdout %q stderr %q error %q", run.Status, run.Stdout, run.Stderr, run.Error)
	}

	forms := [][]byte{
		[]byte(secretValue),
		[]byte(base64.StdEncoding.EncodeToString([]byte(secretValue))),
		[]byte(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(secretValue)), "=")),
	}
	it := in.tc.GetWorkflowHistory(context.Background(), started.WorkflowID, started.WorkflowRunID, false, 0)
	events := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		wire, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range forms {
			if bytes.Contains(wire, f) {
				t.Errorf("history event %d (%s) holds %q", ev.GetEventId(), ev.GetEventType(), f)
			}
		}
	}
	if events < 10 {
		t.Errorf("only %d history events: the run did not go through context, rule and instruction", events)
	}

	// Refused at sync, so there is nothing to run: the admin token is
	// never resolved.
	if code := in.call("POST", "/api/v1/definitions/it.admin/run", "", &started); code != http.StatusNotFound {
		t.Errorf("run of a definition refused at sync: %d, want 404", code)
	}
}

// TestPayloadsEncryptedWithKeyFile: with ACTIVITY_PAYLOAD_KEY_FILE every
// payload and failure message in Temporal's history is ciphertext, while
// the run works and its record (in activity-core's store) is readable.
func TestPayloadsEncryptedWithKeyFile(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "payload.keys")
	if err := os.WriteFile(keyFile, []byte(payloadcodec.NewKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startWith(t, temporalSrv.Address(), func(o *app.Options) { o.Secrets.PayloadKeyFile = keyFile })
	in.write("enc.yaml", `id: it.enc
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
on_failure: log_and_continue
rule: {when: ["definition.id == 'it.enc'"]}
instruction: {kind: shell, cmd: 'echo plain-marker-out; echo plain-marker-err >&2; exit 1'}
`)
	in.sync("")
	var started struct {
		RunID         string `json:"run_id"`
		WorkflowID    string `json:"workflow_id"`
		WorkflowRunID string `json:"workflow_run_id"`
	}
	if code := in.call("POST", "/api/v1/definitions/it.enc/run", "", &started); code != 202 {
		t.Fatalf("run: %d", code)
	}
	run := in.waitRun(started.RunID)
	if run.Status != store.RunFailed || run.Stdout != "plain-marker-out\n" || run.Stderr != "plain-marker-err\n" || !strings.Contains(run.Error, "status 1") {
		t.Fatalf("run: %s %q %q %q", run.Status, run.Stdout, run.Stderr, run.Error)
	}
	it := in.tc.GetWorkflowHistory(context.Background(), started.WorkflowID, started.WorkflowRunID, false, 0)
	encrypted := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		wire, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		// The definition id is in the workflow id and search attributes,
		// which Temporal needs in clear; everything else is a payload.
		for _, plain := range []string{"plain-marker", "exited with status", `"definition_id"`} {
			if bytes.Contains(wire, []byte(plain)) {
				t.Errorf("history event %d (%s) holds %q in clear", ev.GetEventId(), ev.GetEventType(), plain)
			}
		}
		encrypted += bytes.Count(wire, []byte(payloadcodec.Encoding))
	}
	if encrypted < 5 {
		t.Errorf("only %d encrypted payloads in the history", encrypted)
	}
}
