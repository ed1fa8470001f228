package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/cli"
	"github.com/coulomb/activity-core/internal/definition"
)

// run runs the activity-core command line in-process, through kong, as
// internal/cli's own tests do.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCLIImportCrontabStdout(t *testing.T) {
	code, out, errOut := run(t, "import", "crontab", "../importer/testdata/crontab/seed002.crontab", "--namespace", "the-custodian")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	d, err := definition.Parse("stdout", []byte(out))
	if err != nil {
		t.Fatalf("stdout is not one valid definition: %v\n%s", err, out)
	}
	if d.ID != "the-custodian.cleanup-stale-tasks" || d.Trigger.CronExpression != "0 3 * * *" {
		t.Errorf("got %s %q", d.ID, d.Trigger.CronExpression)
	}
	if !strings.Contains(errOut, "note: ") {
		t.Errorf("notices should go to stderr, got %q", errOut)
	}
}

func TestCLIImportMultiDocument(t *testing.T) {
	code, out, _ := run(t, "import", "crontab", "../importer/testdata/crontab/dayor.crontab", "-n", "ops")
	if code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	if docs := strings.Count(out, "\n---\n") + 1; docs != 9 {
		t.Errorf("want 9 YAML documents, got %d", docs)
	}
}

func TestCLIImportDryRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, _ := run(t, "import", "crontab", "../importer/testdata/crontab/shortcuts.crontab", "-n", "ops", "--dry-run", "--out", dir)
	if code != cli.ExitFailure {
		t.Errorf("exit %d, want 1 (an entry was skipped)", code)
	}
	for _, want := range []string{"ID", "SCHEDULE", "ops.hourly", "@hourly (UTC)", "/usr/local/bin/daily", "skipped: ../importer/testdata/crontab/shortcuts.crontab:8: @reboot"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("--dry-run wrote %s", dir)
	}
}

func TestCLIImportOutDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "defs")
	args := []string{"import", "systemd", "../importer/testdata/systemd/seed002/custodian-sync.timer", "--namespace", "the-custodian", "--out", dir, "--timezone", "UTC"}
	code, out, errOut := run(t, args...)
	if code != cli.ExitOK || !strings.Contains(out, "1 definition written") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run(t, "validate", dir)
	if code != cli.ExitOK {
		t.Errorf("validate of the written folder: exit %d\n%s", code, out)
	}
	code, _, errOut = run(t, args...)
	if code != cli.ExitFailure || !strings.Contains(errOut, "pass --force to overwrite") {
		t.Errorf("second run without --force: exit %d, %q", code, errOut)
	}
	code, _, errOut = run(t, append(args, "--force")...)
	if code != cli.ExitOK {
		t.Errorf("--force: exit %d %s", code, errOut)
	}
}

func TestCLIImportErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import", "crontab", "../importer/testdata/crontab/errors.crontab", "-n", "ops"}, cli.ExitFailure, "skipped: ../importer/testdata/crontab/errors.crontab:2: minute: 61 is out of range"},
		{[]string{"import", "crontab", "../importer/testdata/crontab/seed002.crontab"}, cli.ExitUsage, "--namespace"},
		{[]string{"import", "crontab", "../importer/testdata/crontab/seed002.crontab", "-n", "Bad_NS"}, cli.ExitUsage, "invalid namespace"},
		{[]string{"import", "crontab", "../importer/testdata/nope.crontab", "-n", "ops"}, cli.ExitUsage, "reading crontab"},
		{[]string{"import", "crontab", "../importer/testdata/crontab/seed002.crontab", "-n", "ops", "--misfire-policy", "sometimes"}, cli.ExitUsage, "misfire-policy"},
		{[]string{"import", "systemd", "../importer/testdata/systemd/seconds/tick.timer", "-n", "ops"}, cli.ExitFailure, "cannot be expressed as a cron schedule"},
		{[]string{"import", "systemd", "../importer/testdata/nope.timer", "-n", "ops"}, cli.ExitUsage, "does not exist"},
		{[]string{"import", "systemd", "-n", "ops"}, cli.ExitUsage, "expected \"<timer>"},
	} {
		code, _, errOut := run(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
