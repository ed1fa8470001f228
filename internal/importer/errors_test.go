package importer

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCrontabField(t *testing.T) {
	vals := func(v ...int) set {
		var s set
		for _, x := range v {
			s.add(x)
		}
		return s
	}
	for _, c := range []struct {
		text string
		f    *cronField
		want set
		note bool
	}{
		{"*", fieldMinute, span(0, 59), false},
		{"*/15", fieldMinute, vals(0, 15, 30, 45), false},
		{"10-50/20", fieldMinute, vals(10, 30, 50), false},
		{"5/15", fieldMinute, vals(5, 20, 35, 50), true},
		{"1,2,5-7", fieldHour, vals(1, 2, 5, 6, 7), false},
		{"*/2", fieldDom, vals(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), false},
		{"jan,JUL", fieldMonth, vals(1, 7), false},
		{"mar-may", fieldMonth, vals(3, 4, 5), false},
		{"mon-fri", fieldDow, vals(1, 2, 3, 4, 5), false},
		{"7", fieldDow, vals(0), false},
		{"1-7", fieldDow, span(0, 6), false},
		{"*/2", fieldDow, vals(0, 2, 4, 6), false},
		{"sun,sat", fieldDow, vals(0, 6), false},
	} {
		got, note, err := parseCrontabField(c.text, c.f)
		if err != nil || got != c.want || (note != "") != c.note {
			t.Errorf("%s %q: got %v note %q err %v, want %v", c.f.name, c.text, got.values(), note, err, c.want.values())
		}
	}
}

// TestCrontabErrors gives each kind of bad crontab line its own case: the
// line is skipped with a message naming the file and line.
func TestCrontabErrors(t *testing.T) {
	for _, c := range []struct {
		name, line, want string
		system           bool
	}{
		{"too few fields", "0 3 * * /bin/x", "expected 5 time fields and a command", false},
		{"no command", "0 3 * * *", "expected 5 time fields and a command", false},
		{"system without user command", "0 3 * * * root", "expected 5 time fields, a user and a command", true},
		{"minute out of range", "60 * * * * /bin/x", "minute: 60 is out of range 0-59", false},
		{"hour out of range", "0 24 * * * /bin/x", "hour: 24 is out of range 0-23", false},
		{"dom out of range", "0 0 0 * * /bin/x", "day-of-month: 0 is out of range 1-31", false},
		{"dow out of range", "0 0 * * 8 /bin/x", "day-of-week: 8 is out of range 0-7", false},
		{"long name", "0 0 * * monday /bin/x", `"monday" is not a number or a three-letter name`, false},
		{"bad month", "0 0 * foo * /bin/x", `month: "foo" is not a number`, false},
		{"name in minute", "jan * * * * /bin/x", `minute: "jan" is not a number`, false},
		{"wrapping range", "0 22-2 * * * /bin/x", "range runs backwards", false},
		{"zero step", "*/0 * * * * /bin/x", "must be a positive number", false},
		{"empty list item", "1,,2 * * * * /bin/x", "empty list item", false},
		{"half range", "1- * * * * /bin/x", "missing value in a range", false},
		{"reboot", "@reboot /bin/x", "@reboot runs a job when cron starts", false},
		{"unknown shortcut", "@fortnightly /bin/x", `unknown shortcut "@fortnightly"`, false},
		{"shortcut without command", "@daily", "expected a shortcut and a command", false},
		{"never fires", "0 0 31 4 * /bin/x", "never occurs", false},
		{"env ref in command", "0 0 * * * echo ${env:X}", "instruction.cmd: ${env:...} is not expanded", false},
		{"bad zone", "CRON_TZ=Nowhere/Land\n0 0 * * * /bin/x", "is not an IANA time zone name", false},
		{"bad random delay", "RANDOM_DELAY=x", "RANDOM_DELAY=\"x\" is not a number of minutes", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := ImportCrontab("my.crontab", []byte(c.line+"\n"), Options{Namespace: "ops", System: c.system})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Skipped) == 0 {
				t.Fatalf("not skipped; got %d definitions", len(res.Definitions))
			}
			msg := res.Skipped[0].Error()
			if !strings.HasPrefix(msg, "my.crontab:") || !strings.Contains(msg, c.want) {
				t.Errorf("message %q: want my.crontab:LINE: …%s…", msg, c.want)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{}, "--namespace is required"},
		{Options{Namespace: "Ops"}, "use lower-case letters"},
		{Options{Namespace: "ops."}, "use lower-case letters"},
		{Options{Namespace: "ops", Timezone: "Mars/Base"}, "--timezone \"Mars/Base\" is not an IANA"},
		{Options{Namespace: "ops", MisfirePolicy: "sometimes"}, "--misfire-policy \"sometimes\""},
	} {
		_, err := ImportCrontab("x", []byte("@daily /bin/true\n"), c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
		if _, err := ImportSystemd("testdata/systemd/seed002/custodian-sync.timer", "", c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("systemd %+v: error %v, want %q", c.opt, err, c.want)
		}
	}
	if _, err := ImportCrontab("x", nil, Options{}); !errors.Is(err, errNamespace) {
		t.Errorf("want errNamespace, got %v", err)
	}
}

func TestOptionsApplied(t *testing.T) {
	res, err := ImportCrontab("x", []byte("0 3 * * * /bin/true\n"), Options{Namespace: "team.ops", Timezone: "Europe/Berlin", MisfirePolicy: "allow_all"})
	if err != nil || len(res.Definitions) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	tr := res.Definitions[0].Parsed.Trigger
	if res.Definitions[0].ID != "team.ops.true" || tr.Timezone != "Europe/Berlin" || tr.MisfirePolicy != "allow_all" {
		t.Errorf("got id %s trigger %+v", res.Definitions[0].ID, tr)
	}
	for _, n := range res.Notices {
		if strings.Contains(n.Message, "read in UTC") || strings.Contains(n.Message, "misfire_policy skip") {
			t.Errorf("notice %q should not appear when the flag was given", n.Message)
		}
	}
}

// writeUnits creates a timer and service in a temporary folder.
func writeUnits(t *testing.T, timer, service string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "job.timer"), []byte(timer), 0o644); err != nil {
		t.Fatal(err)
	}
	if service != "" {
		if err := os.WriteFile(filepath.Join(dir, "job.service"), []byte(service), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "job.timer")
}

// TestSystemdErrors gives each way a timer cannot be imported its own case.
func TestSystemdErrors(t *testing.T) {
	const okTimer = "[Timer]\nOnCalendar=daily\n"
	const okService = "[Service]\nExecStart=/bin/true\n"
	for _, c := range []struct {
		name, timer, service string
		fatal                bool // an error rather than a skipped timer
		want                 string
	}{
		{"no service", okTimer, "", true, "which is not beside it"},
		{"section header", "[Timer\nOnCalendar=daily\n", okService, true, "has no closing ]"},
		{"not key=value", "[Timer]\nOnCalendar daily\n", okService, true, "is not Key=Value"},
		{"outside section", "OnCalendar=daily\n", okService, true, "outside any [Section]"},
		{"seconds", "[Timer]\nOnCalendar=*:*:0/10\n", okService, false, "cannot be expressed as a cron schedule: second"},
		{"fraction", "[Timer]\nOnCalendar=*:00:00.5\n", okService, false, "fractions of a second"},
		{"year", "[Timer]\nOnCalendar=2026-*-* 00:00\n", okService, false, "cron has no year field"},
		{"last day", "[Timer]\nOnCalendar=*-*~03\n", okService, false, "no last-day syntax"},
		{"bad weekday", "[Timer]\nOnCalendar=Mun 10:00\n", okService, false, `"Mun" is not a weekday`},
		{"weekday wrap", "[Timer]\nOnCalendar=Fri..Mon 10:00\n", okService, false, "runs backwards"},
		{"bad hour", "[Timer]\nOnCalendar=*-*-* 25:00\n", okService, false, "hour 25 is out of range 0-23"},
		{"star step", "[Timer]\nOnCalendar=*:*/15\n", okService, false, "does not accept a repetition after *"},
		{"bad zone", "[Timer]\nOnCalendar=daily Mars/Base\n", okService, false, "is not a time zone"},
		{"bad date", "[Timer]\nOnCalendar=2026-01-01-01 10:00\n", okService, false, "expected YEAR-MONTH-DAY"},
		{"never fires", "[Timer]\nOnCalendar=*-02-30 10:00\n", okService, false, "never occurs"},
		{"monotonic only", "[Timer]\nOnUnitActiveSec=15min\n", okService, false, "only monotonic triggers"},
		{"no trigger", "[Timer]\nPersistent=true\n", okService, false, "no OnCalendar= line"},
		{"bad persistent", "[Timer]\nOnCalendar=daily\nPersistent=maybe\n", okService, false, `"maybe" is not a boolean`},
		{"bad delay", "[Timer]\nOnCalendar=daily\nRandomizedDelaySec=5 fortnights\n", okService, false, `unknown unit "fortnights"`},
		{"no ExecStart", okTimer, "[Service]\nType=oneshot\n", false, "has no ExecStart="},
		{"unterminated quote", okTimer, "[Service]\nExecStart=/bin/echo \"oops\n", false, "unterminated \" quote"},
		{"bad escape", okTimer, "[Service]\nExecStart=/bin/echo \\q\n", false, `unknown escape \q`},
		{"host specifier", okTimer, "[Service]\nExecStart=%h/bin/job\n", false, "specifier %h depends on the host"},
		{"semicolon", okTimer, "[Service]\nExecStart=/bin/a ; /bin/b\n", false, "several commands on one line"},
		{"pipe prefix", okTimer, "[Service]\nExecStart=|echo hi\n", false, "the | prefix"},
		{"bad environment", okTimer, "[Service]\nEnvironment=JUSTANAME\nExecStart=/bin/true\n", false, "is not NAME=VALUE"},
		{"bad timeout", okTimer, "[Service]\nExecStart=/bin/true\nTimeoutStartSec=soon\n", false, "is not a time span"},
		{"activity env", okTimer, "[Service]\nEnvironment=ACTIVITY_RUN_ID=x\nExecStart=/bin/true\n", false, "names starting with ACTIVITY_ are set by activity-core"},
	} {
		t.Run(c.name, func(t *testing.T) {
			timer := writeUnits(t, c.timer, c.service)
			res, err := ImportSystemd(timer, "", Options{Namespace: "ops"})
			switch {
			case c.fatal:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %v, want %q", err, c.want)
				}
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			case len(res.Skipped) != 1 || len(res.Definitions) != 0:
				t.Errorf("want the timer skipped, got %d definitions, skipped %v", len(res.Definitions), res.Skipped)
			case !strings.Contains(res.Skipped[0].Error(), c.want) || !strings.HasPrefix(res.Skipped[0].Error(), filepath.Dir(timer)):
				t.Errorf("message %q: want FILE…: …%s…", res.Skipped[0].Error(), c.want)
			}
		})
	}
	if _, err := ImportSystemd("testdata/systemd/seed002/custodian-sync.service", "", Options{Namespace: "ops"}); err == nil || !strings.Contains(err.Error(), "expected a .timer unit") {
		t.Errorf("service as timer: %v", err)
	}
	if _, err := ImportSystemd("testdata/systemd/seed002/custodian-sync.timer", "testdata/systemd/seed002/custodian-sync.timer", Options{Namespace: "ops"}); err == nil || !strings.Contains(err.Error(), "expected a .service unit") {
		t.Errorf("timer as service: %v", err)
	}
	if _, err := ImportSystemd(filepath.Join(t.TempDir(), "gone.timer"), "", Options{Namespace: "ops"}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing timer: %v", err)
	}
	tpl := filepath.Join(t.TempDir(), "job@.timer")
	if err := os.WriteFile(tpl, []byte("[Timer]\nOnCalendar=daily\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportSystemd(tpl, "", Options{Namespace: "ops"}); err == nil || !strings.Contains(err.Error(), "is a template") {
		t.Errorf("template timer: %v", err)
	}
}

func TestSplitSystemdWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`/bin/echo a  b`, []string{"/bin/echo", "a", "b"}},
		{`/bin/echo "a b" 'c d'`, []string{"/bin/echo", "a b", "c d"}},
		{`/bin/echo x"y z"w`, []string{"/bin/echo", "xy zw"}},
		{`/bin/echo "tab\there" \x41 \101 \u00e9 a\sb`, []string{"/bin/echo", "tab\there", "A", "A", "é", "a b"}},
		{`/bin/echo "it's" '"q"'`, []string{"/bin/echo", "it's", `"q"`}},
		{`/bin/echo ""`, []string{"/bin/echo", ""}},
	} {
		got, err := splitSystemdWords(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q (%v), want %q", c.in, got, err, c.want)
		}
	}
}

func TestParseTimespan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Second, "5min": 5 * time.Minute, "1h 30min": 90 * time.Minute, "2h30m": 150 * time.Minute,
		"1d": 24 * time.Hour, "500ms": 500 * time.Millisecond, "infinity": 0, "1.5h": 90 * time.Minute, "1 week": 7 * 24 * time.Hour,
	} {
		if got, err := parseTimespan(in); err != nil || got != want {
			t.Errorf("%q: got %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "5 fortnights", "min"} {
		if _, err := parseTimespan(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestCommandSlug(t *testing.T) {
	for cmd, want := range map[string]string{
		"cd /srv/app && .venv/bin/python scripts/cleanup_stale_tasks.py":              "cleanup_stale_tasks",
		"/usr/local/bin/backup.sh --full > /dev/null 2>&1":                            "backup",
		"nice -n 10 flock -n /tmp/x.lock /usr/bin/rsync -a / /mnt":                    "rsync",
		"timeout 60 curl -s https://example.com":                                      "curl",
		"LANG=C make -C /srv cleanup-stale":                                           "make-srv",
		"make cleanup-stale":                                                          "make-cleanup-stale",
		"test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )": "run-parts-cron.daily",
		"sh -c 'echo hi'":   "echo",
		"python3 -m module": "module",
		"'quoted prog' arg": "quoted prog",
		"":                  "",
	} {
		if got := commandSlug(cmd); got != want {
			t.Errorf("%q: got %q, want %q", cmd, got, want)
		}
	}
	ids := newIDSet("ops")
	if a, b, c := ids.take(ids.slug("Job!")), ids.take(ids.slug("job")), ids.take(ids.slug("")); a != "ops.job" || b != "ops.job-2" || c != "ops.job-3" {
		t.Errorf("dedup: %s %s %s", a, b, c)
	}
	if s := slugify(strings.Repeat("long-", 30)); len(s) > maxSlug || strings.HasSuffix(s, "-") {
		t.Errorf("slug %q not clipped cleanly", s)
	}
}

func TestWriteDirRefusesOverwrite(t *testing.T) {
	res, err := ImportCrontab("x", []byte("@daily /bin/a\n@hourly /bin/b\n"), Options{Namespace: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := WriteDir(dir, res.Definitions[:1], false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ops.a.yaml"), []byte("edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = WriteDir(dir, res.Definitions, false)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "ops.a.yaml") {
		t.Fatalf("want ErrExists naming ops.a.yaml, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ops.b.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nothing may be written when refusing, but ops.b.yaml exists")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "ops.a.yaml")); string(got) != "edited by hand\n" {
		t.Errorf("the existing file was changed")
	}
	if _, err := WriteDir(dir, res.Definitions, true); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "ops.a.yaml")); string(got) != string(res.Definitions[0].YAML) {
		t.Errorf("--force did not overwrite")
	}
}
