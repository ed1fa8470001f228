package config

import (
	"os"
	"strings"
	"testing"
)

func goodEngines() Engines {
	return Engines{
		DatabaseURL: "sqlite:///tmp/x.db", TemporalAddress: TemporalAddressDefault, TemporalNamespace: "default",
		TaskQueue: TaskQueueDefault, NATSURL: "nats://127.0.0.1:4222", NATSSubjects: NATSSubjectsDefault,
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		mutate  func(*Engines, *Sync, *HTTP)
		setting string
	}{
		{func(e *Engines, _ *Sync, _ *HTTP) { e.DatabaseURL = "" }, "ACTIVITY_DATABASE_URL: not set"},
		{func(e *Engines, _ *Sync, _ *HTTP) { e.DatabaseURL = "mysql://u:secret@h/db" }, "ACTIVITY_DATABASE_URL: unsupported scheme"},
		{func(e *Engines, _ *Sync, _ *HTTP) { e.TemporalAddress = "temporal" }, "ACTIVITY_TEMPORAL_ADDRESS"},
		{func(e *Engines, _ *Sync, _ *HTTP) { e.NATSURL = "" }, "ACTIVITY_NATS_URL: not set"},
		{func(e *Engines, _ *Sync, _ *HTTP) { e.NATSURL = "http://x" }, "ACTIVITY_NATS_URL"},
		{func(e *Engines, _ *Sync, _ *HTTP) { e.StateHubURL = "hub:8000" }, "ACTIVITY_STATE_HUB_URL"},
		{func(e *Engines, _ *Sync, _ *HTTP) { e.NATSSubjects = "org.>,," }, "ACTIVITY_NATS_SUBJECTS"},
		{func(e *Engines, _ *Sync, _ *HTTP) { e.NATSStreamReplicas = 7 }, "ACTIVITY_NATS_STREAM_REPLICAS: must be 1 to 5"},
		{func(e *Engines, _ *Sync, _ *HTTP) { e.NATSStreamReplicas = -1 }, "ACTIVITY_NATS_STREAM_REPLICAS: must be 1 to 5"},
		{func(_ *Engines, s *Sync, _ *HTTP) { s.SyncIntervalSeconds = -5 }, "ACTIVITY_SYNC_INTERVAL_SECONDS"},
		{func(_ *Engines, s *Sync, _ *HTTP) { s.SchedulePrefix = "" }, "ACTIVITY_SCHEDULE_PREFIX"},
		{func(_ *Engines, s *Sync, _ *HTTP) { s.SyncMaxErrors = 0 }, "ACTIVITY_SYNC_MAX_ERRORS"},
		{func(_ *Engines, s *Sync, _ *HTTP) { s.AlertDefaults = "/nonexistent/alerting.yaml" }, "ACTIVITY_ALERT_DEFAULTS: cannot read /nonexistent/alerting.yaml: no such file or directory"},
		{func(_ *Engines, s *Sync, _ *HTTP) { s.AlertDefaults = "/" }, "ACTIVITY_ALERT_DEFAULTS: / is not a regular file"},
		{func(_ *Engines, _ *Sync, h *HTTP) { h.HTTPAddr = "8080" }, "ACTIVITY_HTTP_ADDR"},
		{func(_ *Engines, _ *Sync, h *HTTP) { h.AdminToken = "short" }, "ACTIVITY_ADMIN_TOKEN"},
		{func(_ *Engines, _ *Sync, h *HTTP) { h.AdminToken = strings.Repeat(" ", 20) }, "ACTIVITY_ADMIN_TOKEN: is only whitespace"},
		{func(_ *Engines, _ *Sync, h *HTTP) { h.AdminToken = " secret-admin-token-0123" }, "ACTIVITY_ADMIN_TOKEN: begins or ends with whitespace"},
		{func(_ *Engines, _ *Sync, h *HTTP) { h.ReadToken = "short" }, "ACTIVITY_READ_TOKEN: is 5 characters"},
		{func(_ *Engines, _ *Sync, h *HTTP) { h.ReadToken = "\t\n  \t\n  \t\n  \t\n  " }, "ACTIVITY_READ_TOKEN: is only whitespace"},
		{func(_ *Engines, _ *Sync, h *HTTP) { h.ReadToken = "ééééééééééééééé" }, "ACTIVITY_READ_TOKEN: is 15 characters"},
	} {
		e, s, h := goodEngines(), Sync{SchedulePrefix: SchedulePrefixDefault, SyncMaxErrors: 50}, HTTP{HTTPAddr: httpAddrDefault}
		tc.mutate(&e, &s, &h)
		err := errorsOf(e.Validate(true, true, true), s.Validate(), h.Validate())
		if err == "" || !strings.Contains(err, tc.setting) {
			t.Errorf("want %q, got %q", tc.setting, err)
		}
		if strings.Contains(err, "secret") {
			t.Errorf("password shown: %q", err)
		}
	}
	e, s, h := goodEngines(), Sync{SchedulePrefix: SchedulePrefixDefault, SyncMaxErrors: 50}, HTTP{HTTPAddr: httpAddrDefault,
		AdminToken: "integration-admin-token-0123", ReadToken: "read-token-0123456789"}
	if err := errorsOf(e.Validate(true, true, true), s.Validate(), h.Validate()); err != "" {
		t.Errorf("good settings refused: %s", err)
	}
}

func errorsOf(errs ...error) string {
	var out []string
	for _, e := range errs {
		if e != nil {
			out = append(out, e.Error())
		}
	}
	return strings.Join(out, "\n")
}

func TestRedactedHidesSecrets(t *testing.T) {
	e := goodEngines()
	e.DatabaseURL = "postgres://app:hunter2@db:5432/activity"
	lines := strings.Join(Redacted(e, Sync{AlertDefaults: "/etc/activity-core/alerting.yaml"}, HTTP{AdminToken: "admin-secret-token-1234"}), "\n")
	if strings.Contains(lines, "hunter2") || strings.Contains(lines, "admin-secret") {
		t.Errorf("secret in %s", lines)
	}
	if !strings.Contains(lines, "ACTIVITY_ALERT_DEFAULTS=/etc/activity-core/alerting.yaml\n") {
		t.Errorf("no ACTIVITY_ALERT_DEFAULTS line in %s", lines)
	}
}

// ACTIVITY_WORKER_POOLS: names are checked and trimmed, a pool twice is
// refused, and none means the default pool (docs/run-control.md#placement).
func TestWorkerPools(t *testing.T) {
	for _, tc := range []struct {
		pools []string
		want  string // the pools joined, or the error
	}{
		{nil, "default"},
		{[]string{"default"}, "default"},
		{[]string{"state-hub", " default "}, "state-hub,default"},
		{[]string{"a_1", "b-2"}, "a_1,b-2"},
		{[]string{"a", "b", "a"}, `ACTIVITY_WORKER_POOLS: pool a is given twice (in "a,b,a")`},
		{[]string{"a", ""}, `ACTIVITY_WORKER_POOLS: pool name is empty (in "a,")`},
		{[]string{"State Hub"}, `ACTIVITY_WORKER_POOLS: pool name "State Hub" is not valid`},
		{[]string{"a.b"}, `ACTIVITY_WORKER_POOLS: pool name "a.b" is not valid`},
	} {
		e := goodEngines()
		e.Pools = tc.pools
		pools, err := e.WorkerPools()
		got := strings.Join(pools, ",")
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("WorkerPools(%q) = %q, want %q", tc.pools, got, tc.want)
		}
		if verr := e.Validate(true, true, true); (err != nil) != (verr != nil) {
			t.Errorf("Validate(%q) = %v, want it to agree with WorkerPools", tc.pools, verr)
		}
	}
}

// TestDefinitionSpecsValidated: a bad source spec stops startup naming
// ACTIVITY_DEFINITIONS and the spec, its credentials redacted.
func TestDefinitionSpecsValidated(t *testing.T) {
	s := Sync{SchedulePrefix: SchedulePrefixDefault, SyncMaxErrors: 50,
		DefinitionPaths: []string{"/srv/defs", "ops=git+ftp://user:hunter2@git.example.test/ops.git"}}
	err := errorsOf(s.Validate())
	if !strings.Contains(err, "ACTIVITY_DEFINITIONS: ") || !strings.Contains(err, "ftp") || strings.Contains(err, "hunter2") {
		t.Errorf("got %q", err)
	}
	s.DefinitionPaths = []string{"/srv/defs", "ops=git+https://git.example.test/ops.git//defs?ref=main"}
	if err := s.Validate(); err != nil {
		t.Errorf("good specs refused: %v", err)
	}
	if !s.HasGitSource() {
		t.Error("HasGitSource: false for a git source")
	}
}

func TestGitDirDefaults(t *testing.T) {
	state := t.TempDir() + "/state"
	t.Setenv("STATE_DIRECTORY", state+":/other")
	s := Sync{}
	dir, err := s.GitDir()
	if err != nil || dir != state+"/git" {
		t.Fatalf("from $STATE_DIRECTORY: %q %v", dir, err)
	}
	if info, err := os.Stat(state); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data dir not created 0700: %v %v", info, err)
	}
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("HOME", t.TempDir())
	if d := dataDirDefault(); !strings.HasSuffix(d, "/.local/state/activity-core") {
		t.Errorf("home default %q", d)
	}
	s.DataDir = "/proc/no/such/place"
	if _, err := s.GitDir(); err == nil || !strings.Contains(err.Error(), "ACTIVITY_DATA_DIR: cannot create /proc/no/such/place") {
		t.Errorf("unwritable data dir: %v", err)
	}
}

func TestRedactedSourcesHideCredentials(t *testing.T) {
	s := Sync{DefinitionPaths: []string{"/srv/defs", "ops=git+https://bot:s3cret-token@git.example.test/ops.git//defs", "bad=git+ftp://u:pw-hidden@x/y.git"}}
	lines := strings.Join(Redacted(goodEngines(), s, HTTP{}), "\n")
	if strings.Contains(lines, "s3cret-token") || strings.Contains(lines, "pw-hidden") || !strings.Contains(lines, "ACTIVITY_DEFINITIONS=/srv/defs,") {
		t.Errorf("sources in %s", lines)
	}
}
