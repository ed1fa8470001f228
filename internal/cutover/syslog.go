package cutover

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cronLine matches a cron daemon's "ran a command" line in syslog, in
// Debian's (CRON) and RHEL's (CROND) spelling, with the traditional
// timestamp ("Dec  5 03:00:01"), rsyslog's RFC 3339 one, or journalctl
// -o short-iso's (a host without rsyslog keeps cron's lines in the journal).
var cronLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\S+|[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d) \S+ (?i:crond?)\[\d+\]: \(([^)]*)\) CMD \((.*)\)\s*$`)

// SyslogOptions say how to read a syslog cron log.
type SyslogOptions struct {
	// Match keeps only commands containing it; empty keeps all, which is
	// an error when the log holds more than one command.
	Match string
	// Zone reads traditional timestamps, which carry no zone (the host's
	// zone where the log was written).
	Zone *time.Location
	// Now places traditional timestamps, which carry no year, in the
	// latest year that does not put them in the future.
	Now time.Time
}

// SyslogInfo says what reading a syslog log assumed, for the report.
type SyslogInfo struct {
	// Assumed is empty when every line carried its year and zone.
	Assumed string `json:"assumed,omitempty"`
}

// ParseSyslog reads the cron daemon's CMD lines of a syslog file; other
// lines are skipped. name is used in errors.
func ParseSyslog(r io.Reader, name string, opt SyslogOptions) ([]LegacyRun, SyslogInfo, error) {
	loc := cmp.Or(opt.Zone, time.UTC)
	var runs []LegacyRun
	var info SyslogInfo
	commands := map[string]int{}
	err := scanLines(r, name, func(n int, line string) error {
		m := cronLine.FindStringSubmatch(line)
		if m == nil {
			return nil
		}
		cmd := m[3]
		commands[cmd]++
		if opt.Match != "" && !strings.Contains(cmd, opt.Match) {
			return nil
		}
		at, traditional, err := syslogTime(m[1], loc, opt.Now)
		if err != nil {
			return inputError(name, n, "%v", err)
		}
		if traditional && info.Assumed == "" {
			info.Assumed = fmt.Sprintf("syslog lines carry no year or zone: read in %s (--zone), year placed before %s", loc, opt.Now.In(loc).Format("2006-01-02"))
		}
		if len(runs) == runsMax {
			return inputError(name, n, "more than %d runs: cut the log to the weeks to compare", runsMax)
		}
		runs = append(runs, LegacyRun{At: at, Where: name + ":" + strconv.Itoa(n)})
		return nil
	})
	if err != nil {
		return nil, info, err
	}
	if len(commands) == 0 {
		return nil, info, inputError(name, 0, "no cron CMD lines (\"CRON[pid]: (user) CMD (command)\"): is this the cron log (Debian /var/log/syslog, RHEL /var/log/cron)?")
	}
	if opt.Match == "" && len(commands) > 1 {
		return nil, info, inputError(name, 0, "%d different cron commands: pick the job with --match SUBSTRING; %s", len(commands), commandList(commands))
	}
	if opt.Match != "" && len(runs) == 0 {
		return nil, info, inputError(name, 0, "no cron command contains --match %q; %s", opt.Match, commandList(commands))
	}
	return runs, info, nil
}

// commandList names the commands seen, most frequent first, at most five.
func commandList(commands map[string]int) string {
	keys := slices.SortedFunc(maps.Keys(commands), func(a, b string) int {
		return cmp.Or(cmp.Compare(commands[b], commands[a]), cmp.Compare(a, b))
	})
	var parts []string
	for i, k := range keys {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(keys)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%q (%d×)", k, commands[k]))
	}
	return "seen: " + strings.Join(parts, ", ")
}

// isoNoColon is journalctl -o short-iso's stamp (2026-12-01T03:00:01+0100;
// short-iso-precise adds the fraction, which Parse accepts anyway).
const isoNoColon = "2006-01-02T15:04:05-0700"

// syslogTime reads a timestamp; traditional is true when it had no year
// and zone and they were assumed.
func syslogTime(s string, loc *time.Location, now time.Time) (time.Time, bool, error) {
	if s[0] >= '0' && s[0] <= '9' {
		for _, layout := range []string{time.RFC3339Nano, isoNoColon} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), false, nil
			}
		}
		return time.Time{}, false, fmt.Errorf("timestamp %q is not RFC 3339", s)
	}
	t, err := time.ParseInLocation("Jan _2 15:04:05", strings.Join(strings.Fields(s), " "), loc)
	if err != nil {
		t, err = time.ParseInLocation("Jan 2 15:04:05", strings.Join(strings.Fields(s), " "), loc)
	}
	if err != nil {
		return time.Time{}, true, fmt.Errorf("timestamp %q is not a syslog time (Dec  5 03:00:01)", s)
	}
	year := now.In(loc).Year()
	at := time.Date(year, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
	if at.After(now.Add(24 * time.Hour)) {
		at = time.Date(year-1, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
	}
	return at.UTC(), true, nil
}
