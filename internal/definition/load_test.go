package definition

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func cronDef(id string) string {
	return fmt.Sprintf("id: %s\ntrigger: {trigger_type: cron, cron_expression: \"*/5 * * * *\"}\ninstruction: {kind: shell, cmd: echo %s}\n", id, id)
}

func TestLoadSources(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), cronDef("team.a"))
	writeFile(t, filepath.Join(dir, "nested/deeper/b.yml"), cronDef("team.b"))
	writeFile(t, filepath.Join(dir, ".hidden.yaml"), "not: [valid")
	writeFile(t, filepath.Join(dir, ".git/config.yaml"), "not: [valid")
	writeFile(t, filepath.Join(dir, "README.md"), "# not a definition")
	writeFile(t, filepath.Join(dir, "event-types/pushed.yaml"), "name: org.repo.pushed\n")
	writeFile(t, filepath.Join(dir, "broken.yaml"), "id: team.broken\ntrigger: {trigger_type: cron}\ninstruction: {kind: shell, cmd: x}\n")

	res := Load([]string{dir})
	sr := res.Sources[0]
	if sr.Err != nil {
		t.Fatal(sr.Err)
	}
	var ids []string
	for _, d := range res.Definitions() {
		ids = append(ids, d.ID)
		if d.Source.Dir != dir {
			t.Errorf("%s: source dir %q, want %q", d.ID, d.Source.Dir, dir)
		}
	}
	if strings.Join(ids, ",") != "team.a,team.b" {
		t.Errorf("definitions = %v", ids)
	}
	if ets := res.EventTypes(); len(ets) != 1 || ets[0].Name != "org.repo.pushed" {
		t.Errorf("event types = %v", ets)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error(), "broken.yaml:2") {
		t.Errorf("errors = %v", res.Errors)
	}
	if !sr.FailedFiles[filepath.Join(dir, "broken.yaml")] || !sr.HeldIDs["team.broken"] {
		t.Errorf("broken file not recorded as failed/held: %v %v", sr.FailedFiles, sr.HeldIDs)
	}
	if len(sr.Files) != 4 {
		t.Errorf("files = %v, want 4 (hidden skipped)", sr.Files)
	}
}

func TestLoadMissingAndUnreadable(t *testing.T) {
	good := t.TempDir()
	writeFile(t, filepath.Join(good, "a.yaml"), cronDef("team.a"))
	res := Load([]string{filepath.Join(good, "nope"), good})
	if res.Sources[0].Err == nil || !strings.Contains(res.Sources[0].Err.Error(), "does not exist") {
		t.Errorf("missing dir: %v", res.Sources[0].Err)
	}
	if len(res.Sources[1].Definitions) != 1 {
		t.Errorf("a missing source blocked the other")
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Err() does not name the missing dir: %v", err)
	}

	if os.Geteuid() == 0 {
		t.Log("running as root: permission checks do not apply, skipping the unreadable case")
		return
	}
	locked := t.TempDir()
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o755)
	res = Load([]string{locked})
	if res.Sources[0].Err == nil {
		t.Errorf("unreadable dir gave no error")
	}
}

func TestLoadDuplicateIDs(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "one.yaml"), cronDef("team.same"))
	writeFile(t, filepath.Join(b, "two.yaml"), cronDef("team.same"))
	writeFile(t, filepath.Join(b, "other.yaml"), cronDef("team.other"))
	res := Load([]string{a, b})
	if len(res.Errors) != 2 {
		t.Fatalf("want an error per file, got %v", res.Errors)
	}
	for i, f := range []string{"one.yaml", "two.yaml"} {
		e := res.Errors[i]
		if !strings.HasSuffix(e.File, f) || e.Line != 1 || e.Field != "id" || !strings.Contains(e.Message, "also defined in") {
			t.Errorf("error %d = %v", i, e)
		}
	}
	defs := res.Definitions()
	if len(defs) != 1 || defs[0].ID != "team.other" {
		t.Errorf("duplicates were applied: %v", defs)
	}
	if !res.Sources[0].HeldIDs["team.same"] || !res.Sources[1].HeldIDs["team.same"] {
		t.Errorf("duplicate id not held in both sources")
	}
}

func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "big.yaml"), "description: "+strings.Repeat("x", MaxFileSize)+"\n")
	writeFile(t, filepath.Join(dir, "latin1.yaml"), "id: team.a\ndescription: caf\xe9\n")
	writeFile(t, filepath.Join(dir, "ok.yaml"), cronDef("team.ok"))
	// A symlink loop: loop/again -> loop.
	if err := os.MkdirAll(filepath.Join(dir, "loop"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "loop"), filepath.Join(dir, "loop", "again")); err != nil {
		t.Fatal(err)
	}
	// A self-referencing file link and a dangling one.
	if err := os.Symlink("self.yaml", filepath.Join(dir, "self.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("gone.yaml", filepath.Join(dir, "dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	// A linked directory is followed.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "linked.yaml"), cronDef("team.linked"))
	if err := os.Symlink(other, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}

	res := Load([]string{dir})
	if res.Sources[0].Err != nil {
		t.Fatal(res.Sources[0].Err)
	}
	msgs := res.Err().Error()
	for _, want := range []string{
		"big.yaml: file is over the 1 MiB limit",
		"latin1.yaml:2: file is not valid UTF-8",
		"loop/again: symbolic link loop",
		"self.yaml: cannot follow symbolic link",
		"dangling.yaml: cannot follow symbolic link",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("missing %q in:\n%s", want, msgs)
		}
	}
	var ids []string
	for _, d := range res.Definitions() {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	if strings.Join(ids, ",") != "team.linked,team.ok" {
		t.Errorf("definitions = %v", ids)
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	examples, _ := filepath.Glob("../../examples/definitions/*/*.yaml")
	for _, p := range append(seeds, examples...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := Parse("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T", err)
			}
			for _, e := range err.(Errors) {
				if e.Message == "" {
					t.Fatalf("empty message in %v", err)
				}
			}
			return
		}
		// A valid definition always has a canonical form that round-trips.
		back, err := FromCanonicalJSON(def.CanonicalJSON())
		if err != nil {
			t.Fatalf("canonical JSON does not decode: %v", err)
		}
		if back.ContentHash() != def.ContentHash() {
			t.Fatalf("canonical round trip changed the hash")
		}
		_, _ = ParseEventType("fuzz.yaml", data)
	})
}

// BenchmarkLoad10000 loads and validates 10,000 definition files, the size
// of a large deployment, as sync's first stage does.
func BenchmarkLoad10000(b *testing.B) {
	dir := b.TempDir()
	for i := range 10000 {
		id := fmt.Sprintf("bench.def-%05d", i)
		var body string
		switch i % 3 {
		case 0:
			body = cronDef(id)
		case 1:
			body = fmt.Sprintf("id: %s\ntrigger: {trigger_type: event, event_type: org.bench.e%d, filters: {repo: \"c*\"}}\ncontext: [{kind: state_hub.health, bind: hub}]\nrule: {when: [\"hub.status == 'ok'\"]}\ninstruction: {kind: shell, cmd: echo}\n", id, i%50)
		default:
			body = fmt.Sprintf("id: %s\ntrigger: {trigger_type: cron, cron_expression: \"0 3 * * *\", timezone: Europe/Berlin}\ninstruction: {kind: http, url: \"http://127.0.0.1/x\"}\n", id)
		}
		writeFile(b, filepath.Join(dir, fmt.Sprintf("d%02d", i%100), id+".yaml"), body)
	}
	b.ResetTimer()
	for b.Loop() {
		res := Load([]string{dir})
		if len(res.Definitions()) != 10000 {
			b.Fatalf("loaded %d: %v", len(res.Definitions()), res.Err())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/10000, "µs/file")
}
