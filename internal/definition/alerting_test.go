package definition

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHashUnchangedWithoutAlerting: definitions that do not use the
// alerting fields keep the canonical JSON, and so the content hash, they
// had before those fields existed (a sync after the upgrade changes
// nothing).
func TestHashUnchangedWithoutAlerting(t *testing.T) {
	want := map[string]string{
		"all-fields-cron.yaml":  "a9a10c1a8c2202b790854218a9b4b6c36afdf546cfa6635a8c8138facf5198c2",
		"event-filters.yaml":    "ccf934fe0895e5b355059f8c8ddc22d1471159063dc181b827dfdbbbed805bfb",
		"http-instruction.yaml": "326aafb012b27b1b904614bf4e19a417f5cc5415c295e48b1b9d7292c8098b8f",
		"macro-cron.yaml":       "8d8a8b37cc4765f292888dbf182e50ccda1aa6759eaecdfe3ee44328dcc6e680",
		"minimal-cron.yaml":     "f29b6ce5a4ce968091edd90ac9662adcc460c043467274809b8f54e18ec0be7d",
	}
	res := Load([]string{"testdata/valid"})
	for _, d := range res.Definitions() {
		name := filepath.Base(d.Source.File)
		h, ok := want[name]
		if !ok {
			continue
		}
		delete(want, name)
		if got := d.ContentHash(); got != h {
			t.Errorf("%s: hash %s, want %s (canonical JSON %s)", name, got, h, d.CanonicalJSON())
		}
		if strings.Contains(string(d.CanonicalJSON()), `"expect"`) || strings.Contains(string(d.CanonicalJSON()), `"notify"`) {
			t.Errorf("%s: canonical JSON has alerting fields: %s", name, d.CanonicalJSON())
		}
	}
	if len(want) > 0 {
		t.Errorf("not loaded: %v", want)
	}
}

const cronHead = "id: team.job\ntrigger: {trigger_type: cron, cron_expression: \"0 3 * * *\"}\ninstruction: {kind: shell, cmd: \"true\"}\n"

func mustParse(t *testing.T, src string) *Definition {
	t.Helper()
	d, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAlertingParsedWithDefaults(t *testing.T) {
	d := mustParse(t, mustRead(t, "testdata/valid/alerting.yaml"))
	if d.Expect == nil || d.Expect.SucceedsWithin.D() != 26*time.Hour || d.Expect.MaxDuration.D() != 30*time.Minute ||
		d.Expect.Grace.D() != 5*time.Minute || d.Expect.OutputMatches != `backup complete( \(\d+ files\))?` {
		t.Errorf("expect: %+v", d.Expect)
	}
	if d.Notify == nil || d.Notify.AfterFailures != 2 || len(d.Notify.Targets) != 5 || !slices.Contains(d.Notify.On, EventPaused) {
		t.Fatalf("notify: %+v", d.Notify)
	}
	if got := d.Notify.Targets[0]; !reflect.DeepEqual(got, NotifyTarget{Kind: TargetWebhook, URL: "https://hooks.example/ops", Secret: "OPS_HOOK_SECRET"}) {
		t.Errorf("webhook: %+v", got)
	}
	if d.PauseAfterFailures != 5 {
		t.Errorf("pause_after_failures = %d", d.PauseAfterFailures)
	}
	var names []string
	for _, r := range d.SecretRefs {
		names = append(names, r.Name+"@"+r.Field)
	}
	want := []string{"OPS_HOOK_SECRET@notify.targets[0].webhook.secret", "LOCAL_HOOK_SECRET@notify.targets[1].webhook.secret", "SLACK_OPS_URL@notify.targets[2].slack.url"}
	if !slices.Equal(names, want) {
		t.Errorf("secret refs %v, want %v", names, want)
	}

	// A bare notify block gets the documented defaults; the canonical
	// form spells them out, so writing them is not a change.
	bare := mustParse(t, cronHead+"notify: {targets: [{nats: {subject: org.alerts}}]}\n")
	if !slices.Equal(bare.Notify.On, NotifyOnDefault) || bare.Notify.AfterFailures != 1 {
		t.Errorf("defaults not filled: %+v", bare.Notify)
	}
	spelled := mustParse(t, cronHead+"notify: {on: [failed, timed_out, missed, stale, late, recovered], after_failures: 1, targets: [{nats: {subject: org.alerts}}]}\n")
	if bare.ContentHash() != spelled.ContentHash() {
		t.Errorf("spelled-out defaults change the hash:\n%s\n%s", bare.CanonicalJSON(), spelled.CanonicalJSON())
	}
	// Zero durations check nothing: they leave no expect block.
	zero := mustParse(t, cronHead+"expect: {grace: 0s, succeeds_within: 0}\npause_after_failures: 0\n")
	if zero.Expect != nil || zero.PauseAfterFailures != 0 || zero.ContentHash() != mustParse(t, cronHead).ContentHash() {
		t.Errorf("zero alerting fields changed the definition: %s", zero.CanonicalJSON())
	}
	back, err := FromCanonicalJSON(d.CanonicalJSON())
	if err != nil || back.ContentHash() != d.ContentHash() {
		t.Errorf("canonical JSON does not round-trip: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func byID(res *Result) map[string]*Definition {
	m := map[string]*Definition{}
	for _, d := range res.Definitions() {
		m[d.ID] = d
	}
	return m
}

func alertDef(id, extra string) string {
	return "id: " + id + "\ntrigger: {trigger_type: cron, cron_expression: \"0 3 * * *\"}\ninstruction: {kind: shell, cmd: \"true\"}\n" + extra
}

// TestDefaultsMergeFieldByField: definition > nearest _defaults.yaml >
// parent ones > deployment, field by field; targets replaced whole.
func TestDefaultsMergeFieldByField(t *testing.T) {
	root := writeTree(t, map[string]string{
		"_defaults.yaml":      "expect: {grace: 10m, succeeds_within: 26h}\nnotify: {on: [failed], targets: [{slack: {url: \"${env:SLACK_ROOT}\"}}]}\n",
		"team/_defaults.yaml": "expect: {grace: 5m}\nnotify: {after_failures: 3}\n",
		"team/job.yaml":       alertDef("team.job", "expect: {max_duration: 30m}\nnotify: {on: [failed, missed]}\n"),
		"team/own.yaml":       alertDef("team.own", "expect: {grace: 0s}\nnotify: {targets: [{nats: {subject: org.team}}]}\npause_after_failures: 0\n"),
		"team/hook.yaml":      "id: team.hook\ntrigger: {trigger_type: event, event_type: org.x.y}\ninstruction: {kind: shell, cmd: \"true\"}\n",
		"top.yaml":            alertDef("top.job", ""),
		"other/x.yaml":        alertDef("other.x", "notify: {targets: []}\n"),
	})
	deployment := filepath.Join(t.TempDir(), "alerting.yaml")
	if err := os.WriteFile(deployment, []byte("expect: {max_duration: 2h}\nnotify: {targets: [{email: {to: [ops@example.com]}}]}\npause_after_failures: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := LoadWith([]string{root}, LoadOptions{DefaultsFile: deployment})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	defs := byID(res)

	job := defs["team.job"]
	if e := job.Expect; e == nil || e.Grace.D() != 5*time.Minute || e.SucceedsWithin.D() != 26*time.Hour || e.MaxDuration.D() != 30*time.Minute {
		t.Errorf("team.job expect: %+v", job.Expect)
	}
	if n := job.Notify; n == nil || !slices.Equal(n.On, []string{EventFailed, EventMissed}) || n.AfterFailures != 3 ||
		len(n.Targets) != 1 || n.Targets[0].URL != "${env:SLACK_ROOT}" {
		t.Errorf("team.job notify: %+v", job.Notify)
	}
	if job.PauseAfterFailures != 4 {
		t.Errorf("team.job pause_after_failures = %d, want the deployment's 4", job.PauseAfterFailures)
	}
	// The inherited target's secret is a reference of the definition, at
	// the defaults file's position.
	if len(job.SecretRefs) != 1 || job.SecretRefs[0].File != filepath.Join(root, "_defaults.yaml") || job.SecretRefs[0].Line != 2 {
		t.Errorf("team.job secret refs: %+v", job.SecretRefs)
	}

	own := defs["team.own"]
	if own.Expect == nil || own.Expect.Grace != 0 || own.Expect.MaxDuration.D() != 2*time.Hour {
		t.Errorf("team.own expect: %+v", own.Expect)
	}
	if len(own.Notify.Targets) != 1 || own.Notify.Targets[0].Kind != TargetNATS || own.PauseAfterFailures != 0 || len(own.SecretRefs) != 0 {
		t.Errorf("team.own: notify %+v pause %d refs %v", own.Notify, own.PauseAfterFailures, own.SecretRefs)
	}
	// grace means nothing for an event trigger: the defaults' is not applied.
	if hook := defs["team.hook"]; hook.Expect == nil || hook.Expect.Grace != 0 || hook.Expect.SucceedsWithin.D() != 26*time.Hour {
		t.Errorf("team.hook expect: %+v", hook.Expect)
	}
	if top := defs["top.job"]; top.Expect.Grace.D() != 10*time.Minute || top.Notify.AfterFailures != 1 {
		t.Errorf("top.job: %+v %+v", top.Expect, top.Notify)
	}
	if x := defs["other.x"]; x.Notify == nil || x.Notify.Targets != nil {
		t.Errorf("other.x: targets: [] must replace the inherited ones: %+v", x.Notify)
	}

	// The same tree without the deployment file: only the folders'.
	plain := byID(Load([]string{root}))
	if plain["team.job"].PauseAfterFailures != 0 || plain["team.own"].Expect.MaxDuration != 0 {
		t.Errorf("without deployment defaults: %d %+v", plain["team.job"].PauseAfterFailures, plain["team.own"].Expect)
	}
	// The merged values are the canonical form: a changed default is a
	// changed definition.
	if plain["team.job"].ContentHash() == job.ContentHash() {
		t.Error("deployment defaults did not change the content hash")
	}
}

// TestBadDefaultsWithholdOnlyTheirFolder: an invalid _defaults.yaml is an
// error at its position and for each definition it would apply to; other
// folders load as usual.
func TestBadDefaultsWithholdOnlyTheirFolder(t *testing.T) {
	root := writeTree(t, map[string]string{
		"broken/_defaults.yaml":      "expect:\n  grace: soon\n",
		"broken/a.yaml":              alertDef("broken.a", ""),
		"broken/deeper/b.yaml":       alertDef("broken.b", ""),
		"fine/_defaults.yaml":        "pause_after_failures: 2\n",
		"fine/c.yaml":                alertDef("fine.c", ""),
		"misnamed/_defaults.yml":     "pause_after_failures: 2\n",
		"event-types/_defaults.yaml": "pause_after_failures: 2\n",
	})
	res := Load([]string{root})
	defs := byID(res)
	if len(defs) != 1 || defs["fine.c"] == nil || defs["fine.c"].PauseAfterFailures != 2 {
		t.Fatalf("loaded %v", defs)
	}
	var lines []string
	for _, e := range res.Errors {
		lines = append(lines, strings.TrimPrefix(e.Error(), root+"/"))
	}
	want := []string{
		`broken/_defaults.yaml:2:10: expect.grace: "soon" is not a duration: use a number with a unit, like 30s, 5m or 1h30m`,
		"broken/a.yaml:1:5: id: not applied: the alerting defaults in " + root + "/broken/_defaults.yaml that apply to it are invalid (fix that file)",
		"broken/deeper/b.yaml:1:5: id: not applied: the alerting defaults in " + root + "/broken/_defaults.yaml that apply to it are invalid (fix that file)",
		"event-types/_defaults.yaml: alerting defaults apply to definitions: an event-types folder holds event types only (move it to the folder above)",
		"misnamed/_defaults.yml: alerting defaults must be in a file named exactly _defaults.yaml: rename it",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	sr := res.Sources[0]
	for _, id := range []string{"broken.a", "broken.b"} {
		if !sr.HeldIDs[id] {
			t.Errorf("%s not held: a sync would remove it", id)
		}
	}
	if !sr.FailedFiles[filepath.Join(root, "broken/a.yaml")] || !sr.FailedFiles[filepath.Join(root, "broken/_defaults.yaml")] {
		t.Errorf("failed files: %v", sr.FailedFiles)
	}
}

// TestBadDeploymentDefaults: an invalid or missing deployment file is a
// source error and no definition is applied (each keeps its last good
// version); the files' own errors still show.
func TestBadDeploymentDefaults(t *testing.T) {
	root := writeTree(t, map[string]string{"a.yaml": alertDef("team.a", ""), "b.yaml": "id: team.b\n"})
	bad := filepath.Join(t.TempDir(), "alerting.yaml")
	if err := os.WriteFile(bad, []byte("notify:\n  targets:\n    - webhook: {url: \"http://hooks.example/\", secret: K}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, want string
	}{
		{bad, bad + `:3:22: notify.targets[0].webhook.url: "http://hooks.example/" must be an https:// URL (plain http only to a loopback address): notifications carry run output`},
		{bad + ".missing", bad + ".missing: cannot read file: no such file or directory"},
	} {
		res := LoadWith([]string{root}, LoadOptions{DefaultsFile: tc.file})
		if len(res.SourceErrors) != 1 || res.SourceErrors[0].Error() != tc.want {
			t.Errorf("source errors %v, want %s", res.SourceErrors, tc.want)
		}
		if len(res.Definitions()) != 0 || !res.Sources[0].HeldIDs["team.a"] {
			t.Errorf("definitions applied despite bad deployment defaults: %v", res.Definitions())
		}
		if len(res.Errors) < 2 {
			t.Errorf("errors: %v", res.Errors)
		}
	}
}

// TestDefaultsSecretsChecked: a secret named by an inherited target is
// checked against the allow-list, and the error points at the defaults
// file.
func TestDefaultsSecretsChecked(t *testing.T) {
	root := writeTree(t, map[string]string{
		"_defaults.yaml": "notify:\n  targets:\n    - webhook: {url: \"https://hooks.example/\", secret: HOOK_KEY}\n",
		"a.yaml":         alertDef("team.a", ""),
	})
	res := Load([]string{root})
	res.CheckSecrets(func(name string) error { return errors.New("not in the list") })
	if len(res.Definitions()) != 0 || len(res.Errors) != 1 {
		t.Fatalf("definitions %v errors %v", res.Definitions(), res.Errors)
	}
	e := res.Errors[0]
	if e.File != filepath.Join(root, "_defaults.yaml") || e.Line != 3 || e.Field != "notify.targets[0].webhook.secret" || e.DefinitionID != "team.a" ||
		!strings.Contains(e.Message, "secret HOOK_KEY is not allowed") {
		t.Errorf("error: %+v", e)
	}
}

// TestDefaultsFileAlone: validate on a file alone applies no folder
// defaults; validate on a _defaults.yaml alone checks it.
func TestDefaultsFileAlone(t *testing.T) {
	root := writeTree(t, map[string]string{
		"_defaults.yaml": "pause_after_failures: 2\n",
		"a.yaml":         alertDef("team.a", ""),
	})
	if d := Load([]string{filepath.Join(root, "a.yaml")}).Definitions(); len(d) != 1 || d[0].PauseAfterFailures != 0 {
		t.Errorf("file alone: %v", d)
	}
	res := Load([]string{filepath.Join(root, "_defaults.yaml")})
	if res.Err() != nil || len(res.Definitions()) != 0 {
		t.Errorf("defaults alone: %v", res.Err())
	}
}

func TestParseDefaultsErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"expect: {output_matches: done}\n", `d.yaml:1:10: expect.output_matches: is not a default: it checks one definition's output, so write it in that definition`},
		{"id: team.a\n", `d.yaml:1:1: id: unknown field (allowed: expect, notify, pause_after_failures)`},
		{"", `d.yaml: file is empty: expected one set of defaults`},
		{"- expect\n", `d.yaml:1:1: a set of defaults must be a mapping of fields, got a list`},
		{"notify: {after_failures: 0}\n", `d.yaml:1:26: notify.after_failures: must be at least 1 (1: alert on the first failure), got 0`},
		{"pause_after_failures: -3\n", `d.yaml:1:23: pause_after_failures: must be 0 (never pause) or a number of consecutive failures, got -3`},
	} {
		_, err := ParseDefaults("d.yaml", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\ngot  %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

func TestAlertingWarnings(t *testing.T) {
	root := writeTree(t, map[string]string{
		"nobody.yaml":  alertDef("team.nobody", "notify: {after_failures: 2}\n"),
		"silent.yaml":  alertDef("team.silent", "notify: {targets: []}\n"),
		"stale.yaml":   alertDef("team.stale", "expect: {succeeds_within: 1h}\n"),
		"healthy.yaml": alertDef("team.healthy", "expect: {succeeds_within: 26h}\nnotify: {targets: [{nats: {subject: a.b}}]}\n"),
	})
	res := Load([]string{root})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, d := range res.Definitions() {
		for _, w := range d.Warnings {
			got[d.ID] = append(got[d.ID], w.Field+": "+w.Message)
		}
	}
	want := map[string][]string{
		"team.nobody": {"notify: has no targets, here or in alerting defaults: nobody is told (add notify.targets, or targets: [] to say so)"},
		"team.stale":  {`expect.succeeds_within: 1h0m0s is shorter than the 24h0m0s between some fires of "0 3 * * *": the definition will read stale between runs that all succeed`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%v\nwant:\n%v", got, want)
	}
}
