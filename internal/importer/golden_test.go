package importer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/definition"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenText is what a golden file holds: the YAML stream, then the skipped
// entries and the notices.
func goldenText(res *Result, err error) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	var b bytes.Buffer
	if err := WriteStream(&b, res.Definitions); err != nil {
		panic(err)
	}
	for _, p := range res.Skipped {
		b.WriteString("# skipped: " + p.Error() + "\n")
	}
	for _, p := range res.Notices {
		b.WriteString("# note: " + p.Error() + "\n")
	}
	return b.String()
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/importer -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update and read the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// crontabCases imports every crontab in the corpus.
func crontabCases(t *testing.T) map[string]*Result {
	t.Helper()
	files, err := filepath.Glob("testdata/crontab/*.crontab")
	if err != nil || len(files) == 0 {
		t.Fatalf("no crontab corpus: %v", err)
	}
	out := map[string]*Result{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		opt := Options{Namespace: "ops", System: filepath.Base(f) == "system.crontab"}
		res, err := ImportCrontab(f, data, opt)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = res
	}
	return out
}

// systemdCases imports the timer in every folder of the systemd corpus.
func systemdCases(t *testing.T) map[string]struct {
	res *Result
	err error
} {
	t.Helper()
	dirs, err := filepath.Glob("testdata/systemd/*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]struct {
		res *Result
		err error
	}{}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		timers, _ := filepath.Glob(filepath.Join(dir, "*.timer"))
		if len(timers) != 1 {
			t.Fatalf("%s: want exactly one .timer, got %v", dir, timers)
		}
		res, err := ImportSystemd(timers[0], "", Options{Namespace: "ops"})
		out[dir] = struct {
			res *Result
			err error
		}{res, err}
	}
	if len(out) < 12 {
		t.Fatalf("the systemd corpus has %d timers, want at least 12", len(out))
	}
	return out
}

func TestCrontabGolden(t *testing.T) {
	lines := 0
	for f, res := range crontabCases(t) {
		data, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "#") && !envLine.MatchString(l) {
				lines++
			}
		}
		checkGolden(t, strings.TrimSuffix(f, ".crontab")+".golden", goldenText(res, nil))
	}
	if lines < 40 {
		t.Errorf("the crontab corpus has %d entry lines, want at least 40", lines)
	}
}

func TestSystemdGolden(t *testing.T) {
	for dir, c := range systemdCases(t) {
		checkGolden(t, dir+".golden", goldenText(c.res, c.err))
	}
}

// TestEmittedFilesLoad writes every imported definition into one folder per
// input and loads it the way sync does: each file validates and no two ids
// collide.
func TestEmittedFilesLoad(t *testing.T) {
	var all [][]*Definition
	for _, res := range crontabCases(t) {
		all = append(all, res.Definitions)
	}
	for _, c := range systemdCases(t) {
		if c.res != nil {
			all = append(all, c.res.Definitions)
		}
	}
	total := 0
	for i, defs := range all {
		if len(defs) == 0 {
			continue
		}
		dir := filepath.Join(t.TempDir(), "defs")
		if _, err := WriteDir(dir, defs, false); err != nil {
			t.Fatal(err)
		}
		r := definition.Load([]string{dir})
		if err := r.Err(); err != nil {
			t.Errorf("input %d: emitted files do not load: %v", i, err)
		}
		if got := len(r.Definitions()); got != len(defs) {
			t.Errorf("input %d: loaded %d definitions, wrote %d", i, got, len(defs))
		}
		for _, d := range defs {
			if _, err := definition.Parse(d.ID+".yaml", d.YAML); err != nil {
				t.Errorf("%s: %v", d.ID, err)
			}
		}
		total += len(defs)
	}
	if total < 40 {
		t.Errorf("only %d definitions imported from the corpus", total)
	}
}
