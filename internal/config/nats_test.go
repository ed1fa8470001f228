package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNATSAuthValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "present")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.creds")
	for _, tc := range []struct {
		name string
		auth NATSAuth
		url  string
		want string // "" = accepted
	}{
		{"none", NATSAuth{}, "", ""},
		{"creds", NATSAuth{NATSCreds: file, NATSCA: file}, "", ""},
		{"mtls+token", NATSAuth{NATSToken: "t0ken-value", NATSCA: file, NATSCert: file, NATSKey: file}, "", ""},
		{"user+password", NATSAuth{NATSUser: "u", NATSPassword: "pw-value"}, "", ""},
		{"creds+token", NATSAuth{NATSCreds: file, NATSToken: "t0ken-value"}, "", "ACTIVITY_NATS_CREDS: set together with ACTIVITY_NATS_TOKEN"},
		{"nkey+user", NATSAuth{NATSNKey: file, NATSUser: "u", NATSPassword: "pw-value"}, "", "ACTIVITY_NATS_NKEY: set together with ACTIVITY_NATS_USER/ACTIVITY_NATS_PASSWORD"},
		{"token+url user", NATSAuth{NATSToken: "t0ken-value"}, "nats://u:pw-value@h:4222", "the user info in ACTIVITY_NATS_URL"},
		{"user alone", NATSAuth{NATSUser: "u"}, "", "ACTIVITY_NATS_USER: and ACTIVITY_NATS_PASSWORD go together"},
		{"cert alone", NATSAuth{NATSCert: file}, "", "ACTIVITY_NATS_CERT: and ACTIVITY_NATS_KEY go together"},
		{"key alone", NATSAuth{NATSKey: file}, "", "ACTIVITY_NATS_CERT: and ACTIVITY_NATS_KEY go together"},
		{"domain+prefix", NATSAuth{NATSJSDomain: "hub", NATSJSAPIPrefix: "$JS.x.API"}, "", "ACTIVITY_NATS_JS_DOMAIN: set together with ACTIVITY_NATS_JS_API_PREFIX"},
		{"missing creds", NATSAuth{NATSCreds: missing}, "", "ACTIVITY_NATS_CREDS: cannot read the file: " + missing},
		{"missing ca", NATSAuth{NATSCA: missing}, "", "ACTIVITY_NATS_CA: cannot read the file"},
		{"missing nkey", NATSAuth{NATSNKey: missing}, "", "ACTIVITY_NATS_NKEY: cannot read the file"},
	} {
		err := tc.auth.Validate(tc.url)
		got := ""
		if err != nil {
			got = err.Error()
		}
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%s: refused: %s", tc.name, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		case strings.Contains(got, "pw-value") || strings.Contains(got, "t0ken-value"):
			t.Errorf("%s: secret in %q", tc.name, got)
		}
	}
	// Engines.Validate runs it.
	e := goodEngines()
	e.NATSCreds, e.NATSToken = file, "t0ken-value"
	if err := e.Validate(false, false, true); err == nil || !strings.Contains(err.Error(), "ACTIVITY_NATS_CREDS") {
		t.Errorf("Engines.Validate: %v", err)
	}
}

func TestRedactedMasksNATSSecrets(t *testing.T) {
	e := goodEngines()
	e.NATSURL = "nats://alice:url-pass-1@nats:4222"
	e.NATSUser, e.NATSPassword, e.NATSToken, e.NATSCreds = "bob", "nats-pass-1", "nats-token-1", "/etc/nats/app.creds"
	e.DatabaseURL = "postgres://app@db/x?sslmode=verify-full&sslrootcert=/ca.pem&password=pg-pass-1"
	lines := strings.Join(Redacted(e, Sync{}, HTTP{}), "\n")
	for _, leak := range []string{"url-pass-1", "nats-pass-1", "nats-token-1", "pg-pass-1"} {
		if strings.Contains(lines, leak) {
			t.Errorf("%s in\n%s", leak, lines)
		}
	}
	for _, want := range []string{"ACTIVITY_NATS_PASSWORD=***", "ACTIVITY_NATS_TOKEN=***", "ACTIVITY_NATS_USER=bob", "ACTIVITY_NATS_CREDS=/etc/nats/app.creds",
		"ACTIVITY_NATS_URL=nats://alice:xxxxx@nats:4222", "sslrootcert=/ca.pem"} {
		if !strings.Contains(lines, want) {
			t.Errorf("%s missing from\n%s", want, lines)
		}
	}
}

func TestNATSAuthUncheckedWithoutNATS(t *testing.T) {
	e := goodEngines()
	e.NATSURL = ""
	e.NATSCreds = filepath.Join(t.TempDir(), "missing.creds") // the nats CLI's NATS_CREDS, say
	if err := e.Validate(true, true, false); err != nil {
		t.Errorf("NATS settings checked for a role without NATS: %v", err)
	}
	if err := e.Validate(true, true, true); err == nil || !strings.Contains(err.Error(), "ACTIVITY_NATS_CREDS") {
		t.Errorf("a role with NATS: %v", err)
	}
}
