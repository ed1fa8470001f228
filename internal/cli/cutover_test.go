package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// cutoverWeek is the Monday of the fixture week of internal/cutover's
// testdata/week-journal.json: custodian-cleanup.service ran daily at
// 02:00 UTC except on Wednesday 2026-11-25.
var cutoverWeek = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// cutoverServer serves a store holding t.cleanup, firing daily at hour
// UTC through the fixture week, with a manual run the report leaves out.
func cutoverServer(t *testing.T, hour int) string {
	t.Helper()
	clock := testsupport.NewClock(cutoverWeek)
	st := sqliteAt(t, clock.Now)
	syncDefinition(t, st, fmt.Sprintf(`id: t.cleanup
description: the state hub's stale task cleanup
trigger: {trigger_type: cron, cron_expression: "0 %d * * *", timezone: UTC}
instruction: {kind: shell, cmd: 'true'}
`, hour))
	ctx := context.Background()
	for d := range 7 {
		at := cutoverWeek.AddDate(0, 0, d).Add(time.Duration(hour) * time.Hour)
		clock.Set(at.Add(200 * time.Millisecond))
		status := store.RunSucceeded
		if d == 4 {
			status = store.RunFailed
		}
		if _, err := st.CreateRun(ctx, store.Run{ID: fmt.Sprintf("run-%d", d), DefinitionID: "t.cleanup", Trigger: store.RunTriggerCron, Status: status, ScheduledAt: &at}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(cutoverWeek.AddDate(0, 0, 3).Add(15 * time.Hour))
	if _, err := st.CreateRun(ctx, store.Run{ID: "by-hand", DefinitionID: "t.cleanup", Trigger: store.RunTriggerManual, Status: store.RunSucceeded}); err != nil {
		t.Fatal(err)
	}
	clock.Set(cutoverWeek.AddDate(0, 0, 8))
	return whyServer(t, st, clock.Now)
}

func cutoverFlags(srv string) []string {
	return []string{"--server", srv, "--token", "read-token-0123456789", "--since", "2026-11-23", "--until", "2026-11-30"}
}

// TestCutoverReportMissedRun: the real journal export of the fixture week
// against a definition that fired every day: the missing Wednesday fails
// the report and is named; Friday's exit 1 shows beside its failed run.
func TestCutoverReportMissedRun(t *testing.T) {
	srv := cutoverServer(t, 2)
	journal := filepath.Join("..", "cutover", "testdata", "week-journal.json")
	args := append([]string{"cutover", "report", "t.cleanup", "--legacy", "journal:custodian-cleanup.service", "--journal-file", journal, "--zone", "UTC"}, cutoverFlags(srv)...)
	code, out, errOut := run(t, args...)
	if code != ExitFailure {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"runs:       6 legacy, 7 fires (1 manual or event run left out)",
		"1 fire without a legacy run within 2m0s: Wed 2026-11-25T02:00:00Z",
		"Wed 2026-11-25T02:00:00Z  run run-2  succeeded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	friday := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Fri 2026-11-27") {
			friday = strings.Join(strings.Fields(line), " ")
		}
	}
	if !strings.Contains(friday, "exit 1 run-4 failed") {
		t.Errorf("Friday's exit status is not beside its failed run: %q\n%s", friday, out)
	}

	code, out, _ = run(t, append(args, "--format", "json")...)
	var rep struct {
		OK       bool `json:"ok"`
		FireOnly []struct {
			RunID string `json:"run_id"`
		} `json:"definition_only"`
		Pairs []json.RawMessage `json:"pairs"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != ExitFailure || rep.OK || len(rep.Pairs) != 6 || len(rep.FireOnly) != 1 || rep.FireOnly[0].RunID != "run-2" {
		t.Errorf("json: exit %d, %v: %+v\n%s", code, err, rep, out)
	}
}

// TestCutoverReportHourOffset: a legacy job at 03:00 in Berlin against a
// definition at 03:00 UTC: the report names the 1h shift and both zones.
func TestCutoverReportHourOffset(t *testing.T) {
	srv := cutoverServer(t, 3)
	var times strings.Builder
	times.WriteString("# custodian-cleanup, 0 3 * * * in the host's zone\n")
	for d := range 7 {
		fmt.Fprintf(&times, "%s 0\n", cutoverWeek.AddDate(0, 0, d).Add(3*time.Hour+4*time.Second).Format("2006-01-02T15:04:05")+"+01:00")
	}
	file := filepath.Join(t.TempDir(), "times.txt")
	if err := os.WriteFile(file, []byte(times.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, append([]string{"cutover", "report", "t.cleanup", "--legacy", "file:" + file, "--zone", "Europe/Berlin"}, cutoverFlags(srv)...)...)
	if code != ExitFailure {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	want := "the definition fires 1h later than the legacy job: a time zone mistake? (legacy in host zone Europe/Berlin, definition in UTC; 7 of 7 runs pair when shifted)"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// TestCutoverReportAgrees: the same week, legacy and definition alike.
func TestCutoverReportAgrees(t *testing.T) {
	srv := cutoverServer(t, 2)
	var times strings.Builder
	for d := range 7 {
		fmt.Fprintf(&times, "%s\n", cutoverWeek.AddDate(0, 0, d).Add(2*time.Hour+30*time.Second).Format(time.RFC3339))
	}
	file := filepath.Join(t.TempDir(), "times.txt")
	if err := os.WriteFile(file, []byte(times.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, append([]string{"cutover", "report", "t.cleanup", "--legacy", "file:" + file}, cutoverFlags(srv)...)...)
	if code != ExitOK || !strings.Contains(out, "OK: all 7 runs pair within 2m0s") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestCutoverReportRefusals(t *testing.T) {
	srv := cutoverServer(t, 2)
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte("2026-11-23T02:00:00Z\nyesterday 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--legacy", "crontab:x"}, ExitUsage, `--legacy "crontab:x": "crontab" is not journal, syslog or file`},
		{[]string{"--legacy", "journal"}, ExitUsage, "use journal:UNIT, syslog:FILE or file:TIMES"},
		{[]string{"--legacy", "journal:--since=0"}, ExitUsage, `unit "--since=0" is not a systemd unit name`},
		{[]string{"--legacy", "journal:x;rm -rf /"}, ExitUsage, "is not a systemd unit name"},
		{[]string{"--legacy", "file:" + bad, "--match", "x"}, ExitUsage, "--match goes with --legacy syslog:FILE"},
		{[]string{"--legacy", "syslog:" + bad, "--user"}, ExitUsage, "--journal-file and --user go with --legacy journal:UNIT"},
		{[]string{"--legacy", "file:" + bad, "--tolerance", "0s"}, ExitUsage, "--tolerance 0s: use more than 0"},
		{[]string{"--legacy", "file:" + bad, "--zone", "Mars/Olympus"}, ExitUsage, `--zone "Mars/Olympus"`},
		{[]string{"--legacy", "file:" + bad}, ExitFailure, bad + `:2: "yesterday" is not an RFC 3339 time`},
		{[]string{"--legacy", "file:/nonexistent/times"}, ExitFailure, "reading the legacy runs: open /nonexistent/times"},
	}
	for _, tt := range tests {
		code, out, errOut := run(t, append(append([]string{"cutover", "report", "t.cleanup"}, tt.args...), cutoverFlags(srv)...)...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tt.args, code, tt.code, tt.want, out, errOut)
		}
	}
	code, _, errOut := run(t, append([]string{"cutover", "report", "t.unknown", "--legacy", "file:" + bad}, cutoverFlags(srv)...)...)
	if code != ExitFailure || !strings.Contains(errOut, "404") {
		t.Errorf("unknown definition: exit %d %s", code, errOut)
	}
}
