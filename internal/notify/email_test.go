package notify

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// TestEmailThroughMailpit sends through a real SMTP server that requires
// STARTTLS and AUTH, and reads the message back through its API.
func TestEmailThroughMailpit(t *testing.T) {
	t.Parallel()
	mp := testsupport.StartMailpit(t, testsupport.MailpitOptions{StartTLS: true, Auth: true})
	forEachStore(t, func(t *testing.T, st *testStore) {
		w := newWorld(t, st, nil, func(c *Config) {
			c.SMTP = smtpSettings{Addr: mp.SMTPAddr, From: `"Activity Core" <activity-core@example.com>`, Username: mp.Username, Password: mp.Password, CAFile: mp.CAFile}
		})
		before := len(mp.Messages(t))
		id := "backup-db|failed|0193a-run|email:" + t.Name()
		target := definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com", "Backup Owner <dba@example.com>"}}
		w.enqueue(id, "backup-db", definition.EventFailed, target, failedMessage())
		w.deliver()
		if row := w.row(id); row.Status != store.NotificationSent || row.LastError != "" {
			t.Fatalf("row: %+v", row)
		}
		var got []testsupport.MailpitSummary
		testsupport.Eventually(t, 10*time.Second, "the message in mailpit", func() error {
			if got = mp.Messages(t); len(got) != before+1 {
				return errorf("%d messages, want %d", len(got), before+1)
			}
			return nil
		})
		msg := mp.Message(t, got[0].ID)
		if msg.Subject != "[activity-core] failed: backup-db" {
			t.Errorf("subject %q", msg.Subject)
		}
		var to []string
		for _, a := range msg.To {
			to = append(to, a.Address)
		}
		if !slices.Equal(to, []string{"ops@example.com", "dba@example.com"}) || msg.From.Address != "activity-core@example.com" || msg.From.Name != "Activity Core" {
			t.Errorf("from %+v, to %v", msg.From, to)
		}
		for _, want := range []string{
			"failed: backup-db", "Nightly backup", "Reason:   exit status 1", "Failures: 3 in a row",
			"Dashboard: https://activity.example.com/ui/runs/0193a-run",
			"Workflow: https://temporal.example.com/namespaces/prod/workflows/activity-core:run:0193a",
			"Last lines of stderr:\r\n  pg_dump: error: no space left on device",
		} {
			if !strings.Contains(msg.Text, want) {
				t.Errorf("body lacks %q:\n%s", want, msg.Text)
			}
		}
		for name, want := range map[string]string{"Auto-Submitted": "auto-generated", "X-Activity-Event": "failed", "X-Activity-Delivery": id,
			"Content-Type": "text/plain; charset=UTF-8"} {
			if got := msg.Headers[name]; len(got) != 1 || got[0] != want {
				t.Errorf("header %s: %q, want %q", name, got, want)
			}
		}
		if len(msg.Bcc) != 0 || len(msg.Cc) != 0 {
			t.Errorf("cc %v bcc %v", msg.Cc, msg.Bcc)
		}
	})
}

// TestEmailHeaderInjectionRefused: an address with a line break could add
// headers (a Bcc); it is refused, nothing is sent, and the notification is
// given up at once (no retry can mend it).
func TestEmailHeaderInjectionRefused(t *testing.T) {
	t.Parallel()
	mp := testsupport.StartMailpit(t, testsupport.MailpitOptions{StartTLS: true})
	forEachStore(t, func(t *testing.T, st *testStore) {
		w := newWorld(t, st, nil, func(c *Config) {
			c.SMTP = smtpSettings{Addr: mp.SMTPAddr, From: "activity-core@example.com", CAFile: mp.CAFile}
		})
		before := len(mp.Messages(t))
		target := definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com\r\nBcc: thief@evil.example"}}
		w.enqueue("n1", "backup-db", definition.EventFailed, target, failedMessage())
		w.deliver()
		row := w.row("n1")
		if row.Status != store.NotificationFailed || !strings.Contains(row.LastError, "holds a line break; refused") {
			t.Errorf("row: %+v", row)
		}
		if n := len(mp.Messages(t)); n != before {
			t.Errorf("mailpit got %d new messages", n-before)
		}
		if tl := w.timeline("backup-db"); len(tl) != 1 || !strings.Contains(tl[0].Summary, "given up after 1 attempts") {
			t.Errorf("timeline: %+v", tl)
		}
	})
}

// TestEmailDefinitionIDCannotAddHeaders: the subject is made of stored
// values; a line break in them becomes a space.
func TestEmailDefinitionIDCannotAddHeaders(t *testing.T) {
	t.Parallel()
	mp := testsupport.StartMailpit(t, testsupport.MailpitOptions{})
	w := newWorld(t, openSQLite(t), nil, func(c *Config) {
		c.SMTP = smtpSettings{Addr: mp.SMTPAddr, From: "activity-core@example.com", Plaintext: true}
	})
	target := definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com"}}
	w.enqueue("n1", "evil\r\nBcc: thief@evil.example", definition.EventFailed, target, failedMessage())
	w.deliver()
	if row := w.row("n1"); row.Status != store.NotificationSent {
		t.Fatalf("row: %+v", row)
	}
	got := mp.Messages(t)
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	msg := mp.Message(t, got[0].ID)
	if msg.Subject != "[activity-core] failed: evil  Bcc: thief@evil.example" || len(msg.Bcc) != 0 || len(msg.Headers["Bcc"]) != 0 {
		t.Errorf("subject %q, bcc %v, headers %v", msg.Subject, msg.Bcc, msg.Headers)
	}
}

// TestEmailRequiresStartTLS: a server that does not offer STARTTLS gets
// nothing while ACTIVITY_SMTP_STARTTLS=require.
func TestEmailRequiresStartTLS(t *testing.T) {
	t.Parallel()
	mp := testsupport.StartMailpit(t, testsupport.MailpitOptions{})
	w := newWorld(t, openSQLite(t), nil, func(c *Config) {
		c.SMTP = smtpSettings{Addr: mp.SMTPAddr, From: "activity-core@example.com"}
	})
	w.enqueue("n1", "backup-db", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com"}}, failedMessage())
	w.deliver()
	row := w.row("n1")
	if row.Status != store.NotificationPending || !strings.Contains(row.LastError, "does not offer STARTTLS, and ACTIVITY_SMTP_STARTTLS=require") {
		t.Errorf("row: %+v", row)
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("mailpit got %d messages", n)
	}
}

// TestEmailUntrustedCertificate: STARTTLS to a server whose certificate
// the configured roots do not trust fails before any mail is sent.
func TestEmailUntrustedCertificate(t *testing.T) {
	t.Parallel()
	mp := testsupport.StartMailpit(t, testsupport.MailpitOptions{StartTLS: true, Auth: true})
	w := newWorld(t, openSQLite(t), nil, func(c *Config) {
		c.SMTP = smtpSettings{Addr: mp.SMTPAddr, From: "activity-core@example.com", Username: mp.Username, Password: mp.Password}
	})
	w.enqueue("n1", "backup-db", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com"}}, failedMessage())
	w.deliver()
	row := w.row("n1")
	if row.Status != store.NotificationPending || !strings.Contains(row.LastError, "STARTTLS: tls: failed to verify certificate") {
		t.Errorf("row: %+v", row)
	}
	if strings.Contains(row.LastError+w.logs.String(), mp.Password) {
		t.Error("the SMTP password leaked")
	}
}

func TestSMTPSettingsRefused(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	for _, tc := range []struct {
		smtp smtpSettings
		want string
	}{
		{smtpSettings{Addr: "smtp.example.com", From: "a@example.com"}, `ACTIVITY_SMTP_ADDR: "smtp.example.com" is not host:port`},
		{smtpSettings{Addr: "smtp.example.com:587", From: "a@example.com\r\nBcc: x@y"}, "ACTIVITY_SMTP_FROM: contains a line break"},
		{smtpSettings{Addr: "smtp.example.com:587", From: "nobody"}, `ACTIVITY_SMTP_FROM: "nobody" is not an email address`},
		{smtpSettings{Addr: "smtp.example.com:25", From: "a@example.com", Plaintext: true}, "ACTIVITY_SMTP_STARTTLS is off but smtp.example.com:25 is not a loopback address"},
		{smtpSettings{Addr: "smtp.example.com:25", From: "a@example.com", Plaintext: true, AllowPlaintext: true, Username: "u", Password: "p"}, "is not a loopback address"},
		{smtpSettings{Addr: "smtp.example.com:587", From: "a@example.com", CAFile: "/nonexistent/ca.pem"}, "ACTIVITY_SMTP_CA: cannot read the CA file"},
	} {
		_, err := New(Config{Store: st, SMTP: tc.smtp})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: want %q, got %v", tc.smtp, tc.want, err)
		}
	}
	for _, ok := range []smtpSettings{
		{},
		{Addr: "127.0.0.1:25", From: "a@example.com", Plaintext: true},
		{Addr: "smtp.example.com:25", From: "a@example.com", Plaintext: true, AllowPlaintext: true},
		{Addr: "smtp.example.com:587", From: "a@example.com", Username: "u", Password: "p"},
	} {
		if _, err := New(Config{Store: st, SMTP: ok}); err != nil {
			t.Errorf("%+v refused: %v", ok, err)
		}
	}
}

func TestEmailWithoutServerIsRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t, openSQLite(t), nil, nil)
	w.enqueue("n1", "backup-db", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com"}}, failedMessage())
	w.deliver()
	if row := w.row("n1"); row.Status != store.NotificationPending || row.LastError != "email: ACTIVITY_SMTP_ADDR is not set; set it (and ACTIVITY_SMTP_FROM) to send email notifications" {
		t.Errorf("row: %+v", row)
	}
}

// TestEmailWrongPassword: the server checks the credentials (so the
// successful test did authenticate), and the refusal never shows the
// password.
func TestEmailWrongPassword(t *testing.T) {
	t.Parallel()
	mp := testsupport.StartMailpit(t, testsupport.MailpitOptions{StartTLS: true, Auth: true})
	const wrong = "not-the-password-4711"
	w := newWorld(t, openSQLite(t), nil, func(c *Config) {
		c.SMTP = smtpSettings{Addr: mp.SMTPAddr, From: "activity-core@example.com", Username: mp.Username, Password: wrong, CAFile: mp.CAFile}
	})
	w.enqueue("n1", "backup-db", definition.EventFailed, definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com"}}, failedMessage())
	w.deliver()
	row := w.row("n1")
	if row.Status != store.NotificationPending || !strings.Contains(row.LastError, "AUTH PLAIN as alerts: 535") {
		t.Errorf("row: %+v", row)
	}
	if strings.Contains(row.LastError+w.logs.String(), wrong) {
		t.Error("the SMTP password leaked")
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("mailpit got %d messages", n)
	}
}

// TestEmailGroup: a storm to one address is one mail listing GroupShown
// of its notifications and counting the rest.
func TestEmailGroup(t *testing.T) {
	t.Parallel()
	mp := testsupport.StartMailpit(t, testsupport.MailpitOptions{StartTLS: true})
	w := newWorld(t, openSQLite(t), nil, func(c *Config) {
		c.SMTP = smtpSettings{Addr: mp.SMTPAddr, From: "activity-core@example.com", CAFile: mp.CAFile}
	})
	target := definition.NotifyTarget{Kind: definition.TargetEmail, To: []string{"ops@example.com"}}
	for i := range 30 {
		m := failedMessage()
		m.RunID = fmt.Sprintf("run-%02d", i)
		w.enqueue(fmt.Sprintf("n%02d", i), fmt.Sprintf("sweep-%02d", i), definition.EventFailed, target, m)
	}
	w.deliver()
	got := mp.Messages(t)
	if len(got) != 1 {
		t.Fatalf("%d mails, want 1", len(got))
	}
	msg := mp.Message(t, got[0].ID)
	if msg.Subject != "[activity-core] 30 notifications: 30 failed" {
		t.Errorf("subject %q", msg.Subject)
	}
	if !strings.Contains(msg.Text, "failed: sweep-19\r\n") || strings.Contains(msg.Text, "sweep-20") || !strings.Contains(msg.Text, "…and 10 more.") {
		t.Errorf("body:\n%s", msg.Text)
	}
	if msg.Headers["X-Activity-Event"][0] != "group" {
		t.Errorf("headers %v", msg.Headers)
	}
}

func TestSMTPSettings(t *testing.T) {
	t.Parallel()
	a := config.Alerting{SMTPAddr: "smtp.example.com:587", SMTPFrom: "a@example.com", SMTPUsername: "u", SMTPPassword: "p", SMTPStartTLS: "off", SMTPCA: "/ca.pem"}
	got := SMTPSettings(&a, config.Transport{AllowPlaintext: true})
	want := smtpSettings{Addr: "smtp.example.com:587", From: "a@example.com", Username: "u", Password: "p", Plaintext: true, AllowPlaintext: true, CAFile: "/ca.pem"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if s := SMTPSettings(&config.Alerting{}, config.Transport{}); s.Plaintext {
		t.Error("unset ACTIVITY_SMTP_STARTTLS is plaintext")
	}
}
