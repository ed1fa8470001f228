package adminapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/testsupport/gittest"
	"github.com/coulomb/activity-core/internal/testsupport/teststore"
)

func gitCronDef(id, cron string) string {
	return "id: " + id + "\ntrigger: {trigger_type: cron, cron_expression: \"" + cron + "\"}\ninstruction: {kind: shell, cmd: echo hi}\n"
}

// gitEnv is an API over a folder source "local" and a git source "ops"
// whose repository holds two commits of team.x; it returns them.
func gitEnv(t *testing.T) (e *env, c1, c2 string) {
	t.Helper()
	st := teststore.SQLite(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := gittest.NewRepo(t)
	c1 = r.Commit(map[string]string{"defs/x.yaml": gitCronDef("team.x", "0 * * * *")}, "Ann <ann@example.test>", "hourly")
	c2 = r.Commit(map[string]string{"defs/x.yaml": gitCronDef("team.x", "5 * * * *")}, "Bob <bob@example.test>", "five past")
	r.Push()
	f, err := gitsource.NewFetcher(gitsource.FetcherConfig{Dir: filepath.Join(t.TempDir(), "git"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "local")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sy, err := syncer.New(syncer.Config{Store: st, Sources: []string{dir, "ops=git+" + r.FileURL() + "//defs"}, Fetcher: f, Logger: quiet,
		Schedules: func(context.Context, bool, []store.Definition) (syncer.ScheduleCounts, []syncer.Action, []syncer.Error, error) {
			return syncer.ScheduleCounts{}, nil, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{Store: st, Syncer: sy, Schedules: &fakeSchedules{paused: map[string]string{}}, AdminToken: adminToken, ReadToken: readToken, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st, dir: dir}, c1, c2
}

// TestSyncSourceAndRef: ?source= and ?ref= reach the syncer, bad
// combinations are 400 with the reason, the status lists the sources and
// definitions carry their origin.
func TestSyncSourceAndRef(t *testing.T) {
	e, c1, c2 := gitEnv(t)
	for _, tc := range []struct{ path, want string }{
		{"/admin/sync?ref=main", "ref needs source"},
		{"/admin/sync?source=nope", `unknown source \"nope\": the configured sources are local, ops`},
		{"/admin/sync?source=local&ref=main", `source \"local\" is a folder`},
		{"/admin/sync?source=ops&ref=-x", "starts with '-'"},
	} {
		code, body := e.do("POST", tc.path, adminToken, "")
		if code != 400 || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want 400 %q", tc.path, code, body, tc.want)
		}
	}
	if code, body := e.do("POST", "/admin/sync", adminToken, ""); code != 200 {
		t.Fatalf("sync: %d %s", code, body)
	}
	code, body := e.do("POST", "/admin/sync?source=ops&ref="+c1+"&dry_run=true", adminToken, "")
	var res syncer.Result
	if code != 200 || json.Unmarshal(body, &res) != nil || len(res.Sources) != 1 {
		t.Fatalf("dry-run pin: %d %s", code, body)
	}
	if s := res.Sources[0]; s.Name != "ops" || s.Commit != c1 || s.Previous != c2 || s.PinnedRef != c1 {
		t.Errorf("dry-run pin source %+v, want %s → %s pinned", s, c2, c1)
	}

	code, body = e.do("GET", "/admin/sync/status", adminToken, "")
	var st SyncStatus
	if code != 200 || json.Unmarshal(body, &st) != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	byName := map[string]store.SourceState{}
	for _, s := range st.Sources {
		byName[s.Name] = s
	}
	if ops := byName["ops"]; ops.Kind != "git" || ops.Commit != c2 || ops.PinnedRef != "" || ops.OKAt == nil || !strings.HasPrefix(ops.URL, "git+file://") {
		t.Errorf("ops status %+v, want %s unpinned (the dry run pinned nothing)", ops, c2)
	}
	if local := byName["local"]; local.Kind != "folder" || local.OKAt == nil {
		t.Errorf("local status %+v", local)
	}

	code, body = e.do("GET", "/api/v1/definitions/team.x", readToken, "")
	var d store.Definition
	if code != 200 || json.Unmarshal(body, &d) != nil {
		t.Fatalf("definition: %d %s", code, body)
	}
	if d.Origin == nil || d.Origin.Commit != c2 || d.Origin.Author != "Bob <bob@example.test>" || d.Origin.Path != "defs/x.yaml" || d.SourceFile != "ops:defs/x.yaml" {
		t.Errorf("definition from %s with origin %+v", d.SourceFile, d.Origin)
	}
}
