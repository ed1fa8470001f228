package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/eventbus"
)

func TestNATSOptionsMapsEverySetting(t *testing.T) {
	got := natsOptions(config.NATSAuth{
		NATSCreds: "creds", NATSNKey: "nkey", NATSUser: "user", NATSPassword: "password", NATSToken: "token",
		NATSCA: "ca", NATSCert: "cert", NATSKey: "key", NATSJSDomain: "domain", NATSJSAPIPrefix: "prefix",
	})
	want := eventbus.Options{Creds: "creds", NKey: "nkey", User: "user", Password: "password", Token: "token",
		CA: "ca", Cert: "cert", Key: "key", JSDomain: "domain", JSAPIPrefix: "prefix"}
	if got != want {
		t.Errorf("natsOptions = %+v, want %+v", got, want)
	}
}

// TestRunRefusesUnusableNATSCreds: a .creds file that is not one stops the
// process at start with the setting named.
func TestRunRefusesUnusableNATSCreds(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "app.creds")
	if err := os.WriteFile(creds, []byte("not a creds file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Options{
		Roles: []string{roleRouter},
		Engines: config.Engines{
			DatabaseURL: "sqlite://" + filepath.Join(dir, "s.db"), TemporalAddress: config.TemporalAddressDefault,
			TemporalNamespace: "default", TaskQueue: config.TaskQueueDefault, NATSURL: "nats://127.0.0.1:1",
			NATSSubjects: config.NATSSubjectsDefault, NATSAuth: config.NATSAuth{NATSCreds: creds},
		},
		Sync:   config.Sync{SchedulePrefix: config.SchedulePrefixDefault, SyncMaxErrors: 50},
		Logger: slog.New(slog.DiscardHandler),
	})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Setting != "ACTIVITY_NATS_CREDS" || !strings.Contains(ce.Msg, "no user JWT") {
		t.Fatalf("Run: %v, want a config.Error naming ACTIVITY_NATS_CREDS", err)
	}
}
