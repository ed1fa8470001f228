package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/notify"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// receiver is an httptest server that keeps what it was sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newReceiver(t *testing.T, check func(r *http.Request, body []byte) bool) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !check(r, b) {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, string(b))
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bodies...)
}

// TestAlertReachesMailWebhookAndSlack is the promise of docs/alerting.md in
// one process: a job that lies (exits 0 without its line) is failed, and
// the detector role tells a human by mail (real SMTP with STARTTLS and
// auth), a signed webhook and Slack, once each, with the reason; its second
// failure is the same problem and tells nobody again.
func TestAlertReachesMailWebhookAndSlack(t *testing.T) {
	mail := testsupport.StartMailpit(t, testsupport.MailpitOptions{StartTLS: true, Auth: true})
	const hookSecret = "integration-hook-secret-5e1d"
	hook := newReceiver(t, func(r *http.Request, b []byte) bool {
		return notify.VerifySignature([]byte(hookSecret), b, r.Header.Get("X-Activity-Signature-256"))
	})
	slack := newReceiver(t, func(*http.Request, []byte) bool { return true })
	t.Setenv("IT_HOOK_SECRET", hookSecret)
	t.Setenv("IT_SLACK_URL", slack.URL+"/services/T0/B0/x")

	in := startWith(t, temporalSrv.Address(), func(o *app.Options) {
		o.Secrets = config.Secrets{SecretEnv: "IT_HOOK_SECRET,IT_SLACK_URL"}
		o.Alerting = config.Alerting{
			PublicURL: "https://activity.example.com",
			SMTPAddr:  mail.SMTPAddr, SMTPFrom: "activity-core@example.com",
			SMTPUsername: mail.Username, SMTPPassword: mail.Password, SMTPCA: mail.CAFile,
			DetectorInterval: time.Second, DetectorLeaseTTL: 3 * time.Second,
		}
	})
	in.write("backup.yaml", fmt.Sprintf(`id: it.backup
trigger: {trigger_type: cron, cron_expression: "0 3 1 1 *"}
instruction: {kind: shell, cmd: 'echo "backup skipped: disk full" >&2; echo nothing'}
expect: {output_matches: 'backup complete'}
notify:
  targets:
    - email: {to: [ops@example.com]}
    - webhook: {url: %q, secret: IT_HOOK_SECRET}
    - slack: {url: "${env:IT_SLACK_URL}"}
`, hook.URL+"/ops"))
	in.sync("")

	in.runFailed("it.backup")
	testsupport.Eventually(t, time.Minute, "one alert per target", func() error {
		if n, w, s := len(mail.Messages(t)), len(hook.got()), len(slack.got()); n != 1 || w != 1 || s != 1 {
			return fmt.Errorf("%d mails, %d webhooks, %d Slack messages; want one each", n, w, s)
		}
		return nil
	})
	msg := mail.Message(t, mail.Messages(t)[0].ID)
	if !strings.Contains(msg.Subject, "it.backup") || !strings.Contains(msg.Text, `stdout did not match "backup complete"`) ||
		!strings.Contains(msg.Text, "backup skipped: disk full") || !strings.Contains(msg.Text, "https://activity.example.com/ui/runs/") {
		t.Errorf("mail: subject %q\n%s", msg.Subject, msg.Text)
	}
	var m notify.Message
	if err := json.Unmarshal([]byte(hook.got()[0]), &m); err != nil || m.Event != "failed" || m.DefinitionID != "it.backup" || !strings.Contains(m.Reason, "backup complete") {
		t.Errorf("webhook body %s (%v)", hook.got()[0], err)
	}
	if s := slack.got()[0]; !strings.Contains(s, "it.backup") || !strings.Contains(s, "backup complete") {
		t.Errorf("slack body %s", s)
	}

	// The second failure: recorded, counted, and no new alert.
	in.runFailed("it.backup")
	testsupport.Eventually(t, time.Minute, "the second failure counted", func() error {
		var def struct {
			Health *store.DefinitionHealth `json:"health"`
		}
		in.call("GET", "/api/v1/definitions/it.backup", "", &def)
		if def.Health == nil || def.Health.ConsecutiveFailures != 2 {
			return fmt.Errorf("health %+v, want 2 consecutive failures", def.Health)
		}
		return nil
	})
	var list struct {
		Notifications []store.Notification `json:"notifications"`
	}
	in.call("GET", "/api/v1/notifications?definition_id=it.backup", "", &list)
	if len(list.Notifications) != 3 {
		t.Errorf("%d notifications recorded after two failures, want 3 (one per target): %+v", len(list.Notifications), list.Notifications)
	}
	for _, n := range list.Notifications {
		if n.Status != store.NotificationSent {
			t.Errorf("notification to %s: %s (%s)", n.Target, n.Status, n.LastError)
		}
	}
}

// runFailed starts a manual run and waits for it to fail.
func (in *instance) runFailed(id string) {
	in.t.Helper()
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := in.call("POST", "/api/v1/definitions/"+id+"/run", "", &started); code != http.StatusAccepted && code != http.StatusOK {
		in.t.Fatalf("run %s: %d", id, code)
	}
	testsupport.Eventually(in.t, time.Minute, "the run failed", func() error {
		var run store.Run
		in.call("GET", "/api/v1/runs/"+started.RunID, "", &run)
		if run.Status != store.RunFailed {
			return fmt.Errorf("run %s: %q, want failed", started.RunID, run.Status)
		}
		return nil
	})
}
