package definition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/testsupport"
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
	defer func() {
		if err := os.Chmod(locked, 0o755); err != nil {
			t.Error(err)
		}
	}()
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
	writeFile(t, filepath.Join(dir, "big.yaml"), "description: "+strings.Repeat("x", maxFileSize)+"\n")
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
	alerting, _ := filepath.Glob("../../examples/alerting/*.yaml")
	examples = append(examples, alerting...)
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

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// TestLoadSymlinkDiamonds: 12 levels of folders, each linked twice from the
// level above, reach the bottom 4096 ways. Each real file and folder is
// read once: one definition, no duplicate-id error, output linear.
func TestLoadSymlinkDiamonds(t *testing.T) {
	dir := t.TempDir()
	const levels = 12
	for i := range levels {
		lvl := filepath.Join(dir, fmt.Sprintf("l%02d", i))
		writeFile(t, filepath.Join(lvl, fmt.Sprintf("def-%02d.yaml", i)), cronDef(fmt.Sprintf("team.level-%02d", i)))
		if i+1 < levels {
			next := filepath.Join(dir, fmt.Sprintf("l%02d", i+1))
			symlink(t, next, filepath.Join(lvl, "a"))
			symlink(t, next, filepath.Join(lvl, "b"))
		}
	}
	// A linked file beside its target is the same definition, not a duplicate.
	symlink(t, "def-00.yaml", filepath.Join(dir, "l00", "alias.yaml"))

	res := Load([]string{filepath.Join(dir, "l00")})
	sr := res.Sources[0]
	if err := res.Err(); err != nil {
		t.Fatalf("errors: %v", err)
	}
	if len(sr.Definitions) != levels || len(sr.Files) != levels {
		t.Fatalf("%d definitions from %d files, want %d each (each real file once)", len(sr.Definitions), len(sr.Files), levels)
	}
	for _, d := range sr.Definitions {
		if d.ID == "team.level-00" && filepath.Base(d.Source.File) != "def-00.yaml" {
			t.Errorf("a file reachable directly and through a link kept the link's path %s", d.Source.File)
		}
	}
}

// TestLoadDuplicateErrorsBounded: n files sharing an id give a bounded
// number of errors of bounded size, and every one of them is withheld.
func TestLoadDuplicateErrorsBounded(t *testing.T) {
	dir := t.TempDir()
	const n = 200
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("copy-%03d.yaml", i)), cronDef("team.same"))
	}
	res := Load([]string{dir})
	if got := len(res.Errors); got != maxDuplicateErrors+1 {
		t.Fatalf("%d errors for one duplicated id, want %d", got, maxDuplicateErrors+1)
	}
	for _, e := range res.Errors {
		if len(e.Message) > 500 {
			t.Errorf("error grows with the number of copies: %d bytes", len(e.Message))
		}
	}
	if !strings.Contains(res.Errors[0].Message, fmt.Sprintf("and %d more", n-1-maxDuplicateErrors)) ||
		!strings.Contains(res.Errors[maxDuplicateErrors].Message, fmt.Sprintf("%d more files", n-maxDuplicateErrors)) {
		t.Errorf("the left-out files are not counted: %v", res.Err())
	}
	if len(res.Definitions()) != 0 || len(res.Sources[0].FailedFiles) != n {
		t.Errorf("%d applied, %d failed; want 0 and %d", len(res.Definitions()), len(res.Sources[0].FailedFiles), n)
	}
}

// TestLoadUnreadableFolder: a folder that cannot be read is a source error
// listed before file errors, and what lies under it is Unknown. Tests run
// as root, which ignores permissions, so the folder is made unreadable with
// a link to itself (ELOOP) and with a link to one of its parents.
func TestLoadUnreadableFolder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.yaml"), cronDef("team.ok"))
	writeFile(t, filepath.Join(dir, "bad.yaml"), "id: team.bad\n")
	symlink(t, "team", filepath.Join(dir, "team"))
	symlink(t, "..", filepath.Join(dir, "sub", "up"))

	res := Load([]string{dir})
	sr := res.Sources[0]
	if sr.Err != nil {
		t.Fatal(sr.Err)
	}
	if len(res.SourceErrors) != 2 {
		t.Fatalf("source errors = %v", res.SourceErrors)
	}
	for _, want := range []string{"sub/up: symbolic link loop", "team: cannot follow symbolic link: too many levels"} {
		found := false
		for _, e := range res.SourceErrors {
			found = found || strings.Contains(e.Error(), want)
		}
		if !found {
			t.Errorf("missing %q in %v", want, res.SourceErrors)
		}
	}
	if !strings.HasPrefix(res.Err().Error(), filepath.Join(dir, "sub", "up")+":") && !strings.HasPrefix(res.Err().Error(), filepath.Join(dir, "team")+":") {
		t.Errorf("source errors do not come first:\n%v", res.Err())
	}
	if !sr.Unknown(filepath.Join(dir, "team", "job.yaml")) || !sr.Unknown(filepath.Join(dir, "team", "deep", "x.yaml")) {
		t.Errorf("a file under the unreadable folder is not Unknown: %v", sr.Unreadable)
	}
	if sr.Unknown(filepath.Join(dir, "teamwork", "x.yaml")) || sr.Unknown(filepath.Join(dir, "ok.yaml")) {
		t.Errorf("Unknown reaches beyond the unreadable folder")
	}
	if len(sr.Definitions) != 1 {
		t.Errorf("the readable part was not loaded: %v", sr.Definitions)
	}
}

// TestLoadSpecialFiles: a FIFO named like a definition is reported and
// never opened (opening it would block the sync).
func TestLoadSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	symlink(t, "pipe.yaml", filepath.Join(dir, "via-link.yaml"))
	writeFile(t, filepath.Join(dir, "ok.yaml"), cronDef("team.ok"))
	done := make(chan *Result, 1)
	go func() { done <- Load([]string{dir}) }()
	var res *Result
	testsupport.Eventually(t, 10*time.Second, "Load returns with a FIFO in the tree", func() error {
		select {
		case res = <-done:
			return nil
		default:
			return errors.New("still loading")
		}
	})
	if len(res.Errors) != 1 || res.Errors[0].File != fifo || !strings.Contains(res.Errors[0].Message, "named pipe (FIFO), not a regular file") {
		t.Errorf("errors = %v", res.Err())
	}
	if !res.Sources[0].FailedFiles[fifo] || len(res.Definitions()) != 1 {
		t.Errorf("failed %v, definitions %d", res.Sources[0].FailedFiles, len(res.Definitions()))
	}
	// The non-blocking read refuses one too, should a FIFO replace a file
	// between the walk and the read.
	if _, err := readLimited(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("readLimited on a FIFO: %v", err)
	}
}

// TestLoadOutsideFileNotQuoted: errors of a file a link reaches outside
// the source give its position but none of its content.
func TestLoadOutsideFileNotQuoted(t *testing.T) {
	outside := t.TempDir()
	secretLine := "root:$6$s3cr3tHash:19000:0:99999:7:::"
	writeFile(t, filepath.Join(outside, "shadow"), secretLine+"\n")
	writeFile(t, filepath.Join(outside, "keys.yaml"), "id: team.x\nsecret_key_AKIA123: 1\n")
	dir := t.TempDir()
	symlink(t, filepath.Join(outside, "shadow"), filepath.Join(dir, "shadow.yaml"))
	symlink(t, outside, filepath.Join(dir, "linked"))
	// Inside the source, errors quote as always.
	writeFile(t, filepath.Join(dir, "own.yaml"), "id: team.own\nmy_unknown_field: 1\n")

	res := Load([]string{dir})
	all := res.Err().Error()
	for _, leak := range []string{"s3cr3tHash", "root:", "AKIA123"} {
		if strings.Contains(all, leak) {
			t.Errorf("content of an outside file %q appears in errors:\n%s", leak, all)
		}
	}
	if !strings.Contains(all, "my_unknown_field") {
		t.Errorf("errors of a file inside the source lost their detail:\n%s", all)
	}
	var shadow *Error
	for _, e := range res.Errors {
		if e.File == filepath.Join(dir, "shadow.yaml") {
			shadow = e
		}
	}
	if shadow == nil || !strings.Contains(shadow.Message, "outside the definitions source") {
		t.Errorf("no positioned error for the outside file: %v", res.Errors)
	}
}

// TestCheckSecrets: a reference the check refuses makes its definition
// invalid, with the position of the reference; the rest load.
func TestCheckSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "leak.yaml"), "id: team.leak\ntrigger: {trigger_type: cron, cron_expression: \"0 1 * * *\"}\ninstruction:\n  kind: http\n  url: \"https://example.com/${env:HUB_TOKEN}\"\n  headers: {X-Db: \"${env:ACTIVITY_POSTGRES_URL}\"}\n")
	writeFile(t, filepath.Join(dir, "ok.yaml"), "id: team.ok\ntrigger: {trigger_type: cron, cron_expression: \"0 1 * * *\"}\ninstruction:\n  kind: shell\n  cmd: echo\n  env: {T: \"${env:HUB_TOKEN}\"}\n")
	res := Load([]string{dir})
	res.CheckSecrets(func(name string) error {
		if name == "HUB_TOKEN" {
			return nil
		}
		return fmt.Errorf("%w: %s is not in the list", secret.ErrNotAllowed, name)
	})
	if len(res.Errors) != 1 {
		t.Fatalf("errors = %v", res.Err())
	}
	e := res.Errors[0]
	if e.Line != 6 || e.Field != "instruction.headers.X-Db" || e.DefinitionID != "team.leak" || e.Message != "secret ACTIVITY_POSTGRES_URL is not allowed: ACTIVITY_POSTGRES_URL is not in the list" {
		t.Errorf("error = %+v", e)
	}
	sr := res.Sources[0]
	if !sr.FailedFiles[filepath.Join(dir, "leak.yaml")] || !sr.HeldIDs["team.leak"] || len(sr.Definitions) != 1 || sr.Definitions[0].ID != "team.ok" {
		t.Errorf("the refused definition was not withheld: %v %v %d", sr.FailedFiles, sr.HeldIDs, len(sr.Definitions))
	}
}

// TestSecretRefsWhateverTheTag: a YAML tag on a body or payload value does
// not hide its reference from the allow-list check.
func TestSecretRefsWhateverTheTag(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "tag.yaml"), "id: team.tag\ntrigger: {trigger_type: cron, cron_expression: \"0 1 * * *\"}\ninstruction:\n  kind: http\n  url: https://example.com/x\n  body: {token: !x \"${env:ACTIVITY_ADMIN_TOKEN}\", n: !!str \"${env:ACTIVITY_DATABASE_URL}\"}\n")
	res := Load([]string{dir})
	res.CheckSecrets(func(name string) error { return fmt.Errorf("%w: %s", secret.ErrNotAllowed, name) })
	if len(res.Errors) != 2 {
		t.Fatalf("want both tagged references refused, got %v", res.Err())
	}
}
