package cli

import (
	"github.com/coulomb/activity-core/internal/testsupport"

	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/postgres"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// weekStart is the Monday the scripted week starts on.
var weekStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// day returns a time of the scripted week: day d (0 is Monday), h:m:s UTC.
func day(d, h, m, s int) time.Time {
	return weekStart.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
}

// TestWhyAfterAScriptedWeek: `why` after a week of syncs, runs, a pause,
// misses, a problem and its recovery, and the notifications they sent,
// written to a real store with a fake clock, is the golden file; its JSON
// carries the same story with the diff and the run facts.
func TestWhyAfterAScriptedWeek(t *testing.T) {
	drivers := map[string]func(t *testing.T, now func() time.Time) store.Store{"sqlite": sqliteAt}
	if os.Getenv("ACTIVITY_TEST_POSTGRES_URL") != "" {
		drivers["postgres"] = postgresAt
	} else {
		t.Log("ACTIVITY_TEST_POSTGRES_URL is not set: the week runs on SQLite only")
	}
	for name, open := range drivers {
		t.Run(name, func(t *testing.T) {
			clock := testsupport.NewClock(weekStart)
			st := open(t, clock.Now)
			scriptWeek(t, st, clock)
			clock.Set(day(7, 0, 0, 0))
			srv := whyServer(t, st, clock.Now)
			flags := []string{"--server", srv, "--token", "read-token-0123456789", "--since", "2026-03-02"}

			code, out, errOut := run(t, append([]string{"why", "team.backup"}, flags...)...)
			if code != ExitOK {
				t.Fatalf("why: exit %d\n%s%s", code, out, errOut)
			}
			golden(t, filepath.Join("testdata", "why-week.golden"), out)

			code, out, errOut = run(t, append([]string{"why", "team.backup", "--format", "json"}, flags...)...)
			if code != ExitOK {
				t.Fatalf("why --format json: exit %d\n%s", code, errOut)
			}
			assertWeekJSON(t, out)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -run %s -update rewrites it):\n--- got\n%s--- want\n%s", path, t.Name(), got, want)
	}
}

func assertWeekJSON(t *testing.T, out string) {
	t.Helper()
	var doc struct {
		DefinitionID string `json:"definition_id"`
		Since        string `json:"since"`
		Now          struct {
			Schedule string `json:"schedule"`
			Health   struct {
				State string `json:"state"`
			} `json:"health"`
		} `json:"now"`
		Items []struct {
			At      time.Time `json:"at"`
			Kind    string    `json:"kind"`
			Summary string    `json:"summary"`
			Actor   string    `json:"actor"`
			RunID   string    `json:"run_id"`
			Version int       `json:"version"`
			Changes []struct {
				Path string          `json:"path"`
				Old  json.RawMessage `json:"old"`
				New  json.RawMessage `json:"new"`
			} `json:"changes"`
			Run *struct {
				Status      string `json:"status"`
				ExitCode    *int   `json:"exit_code"`
				Stage       string `json:"stage"`
				SkipReason  string `json:"skip_reason"`
				MissedCount int    `json:"missed_count"`
			} `json:"run"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.DefinitionID != "team.backup" || doc.Since != "2026-03-02T00:00:00Z" || doc.Now.Schedule != "active" || doc.Now.Health.State != "ok" {
		t.Errorf("header: %+v", doc)
	}
	kinds := map[string]int{}
	for i, it := range doc.Items {
		kinds[it.Kind]++
		if i > 0 && it.At.Before(doc.Items[i-1].At) {
			t.Errorf("item %d (%s) is older than the one before it", i, it.Kind)
		}
		switch {
		case it.Kind == "version" && it.Version == 2:
			if len(it.Changes) != 2 || it.Changes[1].Path != "trigger.cron_expression" || string(it.Changes[1].Old) != `"0 3 * * *"` || string(it.Changes[1].New) != `"0 4 * * *"` {
				t.Errorf("v2 changes: %+v", it.Changes)
			}
		case it.Kind == "missed":
			if it.Run == nil || it.Run.MissedCount != 2 || !strings.HasPrefix(it.Run.SkipReason, "paused by operator: ") {
				t.Errorf("missed item: %+v", it.Run)
			}
		case it.Kind == "failed":
			if it.Run == nil || it.Run.ExitCode == nil || *it.Run.ExitCode != 1 || it.Run.Stage != "instruction" {
				t.Errorf("failed item: %+v", it.Run)
			}
		case it.Kind == "paused" && it.Actor != "operator":
			t.Errorf("paused by %q", it.Actor)
		}
	}
	want := map[string]int{"version": 2, "fired": 4, "succeeded": 2, "skipped": 1, "failed": 1, "timed_out": 1, "paused": 1, "resumed": 1,
		"missed": 1, "problem": 1, "recovered": 1, "notification": 2}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s items, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
}

func sqliteAt(t *testing.T, now func() time.Time) store.Store {
	st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "why.db"), Logger: quietLogger(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return migrated(t, st)
}

// postgresAt opens the store in a schema of its own, dropped at the end.
func postgresAt(t *testing.T, now func() time.Time) store.Store {
	ctx := context.Background()
	url := testsupport.PostgresSchema(t, "whytest")
	st, err := postgres.New(ctx, postgres.Config{URL: url, Logger: quietLogger(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return migrated(t, st)
}

func migrated(t *testing.T, st store.Store) store.Store {
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func whyServer(t *testing.T, st store.Store, now func() time.Time) string {
	api, err := adminapi.New(adminapi.Config{Store: st, ReadToken: "read-token-0123456789", AdminToken: "admin-token-0123456789", Logger: quietLogger(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL
}

// backupYAML is the definition of the week, at a cron expression.
func backupYAML(cron, description string) string {
	return fmt.Sprintf(`id: team.backup
description: %s
trigger: {trigger_type: cron, cron_expression: %q}
rule: {when: ["now.getDayOfWeek() != 3"]}
instruction: {kind: shell, cmd: '/usr/local/bin/backup --all'}
`, description, cron)
}

func syncDefinition(t *testing.T, st store.Store, doc string) {
	t.Helper()
	d, err := definition.Parse("/defs/team/backup.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	sd := store.Definition{ID: d.ID, ContentHash: d.ContentHash(), Spec: d.CanonicalJSON(), SourceDir: "/defs", SourceFile: "/defs/team/backup.yaml",
		Enabled: d.Enabled, TriggerType: store.TriggerType(d.Trigger.Type)}
	if _, err := st.UpsertDefinitions(context.Background(), sd); err != nil {
		t.Fatal(err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestProblemsAndWhyErrors: problems lists the definitions in trouble,
// oldest problem first; why refuses a bad window before asking, and says
// what the server said of an unknown definition.
func TestProblemsAndWhyErrors(t *testing.T) {
	clock := testsupport.NewClock(day(3, 5, 0, 0))
	st := sqliteAt(t, clock.Now)
	ctx := context.Background()
	for _, id := range []string{"team.a", "team.b", "team.c"} {
		if _, err := st.UpsertDefinitions(ctx, store.Definition{ID: id, ContentHash: "h", Spec: json.RawMessage(`{"id":"` + id + `"}`), SourceDir: "/d", SourceFile: "/d/" + id, Enabled: true, TriggerType: store.TriggerCron}); err != nil {
			t.Fatal(err)
		}
	}
	err := st.PutHealth(ctx,
		store.DefinitionHealth{DefinitionID: "team.a", State: store.HealthStale, Problems: []store.Problem{{Kind: store.HealthStale, Since: day(2, 0, 0, 0), Reason: "no success for 26h"}}},
		store.DefinitionHealth{DefinitionID: "team.b", State: store.HealthMissed, ConsecutiveFailures: 3, Problems: []store.Problem{
			{Kind: store.HealthMissed, Since: day(3, 4, 0, 0), Reason: "no worker polling task queue activity-core"},
			{Kind: store.HealthFailing, Since: day(1, 4, 0, 0), Reason: "3 consecutive failures", RunID: "r-9"}}},
		store.DefinitionHealth{DefinitionID: "team.c", State: store.HealthOK})
	if err != nil {
		t.Fatal(err)
	}
	srv := whyServer(t, st, clock.Now)
	flags := []string{"--server", srv, "--token", "read-token-0123456789"}
	code, out, errOut := run(t, append([]string{"problems"}, flags...)...)
	if code != ExitOK || strings.Contains(out, "team.c") {
		t.Fatalf("problems: exit %d\n%s%s", code, out, errOut)
	}
	b, a := strings.Index(out, "team.b"), strings.Index(out, "team.a")
	if b < 0 || a < b || !strings.Contains(out, "failing since 2026-03-03 04:00:00Z: 3 consecutive failures (run r-9)") ||
		!strings.Contains(out, "2 definitions with problems; see one with: activity-core why team.b") {
		t.Errorf("problems, oldest first:\n%s", out)
	}
	code, out, _ = run(t, append([]string{"problems", "--format", "json"}, flags...)...)
	var doc struct {
		Count    int                   `json:"count"`
		Problems []adminapi.ProblemRow `json:"problems"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &doc) != nil || doc.Count != 2 || doc.Problems[0].Links.RunDashboard != "/ui/runs/r-9" {
		t.Errorf("problems --format json: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"why", "team.a", "--since", "yesterday"}, ExitUsage, `--since "yesterday" is not a duration back from now`},
		{[]string{"why", "team.a", "--until", "soon"}, ExitUsage, `--until "soon" is not a duration`},
		{[]string{"why", "team.a", "--limit", "20000"}, ExitUsage, "--limit 20000: use 1 to 10000"},
		{[]string{"why", "team.a", "--since", "1h", "--until", "2h"}, ExitFailure, `until="2h" is not after since`},
		{[]string{"why", "team.nope"}, ExitFailure, "server answered 404 not_found"},
	} {
		code, out, errOut := run(t, append(tc.args, flags...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d saying %q\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
	code, out, _ = run(t, append([]string{"why", "team.b"}, flags...)...)
	if code != ExitOK || !strings.Contains(out, "health now: missed, 3 consecutive failures, no success recorded\n  missed since 2026-03-05 04:00:00Z: no worker polling") {
		t.Errorf("why says the health now:\n%s", out)
	}
	code, out, _ = run(t, append([]string{"why", "team.b", "--since", "2026-02-20", "--until", "2026-03-01"}, flags...)...)
	if code != ExitOK || !strings.Contains(out, "nothing happened in this window") {
		t.Errorf("why of a quiet window:\n%s", out)
	}
	for _, cmd := range []string{"why", "problems"} {
		code, out, _ := run(t, cmd, "--help")
		if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "activity-core "+cmd) {
			t.Errorf("%s --help teaches nothing:\n%s", cmd, out)
		}
	}
}
