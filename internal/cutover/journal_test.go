package cutover

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/week.export and testdata/week-journal.json with the installed systemd tools")

// journalRemote is Debian's path of systemd-journal-remote (package
// systemd-journal-remote; .ci/run installs it).
const journalRemote = "/lib/systemd/systemd-journal-remote"

// weekStart is the Monday of the fixture week.
var weekStart = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// The fixture week: custodian-cleanup.service, a oneshot started by its
// timer daily at 02:00 UTC (03:00 in Europe/Berlin) a few seconds late;
// no run on Wednesday (the host was down), Friday's failed with status 1.
const (
	weekUnit      = "custodian-cleanup.service"
	weekMissedDay = 2 // Wednesday
	weekFailedDay = 4 // Friday
)

func weekRunAt(d int) time.Time {
	return weekStart.AddDate(0, 0, d).Add(2*time.Hour + time.Duration(d+1)*1100*time.Millisecond)
}

// weekExport writes the fixture week in the journal export format
// (systemd.io/JOURNAL_EXPORT_FORMATS) with the fields systemd 252's PID 1
// logs for a oneshot service, the job's own output and another unit.
func weekExport() string {
	var b strings.Builder
	mono := int64(1_000_000)
	entry := func(at time.Time, fields ...string) {
		mono += 1_000_000
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0f6e1c2a8b8d4a63a2c2d5f0a1b2c3d4\n_MACHINE_ID=5c1a7c8e0d2f4b6a9e3d1c0b2a4f6e8d\n_HOSTNAME=hub\n", at.UnixMicro(), mono)
		for _, f := range fields {
			b.WriteString(f + "\n")
		}
		b.WriteString("\n")
	}
	pid1 := func(at time.Time, fields ...string) {
		entry(at, append([]string{"_PID=1", "_UID=0", "_GID=0", "_COMM=systemd", "_EXE=/usr/lib/systemd/systemd", "_CMDLINE=/sbin/init", "_TRANSPORT=journal",
			"SYSLOG_FACILITY=3", "SYSLOG_IDENTIFIER=systemd", "UNIT=" + weekUnit}, fields...)...)
	}
	desc := weekUnit + " - State hub stale task cleanup"
	for d := range 7 {
		if d == weekMissedDay {
			continue
		}
		at := weekRunAt(d)
		step := func(n int) time.Time { return at.Add(time.Duration(n) * 150 * time.Millisecond) }
		entry(at.Add(-time.Second), "_PID=1", "_COMM=systemd", "_TRANSPORT=journal", "SYSLOG_IDENTIFIER=systemd", "UNIT=logrotate.service",
			"MESSAGE_ID=7d4958e842da4a758f6c1cdc7b36dcc5", "JOB_TYPE=start", "MESSAGE=Starting logrotate.service - Rotate log files...", "PRIORITY=6")
		pid1(at, "PRIORITY=6", "CODE_FILE=src/core/job.c", "CODE_FUNC=job_emit_start_message", "JOB_TYPE=start",
			"MESSAGE_ID=7d4958e842da4a758f6c1cdc7b36dcc5", "MESSAGE=Starting "+desc+"...")
		entry(step(1), "_PID=4242", "_COMM=python3", "_TRANSPORT=stdout", "SYSLOG_IDENTIFIER=python3", "_SYSTEMD_UNIT="+weekUnit,
			"MESSAGE=Starting cleanup of finished workstreams", "PRIORITY=6")
		if d == weekFailedDay {
			pid1(step(2), "PRIORITY=5", "CODE_FILE=src/core/service.c", "CODE_FUNC=service_sigchld_event", "EXIT_CODE=exited", "EXIT_STATUS=1",
				"MESSAGE_ID=98e322203f7a4ed290d09fe03c09fe15", "MESSAGE="+weekUnit+": Main process exited, code=exited, status=1/FAILURE")
			pid1(step(3), "PRIORITY=4", "CODE_FILE=src/core/unit.c", "CODE_FUNC=unit_log_failure", "UNIT_RESULT=exit-code",
				"MESSAGE_ID=d9b373ed55a64feb8242e02dbe79a49c", "MESSAGE="+weekUnit+": Failed with result 'exit-code'.")
			pid1(step(4), "PRIORITY=3", "CODE_FILE=src/core/job.c", "CODE_FUNC=job_emit_done_message", "JOB_TYPE=start", "JOB_RESULT=failed",
				"MESSAGE_ID=be02cf6855d2428ba40df7e9d022f03d", "MESSAGE=Failed to start "+desc+".")
			continue
		}
		pid1(step(2), "PRIORITY=6", "CODE_FILE=src/core/unit.c", "CODE_FUNC=unit_log_success",
			"MESSAGE_ID=7ad2d189f7e94e70a38c781354912448", "MESSAGE="+weekUnit+": Deactivated successfully.")
		pid1(step(3), "PRIORITY=6", "CODE_FILE=src/core/job.c", "CODE_FUNC=job_emit_done_message", "JOB_TYPE=start", "JOB_RESULT=done",
			"MESSAGE_ID=39f53479d3a045ac8e11786248231fbf", "MESSAGE=Finished "+desc+".")
	}
	return b.String()
}

// checkWeek asserts the runs read from the fixture week.
func checkWeek(t *testing.T, runs []LegacyRun) {
	t.Helper()
	var want []time.Time
	for d := range 7 {
		if d != weekMissedDay {
			want = append(want, weekRunAt(d))
		}
	}
	if len(runs) != len(want) {
		t.Fatalf("got %d runs, want %d: %+v", len(runs), len(want), runs)
	}
	for i, r := range runs {
		if !r.At.Equal(want[i]) {
			t.Errorf("run %d at %s, want %s", i, r.At, want[i])
		}
		wantExit := 0
		if r.At.Weekday() == weekStart.AddDate(0, 0, weekFailedDay).Weekday() {
			wantExit = 1
		}
		if r.Exit == nil || *r.Exit != wantExit {
			t.Errorf("run %d (%s): %s, want exit %d", i, r.At.Weekday(), r.Outcome(), wantExit)
		}
	}
}

// TestJournalRealSystemd turns the fixture week into a real journal file
// with systemd-journal-remote and reads it back with journalctl -o json,
// as the report reads a host's journal.
func TestJournalRealSystemd(t *testing.T) {
	if _, err := os.Stat(journalRemote); err != nil {
		t.Skipf("%s is absent (apt-get install systemd-journal-remote): the checked-in export is tested by TestJournalCheckedIn", journalRemote)
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl is absent")
	}
	dir := t.TempDir()
	export := weekExport()
	file := filepath.Join(dir, "week.journal")
	remote := exec.Command(journalRemote, "-o", file, "-")
	remote.Stdin = strings.NewReader(export)
	if out, err := remote.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", journalRemote, err, out)
	}
	out, err := exec.Command("journalctl", "--file", file, "-o", "json", "--no-pager").Output()
	if err != nil {
		t.Fatalf("journalctl --file: %v", err)
	}
	runs, err := ParseJournal(bytes.NewReader(out), "week.journal", weekUnit)
	if err != nil {
		t.Fatal(err)
	}
	checkWeek(t, runs)

	// The argv the report runs, on that file: --unit= and --since=@ select
	// the unit's entries from Tuesday on.
	args := append(JournalArgs(weekUnit, false, weekStart.AddDate(0, 0, 1)), "--file="+file)
	live, err := ReadJournal(context.Background(), args, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	runs, err = ParseJournal(bytes.NewReader(live), "journalctl", weekUnit)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 5 || !runs[0].At.Equal(weekRunAt(1)) {
		t.Errorf("journalctl %v: %d runs from %v, want 5 from Tuesday", args, len(runs), runs)
	}
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "week.export"), []byte(export), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "week-journal.json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJournalCheckedIn reads the export made by TestJournalRealSystemd
// (testdata/README.md says how), so the parser is tested on real
// journalctl output where systemd's tools are absent.
func TestJournalCheckedIn(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "week-journal.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runs, err := ParseJournal(f, "week-journal.json", "custodian-cleanup")
	if err != nil {
		t.Fatal(err)
	}
	checkWeek(t, runs)
}

func TestJournalShapes(t *testing.T) {
	line := func(at int64, fields string) string {
		return fmt.Sprintf(`{"__REALTIME_TIMESTAMP":"%d","UNIT":"x.service",%s}`, at*1_000_000, fields)
	}
	tests := []struct {
		name  string
		lines []string
		want  []string // Outcome per run
		at    []int64
	}{
		{"by message text, no MESSAGE_ID", []string{
			line(100, `"MESSAGE":"Starting x.service - X..."`),
			line(101, `"MESSAGE":"x.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED"`),
			line(102, `"MESSAGE":"x.service: Failed with result 'exit-code'."`),
		}, []string{"exit 3"}, []int64{100}},
		{"killed by a signal", []string{
			line(100, `"MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","JOB_TYPE":"start","MESSAGE":"Starting x.service..."`),
			line(105, `"MESSAGE_ID":"98e322203f7a4ed290d09fe03c09fe15","EXIT_CODE":"killed","EXIT_STATUS":"TERM"`),
			line(105, `"MESSAGE_ID":"d9b373ed55a64feb8242e02dbe79a49c","UNIT_RESULT":"signal"`),
		}, []string{"killed TERM"}, []int64{100}},
		{"timeout without an exit", []string{
			line(100, `"MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","JOB_TYPE":"start"`),
			line(190, `"MESSAGE_ID":"d9b373ed55a64feb8242e02dbe79a49c","UNIT_RESULT":"timeout"`),
		}, []string{"failed: timeout"}, []int64{100}},
		{"simple service: Started without Starting, twice", []string{
			line(100, `"MESSAGE_ID":"39f53479d3a045ac8e11786248231fbf","JOB_TYPE":"start","JOB_RESULT":"done"`),
			line(200, `"MESSAGE_ID":"39f53479d3a045ac8e11786248231fbf","JOB_TYPE":"start","JOB_RESULT":"done"`),
			line(201, `"MESSAGE":"x.service: Deactivated successfully."`),
		}, []string{"exit ?", "exit 0"}, []int64{100, 200}},
		{"a stop job and other units are not runs", []string{
			line(100, `"MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","JOB_TYPE":"stop","MESSAGE":"Stopping x.service..."`),
			`{"__REALTIME_TIMESTAMP":"150000000","UNIT":"y.service","MESSAGE":"Starting y.service..."}`,
			`{"__REALTIME_TIMESTAMP":"160000000","_SYSTEMD_UNIT":"x.service","MESSAGE":"Starting the sweep"}`,
			`{"__REALTIME_TIMESTAMP":"170000000","USER_UNIT":"x.service","MESSAGE":["binary"],"MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5"}`,
		}, []string{"exit ?"}, []int64{170}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs, err := ParseJournal(strings.NewReader(strings.Join(tt.lines, "\n")), "j", "x")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var at []int64
			for _, r := range runs {
				got = append(got, r.Outcome())
				at = append(at, r.At.Unix())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || fmt.Sprint(at) != fmt.Sprint(tt.at) {
				t.Errorf("got %v at %v, want %v at %v", got, at, tt.want, tt.at)
			}
		})
	}
}

func TestJournalBadInput(t *testing.T) {
	for name, tt := range map[string]struct{ in, want string }{
		"not JSON":      {"{\"UNIT\":\"y.service\"}\nStarting x", "j:2: not a JSON journal entry"},
		"no timestamp":  {`{"UNIT":"x.service","MESSAGE":"Starting x"}`, `j:1: __REALTIME_TIMESTAMP "" is not microseconds`},
		"line too long": {strings.Repeat("x", lineMax+1), "j:1: line longer than"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseJournal(strings.NewReader(tt.in), "j", "x")
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an InputError containing %q", err, tt.want)
			}
		})
	}
}

func TestValidUnit(t *testing.T) {
	for _, ok := range []string{"custodian-sync.service", "custodian-sync", "backup@home.timer", `dev-disk-by\x2duuid.device`} {
		if err := ValidUnit(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "--since=1", "a b", "a;b", "$(x)", ".service", strings.Repeat("a", 256)} {
		if ValidUnit(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestJournalArgs(t *testing.T) {
	got := strings.Join(JournalArgs("custodian-sync.service", true, time.Unix(1795834800, 0)), " ")
	want := "journalctl -o json --no-pager --since=@1795834800 --user-unit=custodian-sync.service"
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestReadJournalWithoutJournalctl(t *testing.T) {
	_, err := ReadJournal(context.Background(), []string{"journalctl-absent-here", "-o", "json"}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "journalctl not found: run the report on the legacy host, or save `journalctl-absent-here -o json` there and pass --journal-file") {
		t.Errorf("got %v", err)
	}
}
