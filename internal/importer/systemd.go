package importer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// persistentCatchupWindow is the catch-up window written for Persistent=true.
// systemd runs a missed event once however long the machine was off;
// Temporal's own default window (365 days) is the closest bound.
const persistentCatchupWindow = 365 * 24 * time.Hour

// monotonicKeys are timer settings relative to boot or activation; the
// definition format has calendar, event and once triggers only.
var monotonicKeys = []string{"OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec"}

// timerNotCarried are [Timer] settings with no counterpart, and why.
var timerNotCarried = map[string]string{
	"AccuracySec":         "Temporal fires on time; systemd could delay the event by up to this much",
	"WakeSystem":          "activity-core cannot wake a suspended machine",
	"RemainAfterElapse":   "there is no timer unit state to keep",
	"OnClockChange":       "Temporal schedules are not triggered by clock changes",
	"OnTimezoneChange":    "Temporal schedules are not triggered by time zone changes",
	"FixedRandomDelay":    "Temporal draws a new jitter for every fire",
	"RandomizedOffsetSec": "Temporal has no fixed per-schedule offset",
}

// sandboxKeys are [Service] settings that restrict or shape the process.
// The worker runs commands as its own user without them.
var sandboxKeys = map[string]bool{
	"User": true, "Group": true, "DynamicUser": true, "SupplementaryGroups": true,
	"ProtectSystem": true, "ProtectHome": true, "PrivateTmp": true, "PrivateDevices": true,
	"PrivateNetwork": true, "PrivateUsers": true, "PrivateIPC": true, "PrivateMounts": true,
	"NoNewPrivileges": true, "ReadOnlyPaths": true, "ReadWritePaths": true, "InaccessiblePaths": true,
	"ExecPaths": true, "NoExecPaths": true, "TemporaryFileSystem": true, "BindPaths": true, "BindReadOnlyPaths": true,
	"CapabilityBoundingSet": true, "AmbientCapabilities": true, "ProtectKernelTunables": true,
	"ProtectKernelModules": true, "ProtectKernelLogs": true, "ProtectControlGroups": true, "ProtectClock": true,
	"ProtectHostname": true, "ProtectProc": true, "ProcSubset": true, "RestrictAddressFamilies": true,
	"RestrictNamespaces": true, "RestrictRealtime": true, "RestrictSUIDSGID": true, "LockPersonality": true,
	"MemoryDenyWriteExecute": true, "SystemCallFilter": true, "SystemCallArchitectures": true,
	"SystemCallErrorNumber": true, "IPAddressDeny": true, "IPAddressAllow": true, "DevicePolicy": true,
	"DeviceAllow": true, "UMask": true, "RootDirectory": true, "RootImage": true, "StateDirectory": true,
	"CacheDirectory": true, "LogsDirectory": true, "RuntimeDirectory": true, "ConfigurationDirectory": true,
	"Nice": true, "IOSchedulingClass": true, "IOSchedulingPriority": true, "CPUSchedulingPolicy": true,
	"CPUQuota": true, "CPUWeight": true, "MemoryMax": true, "MemoryHigh": true, "TasksMax": true,
	"IOWeight": true, "LimitNOFILE": true, "LimitNPROC": true, "LimitCORE": true, "OOMScoreAdjust": true,
	"Slice": true, "KillMode": true, "KillSignal": true, "LoadCredential": true, "SetCredential": true,
}

// serviceIgnored are [Service] settings with nothing to carry for a job a
// timer starts.
var serviceIgnored = map[string]bool{"Type": true, "RemainAfterExit": true}

// ImportSystemd converts a timer unit and the service it starts. When
// servicePath is empty the service is looked up beside the timer: the
// timer's Unit=, or the .service of the same name.
func ImportSystemd(timerPath, servicePath string, opt Options) (*Result, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	name := filepath.Base(timerPath)
	if !strings.HasSuffix(name, ".timer") {
		return nil, fmt.Errorf("%s: expected a .timer unit", timerPath)
	}
	timer, err := readUnit(timerPath)
	if err != nil {
		return nil, err
	}
	unitName := strings.TrimSuffix(name, ".timer")
	if strings.HasSuffix(unitName, "@") {
		return nil, fmt.Errorf("%s is a template; import an instance (e.g. %s<instance>.timer) by copying it to that name", timerPath, unitName)
	}
	serviceName := "" // the instance name when the file is a template
	if servicePath == "" {
		svcName := unitName + ".service"
		if v, _, ok := timer.get("Timer", "Unit"); ok && v != "" {
			svcName = v
		}
		servicePath = filepath.Join(filepath.Dir(timerPath), svcName)
		if _, err := os.Stat(servicePath); err != nil {
			// An instance (job@x.service) may come from its template.
			prefix, instance, isInstance := strings.Cut(strings.TrimSuffix(svcName, ".service"), "@")
			template := filepath.Join(filepath.Dir(timerPath), prefix+"@.service")
			if _, terr := os.Stat(template); !isInstance || instance == "" || terr != nil {
				return nil, fmt.Errorf("%s: the timer starts %s, which is not beside it (%s); pass the service file as the second argument", timerPath, svcName, servicePath)
			}
			servicePath, serviceName = template, svcName
		}
	}
	if !strings.HasSuffix(servicePath, ".service") {
		return nil, fmt.Errorf("%s: expected a .service unit", servicePath)
	}
	service, err := readUnit(servicePath)
	if err != nil {
		return nil, err
	}
	if serviceName != "" {
		service.name = serviceName
	}
	res := &Result{}
	for _, u := range []*unitFile{timer, service} {
		if st, err := os.Stat(u.path + ".d"); err == nil && st.IsDir() {
			res.notice(u.path, 0, "drop-in directory %s.d exists and was not read: merge its settings into the unit file and import again", u.path)
		}
	}
	imp := &systemdImport{opt: opt, res: res, timer: timer, service: service, id: opt.Namespace + "." + slugOrJob(unitName)}
	imp.run()
	return res, nil
}

func slugOrJob(s string) string {
	if s = slugify(s); s == "" {
		return "job"
	}
	return s
}

func readUnit(path string) (*unitFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", path)
		}
		return nil, err
	}
	return parseUnit(path, filepath.Base(path), data)
}

type systemdImport struct {
	opt            Options
	res            *Result
	timer, service *unitFile
	id             string
	notes          []string // for every definition the timer becomes
}

// calendarEvent is one OnCalendar= line read into cron sets.
type calendarEvent struct {
	sc    schedule
	zone  string
	texts []string
	line  int
}

func (s *systemdImport) skip(u *unitFile, line int, format string, args ...any) {
	s.res.skip(u.path, line, format, args...)
}

// run converts the timer and its service into definitions. A setting that
// cannot be carried over skips the timer (recorded in s.res) or adds a note
// to every definition written.
func (s *systemdImport) run() {
	events, ok := s.calendarEvents()
	if !ok {
		return
	}
	d := draft{misfire: s.opt.MisfirePolicy, source: s.timer.name}
	if !s.timerSettings(&d) {
		return
	}
	names := newUnitNames(s.service.name)
	env, ok := s.serviceEnv(names)
	if !ok {
		return
	}
	cmds, ok := s.serviceCommands(names, env)
	if !ok {
		return
	}
	if !s.serviceSettings(&d, names) {
		return
	}
	d.env = env
	s.command(&d, cmds)
	d.description = s.description()
	s.emit(d, events)
}

// note adds a note to every definition the timer becomes.
func (s *systemdImport) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// calendarEvents reads the timer's triggers: its OnCalendar= events, merged
// where they fit one cron expression. Monotonic triggers are noted, or skip
// the timer when they are all it has.
func (s *systemdImport) calendarEvents() ([]calendarEvent, bool) {
	t := s.timer
	var events []calendarEvent
	for _, e := range t.list("Timer", "OnCalendar") {
		sc, zone, err := parseCalendar(e.value)
		if err != nil {
			var inexp *errInexpressible
			if errors.As(err, &inexp) {
				s.skip(t, e.line, "OnCalendar=%s cannot be expressed as a cron schedule: %v; the timer was not imported (rewrite the event with whole minutes and no year, or write the definition by hand)", e.value, err)
			} else {
				s.skip(t, e.line, "OnCalendar=%s: %v; the timer was not imported", e.value, err)
			}
			return nil, false
		}
		events = append(events, calendarEvent{sc: sc, zone: zone, texts: []string{e.value}, line: e.line})
	}
	var monotonic []string
	for _, k := range monotonicKeys {
		for _, e := range t.list("Timer", k) {
			monotonic = append(monotonic, k+"="+e.value)
		}
	}
	if len(events) == 0 {
		if len(monotonic) > 0 {
			s.skip(t, 0, "the timer has only monotonic triggers (%s): definitions have cron, event and once triggers, with no interval counted from boot or from the last run; express the cadence as OnCalendar= (e.g. OnUnitActiveSec=15min is close to OnCalendar=*:0/15) and import again", strings.Join(monotonic, ", "))
		} else {
			s.skip(t, 0, "the timer has no OnCalendar= line, so there is no schedule to import")
		}
		return nil, false
	}
	if len(monotonic) > 0 {
		s.note("%s not carried over: definitions have no interval counted from boot or from the last run (the OnCalendar= schedule is kept)", strings.Join(monotonic, ", "))
	}
	return mergeEvents(events), true
}

// timerSettings carries the timer's other settings into d.
func (s *systemdImport) timerSettings(d *draft) bool {
	t := s.timer
	for _, e := range t.entries {
		switch {
		case e.section == "Timer":
			switch e.key {
			case "OnCalendar", "Unit", "OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec":
			case "Persistent":
				on, err := parseBool(e.value)
				if err != nil {
					s.skip(t, e.line, "Persistent=%s: %v; the timer was not imported", e.value, err)
					return false
				}
				d.catchup = 0
				if on {
					d.catchup = persistentCatchupWindow
				}
			case "RandomizedDelaySec":
				v, err := parseTimespan(e.value)
				if err != nil {
					s.skip(t, e.line, "RandomizedDelaySec=%s: %v; the timer was not imported", e.value, err)
					return false
				}
				d.jitter = v
			default:
				if why, ok := timerNotCarried[e.key]; ok {
					s.note("%s=%s not carried over: %s", e.key, e.value, why)
				} else {
					s.note("%s=%s (%s line %d) not carried over: activity-core has no counterpart", e.key, e.value, t.name, e.line)
				}
			}
		case e.section == "Unit" && e.key != "Description" && e.key != "Documentation":
			s.note("%s=%s in the timer's [Unit] not carried over: definitions have no unit dependencies or conditions", e.key, e.value)
		}
	}
	if d.catchup > 0 {
		s.note("Persistent=true: catchup_window %s, so a fire missed while activity-core was down still runs when it is back, as systemd runs a missed event at boot", fmtDuration(d.catchup))
	}
	if d.jitter > 0 {
		s.note("RandomizedDelaySec: jitter %s (a random delay up to this much on every fire, as in systemd)", fmtDuration(d.jitter))
	}
	return true
}

// serviceEnv reads the service's Environment= lines.
func (s *systemdImport) serviceEnv(names unitNames) ([]kv, bool) {
	svc := s.service
	var env []kv
	for _, e := range svc.list("Service", "Environment") {
		v, err := expandSpecifiers(e.value, names)
		if err != nil {
			s.skip(svc, e.line, "Environment=: %v; the timer was not imported", err)
			return nil, false
		}
		words, err := splitSystemdWords(v)
		if err != nil {
			s.skip(svc, e.line, "Environment=: %v; the timer was not imported", err)
			return nil, false
		}
		for _, w := range words {
			k, val, ok := strings.Cut(w, "=")
			if !ok || !envNameOK(k) {
				s.skip(svc, e.line, "Environment=: %q is not NAME=VALUE; the timer was not imported", w)
				return nil, false
			}
			env = setKV(env, k, val)
		}
	}
	return env, true
}

// serviceCommands reads the service's ExecStartPre=, ExecStart= and
// ExecStartPost= lines, in the order systemd runs them.
func (s *systemdImport) serviceCommands(names unitNames, env []kv) ([]*execCommand, bool) {
	svc := s.service
	var cmds []*execCommand
	for _, key := range []string{"ExecStartPre", "ExecStart", "ExecStartPost"} {
		for _, e := range svc.list("Service", key) {
			c, err := parseExecLine(e, names, env)
			if err != nil {
				s.skip(svc, e.line, "%s=: %v; the timer was not imported", key, err)
				return nil, false
			}
			cmds = append(cmds, c)
		}
	}
	if !hasKey(cmds, "ExecStart") {
		s.skip(svc, 0, "the service has no ExecStart=, so there is nothing to run")
		return nil, false
	}
	return cmds, true
}

// serviceSettings carries the service's other settings into d.
func (s *systemdImport) serviceSettings(d *draft, names unitNames) bool {
	svc := s.service
	var sandbox []string
	for _, e := range svc.entries {
		switch {
		case e.section == "Unit" && e.key == "Description":
		case e.section == "Unit" && e.key != "Documentation":
			s.note("%s=%s in the service's [Unit] not carried over: definitions have no unit dependencies or conditions", e.key, e.value)
		case e.section != "Service":
		case strings.HasPrefix(e.key, "ExecStart") || e.key == "Environment" || serviceIgnored[e.key]:
			if e.key == "Type" && e.value != "oneshot" && e.value != "simple" && e.value != "exec" {
				s.note("Type=%s: the command is run to completion and its exit code is the run's result", e.value)
			}
		case sandboxKeys[e.key]:
			sandbox = append(sandbox, e.key+"="+e.value)
		case e.key == "WorkingDirectory":
			if !s.workdir(d, e, names) {
				return false
			}
		case e.key == "TimeoutStartSec" || e.key == "TimeoutSec" || e.key == "RuntimeMaxSec":
			v, err := parseTimespan(e.value)
			if err != nil {
				s.skip(svc, e.line, "%s=%s: %v; the timer was not imported", e.key, e.value, err)
				return false
			}
			if v > 0 && (d.timeout == 0 || v < d.timeout) {
				d.timeout = v
			}
		case e.key == "EnvironmentFile":
			s.note("EnvironmentFile=%s not carried over: copy its variables into instruction.env, or for secrets export them on the worker and write NAME: \"${env:NAME}\"", e.value)
		case e.key == "PassEnvironment":
			s.note("PassEnvironment=%s not carried over: the command inherits the worker's environment", e.value)
		case e.key == "StandardOutput" || e.key == "StandardError" || e.key == "SyslogIdentifier" || e.key == "StandardInput":
			s.note("%s=%s not carried over: output goes to the run history (stdout/stderr tails)", e.key, e.value)
		case e.key == "Restart" || e.key == "RestartSec":
			s.note("%s=%s not carried over: set retry (max_attempts, initial_interval) in the definition to retry failed runs", e.key, e.value)
		default:
			s.note("%s=%s (%s line %d) not carried over: activity-core has no counterpart", e.key, e.value, svc.name, e.line)
		}
	}
	if len(sandbox) > 0 {
		sort.Strings(sandbox)
		s.note("not carried over, the worker runs the command as its own user without them: %s", strings.Join(sandbox, ", "))
	}
	return true
}

// workdir carries WorkingDirectory= into d when it is an absolute path.
func (s *systemdImport) workdir(d *draft, e unitEntry, names unitNames) bool {
	wd, err := expandSpecifiers(strings.TrimPrefix(e.value, "-"), names)
	if err != nil {
		s.skip(s.service, e.line, "WorkingDirectory=: %v; the timer was not imported", err)
		return false
	}
	if !strings.HasPrefix(wd, "/") {
		s.note("WorkingDirectory=%s not carried over: only an absolute path can be a workdir (~ is the user's home, which the importer cannot know)", e.value)
		return true
	}
	d.workdir = wd
	if strings.HasPrefix(e.value, "-") {
		s.note("WorkingDirectory=-…: systemd ignores a missing directory; the worker fails the run instead")
	}
	return true
}

// command sets d's command: the argv of a lone ExecStart=, or one /bin/sh
// line running every command line in order.
func (s *systemdImport) command(d *draft, cmds []*execCommand) {
	for _, c := range cmds {
		if strings.ContainsAny(c.prefixes, "+!") {
			s.note("%s= prefix %q (privileges) dropped: the command runs with the worker's privileges", c.key, c.prefixes)
		}
		if strings.Contains(c.prefixes, "@") {
			s.note("%s= prefix @ dropped: the program gets its own path as argv[0], not the name the unit gave it", c.key)
		}
		if strings.Contains(c.prefixes, ":") {
			s.note("%s= prefix : kept in effect: $ references were not substituted", c.key)
		}
		if c.shell != "" {
			s.note("%s= (line %d) references variables the unit does not set; it runs through /bin/sh so the worker's environment supplies them", c.key, c.line)
		}
	}
	if len(cmds) == 1 && cmds[0].shell == "" {
		d.args = cmds[0].argv
		d.command = cmds[0].shellText()
		if cmds[0].ignoreFailure {
			d.onFailure = "log_and_continue"
			s.note("ExecStart=- (failure ignored): on_failure log_and_continue")
		}
		return
	}
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		parts[i] = c.shellText()
		if c.ignoreFailure {
			if len(cmds) == 1 {
				d.onFailure = "log_and_continue"
				s.note("%s=- (failure ignored): on_failure log_and_continue", c.key)
			} else {
				parts[i] = "{ " + parts[i] + " || true; }"
			}
		}
	}
	d.cmd = strings.Join(parts, " && ")
	d.command = d.cmd
	if len(cmds) > 1 {
		s.note("%d command lines (ExecStartPre/ExecStart/ExecStartPost) run in order by /bin/sh, stopping at the first failure as systemd does; a - prefix became || true", len(cmds))
	}
}

// description is the service's Description=, else the timer's, else a line
// naming the timer.
func (s *systemdImport) description() string {
	desc, _, ok := s.service.get("Unit", "Description")
	if !ok {
		desc, _, _ = s.timer.get("Unit", "Description")
	}
	if desc == "" {
		return "Imported from " + s.timer.name + "."
	}
	return desc
}

// emit writes one definition per calendar event from the draft d.
func (s *systemdImport) emit(d draft, events []calendarEvent) {
	t, svc := s.timer, s.service
	explicitZone := true
	for i, ev := range events {
		dd := d
		dd.notes = append([]string(nil), s.notes...)
		dd.id = s.id
		if len(events) > 1 {
			dd.id = s.id + "-" + strconv.Itoa(i+1)
			dd.notes = append(dd.notes, fmt.Sprintf("the timer has %d OnCalendar= events that do not fit one cron expression; this is event %d of %d (if two events fall on the same minute, each definition runs once, where systemd started the service once)", len(events), i+1, len(events)))
		}
		dd.timezone = ev.zone
		if dd.timezone == "" {
			dd.timezone = s.opt.Timezone
		}
		if dd.timezone == "" {
			dd.timezone = "UTC"
			explicitZone = false
		}
		var err error
		if dd.cron, err = cronText(ev.sc); err != nil {
			s.skip(t, ev.line, "OnCalendar=%s: %v", strings.Join(ev.texts, " / "), err)
			continue
		}
		dd.origin = []string{fmt.Sprintf("Imported by activity-core import systemd from %s and %s:", t.path, svc.name), "  OnCalendar=" + strings.Join(ev.texts, ", OnCalendar=")}
		def, err := finish(&dd)
		if err != nil {
			s.skip(t, ev.line, "%v", err)
			continue
		}
		s.res.Definitions = append(s.res.Definitions, def)
	}
	if !explicitZone {
		s.res.notice(t.path, 0, "OnCalendar= names no time zone and no --timezone was given: the schedule is read in UTC, while systemd used the host's zone; pass --timezone (e.g. --timezone Europe/Berlin) if the host was not on UTC")
	}
}

func hasKey(cmds []*execCommand, key string) bool {
	for _, c := range cmds {
		if c.key == key {
			return true
		}
	}
	return false
}

func setKV(list []kv, name, value string) []kv {
	for i := range list {
		if list[i].name == name {
			list[i].value = value
			return list
		}
	}
	return append(list, kv{name, value})
}

// mergeEvents combines OnCalendar= events that differ in one field only
// (Mon 10:00 and Fri 10:00 become "0 10 * * 1,5"); others stay apart.
func mergeEvents(evs []calendarEvent) []calendarEvent {
	for merged := true; merged; {
		merged = false
	outer:
		for i := 0; i < len(evs); i++ {
			for j := i + 1; j < len(evs); j++ {
				a, b := evs[i], evs[j]
				if a.zone != b.zone {
					continue
				}
				diff := -1
				for f := 0; f < 5; f++ {
					if a.sc.fields[f] != b.sc.fields[f] {
						if diff >= 0 {
							diff = -2
							break
						}
						diff = f
					}
				}
				if diff == -2 {
					continue
				}
				// Day-of-month and day-of-week interact (AND), so a merge of
				// either is exact only when the other field is the same:
				// that holds here because only one field differs.
				if diff >= 0 {
					a.sc.fields[diff] |= b.sc.fields[diff]
				}
				a.texts = append(a.texts, b.texts...)
				evs[i] = a
				evs = append(evs[:j], evs[j+1:]...)
				merged = true
				break outer
			}
		}
	}
	return evs
}

// parseBool reads systemd's booleans.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (yes/no, true/false, on/off, 1/0)", v)
}

var timespanUnits = map[string]time.Duration{
	"us": time.Microsecond, "usec": time.Microsecond, "µs": time.Microsecond,
	"ms": time.Millisecond, "msec": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
	"M": 2629800 * time.Second, "month": 2629800 * time.Second, "months": 2629800 * time.Second,
	"y": 31557600 * time.Second, "year": 31557600 * time.Second, "years": 31557600 * time.Second,
}

// parseTimespan reads a systemd time span ("5min", "1h 30s", "90"); a bare
// number is seconds; "infinity" is 0 (no limit).
func parseTimespan(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if s == "infinity" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	var total time.Duration
	for s != "" {
		s = strings.TrimLeft(s, " \t")
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q is not a time span (e.g. 30s, 5min, 1h 30min)", v)
		}
		num, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a time span (e.g. 30s, 5min, 1h 30min)", v)
		}
		s = strings.TrimLeft(s[i:], " \t")
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9') && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		unit := time.Second
		if j > 0 {
			u, ok := timespanUnits[s[:j]]
			if !ok {
				return 0, fmt.Errorf("%q: unknown unit %q (use s, min, h, d, w)", v, s[:j])
			}
			unit = u
		}
		total += time.Duration(num * float64(unit))
		s = s[j:]
	}
	return total, nil
}
