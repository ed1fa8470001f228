package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/coulomb/activity-core/internal/testsupport"
)

func TestTemporalTLSValidateNamesTheSetting(t *testing.T) {
	ca := testsupport.NewCA(t, "test CA")
	dir := t.TempDir()
	caFile := ca.WriteCA(t, dir, "ca.pem")
	cert, key := ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	oldCert, oldKey := ca.IssueFiles(t, dir, "old", testsupport.Leaf{CommonName: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	_, otherKey := ca.IssueFiles(t, dir, "other", testsupport.Leaf{CommonName: "other"})
	testsupport.WriteFile(t, filepath.Join(dir, "junk.pem"), []byte("junk"))

	good := TemporalTLS{TemporalTLSCA: caFile, TemporalTLSCert: cert, TemporalTLSKey: key, TemporalServerName: "temporal.internal"}
	for _, tc := range []struct {
		mutate func(*TemporalTLS)
		want   string
	}{
		{func(tt *TemporalTLS) { tt.TemporalTLSCA = filepath.Join(dir, "missing.pem") }, "ACTIVITY_TEMPORAL_TLS_CA: cannot read the CA file"},
		{func(tt *TemporalTLS) { tt.TemporalTLSCA = filepath.Join(dir, "junk.pem") }, "ACTIVITY_TEMPORAL_TLS_CA: " + filepath.Join(dir, "junk.pem") + " holds no PEM certificate"},
		{func(tt *TemporalTLS) { tt.TemporalTLSKey = "" }, "ACTIVITY_TEMPORAL_TLS_KEY: not set, but ACTIVITY_TEMPORAL_TLS_CERT is"},
		{func(tt *TemporalTLS) { tt.TemporalTLSCert = "" }, "ACTIVITY_TEMPORAL_TLS_CERT: not set, but ACTIVITY_TEMPORAL_TLS_KEY is"},
		{func(tt *TemporalTLS) { tt.TemporalTLSKey = otherKey }, "ACTIVITY_TEMPORAL_TLS_KEY: " + otherKey + " is not the private key of the certificate in ACTIVITY_TEMPORAL_TLS_CERT"},
		{func(tt *TemporalTLS) { tt.TemporalTLSCert, tt.TemporalTLSKey = oldCert, oldKey }, "ACTIVITY_TEMPORAL_TLS_CERT: the client certificate in " + oldCert + " expired on"},
		{func(tt *TemporalTLS) { tt.TemporalServerName = "temporal:7233" }, "ACTIVITY_TEMPORAL_TLS_SERVER_NAME"},
		{func(tt *TemporalTLS) { tt.TemporalAPIKey = "secret-key\n" }, "ACTIVITY_TEMPORAL_API_KEY: contains whitespace"},
	} {
		e := goodEngines()
		e.TemporalTLS = good
		tc.mutate(&e.TemporalTLS)
		err := errorsOf(e.Validate(true, true, true))
		if !strings.Contains(err, tc.want) {
			t.Errorf("want %q, got %q", tc.want, err)
		}
		if strings.Contains(err, "secret-key") {
			t.Errorf("API key shown: %q", err)
		}
	}
	e := goodEngines()
	e.TemporalTLS = good
	if err := e.Validate(true, true, true); err != nil {
		t.Errorf("good TLS settings refused: %v", err)
	}
	// An address without a host leaves no name to verify the frontend's
	// certificate against.
	e.TemporalAddress, e.TemporalServerName = ":7233", ""
	if err := errorsOf(e.Validate(true, true, true)); !strings.Contains(err, "ACTIVITY_TEMPORAL_TLS_SERVER_NAME: ") {
		t.Errorf("want a refusal naming ACTIVITY_TEMPORAL_TLS_SERVER_NAME, got %q", err)
	}
}

// TestTemporalTLSEnvAliases parses through kong, as the CLI does: the
// temporal CLI's TEMPORAL_* names work, and ACTIVITY_* win over them.
func TestTemporalTLSEnvAliases(t *testing.T) {
	parse := func(t *testing.T) Engines {
		t.Helper()
		var cli struct {
			Engines
			Transport
		}
		p, err := kong.New(&cli)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Parse(nil); err != nil {
			t.Fatal(err)
		}
		return cli.Engines
	}
	t.Run("temporal CLI names", func(t *testing.T) {
		t.Setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "/etc/t/ca.pem")
		t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "/etc/t/c.pem")
		t.Setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", "/etc/t/k.pem")
		t.Setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.internal")
		t.Setenv("TEMPORAL_API_KEY", "key-from-temporal-env")
		t.Setenv("TEMPORAL_TLS", "true")
		got := parse(t).TemporalTLS
		want := TemporalTLS{TemporalTLS: true, TemporalTLSCA: "/etc/t/ca.pem", TemporalTLSCert: "/etc/t/c.pem", TemporalTLSKey: "/etc/t/k.pem", TemporalServerName: "temporal.internal", TemporalAPIKey: "key-from-temporal-env"}
		if got != want {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("ACTIVITY names win", func(t *testing.T) {
		t.Setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "/etc/t/ca.pem")
		t.Setenv("ACTIVITY_TEMPORAL_TLS_CA", "/etc/a/ca.pem")
		t.Setenv("TEMPORAL_API_KEY", "key-from-temporal-env")
		t.Setenv("ACTIVITY_TEMPORAL_API_KEY", "key-from-activity-env")
		got := parse(t).TemporalTLS
		if got.TemporalTLSCA != "/etc/a/ca.pem" || got.TemporalAPIKey != "key-from-activity-env" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("allow plaintext", func(t *testing.T) {
		t.Setenv("ACTIVITY_ALLOW_PLAINTEXT", "1")
		var cli struct{ Transport }
		p, err := kong.New(&cli)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Parse(nil); err != nil {
			t.Fatal(err)
		}
		if !cli.AllowPlaintext {
			t.Error("ACTIVITY_ALLOW_PLAINTEXT=1 not read")
		}
	})
}

func TestCheckPlaintext(t *testing.T) {
	for _, tc := range []struct {
		name     string
		temporal string
		nats     string
		mutate   func(*Engines)
		allow    bool
		want     string // "" means accepted
	}{
		{name: "loopback v4", temporal: "127.0.0.1:7233", nats: "nats://127.0.0.1:4222"},
		{name: "loopback 127/8", temporal: "127.3.4.5:7233", nats: "nats://127.9.9.9:4222"},
		{name: "loopback v6", temporal: "[::1]:7233", nats: "nats://[::1]:4222"},
		{name: "localhost", temporal: "localhost:7233", nats: "nats://LOCALHOST:4222"},
		{name: "no NATS", temporal: "localhost:7233", nats: ""},
		{name: "remote temporal", temporal: "temporal-1:7233", nats: "nats://127.0.0.1:4222", want: "ACTIVITY_TEMPORAL_ADDRESS: temporal-1:7233 is not a loopback address and TLS to Temporal is off"},
		{name: "remote temporal says the override", temporal: "10.0.0.5:7233", want: "ACTIVITY_ALLOW_PLAINTEXT=1"},
		{name: "remote temporal with TLS", temporal: "temporal-1:7233", mutate: func(e *Engines) { e.TemporalTLS.TemporalTLS = true }},
		{name: "remote temporal with a CA", temporal: "temporal-1:7233", mutate: func(e *Engines) { e.TemporalTLSCA = "/ca.pem" }},
		{name: "remote temporal with an API key", temporal: "ns.acct.tmprl.cloud:7233", mutate: func(e *Engines) { e.TemporalAPIKey = "k" }},
		{name: "remote NATS", temporal: "127.0.0.1:7233", nats: "nats://nats-1:4222", want: "ACTIVITY_NATS_URL: nats://nats-1:4222 is not a loopback address and TLS to NATS is off"},
		{name: "remote NATS password redacted", temporal: "127.0.0.1:7233", nats: "nats://u:hunter2@nats-1:4222", want: "nats://u:xxxxx@nats-1:4222"},
		{name: "one remote in a list", temporal: "127.0.0.1:7233", nats: "nats://127.0.0.1:4222, nats://nats-2:4222", want: "ACTIVITY_NATS_URL: nats://nats-2:4222"},
		{name: "tls scheme", temporal: "127.0.0.1:7233", nats: "tls://nats-1:4222,tls://nats-2:4222"},
		{name: "wss scheme", temporal: "127.0.0.1:7233", nats: "wss://nats-1:443"},
		{name: "ws is plaintext", temporal: "127.0.0.1:7233", nats: "ws://nats-1:80", want: "ACTIVITY_NATS_URL"},
		{name: "NATS CA", temporal: "127.0.0.1:7233", nats: "nats://nats-1:4222", mutate: func(e *Engines) { e.NATSCA = "/ca.pem" }},
		{name: "NATS client cert", temporal: "127.0.0.1:7233", nats: "nats://nats-1:4222", mutate: func(e *Engines) { e.NATSCert = "/c.pem" }},
		{name: "override", temporal: "temporal-1:7233", nats: "nats://nats-1:4222", allow: true},
		// nats.go takes host:port without a scheme and adds nats://.
		{name: "remote NATS without a scheme", temporal: "127.0.0.1:7233", nats: "10.0.0.5:4222", want: "ACTIVITY_NATS_URL: 10.0.0.5:4222 is not a loopback address"},
		{name: "remote NATS v6 without a scheme", temporal: "127.0.0.1:7233", nats: "[fd00::5]:4222", want: "ACTIVITY_NATS_URL: [fd00::5]:4222"},
		{name: "remote NATS without a scheme in a list", temporal: "127.0.0.1:7233", nats: "nats://127.0.0.1:4222,10.0.0.5:4222", want: "ACTIVITY_NATS_URL: 10.0.0.5:4222"},
		{name: "remote NATS name without a scheme", temporal: "127.0.0.1:7233", nats: "u:hunter2@nats-1:4222", want: "ACTIVITY_NATS_URL: u:xxxxx@nats-1:4222"},
		{name: "loopback NATS without a scheme", temporal: "127.0.0.1:7233", nats: "127.0.0.1:4222,localhost:4222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := goodEngines()
			e.TemporalAddress, e.NATSURL = tc.temporal, tc.nats
			if tc.mutate != nil {
				tc.mutate(&e)
			}
			err := Transport{AllowPlaintext: tc.allow}.CheckPlaintext(&e)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("want %q, got %v", tc.want, err)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Errorf("password shown: %v", err)
			}
		})
	}
}

func TestRedactedHidesTheAPIKey(t *testing.T) {
	e := goodEngines()
	e.TemporalAPIKey = "very-secret-api-key"
	lines := strings.Join(Redacted(e, Sync{}, HTTP{}), "\n")
	if strings.Contains(lines, "very-secret") || !strings.Contains(lines, "ACTIVITY_TEMPORAL_API_KEY=***") || !strings.Contains(lines, "ACTIVITY_TEMPORAL_TLS=true") {
		t.Errorf("lines:\n%s", lines)
	}
}
