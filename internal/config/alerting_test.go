package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

func goodAlerting() Alerting {
	return Alerting{
		PublicURL: "https://activity.example.com", TemporalUIURL: "https://temporal.example.com/",
		SMTPAddr: "smtp.example.com:587", SMTPFrom: "activity-core@example.com",
		SMTPUsername: "alerts", SMTPPassword: "smtp-hunter2", SMTPStartTLS: smtpStartTLSRequire,
		DetectorInterval: detectorIntervalDefault, DetectorLeaseTTL: detectorLeaseTTLDefault,
	}
}

func TestAlertingValidateNamesTheSetting(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Alerting, *Transport)
		want   string
	}{
		{"public url without scheme", func(a *Alerting, _ *Transport) { a.PublicURL = "activity.example.com" }, `ACTIVITY_PUBLIC_URL: "activity.example.com" is not an http(s) URL`},
		{"public url with a query", func(a *Alerting, _ *Transport) { a.PublicURL = "https://a.example.com/?x=1" }, "ACTIVITY_PUBLIC_URL: \"https://a.example.com/?x=1\" has a query or fragment"},
		{"public url with user info", func(a *Alerting, _ *Transport) { a.PublicURL = "https://u:p@a.example.com" }, "ACTIVITY_PUBLIC_URL: must not carry user info"},
		{"temporal ui url", func(a *Alerting, _ *Transport) { a.TemporalUIURL = "ftp://t.example.com" }, "ACTIVITY_TEMPORAL_UI_URL: \"ftp://t.example.com\" is not an http(s) URL"},
		{"smtp addr without port", func(a *Alerting, _ *Transport) { a.SMTPAddr = "smtp.example.com" }, `ACTIVITY_SMTP_ADDR: "smtp.example.com" is not host:port`},
		{"smtp addr bad port", func(a *Alerting, _ *Transport) { a.SMTPAddr = "smtp.example.com:smtp" }, `ACTIVITY_SMTP_ADDR: "smtp.example.com:smtp" is not host:port`},
		{"from unset", func(a *Alerting, _ *Transport) { a.SMTPFrom = "" }, "ACTIVITY_SMTP_FROM: not set"},
		{"from not an address", func(a *Alerting, _ *Transport) { a.SMTPFrom = "activity core" }, `ACTIVITY_SMTP_FROM: "activity core" is not an email address`},
		{"from with a line break", func(a *Alerting, _ *Transport) { a.SMTPFrom = "a@example.com\r\nBcc: x@evil.example" }, `ACTIVITY_SMTP_FROM: "a@example.com\r\nBcc: x@evil.example" is not an email address`},
		{"from without domain", func(a *Alerting, _ *Transport) { a.SMTPFrom = "<activity>" }, "ACTIVITY_SMTP_FROM"},
		{"username alone", func(a *Alerting, _ *Transport) { a.SMTPPassword = "" }, "ACTIVITY_SMTP_USERNAME: is set without ACTIVITY_SMTP_PASSWORD"},
		{"password alone", func(a *Alerting, _ *Transport) { a.SMTPUsername = "" }, "ACTIVITY_SMTP_PASSWORD: is set without ACTIVITY_SMTP_USERNAME"},
		{"password with newline", func(a *Alerting, _ *Transport) { a.SMTPPassword = "smtp-hunter2\n" }, "ACTIVITY_SMTP_PASSWORD: contains a line break"},
		{"username with newline", func(a *Alerting, _ *Transport) { a.SMTPUsername = "alerts\r\n" }, "ACTIVITY_SMTP_USERNAME: contains a line break"},
		{"starttls unknown", func(a *Alerting, _ *Transport) { a.SMTPStartTLS = "maybe" }, `ACTIVITY_SMTP_STARTTLS: must be require or off, got "maybe"`},
		{"starttls off to a remote server", func(a *Alerting, _ *Transport) {
			a.SMTPStartTLS = smtpStartTLSOff
			a.SMTPUsername, a.SMTPPassword = "", ""
		}, "ACTIVITY_SMTP_STARTTLS: is off but ACTIVITY_SMTP_ADDR smtp.example.com:587 is not a loopback address"},
		{"starttls off, plaintext allowed, password", func(a *Alerting, tr *Transport) { a.SMTPStartTLS = smtpStartTLSOff; tr.AllowPlaintext = true }, "the SMTP password would be sent in clear"},
		{"ca with starttls off", func(a *Alerting, _ *Transport) {
			a.SMTPStartTLS, a.SMTPAddr, a.SMTPCA = smtpStartTLSOff, "127.0.0.1:25", "/etc/ssl/ca.pem"
		}, "ACTIVITY_SMTP_CA: is set but ACTIVITY_SMTP_STARTTLS is off"},
		{"ca missing", func(a *Alerting, _ *Transport) { a.SMTPCA = "/nonexistent/ca.pem" }, "ACTIVITY_SMTP_CA: cannot read the CA file: /nonexistent/ca.pem"},
		{"ca not pem", func(a *Alerting, _ *Transport) { a.SMTPCA = notPEM }, "ACTIVITY_SMTP_CA: " + notPEM + " holds no PEM certificate"},
		{"from without addr", func(a *Alerting, _ *Transport) { a.SMTPAddr = ""; a.SMTPUsername, a.SMTPPassword = "", "" }, "ACTIVITY_SMTP_FROM: is set but ACTIVITY_SMTP_ADDR is not"},
		{"password without addr", func(a *Alerting, _ *Transport) { a.SMTPAddr, a.SMTPFrom, a.SMTPUsername = "", "", "" }, "ACTIVITY_SMTP_PASSWORD: is set but ACTIVITY_SMTP_ADDR is not"},
		{"interval too short", func(a *Alerting, _ *Transport) { a.DetectorInterval = 15 * time.Millisecond }, "ACTIVITY_DETECTOR_INTERVAL: must be at least 1s, got 15ms"},
		{"interval negative", func(a *Alerting, _ *Transport) { a.DetectorInterval = -time.Second }, "ACTIVITY_DETECTOR_INTERVAL: must be at least 1s, got -1s"},
		{"lease under two passes", func(a *Alerting, _ *Transport) {
			a.DetectorLeaseTTL = 30 * time.Second
			a.DetectorInterval = 15*time.Second + time.Millisecond
		}, "ACTIVITY_DETECTOR_LEASE_TTL: must be at least twice ACTIVITY_DETECTOR_INTERVAL (30.002s), got 30s"},
		{"lease under the default interval", func(a *Alerting, _ *Transport) { a.DetectorLeaseTTL, a.DetectorInterval = 20*time.Second, 0 }, "ACTIVITY_DETECTOR_LEASE_TTL: must be at least twice ACTIVITY_DETECTOR_INTERVAL (30s), got 20s; e.g. 30s"},
		{"lease negative", func(a *Alerting, _ *Transport) { a.DetectorLeaseTTL = -time.Minute }, "ACTIVITY_DETECTOR_LEASE_TTL: must be at least twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, tr := goodAlerting(), Transport{}
			tc.mutate(&a, &tr)
			err := a.Validate(tr)
			if err == nil {
				t.Fatalf("accepted; want %q", tc.want)
			}
			if got := err.Error(); !strings.Contains(got, tc.want) {
				t.Errorf("want %q, got %q", tc.want, got)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("want one error, got %d: %q", n, err)
			}
			if strings.Contains(err.Error(), "smtp-hunter2") {
				t.Errorf("password shown: %q", err)
			}
		})
	}
}

func TestAlertingValidateAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Alerting, *Transport)
	}{
		{"defaults and STARTTLS", func(*Alerting, *Transport) {}},
		{"nothing set (Go callers)", func(a *Alerting, _ *Transport) { *a = Alerting{} }},
		{"no email", func(a *Alerting, _ *Transport) {
			a.SMTPAddr, a.SMTPFrom, a.SMTPUsername, a.SMTPPassword = "", "", "", ""
		}},
		{"no auth", func(a *Alerting, _ *Transport) { a.SMTPUsername, a.SMTPPassword = "", "" }},
		{"named from", func(a *Alerting, _ *Transport) { a.SMTPFrom = `"Activity Core" <activity-core@example.com>` }},
		{"plaintext to loopback", func(a *Alerting, _ *Transport) { a.SMTPStartTLS, a.SMTPAddr = smtpStartTLSOff, "127.0.0.1:25" }},
		{"plaintext to localhost", func(a *Alerting, _ *Transport) { a.SMTPStartTLS, a.SMTPAddr = smtpStartTLSOff, "localhost:1025" }},
		{"plaintext to ::1", func(a *Alerting, _ *Transport) { a.SMTPStartTLS, a.SMTPAddr = smtpStartTLSOff, "[::1]:25" }},
		{"plaintext allowed, no auth", func(a *Alerting, tr *Transport) {
			a.SMTPStartTLS, a.SMTPUsername, a.SMTPPassword, tr.AllowPlaintext = smtpStartTLSOff, "", "", true
		}},
		{"lease of exactly two passes (the defaults)", func(a *Alerting, _ *Transport) {
			a.DetectorInterval, a.DetectorLeaseTTL = 15*time.Second, 30*time.Second
		}},
		{"lease of three passes", func(a *Alerting, _ *Transport) { a.DetectorInterval, a.DetectorLeaseTTL = time.Minute, 3*time.Minute }},
		{"base URLs with a path", func(a *Alerting, _ *Transport) {
			a.PublicURL, a.TemporalUIURL = "https://ops.example.com/activity/", "http://127.0.0.1:8233"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, tr := goodAlerting(), Transport{}
			tc.mutate(&a, &tr)
			if err := a.Validate(tr); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// TestAlertingFromEnvironment reads the settings as serve does: from their
// ACTIVITY_* variables through kong, with the documented defaults.
func TestAlertingFromEnvironment(t *testing.T) {
	var cli struct{ Alerting }
	parse := func() {
		t.Helper()
		p, err := kong.New(&cli, kong.Exit(func(int) { t.Fatal("kong exited") }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Parse(nil); err != nil {
			t.Fatal(err)
		}
	}
	parse()
	if cli.DetectorInterval != detectorIntervalDefault || cli.DetectorLeaseTTL != detectorLeaseTTLDefault || cli.SMTPStartTLS != smtpStartTLSDefault {
		t.Errorf("defaults: %+v", cli.Alerting)
	}
	if !cli.StartTLSRequired() {
		t.Error("STARTTLS not required by default")
	}
	for k, v := range map[string]string{
		"ACTIVITY_PUBLIC_URL": "https://activity.example.com", "ACTIVITY_TEMPORAL_UI_URL": "https://temporal.example.com",
		"ACTIVITY_SMTP_ADDR": "smtp.example.com:587", "ACTIVITY_SMTP_FROM": "a@example.com", "ACTIVITY_SMTP_USERNAME": "u",
		"ACTIVITY_SMTP_PASSWORD": "smtp-hunter2", "ACTIVITY_SMTP_STARTTLS": "off", "ACTIVITY_SMTP_CA": "/ca.pem",
		"ACTIVITY_DETECTOR_INTERVAL": "1m", "ACTIVITY_DETECTOR_LEASE_TTL": "5m",
	} {
		t.Setenv(k, v)
	}
	parse()
	want := Alerting{
		PublicURL: "https://activity.example.com", TemporalUIURL: "https://temporal.example.com",
		SMTPAddr: "smtp.example.com:587", SMTPFrom: "a@example.com", SMTPUsername: "u", SMTPPassword: "smtp-hunter2",
		SMTPStartTLS: "off", SMTPCA: "/ca.pem", DetectorInterval: time.Minute, DetectorLeaseTTL: 5 * time.Minute,
	}
	if cli.Alerting != want {
		t.Errorf("got %+v\nwant %+v", cli.Alerting, want)
	}
	if cli.StartTLSRequired() {
		t.Error("STARTTLS required with off")
	}
}

func TestAlertingDefaultsForGoCallers(t *testing.T) {
	var a Alerting
	if a.Interval() != detectorIntervalDefault || a.LeaseTTL() != detectorLeaseTTLDefault || !a.StartTLSRequired() {
		t.Errorf("zero Alerting: interval %s, ttl %s, starttls %t", a.Interval(), a.LeaseTTL(), a.StartTLSRequired())
	}
}

func TestAlertingRedactedHidesThePassword(t *testing.T) {
	a := goodAlerting()
	lines := strings.Join(a.Redacted(), "\n")
	if strings.Contains(lines, "smtp-hunter2") {
		t.Errorf("password in %s", lines)
	}
	for _, want := range []string{"ACTIVITY_SMTP_PASSWORD=***", "ACTIVITY_SMTP_USERNAME=alerts", "ACTIVITY_SMTP_ADDR=smtp.example.com:587",
		"ACTIVITY_DETECTOR_INTERVAL=15s", "ACTIVITY_DETECTOR_LEASE_TTL=30s", "ACTIVITY_PUBLIC_URL=https://activity.example.com"} {
		if !strings.Contains(lines, want) {
			t.Errorf("no %q in\n%s", want, lines)
		}
	}
	a.SMTPPassword = ""
	if lines := strings.Join(a.Redacted(), "\n"); !strings.Contains(lines, "ACTIVITY_SMTP_PASSWORD=\n") {
		t.Errorf("unset password not shown as empty:\n%s", lines)
	}
}
