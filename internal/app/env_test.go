package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// TestCommandEnvironmentHasNoEngineSettings: the worker's engine settings
// and credentials (ACTIVITY_*, TEMPORAL_*, and the nats CLI's NATS_*
// names) never reach a shell command's environment, even when the worker
// has them (docs/security.md#secrets).
func TestCommandEnvironmentHasNoEngineSettings(t *testing.T) {
	worker := map[string]string{
		"NATS_PASSWORD": "nats-password-1", "NATS_TOKEN": "nats-token-1", "NATS_CREDS": "/etc/nats/app.creds",
		"NATS_NKEY": "/etc/nats/app.nk", "NATS_USER": "nats-user-1", "NATS_URL": "nats://u:nats-url-pw-1@nats:4222",
		"ACTIVITY_NATS_PASSWORD": "activity-nats-password-1", "ACTIVITY_NATS_TOKEN": "activity-nats-token-1",
		"ACTIVITY_DATABASE_URL": "postgres://app:db-password-1@db/x", "TEMPORAL_API_KEY": "temporal-key-1",
	}
	for k, v := range worker {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	st, err := sqlite.New(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "s.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	acts, err := engine.NewActivities(engine.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	def, err := definition.Parse("env.yaml", []byte("id: t.env\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'env'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	val, err := env.ExecuteActivity(acts.RunInstruction, engine.InstructionInput{
		RunID: "run-env", DefinitionID: def.ID, Trigger: "cron", Spec: def.CanonicalJSON(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var res engine.InstructionResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Stdout, "ACTIVITY_RUN_ID=run-env") || !strings.Contains(res.Stdout, "PATH=") {
		t.Fatalf("the command did not print its environment:\n%s", res.Stdout)
	}
	for k, v := range worker {
		if strings.Contains(res.Stdout, k+"=") || strings.Contains(res.Stdout, v) {
			t.Errorf("%s reached the command's environment:\n%s", k, res.Stdout)
		}
	}
}
