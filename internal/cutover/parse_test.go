package cutover

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A Debian syslog around midnight of New Year: cron lines of two jobs, in
// the traditional format, among other programs' lines.
const debianSyslog = `Dec 31 03:00:01 hub CRON[1201]: (worsch) CMD (cd /home/worsch/state-hub && make cleanup-stale)
Dec 31 03:05:01 hub CRON[1202]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)
Dec 31 03:17:01 hub systemd[1]: Starting logrotate.service - Rotate log files...
Jan  1 03:00:02 hub CRON[1301]: (worsch) CMD (cd /home/worsch/state-hub && make cleanup-stale)
Jan  1 03:00:02 hub CRON[1300]: (CRON) info (No MTA installed, discarding output)
`

func TestParseSyslogTraditional(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2027, 1, 5, 12, 0, 0, 0, time.UTC)
	runs, info, err := ParseSyslog(strings.NewReader(debianSyslog), "syslog", SyslogOptions{Match: "cleanup-stale", Zone: berlin, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// 03:00 in Berlin is 02:00 UTC in winter; December is last year's.
	want := []time.Time{time.Date(2026, 12, 31, 2, 0, 1, 0, time.UTC), time.Date(2027, 1, 1, 2, 0, 2, 0, time.UTC)}
	if len(runs) != len(want) {
		t.Fatalf("got %+v", runs)
	}
	for i, r := range runs {
		if !r.At.Equal(want[i]) || r.Exit != nil || r.Outcome() != "exit ?" {
			t.Errorf("run %d: %+v, want at %s with no exit status", i, r, want[i])
		}
	}
	if runs[1].Where != "syslog:4" {
		t.Errorf("where %q, want syslog:4", runs[1].Where)
	}
	if !strings.Contains(info.Assumed, "Europe/Berlin") {
		t.Errorf("the zone assumed is not said: %q", info.Assumed)
	}
}

func TestParseSyslogRFC3339AndRHEL(t *testing.T) {
	log := "2026-12-01T03:00:01.503211+01:00 hub CRON[77]: (worsch) CMD (make cleanup-stale)\n" +
		"Dec  2 03:00:01 hub CROND[78]: (worsch) CMD (make cleanup-stale)\n" +
		"2026-12-03T03:00:01+0100 hub CRON[79]: (worsch) CMD (make cleanup-stale)\n" + // journalctl -u cron -o short-iso
		"2026-12-04T03:00:01.250000+0100 hub CRON[80]: (worsch) CMD (make cleanup-stale)\n" // short-iso-precise
	runs, info, err := ParseSyslog(strings.NewReader(log), "cron", SyslogOptions{Zone: time.UTC, Now: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 || !runs[0].At.Equal(time.Date(2026, 12, 1, 2, 0, 1, 503211000, time.UTC)) || !runs[1].At.Equal(time.Date(2026, 12, 2, 3, 0, 1, 0, time.UTC)) ||
		!runs[2].At.Equal(time.Date(2026, 12, 3, 2, 0, 1, 0, time.UTC)) || !runs[3].At.Equal(time.Date(2026, 12, 4, 2, 0, 1, 250000000, time.UTC)) {
		t.Errorf("got %+v", runs)
	}
	if info.Assumed == "" {
		t.Error("the traditional line's year and zone were assumed silently")
	}
}

func TestParseSyslogErrors(t *testing.T) {
	tests := []struct{ name, in, match, want string }{
		{"two jobs, no --match", debianSyslog, "", `syslog: 2 different cron commands: pick the job with --match SUBSTRING; seen: "cd /home/worsch/state-hub && make cleanup-stale" (2×)`},
		{"--match finds nothing", debianSyslog, "consistency_check", `no cron command contains --match "consistency_check"`},
		{"no cron lines", "Dec  1 00:00:00 hub kernel: hello\n", "", "no cron CMD lines"},
		{"bad RFC 3339 stamp", "2026-13-01T03:00:01+01:00 hub CRON[1]: (u) CMD (x)\n", "", `syslog:1: timestamp "2026-13-01T03:00:01+01:00" is not RFC 3339`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseSyslog(strings.NewReader(tt.in), "syslog", SyslogOptions{Match: tt.match, Now: time.Now()})
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant an InputError containing %s", err, tt.want)
			}
		})
	}
}

func TestParseTimes(t *testing.T) {
	in := "# custodian-cleanup, copied from the old host\n\n2026-12-01T03:00:00+01:00\n2026-12-02T02:00:05Z 1\n  2026-12-03T02:00:05.25Z 0  \n"
	runs, err := ParseTimes(strings.NewReader(in), "times.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, r := range runs {
		got = append(got, r.At.Format(time.RFC3339Nano)+" "+r.Outcome()+" "+r.Where)
	}
	want := []string{"2026-12-01T02:00:00Z exit ? times.txt:3", "2026-12-02T02:00:05Z exit 1 times.txt:4", "2026-12-03T02:00:05.25Z exit 0 times.txt:5"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseTimesErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2026-12-01 03:00:00\n", `times.txt:1: "2026-12-01" is not an RFC 3339 time with a zone`},
		{"# ok\n2026-12-01T03:00:00 0\n", `times.txt:2: "2026-12-01T03:00:00" is not an RFC 3339 time with a zone`},
		{"2026-12-01T03:00:00Z failed\n", `times.txt:1: exit status "failed" is not a number from 0 to 255`},
		{"2026-12-01T03:00:00Z 256\n", `times.txt:1: exit status "256"`},
		{"2026-12-01T03:00:00Z 0 extra\n", `times.txt:1: "2026-12-01T03:00:00Z 0 extra": want a time and at most an exit status`},
	}
	for _, tt := range tests {
		_, err := ParseTimes(strings.NewReader(tt.in), "times.txt")
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v\nwant an InputError containing %s", tt.in, err, tt.want)
		}
	}
}
