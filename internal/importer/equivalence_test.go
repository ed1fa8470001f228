package importer

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
	"github.com/coulomb/activity-core/internal/definition"
)

// effective is what a shell instruction does, independent of how it is
// spelled: the directory it runs in, the program and arguments (or the
// shell text when it needs a shell), and its environment.
type effective struct {
	Dir   string
	Argv  []string
	Shell string
	Env   map[string]string
}

// effectiveOf reads "cd DIR && PROG ARGS" (with no other shell syntax) as
// workdir DIR and argv, and resolves a relative program against the
// workdir, so the seed's cmd and an args+workdir import compare equal.
func effectiveOf(in definition.Instruction) effective {
	e := effective{Dir: in.Workdir, Env: in.Env, Argv: in.Args}
	if in.Cmd != "" {
		words := shellWords(in.Cmd)
		if len(words) >= 3 && words[0] == "cd" && words[2] == "&&" {
			e.Dir, words = words[1], words[3:]
		}
		plain := true
		for _, w := range words {
			if isOperator(w) || strings.ContainsAny(w, "$`*?") {
				plain = false
			}
		}
		if plain {
			e.Argv = words
		} else {
			e.Shell = in.Cmd
		}
	}
	if len(e.Argv) > 0 && strings.Contains(e.Argv[0], "/") && !path.IsAbs(e.Argv[0]) && e.Dir != "" {
		e.Argv = append([]string{path.Join(e.Dir, e.Argv[0])}, e.Argv[1:]...)
	}
	if len(e.Env) == 0 {
		e.Env = nil
	}
	return e
}

// seed002Settings are the state hub host's worker settings the examples
// read through ${env:NAME} (docs/cutover.md#the-checkout-state_hub_dir).
var seed002Settings = map[string]string{"STATE_HUB_DIR": "/home/worsch/state-hub"}

// deployed is in as it runs on a worker with settings: each env entry
// that is exactly a ${env:NAME} reference to a setting is substituted
// for "$VAR" in cmd and dropped, so the example's checkout setting
// compares equal to the path the crontab wrote.
func deployed(in definition.Instruction, settings map[string]string) definition.Instruction {
	env := map[string]string{}
	for k, v := range in.Env {
		if refs := definition.EnvRefs(v); len(refs) == 1 && v == "${env:"+refs[0]+"}" && settings[refs[0]] != "" {
			in.Cmd = strings.ReplaceAll(in.Cmd, `"$`+k+`"`, settings[refs[0]])
			continue
		}
		env[k] = v
	}
	in.Env = env
	return in
}

// scheduleOf is a trigger with its cron expression normalized.
func scheduleOf(t *testing.T, tr definition.Trigger) definition.Trigger {
	t.Helper()
	s, err := cronexpr.Parse(tr.CronExpression)
	if err != nil {
		t.Fatalf("%q: %v", tr.CronExpression, err)
	}
	tr.CronExpression = s.String()
	return tr
}

// TestSeed002Equivalent imports seed 002's inventory (the 15-minute
// custodian-sync systemd timer and the 03:00 cleanup crontab line) and
// compares the parsed definitions with the seed's own YAML in
// examples/definitions/state-hub: same trigger (schedule, zone, misfire
// policy, catch-up window, jitter) and the same effective command. The id,
// description, context, rule and on_failure of the seed were written during
// the migration (they are not in the crontab or the units), so they are not
// compared.
func TestSeed002Equivalent(t *testing.T) {
	load := func(file string) *definition.Definition {
		data, err := os.ReadFile(filepath.Join("../../examples/definitions/state-hub", file))
		if err != nil {
			t.Fatal(err)
		}
		d, err := definition.Parse(file, data)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	sweep := load("state-hub-consistency-sweep.yaml")
	cleanup := load("state-hub-stale-task-cleanup.yaml")

	opt := Options{Namespace: "the-custodian"}
	data, err := os.ReadFile("testdata/crontab/seed002.crontab")
	if err != nil {
		t.Fatal(err)
	}
	cron, err := ImportCrontab("seed002.crontab", data, opt)
	if err != nil {
		t.Fatal(err)
	}
	timer, err := ImportSystemd("testdata/systemd/seed002/custodian-sync.timer", "", opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(cron.Definitions) != 1 || len(timer.Definitions) != 1 || len(cron.Skipped)+len(timer.Skipped) != 0 {
		t.Fatalf("want one definition each and nothing skipped, got %d/%d, skipped %v %v", len(cron.Definitions), len(timer.Definitions), cron.Skipped, timer.Skipped)
	}
	for _, c := range []struct {
		name      string
		got, want *definition.Definition
	}{
		{"cleanup crontab line", cron.Definitions[0].Parsed, cleanup},
		{"custodian-sync timer", timer.Definitions[0].Parsed, sweep},
	} {
		if g, w := scheduleOf(t, c.got.Trigger), scheduleOf(t, c.want.Trigger); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: trigger\n got %+v\nwant %+v", c.name, g, w)
		}
		if g, w := effectiveOf(c.got.Instruction), effectiveOf(deployed(c.want.Instruction, seed002Settings)); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: command\n got %+v\nwant %+v", c.name, g, w)
		}
		if c.got.Instruction.Timeout != c.want.Instruction.Timeout || !reflect.DeepEqual(c.got.Retry, c.want.Retry) {
			t.Errorf("%s: timeout/retry differ: %v %+v vs %v %+v", c.name, c.got.Instruction.Timeout, c.got.Retry, c.want.Instruction.Timeout, c.want.Retry)
		}
	}
}

// vixieMatches is crontab's rule for one minute (Vixie cron.c): minute,
// hour and month must match; the day matches when both day fields do if
// either field starts with '*', and when either does otherwise.
func vixieMatches(f [5]set, text [5]string, t time.Time) bool {
	if !f[0].has(t.Minute()) || !f[1].has(t.Hour()) || !f[3].has(int(t.Month())) {
		return false
	}
	dom, dow := f[2].has(t.Day()), f[4].has(int(t.Weekday()))
	if strings.HasPrefix(text[2], "*") || strings.HasPrefix(text[4], "*") {
		return dom && dow
	}
	return dom || dow
}

var macroFields = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

// TestCrontabFiresLikeCron checks every imported corpus entry minute by
// minute over two months (no DST change inside): the union of the fire
// times Temporal computes for the definitions an entry became equals the
// minutes crontab would run it.
func TestCrontabFiresLikeCron(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	checked := 0
	for file, res := range crontabCases(t) {
		data, _ := os.ReadFile(file)
		lines := strings.Split(string(data), "\n")
		bySource := map[string][]*Definition{}
		var order []string
		for _, d := range res.Definitions {
			if bySource[d.Source] == nil {
				order = append(order, d.Source)
			}
			bySource[d.Source] = append(bySource[d.Source], d)
		}
		for _, src := range order {
			defs := bySource[src]
			var n int
			if _, err := fmtSscan(src[strings.LastIndexByte(src, ':')+1:], &n); err != nil {
				t.Fatal(err)
			}
			line := strings.TrimSpace(lines[n-1])
			nf := 5
			if strings.HasPrefix(line, "@") {
				nf = 1
			}
			fields, _ := splitFields(line, nf)
			if nf == 1 {
				fields = strings.Fields(macroFields[fields[0]])
			}
			var f [5]set
			var text [5]string
			for i, cf := range cronFields {
				s, _, err := parseCrontabField(fields[i], cf)
				if err != nil {
					t.Fatalf("%s: %v", src, err)
				}
				f[i], text[i] = s, fields[i]
			}
			loc := defs[0].Parsed.Trigger.Location()
			want := map[time.Time]bool{}
			for m := start; m.Before(end); m = m.Add(time.Minute) {
				if vixieMatches(f, text, m.In(loc)) {
					want[m] = true
				}
			}
			got := map[time.Time]bool{}
			for _, d := range defs {
				s, err := cronexpr.Parse(d.Parsed.Trigger.CronExpression)
				if err != nil {
					t.Fatal(err)
				}
				for ft := s.Next(start.Add(-time.Second), loc); !ft.IsZero() && ft.Before(end); ft = s.Next(ft, loc) {
					ft = ft.UTC()
					if got[ft] {
						t.Errorf("%s: %s fires twice at %s", src, d.ID, ft)
					}
					got[ft] = true
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (%q): Temporal fires %d times, crontab %d times in Jan-Feb 2026", src, line, len(got), len(want))
			}
			checked++
		}
	}
	if checked < 40 {
		t.Errorf("checked %d entries, want at least 40", checked)
	}
}

// TestTimersFireLikeSystemd asks systemd itself (systemd-analyze calendar)
// for the next 40 elapses of every OnCalendar= event in the corpus and
// compares them with the fire times of the imported definitions.
func TestTimersFireLikeSystemd(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; it is the oracle for this test")
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 40
	checked := 0
	for dir, c := range systemdCases(t) {
		if c.res == nil || len(c.res.Definitions) == 0 {
			continue
		}
		timers, _ := filepath.Glob(filepath.Join(dir, "*.timer"))
		u, err := readUnit(timers[0])
		if err != nil {
			t.Fatal(err)
		}
		var want []time.Time
		for _, e := range u.list("Timer", "OnCalendar") {
			cmd := exec.Command(analyze, "calendar", "--iterations="+itoa(n), "--base-time=2026-01-01 00:00:00 UTC", e.value)
			cmd.Env = append(os.Environ(), "TZ=UTC")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze calendar %q: %v\n%s", e.value, err, out)
			}
			for _, l := range strings.Split(string(out), "\n") {
				l = strings.TrimSpace(l)
				if !strings.HasPrefix(l, "Next elapse:") && !strings.HasPrefix(l, "Iter. #") {
					continue
				}
				ts, err := time.Parse("Mon 2006-01-02 15:04:05 MST", strings.TrimSpace(l[strings.Index(l, ":")+1:]))
				if err != nil {
					t.Fatalf("parsing systemd-analyze output %q: %v", l, err)
				}
				want = append(want, ts.UTC())
			}
		}
		var got []time.Time
		for _, d := range c.res.Definitions {
			s, err := cronexpr.Parse(d.Parsed.Trigger.CronExpression)
			if err != nil {
				t.Fatal(err)
			}
			for _, ft := range s.NextN(base, d.Parsed.Trigger.Location(), n) {
				got = append(got, ft.UTC())
			}
		}
		want, got = firstUnique(want, n), firstUnique(got, n)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fire times differ from systemd's\n got %v\nwant %v", dir, got, want)
		}
		checked++
	}
	if checked < 8 {
		t.Errorf("compared %d timers with systemd, want at least 8", checked)
	}
}

func firstUnique(ts []time.Time, n int) []time.Time {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var out []time.Time
	for i, x := range ts {
		if i > 0 && x.Equal(ts[i-1]) {
			continue
		}
		out = append(out, x)
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func fmtSscan(s string, n *int) (int, error) { return fmt.Sscan(s, n) }
