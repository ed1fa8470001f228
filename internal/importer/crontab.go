package importer

import (
	"cmp"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
)

// crontabMacros are the @-shortcuts Vixie cron and cronie accept, with the
// same meaning in Temporal (so they are written as they are). @reboot has
// no counterpart.
var crontabMacros = map[string]bool{
	"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true,
}

// notCarried are crontab variables cron itself reads; they do not reach the
// job in a way activity-core can reproduce.
var notCarried = map[string]string{
	"MAILTO":                    "cron mails a job's output; activity-core keeps the stdout/stderr tails in the run history instead (activity-core runs show)",
	"MAILFROM":                  "cron mails a job's output; activity-core keeps it in the run history instead",
	"CONTENT_TYPE":              "only affects cron's output mail",
	"CONTENT_TRANSFER_ENCODING": "only affects cron's output mail",
	"CRON_CORRECT_MAIL_HEADER":  "only affects cron's output mail",
}

var envLine = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$`)

// isSystemCrontab reports whether path is where the system crontab format
// (with a user field) is used: /etc/crontab and files in /etc/cron.d.
func isSystemCrontab(path string) bool {
	clean := filepath.Clean(path)
	return clean == "/etc/crontab" || filepath.Dir(clean) == "/etc/cron.d"
}

// crontabState is what the VAR=value lines above an entry have set.
type crontabState struct {
	env    []kv
	cronTZ string // CRON_TZ: the schedule zone
	tzVar  string // TZ: the job's zone, also read as the schedule zone
	tzErr  string
	shell  string
	home   string
	jitter time.Duration
}

// zone is the schedule zone the variables above an entry chose, or "".
func (s *crontabState) zone() string {
	if s.cronTZ != "" {
		return s.cronTZ
	}
	return s.tzVar
}

func (s *crontabState) setEnv(name, value string) {
	for i := range s.env {
		if s.env[i].name == name {
			s.env[i].value = value
			return
		}
	}
	s.env = append(s.env, kv{name, value})
}

// ImportCrontab converts a crontab file. file names the input in messages;
// it is also used to detect the system format.
func ImportCrontab(file string, data []byte, opt Options) (*Result, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	res := &Result{}
	system := opt.System || isSystemCrontab(file)
	st := &crontabState{}
	ids := newIDSet(opt.Namespace)
	explicitZone := false

	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		lineNo := i + 1
		line := strings.TrimRight(raw, "\r")
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if m := envLine.FindStringSubmatch(trimmed); m != nil {
			crontabVar(res, file, lineNo, st, m[1], unquoteEnv(strings.TrimRight(m[2], " \t")))
			continue
		}
		drafts, err := crontabEntry(file, lineNo, trimmed, system, st, opt)
		if err != nil {
			res.skip(file, lineNo, "%v", err)
			continue
		}
		if st.zone() != "" {
			explicitZone = true
		}
		base := ids.slug(commandSlug(drafts[0].cmdForSlug))
		for _, cd := range drafts {
			d := cd.draft
			d.id = ids.take(base + cd.suffix)
			def, err := finish(d)
			if err != nil {
				res.skip(file, lineNo, "%v", err)
				continue
			}
			res.Definitions = append(res.Definitions, def)
		}
	}
	if len(res.Definitions) > 0 {
		if opt.Timezone == "" && !explicitZone {
			res.notice(file, 0, "no CRON_TZ= line and no --timezone: schedules are read in UTC, while cron used the host's time zone; pass --timezone (e.g. --timezone Europe/Berlin) if the host was not on UTC")
		}
		if opt.MisfirePolicy == "" {
			res.notice(file, 0, "cron starts a job again even if its last run is still going; the definitions use misfire_policy skip (the default), so an overlapping fire is skipped (pass --misfire-policy allow_all to keep cron's behaviour)")
		}
	}
	return res, nil
}

// crontabVar applies a VAR=value line.
func crontabVar(res *Result, file string, line int, st *crontabState, name, value string) {
	switch name {
	case "CRON_TZ", "TZ":
		if _, err := time.LoadLocation(value); err != nil || value == "" || value == "Local" {
			st.tzErr = fmt.Sprintf("%s=%s on line %d is not an IANA time zone name, so this entry cannot be scheduled in the zone cron used; fix that line (e.g. CRON_TZ=Europe/Berlin)", name, value, line)
			res.skip(file, line, "%s=%q is not an IANA time zone name (e.g. UTC, Europe/Berlin)", name, value)
		} else {
			st.tzErr = ""
			if name == "CRON_TZ" {
				st.cronTZ = value
			} else {
				st.tzVar = value
			}
		}
		if name == "TZ" {
			// The job saw TZ in its environment; keep it there too.
			st.setEnv(name, value)
			res.notice(file, line, "TZ=%s: read as the time zone of the schedules below (unless CRON_TZ is set) and kept in their env", value)
		}
	case "SHELL":
		st.shell = value
		st.setEnv(name, value)
		if value != "/bin/sh" {
			res.notice(file, line, "SHELL=%s: the entries below run as args [%s, -c, COMMAND] (activity-core's cmd would use /bin/sh)", value, value)
		}
	case "RANDOM_DELAY":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			res.skip(file, line, "RANDOM_DELAY=%q is not a number of minutes; it was ignored", value)
			return
		}
		st.jitter = time.Duration(n) * time.Minute
		res.notice(file, line, "RANDOM_DELAY=%d: becomes trigger.jitter %s for the entries below", n, fmtDuration(st.jitter))
	default:
		if why, ok := notCarried[name]; ok {
			res.notice(file, line, "%s=%s is not carried over: %s", name, value, why)
			return
		}
		if strings.HasPrefix(name, "ACTIVITY_") {
			res.notice(file, line, "%s is not carried over: names starting with ACTIVITY_ are set by activity-core for every run", name)
			return
		}
		if strings.Contains(value, "${env:") {
			res.notice(file, line, "%s is not carried over: its value contains ${env:...}, which activity-core would resolve on the worker instead of passing it through as text", name)
			return
		}
		if name == "HOME" {
			st.home = value
		}
		st.setEnv(name, value)
	}
}

// unquoteEnv strips one pair of matching quotes, as cron does.
func unquoteEnv(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// cronDraft is one definition an entry becomes; suffix tells the id apart
// when an entry becomes two.
type cronDraft struct {
	draft      *draft
	suffix     string
	cmdForSlug string
}

// crontabEntry reads one schedule line.
func crontabEntry(file string, line int, text string, system bool, st *crontabState, opt Options) ([]cronDraft, error) {
	fields, user, rest, err := entryFields(text, system)
	if err != nil {
		return nil, err
	}
	if st.tzErr != "" {
		return nil, fmt.Errorf("%s", st.tzErr)
	}
	exprs, schedNotes, andIntended, err := entrySchedule(fields)
	if err != nil {
		return nil, err
	}
	cmd, cmdNotes, err := entryCommand(rest)
	if err != nil {
		return nil, err
	}
	zone := cmp.Or(st.zone(), opt.Timezone, "UTC")
	var out []cronDraft
	for i, expr := range exprs {
		d := &draft{
			description: fmt.Sprintf("Imported from %s line %d.", filepath.Base(file), line),
			origin:      []string{fmt.Sprintf("Imported by activity-core import crontab from %s line %d:", file, line), "  " + text},
			cron:        expr,
			timezone:    zone,
			misfire:     opt.MisfirePolicy,
			jitter:      st.jitter,
			env:         append([]kv(nil), st.env...),
			source:      fmt.Sprintf("%s:%d", filepath.Base(file), line),
			command:     oneLine(cmd),
			andIntended: andIntended,
		}
		if st.shell != "" && st.shell != "/bin/sh" {
			d.args = []string{st.shell, "-c", cmd}
		} else {
			d.cmd = cmd
		}
		if st.home != "" {
			d.workdir = st.home
			d.note("cron ran the command in HOME (%s); it is the workdir", st.home)
		}
		if user != "" {
			d.note("ran as user %s in the system crontab; activity-core runs it as the worker's user", user)
		}
		d.notes = append(d.notes, schedNotes...)
		d.notes = append(d.notes, cmdNotes...)
		cd := cronDraft{draft: d, cmdForSlug: cmd}
		if len(exprs) == 2 {
			cd.suffix = []string{"-by-date", "-by-weekday"}[i]
		}
		out = append(out, cd)
	}
	return out, nil
}

// entryFields splits a schedule line into its time fields (or @-shortcut),
// the user of a system crontab, and the command text after them.
func entryFields(text string, system bool) (fields []string, user, rest string, err error) {
	nFields := 5
	if strings.HasPrefix(text, "@") {
		nFields = 1
	}
	if system {
		nFields++
	}
	fields, rest = splitFields(text, nFields)
	if len(fields) < nFields || strings.TrimSpace(rest) == "" {
		want := "5 time fields and a command"
		if nFields == 1 || nFields == 2 && strings.HasPrefix(text, "@") {
			want = "a shortcut and a command"
		}
		if system {
			want = strings.Replace(want, " and a command", ", a user and a command", 1)
		}
		example := "0 3 * * * /usr/local/bin/backup"
		if system {
			example = "0 3 * * * root /usr/local/bin/backup"
		}
		return nil, "", "", fmt.Errorf("expected %s (e.g. %q), got %q", want, example, text)
	}
	if system {
		user = fields[len(fields)-1]
		fields = fields[:len(fields)-1]
	}
	return fields, user, rest, nil
}

// entrySchedule turns the time fields (or @-shortcut) into Temporal
// expressions, with notes on what changed in the writing. andIntended is
// set when cron's OR of the two day fields became two expressions.
func entrySchedule(fields []string) (exprs, notes []string, andIntended bool, err error) {
	if m := fields[0]; strings.HasPrefix(m, "@") {
		switch {
		case m == "@reboot":
			return nil, nil, false, fmt.Errorf("@reboot runs a job when cron starts; activity-core has no boot trigger, so this entry was skipped (run it from a systemd service or the host's boot scripts)")
		case crontabMacros[m]:
			return []string{m}, nil, false, nil
		default:
			return nil, nil, false, fmt.Errorf("unknown shortcut %q: crontab knows @reboot, @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly (lower case)", m)
		}
	}
	var sc schedule
	for i, f := range cronFields {
		s, note, err := parseCrontabField(fields[i], f)
		if err != nil {
			return nil, nil, false, err
		}
		sc.fields[i], sc.text[i] = s, fields[i]
		if note != "" {
			notes = append(notes, note)
		}
	}
	exprs, splitNote, err := crontabExpressions(sc)
	if err != nil {
		return nil, nil, false, err
	}
	if splitNote != "" {
		notes = append(notes, splitNote)
		andIntended = true
	}
	return exprs, notes, andIntended, nil
}

// entryCommand reads the command text after the time fields: a % starts
// its standard input, \% is a literal %.
func entryCommand(rest string) (cmd string, notes []string, err error) {
	cmd, stdin, hasStdin := splitPercent(rest)
	if strings.TrimSpace(cmd) == "" {
		return "", nil, fmt.Errorf("the command is empty")
	}
	if hasStdin {
		var note string
		cmd, note = hereDoc(cmd, stdin)
		notes = append(notes, note)
	}
	if strings.Contains(rest, `\%`) {
		notes = append(notes, `\% in the command is a literal % to cron; it is written as % here`)
	}
	return cmd, notes, nil
}

// splitFields returns the first n whitespace-separated fields and the rest
// of the line after them (with leading blanks removed).
func splitFields(s string, n int) ([]string, string) {
	var fields []string
	rest := s
	for len(fields) < n {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		fields = append(fields, rest[:end])
		rest = rest[end:]
	}
	return fields, strings.TrimLeft(rest, " \t")
}

// crontabExpressions turns the five sets into Temporal expressions with the
// same meaning. cron ORs day-of-month and day-of-week when neither field
// starts with '*'; Temporal always ANDs them. Such a line becomes two
// expressions whose days do not overlap: the days of the month as written,
// and the weekdays on the remaining days of the month.
func crontabExpressions(sc schedule) ([]string, string, error) {
	domStar := strings.HasPrefix(sc.text[2], "*")
	dowStar := strings.HasPrefix(sc.text[4], "*")
	if domStar || dowStar {
		e, err := cronText(sc)
		return []string{e}, "", err
	}
	dom, dow := sc.fields[2], sc.fields[4]
	if dom == fieldDom.all() || dow == fieldDow.all() {
		// Either field alone matches every day, so the OR does too.
		one := sc
		one.fields[2], one.fields[4] = fieldDom.all(), fieldDow.all()
		one.text[2], one.text[4] = "*", "*"
		e, err := cronText(one)
		return []string{e}, fmt.Sprintf("day-of-month %q or day-of-week %q: cron fires when either matches, and one of them matches every day, so this runs every day", sc.text[2], sc.text[4]), err
	}
	byDate := sc
	byDate.fields[4], byDate.text[4] = fieldDow.all(), "*"
	a, errA := cronText(byDate)
	byDay := sc
	byDay.fields[2], byDay.text[2] = fieldDom.all()&^dom, ""
	b, errB := cronText(byDay)
	either := fmt.Sprintf("cron fires when day-of-month %q OR day-of-week %q matches", sc.text[2], sc.text[4])
	switch {
	case errA != nil && errB != nil:
		return nil, "", errA
	case errA != nil:
		// The dates never occur in the chosen months (Feb 30): only the
		// weekdays ever fire.
		return []string{b}, either + "; those dates never occur in these months, so only the weekdays fire", nil //nolint:nilerr // the by-date half never fires; the weekdays alone are the schedule
	case errB != nil:
		// The other days never occur in the chosen months.
		return []string{a}, either + "; no other day exists in these months, so the dates alone cover it", nil //nolint:nilerr // the by-weekday half never fires; the dates alone are the schedule
	}
	note := either + ", Temporal only when both do: this line became two definitions, -by-date (" + a + ") and -by-weekday (" + b + ", the weekdays on the other days), whose days never overlap"
	return []string{a, b}, note, nil
}

// cronText writes the schedule as a Temporal expression. A field keeps its
// written form when Temporal reads that form as the same set (checked by
// parsing both); otherwise it is written out from the set.
func cronText(sc schedule) (string, error) {
	var canon [5]string
	for i, f := range cronFields {
		canon[i] = f.render(sc.fields[i])
	}
	want, err := cronexpr.Parse(strings.Join(canon[:], " "))
	if err != nil {
		return "", fmt.Errorf("the schedule %q cannot be expressed: %v", strings.Join(canon[:], " "), err)
	}
	out := canon
	for i := range cronFields {
		t := strings.ToLower(sc.text[i])
		if t == "" || t == canon[i] || !keepable(t) {
			continue
		}
		try := canon
		try[i] = t
		if got, err := cronexpr.Parse(strings.Join(try[:], " ")); err == nil && got.String() == want.String() && cronexpr.VixieDifference(strings.Join(try[:], " ")) == cronexpr.VixieDifference(strings.Join(canon[:], " ")) {
			out[i] = t
		}
	}
	return strings.Join(out[:], " "), nil
}

var keepablePattern = regexp.MustCompile(`^[a-z0-9*,/-]+$`)

// keepable admits written forms that read the same everywhere: no v/n
// step without a range, only three-letter names.
func keepable(t string) bool {
	if !keepablePattern.MatchString(t) {
		return false
	}
	for _, item := range strings.Split(t, ",") {
		base, _, hasStep := strings.Cut(item, "/")
		if hasStep && base != "*" && !strings.Contains(base, "-") {
			return false
		}
	}
	return true
}

// splitPercent applies cron's % rule: the first unescaped % ends the
// command and the rest is the job's stdin, with every unescaped % a newline.
// \% is a literal % in both parts; other backslashes are kept.
func splitPercent(s string) (cmd, stdin string, hasStdin bool) {
	var b strings.Builder
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if c == '%' {
			break
		}
		b.WriteByte(c)
	}
	cmd = b.String()
	if i >= len(s) {
		return cmd, "", false
	}
	b.Reset()
	for i++; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '%':
			b.WriteByte('%')
			i++
		case c == '%':
			b.WriteByte('\n')
		default:
			b.WriteByte(c)
		}
	}
	stdin = b.String()
	return cmd, stdin, stdin != ""
}

var simpleCommand = regexp.MustCompile(`^[A-Za-z0-9_./@%+=:,~ \t'"$>-]*$`)

// hereDoc carries stdin the only way a shell instruction can: as a here-doc
// on the command. A command with its own redirections or several commands
// is wrapped in { } so the input reaches all of it, as cron's pipe did.
func hereDoc(cmd, stdin string) (string, string) {
	delim := "CRON_STDIN"
	for n := 2; strings.Contains("\n"+stdin+"\n", "\n"+delim+"\n"); n++ {
		delim = "CRON_STDIN_" + strconv.Itoa(n)
	}
	body := stdin
	note := "the text after % in the command was the job's stdin; it is passed as a shell here-doc"
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
		note += " (a here-doc always ends with a newline; cron sent none)"
	}
	cmd = strings.TrimRight(cmd, " \t")
	if simpleCommand.MatchString(cmd) {
		return cmd + " <<'" + delim + "'\n" + body + delim, note
	}
	return "{\n" + cmd + "\n} <<'" + delim + "'\n" + body + delim, note
}
