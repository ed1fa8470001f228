package simulate

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/secret"
)

// TestNotAllowedEnv: with the worker's allow-list, a reference outside it
// is reported as failing the run, with the setting to change, and its
// value is never resolved.
func TestNotAllowedEnv(t *testing.T) {
	list, err := secret.New(secret.Config{Env: "DEPLOY_*"})
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, Config{EventsFile: "testdata/events.jsonl", ContextPath: "testdata/fixtures.yaml", Secrets: list,
		Env: map[string]string{"DEPLOY_TOKEN": "deploy-secret", "CI_TOKEN": "ci-secret"}})
	dt := trace(t, rep, "push-main", "test.deploy-on-push")
	if len(dt.NotAllowedEnv) != 1 || !strings.Contains(dt.NotAllowedEnv["CI_TOKEN"], "ACTIVITY_SECRET_ENV") {
		t.Errorf("not allowed: %v", dt.NotAllowedEnv)
	}
	if !slices.Contains(dt.Instruction.Env, "DEPLOY_TOKEN=***") || !slices.Equal(dt.UnresolvedEnv, []string{"CI_TOKEN"}) {
		t.Errorf("env %q, unresolved %v", dt.Instruction.Env, dt.UnresolvedEnv)
	}
	var b bytes.Buffer
	WriteText(&b, rep, TextOptions{})
	if !strings.Contains(b.String(), "the run would fail: ${env:CI_TOKEN}") || strings.Contains(b.String(), "ci-secret") {
		t.Errorf("text report:\n%s", b.String())
	}
}
