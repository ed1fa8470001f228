package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/testsupport/gittest"
	"github.com/coulomb/activity-core/internal/testsupport/teststore"
)

const syncAdminToken = "admin-token-0123456789"

// apiWithGitSource serves the real API and syncer over a git source "ops"
// holding two commits of team.x, and returns its URL and the commits.
func apiWithGitSource(t *testing.T) (url, c1, c2 string) {
	t.Helper()
	st := teststore.SQLite(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := gittest.NewRepo(t)
	def := func(cron string) string {
		return "id: team.x\ntrigger: {trigger_type: cron, cron_expression: \"" + cron + "\"}\ninstruction: {kind: shell, cmd: echo hi}\n"
	}
	c1 = r.Commit(map[string]string{"automations/x.yaml": def("0 * * * *")}, "Ann <ann@example.test>", "hourly")
	c2 = r.Commit(map[string]string{"automations/x.yaml": def("5 * * * *")}, "Bob <bob@example.test>", "five past")
	r.Push()
	f, err := gitsource.NewFetcher(gitsource.FetcherConfig{Dir: filepath.Join(t.TempDir(), "git"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sy, err := syncer.New(syncer.Config{Store: st, Sources: []string{"ops=git+" + r.FileURL()}, Fetcher: f, Logger: quiet,
		Schedules: func(context.Context, bool, []store.Definition) (syncer.ScheduleCounts, []syncer.Action, []syncer.Error, error) {
			return syncer.ScheduleCounts{}, nil, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := adminapi.New(adminapi.Config{Store: st, Syncer: sy, AdminToken: syncAdminToken, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL, c1, c2
}

// TestSyncSourceRefCLI: sync prints a line per source, --source/--ref pin
// and follow, and definitions show prints the origin.
func TestSyncSourceRefCLI(t *testing.T) {
	url, c1, c2 := apiWithGitSource(t)
	flags := []string{"--server", url, "--token", syncAdminToken}
	sync := func(args ...string) (int, string, string) {
		return run(t, append(append([]string{"sync"}, args...), flags...)...)
	}
	code, out, errOut := sync()
	if code != ExitOK || !strings.Contains(out, "\n  ops: "+c2[:7]+"\n") {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = sync("--source", "ops", "--ref", c1, "--dry-run")
	if code != ExitOK || !strings.Contains(out, "ops: "+c2[:7]+" → "+c1[:7]+" (pinned)") || !strings.Contains(out, "v1 → v2 from "+c1[:7]) {
		t.Fatalf("dry-run pin: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = sync("--source", "ops", "--ref", c1)
	if code != ExitOK || !strings.Contains(out, "ops: "+c2[:7]+" → "+c1[:7]+" (pinned)") {
		t.Fatalf("pin: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, append([]string{"definitions", "show", "team.x"}, flags...)...)
	want := "origin: v2 from " + c1[:7] + " (ops:automations/x.yaml) by Ann <ann@example.test> at "
	if code != ExitOK || !strings.Contains(out, want) {
		t.Fatalf("definitions show: exit %d, want %q in\n%s%s", code, want, out, errOut)
	}
	code, out, errOut = sync("--source", "ops", "--ref", "follow")
	if code != ExitOK || !strings.Contains(out, "ops: "+c1[:7]+" → "+c2[:7]+"\n") {
		t.Fatalf("follow: exit %d\n%s%s", code, out, errOut)
	}

	// Refused combinations: usage errors locally, 400s from the server.
	if code, _, errOut := sync("--ref", c1); code != ExitUsage || !strings.Contains(errOut, "--ref needs --source") {
		t.Errorf("--ref without --source: exit %d %s", code, errOut)
	}
	if code, _, errOut := sync("--source", "nope"); code == ExitOK || !strings.Contains(errOut, `unknown source "nope": the configured sources are ops`) {
		t.Errorf("unknown source: exit %d %s", code, errOut)
	}
}
