package integration

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
	"github.com/coulomb/activity-core/internal/testsupport"
	"github.com/coulomb/activity-core/internal/testsupport/gittest"
)

// TestGitWebhookSyncsAPush is docs/git-sources.md#webhooks end to end: a
// definition pushed to a repository served by git http-backend is stored
// within 2 s of a signed GitHub push webhook, its version recording the
// pushed commit and its author, and the sync is audited as the webhook.
func TestGitWebhookSyncsAPush(t *testing.T) {
	const secretValue = "it-webhook-secret-0123456789"
	repo := gittest.NewRepo(t)
	repo.Commit(map[string]string{"jobs/a.yaml": cron("git.a", "@daily", "")}, "Ann Author <ann@example.com>", "add a")
	repo.Push()
	remote := repo.ServeHTTP(t)
	t.Setenv("IT_DEFS_HOOK", secretValue)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "hook.db")
	in := startWith(t, temporalSrv.Address(), func(o *app.Options) {
		o.Engines.DatabaseURL = dbURL
		o.Sync.DefinitionPaths = []string{"defs=git+" + remote + "//jobs?ref=main&webhook_secret=IT_DEFS_HOOK"}
		o.Sync.DataDir = t.TempDir()
		o.Secrets.SecretEnv = "IT_DEFS_HOOK"
	})
	if code := in.call("GET", "/api/v1/definitions/git.a", "", nil); code != http.StatusOK {
		t.Fatalf("the startup sync did not read git.a from the repository: %d", code)
	}

	sha := repo.Commit(map[string]string{"jobs/b.yaml": cron("git.b", "@hourly", "")}, "Bea Pusher <bea@example.com>", "add b")
	repo.Push()
	body := fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"name":"defs","default_branch":"main"},"pusher":{"name":"bea"}}`,
		strings.Repeat("0", 40), sha)
	start := time.Now()
	if code, ack := postHook(t, in.base+"/hooks/git/defs", "wrong-secret", body); code != http.StatusUnauthorized {
		t.Fatalf("a webhook signed with another secret: %d %s, want 401", code, ack)
	}
	if code, ack := postHook(t, in.base+"/hooks/git/defs", secretValue, body); code != http.StatusAccepted || !strings.Contains(ack, `"queued"`) {
		t.Fatalf("signed push: %d %s, want 202 queued", code, ack)
	}
	var def store.Definition
	testsupport.Eventually(t, 2*time.Second-time.Since(start), "git.b stored within 2 s of the webhook", func() error {
		if code := in.call("GET", "/api/v1/definitions/git.b", "", &def); code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/definitions/git.b: %d", code)
		}
		return nil
	})
	t.Logf("push webhook to stored definition: %s", time.Since(start).Round(time.Millisecond))

	if def.Origin == nil || def.Origin.Commit != sha || def.Origin.Author != "Bea Pusher <bea@example.com>" || def.Origin.Source != "defs" {
		t.Errorf("git.b's origin = %+v, want commit %s by Bea Pusher from defs", def.Origin, sha)
	}
	st, err := sqlite.Open(context.Background(), dbURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := st.GetDefinitionVersion(context.Background(), "git.b", def.Version)
	if err != nil {
		t.Fatal(err)
	}
	if v.Origin == nil || v.Origin.Commit != sha || v.Origin.Author != "Bea Pusher <bea@example.com>" || v.Origin.Path != "jobs/b.yaml" {
		t.Errorf("version %d's origin = %+v, want commit %s by Bea Pusher, path jobs/b.yaml", def.Version, v.Origin, sha)
	}

	// The audit record is written when the whole sync ends, after the
	// schedules stage: a moment after the definition is stored.
	testsupport.Eventually(t, 10*time.Second, "the webhook's sync audited as webhook:defs", func() error {
		var audit struct {
			Records []store.AuditRecord `json:"records"`
		}
		if code := in.call("GET", "/api/v1/audit?actor=webhook:defs", "", &audit); code != http.StatusOK || len(audit.Records) == 0 || audit.Records[0].Action != store.AuditSync {
			return fmt.Errorf("audit of webhook:defs: %d %+v, want a sync", code, audit.Records)
		}
		return nil
	})
}

// deliveries numbers the webhooks the tests send.
var deliveries atomic.Int64

// postHook sends a GitHub push webhook signed with key.
func postHook(t *testing.T, url, key, body string) (int, string) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("it-delivery-%d", deliveries.Add(1))) // a forge never repeats one
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if json.Unmarshal(b, &v) != nil {
		t.Fatalf("webhook answer is not JSON: %s", b)
	}
	return resp.StatusCode, string(b)
}
