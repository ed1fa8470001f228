//go:build !nodev

package cli

import (
	"strings"
	"testing"
)

// TestDevRefusesNonLoopbackBind: dev's engines have no TLS and no
// authentication, so a non-loopback bind is refused, naming the setting,
// before anything starts; ACTIVITY_ALLOW_PLAINTEXT lets it through the check.
func TestDevRefusesNonLoopbackBind(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--temporal-addr", "0.0.0.0:7233"}, "ACTIVITY_TEMPORAL_ADDRESS: 0.0.0.0:7233 is not a loopback address"},
		{[]string{"--nats-addr", "10.1.2.3:4223"}, "ACTIVITY_NATS_ADDR: 10.1.2.3:4223 is not a loopback address"},
		{[]string{"--nats-addr", "[::]:4223"}, "ACTIVITY_NATS_ADDR: [::]:4223 is not a loopback address"},
	} {
		args := append([]string{"dev", "--definitions", examples, "--data-dir", t.TempDir()}, tc.args...)
		code, out, errOut := run(t, args...)
		if code != ExitFailure || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "ACTIVITY_ALLOW_PLAINTEXT=1") {
			t.Errorf("%v: exit %d, stderr %q (stdout %q)", tc.args, code, errOut, out)
		}
	}
	d := &devCmd{TemporalAddr: "0.0.0.0:7233", NATSAddr: "127.0.0.1:4223"}
	d.AllowPlaintext = true
	if err := d.checkBind(); err != nil {
		t.Errorf("with ACTIVITY_ALLOW_PLAINTEXT: %v", err)
	}
	d = &devCmd{TemporalAddr: "localhost:7233", NATSAddr: "[::1]:4223"}
	if err := d.checkBind(); err != nil {
		t.Errorf("loopback: %v", err)
	}
}
