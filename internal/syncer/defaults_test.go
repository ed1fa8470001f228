package syncer

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// TestSyncMergesAlertingDefaults: the stored spec holds the effective
// alerting fields (definition > folder defaults > deployment defaults);
// changing a default updates the definitions it applies to; a bad
// defaults file, folder or deployment, keeps the last good versions of
// what it applies to and never removes them.
func TestSyncMergesAlertingDefaults(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	deployment := filepath.Join(t.TempDir(), "alerting.yaml")
	write(t, deployment, "expect: {max_duration: 2h}\nnotify: {targets: [{slack: {url: \"${env:SLACK_OPS_URL}\"}}]}\n")
	write(t, filepath.Join(dir, "team", "_defaults.yaml"), "expect: {grace: 5m}\npause_after_failures: 3\n")
	write(t, filepath.Join(dir, "team", "backup.yaml"), cronDef("team.backup", "30 2 * * *"))
	write(t, filepath.Join(dir, "other.yaml"), cronDef("other.job", "0 4 * * *"))
	allow, err := secret.New(secret.Config{Env: "SLACK_OPS_URL", LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Sources: []string{dir}, AlertDefaults: deployment, Secrets: allow,
		Schedules: func(context.Context, bool, []store.Definition) (ScheduleCounts, []Action, []Error, error) {
			return ScheduleCounts{}, nil, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	stored := func(id string) *definition.Definition {
		t.Helper()
		rec, err := st.GetDefinition(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		d, err := definition.FromCanonicalJSON(rec.Spec)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	res := mustRun(t, s, DefaultOptions())
	if !res.OK() || res.Definitions.Upserted != 2 {
		t.Fatalf("first sync: %+v %+v", res.Definitions, res.Errors)
	}
	backup := stored("team.backup")
	if backup.Expect == nil || backup.Expect.Grace.String() != "5m0s" || backup.Expect.MaxDuration.String() != "2h0m0s" ||
		backup.PauseAfterFailures != 3 || backup.Notify == nil || backup.Notify.Targets[0].URL != "${env:SLACK_OPS_URL}" ||
		backup.Notify.AfterFailures != 1 || len(backup.Notify.On) != len(definition.NotifyOnDefault) {
		t.Errorf("stored team.backup: %s", mustSpec(t, st, "team.backup"))
	}
	if other := stored("other.job"); other.Expect.Grace != 0 || other.PauseAfterFailures != 0 {
		t.Errorf("folder defaults leaked to other.job: %s", mustSpec(t, st, "other.job"))
	}

	// A changed default is a changed definition.
	write(t, filepath.Join(dir, "team", "_defaults.yaml"), "expect: {grace: 10m}\npause_after_failures: 3\n")
	res = mustRun(t, s, DefaultOptions())
	if res.Definitions.Upserted != 1 || res.Definitions.Unchanged != 1 || stored("team.backup").Expect.Grace.String() != "10m0s" {
		t.Errorf("changed default: %+v", res.Definitions)
	}

	// A broken folder defaults file: its definitions keep their last good
	// version, the others sync.
	write(t, filepath.Join(dir, "team", "_defaults.yaml"), "expect: {grace: 10 minutes}\n")
	res = mustRun(t, s, DefaultOptions())
	if res.OK() || res.Definitions.Removed != 0 || stored("team.backup").Expect.Grace.String() != "10m0s" {
		t.Errorf("broken folder defaults: %+v %+v", res.Definitions, res.Errors)
	}
	if !hasError(res, "team/_defaults.yaml", 1, "expect.grace") || !hasError(res, "team/backup.yaml", 1, "id") {
		t.Errorf("errors: %+v", res.Errors)
	}

	// A broken deployment file: a source error, nothing applied or removed.
	write(t, filepath.Join(dir, "team", "_defaults.yaml"), "expect: {grace: 10m}\n")
	write(t, deployment, "notify: {targets: [{slack: {url: \"http://hooks.example/\"}}]}\n")
	res = mustRun(t, s, DefaultOptions())
	if res.OK() || res.Definitions.Removed != 0 || res.Definitions.Upserted != 0 || !hasError(res, "alerting.yaml", 1, "notify.targets[0].slack.url") {
		t.Errorf("broken deployment defaults: %+v %+v", res.Definitions, res.Errors)
	}

	// A secret the deployment's targets name must be allowed.
	write(t, deployment, "notify: {targets: [{webhook: {url: \"https://hooks.example/\", secret: HOOK_KEY}}]}\n")
	res = mustRun(t, s, DefaultOptions())
	if res.OK() || res.Definitions.Removed != 0 || !hasError(res, "alerting.yaml", 1, "notify.targets[0].webhook.secret") {
		t.Errorf("secret outside the allow-list: %+v %+v", res.Definitions, res.Errors)
	}
}

func mustSpec(t *testing.T, st store.Store, id string) string {
	rec, err := st.GetDefinition(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(rec.Spec)
}

func hasError(res *Result, fileSuffix string, line int, field string) bool {
	for _, e := range res.Errors {
		if strings.HasSuffix(e.File, fileSuffix) && e.Line == line && e.Field == field {
			return true
		}
	}
	return false
}
