package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusesPlaintextToRemoteEngines runs serve as an operator
// would: a remote Temporal or NATS without TLS stops it before anything
// connects, naming the setting and the override.
func TestServeRefusesPlaintextToRemoteEngines(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "a.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"remote Temporal", []string{"--temporal-address", "temporal-1:7233"}, "activity-core: ACTIVITY_TEMPORAL_ADDRESS: temporal-1:7233 is not a loopback address and TLS to Temporal is off"},
		{"remote NATS", []string{"--nats-url", "nats://127.0.0.1:4222,nats://nats-2:4222"}, "activity-core: ACTIVITY_NATS_URL: nats://nats-2:4222 is not a loopback address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"serve", "--database-url", db, "--roles", "worker"}, tc.args...)...)
			if code != ExitFailure || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "ACTIVITY_ALLOW_PLAINTEXT=1") {
				t.Errorf("exit %d, stderr:\n%s", code, errOut)
			}
		})
	}
}

// TestServeReadsTheTemporalCLIsVariables: the temporal CLI's names reach
// serve (here a client certificate without its key, refused by name).
func TestServeReadsTheTemporalCLIsVariables(t *testing.T) {
	t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", filepath.Join(t.TempDir(), "client.pem"))
	code, _, errOut := run(t, "serve", "--database-url", "sqlite://"+filepath.Join(t.TempDir(), "a.db"), "--roles", "worker")
	if code != ExitFailure || !strings.Contains(errOut, "ACTIVITY_TEMPORAL_TLS_KEY: not set, but ACTIVITY_TEMPORAL_TLS_CERT is") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}
