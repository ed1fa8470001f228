// Package deploy_test checks the files operators deploy with (Dockerfile,
// compose.yaml, systemd units, env.example, .dockerignore and
// docs/deployment.md) against the code: the compose services against
// internal/topology.Layout, every ACTIVITY_* name against the settings the
// config and cli packages define, the Dockerfile against the production
// build. No Docker engine or systemd runs here, so the checks parse the
// files. Each check is a function over file contents, and each has a test
// that feeds it a broken copy, so a check that cannot fail is caught.
package deploy_test

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/topology"
)

// Files under test, relative to this directory.
const (
	dockerfilePath   = "Dockerfile"
	composePath      = "compose.yaml"
	envExamplePath   = "systemd/env.example"
	dockerignorePath = "../.dockerignore"
	deploymentDoc    = "../docs/deployment.md"
	alertingDoc      = "../docs/alerting.md"
	alertsPath       = "prometheus/alerts.yaml"
	thresholdsPath   = "prometheus/thresholds.yaml"
	alertsTestPath   = "prometheus/alerts_test.yaml"
	// testDefaultPath is a deployment-wide default threshold for the tests
	// (thresholds.yaml ships it commented out).
	testDefaultPath = "prometheus/testdata/thresholds-default.yaml"
	goModPath       = "../go.mod"
)

// roleUnits are the systemd units of the activity-core roles.
var roleUnits = map[string]string{
	"api":      "systemd/activity-core-api.service",
	"worker":   "systemd/activity-core-worker.service",
	"router":   "systemd/activity-core-router.service",
	"detector": "systemd/activity-core-detector.service",
}

const migrateUnit = "systemd/activity-core-migrate.service"

// poolUnit is the template unit of a worker pool: instance name = pool
// (docs/run-control.md#placement).
const poolUnit = "systemd/activity-core-worker@.service"

// specSettings are the settings docs/deployment.md names; env.example must list each.
var specSettings = append([]string{
	"ACTIVITY_DATABASE_URL", "ACTIVITY_TEMPORAL_ADDRESS", "ACTIVITY_TEMPORAL_NAMESPACE",
	"ACTIVITY_TASK_QUEUE", "ACTIVITY_NATS_URL", "ACTIVITY_DEFINITIONS", "ACTIVITY_DATA_DIR",
	"ACTIVITY_HTTP_ADDR", "ACTIVITY_ADMIN_TOKEN", "ACTIVITY_READ_TOKEN",
	"ACTIVITY_SYNC_INTERVAL_SECONDS", "ACTIVITY_SCHEDULE_PREFIX", "ACTIVITY_STATE_HUB_URL",
}, alertingSettings...)

// alertingSettings are the settings of the detector and the notifier
// (docs/alerting.md, docs/deployment.md): ACTIVITY_ALERT_DEFAULTS in
// config.Sync, the others in internal/config/alerting.go. They were
// written in parallel with these files: until alertingConfig exists they
// count as settings, so the deploy files can carry them; once it exists,
// TestAlertingSettingsDefined insists that internal/config defines each.
var alertingSettings = []string{
	"ACTIVITY_ALERT_DEFAULTS", "ACTIVITY_PUBLIC_URL", "ACTIVITY_TEMPORAL_UI_URL",
	"ACTIVITY_SMTP_ADDR", "ACTIVITY_SMTP_FROM", "ACTIVITY_SMTP_USERNAME", "ACTIVITY_SMTP_PASSWORD",
	"ACTIVITY_SMTP_STARTTLS", "ACTIVITY_SMTP_CA",
	"ACTIVITY_DETECTOR_INTERVAL", "ACTIVITY_DETECTOR_LEASE_TTL",
}

const alertingConfig = "../internal/config/alerting.go"

// streamReplicasSetting is the stream replica count the topology sets
// (topology.StreamReplicas). It is being added to the config package in
// parallel with these files; until it is there, it counts as a setting so
// the deploy files can already carry it (see settings).
const streamReplicasSetting = "ACTIVITY_NATS_STREAM_REPLICAS"

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantErr fails unless one of errs contains substr (the negative tests).
func wantErr(t *testing.T, errs []error, substr string) {
	t.Helper()
	for _, err := range errs {
		if strings.Contains(err.Error(), substr) {
			return
		}
	}
	t.Errorf("no error containing %q; got %d: %v", substr, len(errs), errors.Join(errs...))
}

func noErrs(t *testing.T, what string, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Errorf("%s: %v", what, err)
	}
}

// ---- settings -------------------------------------------------------------

func splitEnvTag(tag string) []string {
	var out []string
	for _, s := range strings.Split(tag, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// sourceSettings returns the env tags of every struct in the package in
// dir, by type name, read from its source. The cli package is read this
// way rather than imported: importing it would link the embedded Temporal
// server (internal/devserver) into this small test binary.
func sourceSettings(t *testing.T, dir string) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, field := range st.Fields.List {
				if field.Tag == nil {
					continue
				}
				tag, err := strconv.Unquote(field.Tag.Value)
				if err != nil {
					t.Fatalf("%s: tag %s: %v", fset.Position(field.Pos()), field.Tag.Value, err)
				}
				if names := splitEnvTag(reflect.StructTag(tag).Get("env")); len(names) > 0 {
					out[ts.Name.Name] = append(out[ts.Name.Name], names[0])
				}
			}
			return true
		})
	}
	return out
}

// settingSets are the ACTIVITY_* names activity-core reads.
type settingSets struct {
	// known is every name any command reads (config types, every cli
	// command, and the stream replica setting).
	known map[string]bool
	// serve is what `serve` reads: what env.example must list.
	serve []string
}

func settings(t *testing.T) settingSets {
	t.Helper()
	s := settingSets{known: map[string]bool{}}
	// Every settings struct of the config package is part of serve (its
	// source, so a struct added there needs no change here).
	for _, names := range sourceSettings(t, "../internal/config") {
		for _, name := range names {
			if !s.known[name] {
				s.known[name] = true
				s.serve = append(s.serve, name)
			}
		}
	}
	cli := sourceSettings(t, "../internal/cli")
	for _, names := range cli {
		for _, name := range names {
			s.known[name] = true
		}
	}
	serveCmd, ok := cli["ServeCmd"]
	if !ok {
		t.Fatal("internal/cli has no ServeCmd struct: update settings()")
	}
	for _, name := range serveCmd {
		if !slices.Contains(s.serve, name) {
			s.serve = append(s.serve, name)
		}
	}
	if !s.known[streamReplicasSetting] {
		// Not in the config package yet (it is being added with the
		// topology harness). The deploy files set it already; count it
		// as a setting until the config package defines it.
		t.Logf("%s is not defined by internal/config yet; treated as a setting", streamReplicasSetting)
		s.known[streamReplicasSetting] = true
		s.serve = append(s.serve, streamReplicasSetting)
	}
	if !alertingConfigMerged(t) {
		for _, name := range alertingSettings {
			if !s.known[name] {
				t.Logf("%s is not defined by internal/config yet (%s is not there); treated as a setting", name, alertingConfig)
				s.known[name] = true
				s.serve = append(s.serve, name)
			}
		}
	}
	sort.Strings(s.serve)
	return s
}

// alertingConfigMerged reports whether internal/config/alerting.go exists.
func alertingConfigMerged(t *testing.T) bool {
	t.Helper()
	_, err := os.Stat(alertingConfig)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// TestConfigSettingsFromSource guards the source reading settings() relies
// on: every settings struct of internal/config is found, with its fields.
func TestConfigSettingsFromSource(t *testing.T) {
	byType := sourceSettings(t, "../internal/config")
	for typ, want := range map[string]string{
		"Engines": "ACTIVITY_DATABASE_URL", "Sync": "ACTIVITY_DEFINITIONS", "HTTP": "ACTIVITY_ADMIN_TOKEN",
		"Secrets": "ACTIVITY_SECRET_ENV", "Containment": "ACTIVITY_CGROUP_ROOT", "TemporalTLS": "ACTIVITY_TEMPORAL_TLS_CA",
	} {
		if !slices.Contains(byType[typ], want) {
			t.Errorf("reading internal/config's source: struct %s lacks %s (found %v): settings() would miss settings", typ, want, byType[typ])
		}
	}
}

// TestAlertingSettingsDefined: once internal/config/alerting.go is merged,
// every alerting setting the deploy files and docs name is defined there
// (or in config.Sync), under exactly that name.
func TestAlertingSettingsDefined(t *testing.T) {
	if !alertingConfigMerged(t) {
		t.Skipf("%s is not merged yet: the alerting settings are taken as named in docs/alerting.md", alertingConfig)
	}
	s := settings(t)
	for _, name := range alertingSettings {
		if !s.known[name] {
			t.Errorf("internal/config does not define %s, which env.example, docs/deployment.md and docs/alerting.md name: rename it on one side", name)
		}
	}
}

func TestSpecSettingsAreSettings(t *testing.T) {
	s := settings(t)
	for _, name := range specSettings {
		if !s.known[name] {
			t.Errorf("docs/deployment.md names %s but no command reads it", name)
		}
	}
}

var settingRE = regexp.MustCompile(`\bACTIVITY_[A-Z0-9_]+\b`)

// checkSettingNames reports every ACTIVITY_* name in text that is not a
// setting, with its line.
func checkSettingNames(file, text string, known map[string]bool) []error {
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		for _, name := range settingRE.FindAllString(line, -1) {
			if !known[name] {
				errs = append(errs, fmt.Errorf("%s:%d: %s is not a setting activity-core reads (typo, or a setting that was renamed?)", file, i+1, name))
			}
		}
	}
	return errs
}

// deployFiles are the files whose ACTIVITY_* names must be real settings.
func deployFiles() []string {
	files := []string{dockerfilePath, composePath, envExamplePath, migrateUnit, poolUnit, deploymentDoc, alertingDoc, alertsPath}
	for _, role := range slices.Sorted(maps.Keys(roleUnits)) {
		files = append(files, roleUnits[role])
	}
	return files
}

func TestSettingNamesAreReal(t *testing.T) {
	s := settings(t)
	for _, path := range deployFiles() {
		noErrs(t, path, checkSettingNames(path, read(t, path), s.known))
	}
}

func TestSettingNamesCatchesTypo(t *testing.T) {
	s := settings(t)
	broken := strings.Replace(read(t, composePath), "ACTIVITY_TEMPORAL_ADDRESS", "ACTIVITY_TEMPORAL_ADDR", 1)
	wantErr(t, checkSettingNames(composePath, broken, s.known), "ACTIVITY_TEMPORAL_ADDR is not a setting")
}

var envLineRE = regexp.MustCompile(`^#?\s*(ACTIVITY_[A-Z0-9_]+)=`)

// checkEnvExample reports every required setting env.example does not
// list (as NAME=value, or #NAME=default).
func checkEnvExample(text string, required []string) []error {
	listed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if m := envLineRE.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			listed[m[1]] = true
		}
	}
	var errs []error
	for _, name := range required {
		if !listed[name] {
			errs = append(errs, fmt.Errorf("%s does not list %s (add NAME=value, or #NAME=default)", envExamplePath, name))
		}
	}
	return errs
}

func envRequired(t *testing.T) []string {
	s := settings(t)
	req := append([]string(nil), s.serve...)
	for _, name := range specSettings {
		if !slices.Contains(req, name) {
			req = append(req, name)
		}
	}
	return req
}

func TestEnvExampleListsEverySetting(t *testing.T) {
	noErrs(t, envExamplePath, checkEnvExample(read(t, envExamplePath), envRequired(t)))
}

func TestEnvExampleCatchesMissing(t *testing.T) {
	var kept []string
	for _, line := range strings.Split(read(t, envExamplePath), "\n") {
		if !strings.Contains(line, "ACTIVITY_STATE_HUB_URL=") {
			kept = append(kept, line)
		}
	}
	wantErr(t, checkEnvExample(strings.Join(kept, "\n"), envRequired(t)), "does not list ACTIVITY_STATE_HUB_URL")
}

// ---- compose --------------------------------------------------------------

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Restart     string            `yaml:"restart"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	Volumes []string `yaml:"volumes"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (s composeService) oneShot() bool { return s.Restart == "no" }

func (s composeService) healthy() bool {
	return s.Healthcheck != nil && !s.Healthcheck.Disable && len(s.Healthcheck.Test) > 0
}

func parseCompose(text string) (composeFile, error) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		return c, fmt.Errorf("%s: %w", composePath, err)
	}
	if len(c.Services) == 0 {
		return c, fmt.Errorf("%s: no services", composePath)
	}
	return c, nil
}

// interpolateRE matches compose's ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?message} and ${VAR?message}.
var interpolateRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// requiredStandIn replaces a ${VAR:?…} value compose demands from .env: long
// enough to pass the token length check.
const requiredStandIn = "stand-in-for-a-required-value-0123456789"

// interpolate resolves compose variables as if .env set only the required
// ones: defaults for ${VAR:-d}, a stand-in for ${VAR:?m}, empty otherwise.
func interpolate(s string) string {
	s = interpolateRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpolateRE.FindStringSubmatch(m)
		switch {
		case strings.HasSuffix(sub[2], "-"):
			return sub[3]
		case strings.HasSuffix(sub[2], "?"):
			return requiredStandIn
		}
		return ""
	})
	return strings.ReplaceAll(s, "$$", "$")
}

// flagValue returns the argument after flag in args.
func flagValue(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

// temporalServerVersion is the go.temporal.io/server version in go.mod,
// without the v: the tag of the temporalio images.
func temporalServerVersion(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(read(t, goModPath), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "go.temporal.io/server" {
			return strings.TrimPrefix(f[1], "v")
		}
	}
	t.Fatal("go.mod does not require go.temporal.io/server")
	return ""
}

// fillSettings sets the fields of the struct ptr points to from env (by
// their env tag), else from their default tag, as the CLI does.
func fillSettings(ptr any, env map[string]string) error {
	v := reflect.ValueOf(ptr).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		fv := v.Field(i)
		if f.Anonymous && fv.Kind() == reflect.Struct {
			if err := fillSettings(fv.Addr().Interface(), env); err != nil {
				return err
			}
			continue
		}
		names := splitEnvTag(f.Tag.Get("env"))
		name, raw, ok := "", "", false
		for _, n := range names {
			if raw, ok = env[n]; ok {
				name = n
				break
			}
		}
		if !ok {
			name, raw = strings.Join(names, ","), f.Tag.Get("default")
		}
		switch fv.Kind() {
		case reflect.Bool:
			fv.SetBool(raw == "1" || raw == "true")
		case reflect.String:
			fv.SetString(raw)
		case reflect.Int:
			if raw == "" {
				continue
			}
			n, err := strconv.Atoi(raw)
			if err != nil {
				return fmt.Errorf("%s: %q is not a number", name, raw)
			}
			fv.SetInt(int64(n))
		case reflect.Int64: // time.Duration, as kong reads it
			if raw == "" {
				continue
			}
			d, err := time.ParseDuration(raw)
			if err != nil {
				return fmt.Errorf("%s: %q is not a duration", name, raw)
			}
			fv.SetInt(int64(d))
		case reflect.Slice:
			if raw != "" {
				fv.Set(reflect.ValueOf(splitEnvTag(raw)))
			}
		default:
			return fmt.Errorf("%s: field kind %s not handled by the test", name, fv.Kind())
		}
	}
	return nil
}

// validateSettings runs the config package's own checks over a service's
// environment, the way `serve --roles role` does at startup.
func validateSettings(role string, env map[string]string) error {
	var e config.Engines
	var s config.Sync
	var h config.HTTP
	var tr config.Transport
	for _, p := range []any{&e, &s, &h, &tr} {
		if err := fillSettings(p, env); err != nil {
			return err
		}
	}
	errs := []error{tr.CheckPlaintext(&e), e.Validate(true, true, role == "router"), s.Validate()}
	if role == "api" {
		errs = append(errs, h.Validate())
	}
	return errors.Join(errs...)
}

// checkCompose checks the compose file against the topology layout.
func checkCompose(c composeFile, layout []topology.Process, temporalVersion string) []error {
	var errs []error
	bad := func(service, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: service %s: %s", composePath, service, fmt.Sprintf(format, args...)))
	}

	// The long-running services are exactly the layout.
	want := map[string]topology.Process{}
	for _, p := range layout {
		want[p.Name] = p
	}
	var names []string
	for name := range c.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := want[name]; !ok && !c.Services[name].oneShot() {
			bad(name, `is long-running but not in topology.Layout (rename it, add it to the layout, or mark a setup job restart: "no")`)
		}
	}
	var natsNames []string
	for _, p := range layout {
		s, ok := c.Services[p.Name]
		if !ok {
			bad(p.Name, "missing: topology.Layout has it (kind %s, role %q)", p.Kind, p.Role)
			continue
		}
		if s.oneShot() {
			bad(p.Name, `is restart: "no", but topology.Layout says it is long-running`)
		}
		if p.Kind == "nats" {
			natsNames = append(natsNames, p.Name)
		}
	}

	// Dependencies wait on something meaningful.
	for _, name := range names {
		for dep, d := range c.Services[name].DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				bad(name, "depends on %s, which is not a service", dep)
			case d.Condition == "service_healthy" && !target.healthy():
				bad(name, "waits for %s to be healthy, but %s has no healthcheck", dep, dep)
			case d.Condition == "service_completed_successfully" && !target.oneShot():
				bad(name, "waits for %s to complete, but %s is long-running", dep, dep)
			case d.Condition != "service_healthy" && d.Condition != "service_completed_successfully" && d.Condition != "service_started":
				bad(name, "depends on %s without a condition (service_healthy, service_completed_successfully or service_started)", dep)
			}
		}
	}
	// Every one-shot job is something a service waits for.
	for _, name := range names {
		if !c.Services[name].oneShot() {
			continue
		}
		waited := false
		for _, other := range c.Services {
			if d, ok := other.DependsOn[name]; ok && d.Condition == "service_completed_successfully" {
				waited = true
			}
		}
		if !waited {
			bad(name, "is a one-shot job nothing waits for (depends_on … condition: service_completed_successfully)")
		}
	}

	namespaces := map[string]bool{} // registered by a one-shot job
	for _, name := range names {
		s := c.Services[name]
		if strings.HasPrefix(s.Image, "temporalio/") {
			repo, tag, _ := strings.Cut(s.Image, ":")
			if tag != temporalVersion {
				bad(name, "image %s: want %s:%s, the go.temporal.io/server version in go.mod", s.Image, repo, temporalVersion)
			}
		}
		if s.oneShot() && strings.Contains(strings.Join(s.Command, " "), "namespace create") {
			namespaces[s.Environment["TEMPORAL_NAMESPACE"]] = true
		}
	}

	for _, p := range layout {
		s, ok := c.Services[p.Name]
		if !ok {
			continue
		}
		if p.Kind != "activity-core" && !s.healthy() {
			bad(p.Name, "has no healthcheck: services that depend on it cannot wait for it")
		}
		switch p.Kind {
		case "postgres":
			if !strings.HasPrefix(s.Image, "postgres:") {
				bad(p.Name, "image %q is not postgres", s.Image)
			}
			if len(s.Volumes) == 0 {
				bad(p.Name, "has no volume: the store would not survive the container")
			}
		case "temporal":
			if s.Image != "temporalio/server:"+temporalVersion {
				bad(p.Name, "image %q: want temporalio/server:%s", s.Image, temporalVersion)
			}
			if got := s.Environment["TEMPORAL_SERVICES"]; got != p.Role {
				bad(p.Name, "runs Temporal service %q (TEMPORAL_SERVICES), want %q", got, p.Role)
			}
		case "nats":
			if !strings.HasPrefix(s.Image, "nats:") {
				bad(p.Name, "image %q is not nats", s.Image)
			}
			if !slices.Contains(s.Command, "--jetstream") {
				bad(p.Name, "does not enable JetStream (--jetstream)")
			}
			if v, _ := flagValue(s.Command, "--name"); v != p.Name {
				bad(p.Name, "server name %q (--name), want %q: JetStream clustering needs a unique name", v, p.Name)
			}
			if len(s.Volumes) == 0 {
				bad(p.Name, "has no volume: the stream would not survive the container")
			}
		case "activity-core":
			errs = append(errs, checkActivityCore(p, s, natsNames, namespaces)...)
		}
	}
	// Every NATS node routes to all the others.
	for _, n := range natsNames {
		routes, _ := flagValue(c.Services[n].Command, "--routes")
		for _, other := range natsNames {
			if !strings.Contains(routes, "nats://"+other+":") {
				bad(n, "--routes %q does not include %s", routes, other)
			}
		}
	}
	return errs
}

func checkActivityCore(p topology.Process, s composeService, natsNames []string, namespaces map[string]bool) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: service %s: %s", composePath, p.Name, fmt.Sprintf(format, args...)))
	}
	if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
		bad("is not built from deploy/Dockerfile (build.dockerfile)")
	}
	if len(s.Command) == 0 || s.Command[0] != "serve" {
		bad("command %v: want serve", s.Command)
	}
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = interpolate(v)
	}
	role := env["ACTIVITY_ROLES"]
	if v, ok := flagValue(s.Command, "--roles"); ok {
		role = v // the flag wins, as in the CLI
	}
	if role != p.Role {
		bad("runs roles %q, want %q (topology.Layout)", role, p.Role)
	}
	if err := validateSettings(p.Role, env); err != nil {
		bad("its settings would stop startup: %v", err)
	}
	if got, want := env[streamReplicasSetting], strconv.Itoa(topology.StreamReplicas); got != want {
		bad("%s=%q, want %s (topology.StreamReplicas)", streamReplicasSetting, got, want)
	}
	if topology.StreamReplicas != len(natsNames) {
		bad("topology.StreamReplicas is %d but the layout has %d NATS nodes", topology.StreamReplicas, len(natsNames))
	}
	for _, n := range natsNames {
		if !strings.Contains(env["ACTIVITY_NATS_URL"], "nats://"+n+":") {
			bad("ACTIVITY_NATS_URL %q does not list %s: it could not connect while the others are down", env["ACTIVITY_NATS_URL"], n)
		}
	}
	if ns := env["ACTIVITY_TEMPORAL_NAMESPACE"]; !namespaces[ns] {
		bad("uses Temporal namespace %q, which no setup job creates", ns)
	}
	_, hasAdmin := s.Environment["ACTIVITY_ADMIN_TOKEN"]
	switch p.Role {
	case "api":
		if !s.healthy() || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "/healthz") {
			bad("api replica without a /healthz healthcheck")
		}
		if !hasAdmin {
			bad("api replica without ACTIVITY_ADMIN_TOKEN: its admin endpoints would answer 403")
		}
	default:
		if hasAdmin {
			bad("%s replica holds ACTIVITY_ADMIN_TOKEN: only the api role uses it", p.Role)
		}
	}
	return errs
}

// checkBindMounts reports relative bind-mount sources that do not exist
// (relative to dir, the compose file's directory).
func checkBindMounts(c composeFile, dir string) []error {
	var errs []error
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(interpolate(v), ":")
			if !strings.HasPrefix(src, "./") && !strings.HasPrefix(src, "../") {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
				errs = append(errs, fmt.Errorf("%s: service %s: bind mount source %s: %v", composePath, name, src, err))
			}
		}
	}
	return errs
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	c, err := parseCompose(read(t, composePath))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestComposeMatchesTopology(t *testing.T) {
	c := loadCompose(t)
	noErrs(t, "compose", checkCompose(c, topology.Layout, temporalServerVersion(t)))
	noErrs(t, "compose", checkBindMounts(c, "."))
}

func TestComposeMergeKeysResolve(t *testing.T) {
	// The services share settings through YAML anchors and merge keys; if
	// the parser ignored them, every other compose check would see empty
	// services.
	c := loadCompose(t)
	if got := c.Services["api-2"].Environment["ACTIVITY_DATABASE_URL"]; got == "" {
		t.Fatal("api-2 has no ACTIVITY_DATABASE_URL: merge keys (<<: *activity-env) were not resolved")
	}
	if got := c.Services["temporal-history"].Image; got == "" {
		t.Fatal("temporal-history has no image: merge keys (<<: *temporal) were not resolved")
	}
}

func TestComposeChecksCatchBreakage(t *testing.T) {
	version := temporalServerVersion(t)
	deploy := topology.Layout
	text := read(t, composePath)
	cases := []struct {
		name   string
		edit   func(c *composeFile)
		layout []topology.Process
		want   string
	}{
		{name: "missing replica", edit: func(c *composeFile) { delete(c.Services, "router-2") }, want: "service router-2: missing"},
		{name: "missing detector", edit: func(c *composeFile) { delete(c.Services, "detector-2") }, want: "service detector-2: missing"},
		{name: "detector holds admin token", edit: func(c *composeFile) {
			s := c.Services["detector-1"]
			s.Environment = clone(s.Environment)
			s.Environment["ACTIVITY_ADMIN_TOKEN"] = "0123456789abcdef0123"
			c.Services["detector-1"] = s
		}, want: "service detector-1: detector replica holds ACTIVITY_ADMIN_TOKEN"},
		{name: "extra long-running service", edit: func(c *composeFile) {
			c.Services["api-3"] = c.Services["api-1"]
		}, want: "service api-3: is long-running but not in topology.Layout"},
		{name: "wrong role", edit: func(c *composeFile) {
			s := c.Services["worker-2"]
			s.Environment = clone(s.Environment)
			s.Environment["ACTIVITY_ROLES"] = "router"
			c.Services["worker-2"] = s
		}, want: `service worker-2: runs roles "router", want "worker"`},
		{name: "roles flag wins", edit: func(c *composeFile) {
			s := c.Services["api-1"]
			s.Command = []string{"serve", "--roles", "api,worker"}
			c.Services["api-1"] = s
		}, want: `service api-1: runs roles "api,worker", want "api"`},
		{name: "bad setting", edit: func(c *composeFile) {
			s := c.Services["router-1"]
			s.Environment = clone(s.Environment)
			s.Environment["ACTIVITY_NATS_URL"] = ""
			c.Services["router-1"] = s
		}, want: "service router-1: its settings would stop startup: ACTIVITY_NATS_URL"},
		{name: "plaintext without the override", edit: func(c *composeFile) {
			s := c.Services["worker-2"]
			s.Environment = clone(s.Environment)
			delete(s.Environment, "ACTIVITY_ALLOW_PLAINTEXT")
			c.Services["worker-2"] = s
		}, want: "service worker-2: its settings would stop startup: ACTIVITY_TEMPORAL_ADDRESS: temporal-frontend:7233 is not a loopback address"},
		{name: "replicas", edit: func(c *composeFile) {
			s := c.Services["router-2"]
			s.Environment = clone(s.Environment)
			s.Environment[streamReplicasSetting] = "1"
			c.Services["router-2"] = s
		}, want: `service router-2: ACTIVITY_NATS_STREAM_REPLICAS="1", want 3`},
		{name: "temporal role", edit: func(c *composeFile) {
			s := c.Services["temporal-matching"]
			s.Environment = clone(s.Environment)
			s.Environment["TEMPORAL_SERVICES"] = "history"
			c.Services["temporal-matching"] = s
		}, want: `service temporal-matching: runs Temporal service "history"`},
		{name: "temporal version", edit: func(c *composeFile) {
			s := c.Services["temporal-worker"]
			s.Image = "temporalio/server:1.29.0"
			c.Services["temporal-worker"] = s
		}, want: "service temporal-worker: image temporalio/server:1.29.0: want temporalio/server:" + version},
		{name: "healthy dependency without healthcheck", edit: func(c *composeFile) {
			s := c.Services["nats-3"]
			s.Healthcheck = nil
			c.Services["nats-3"] = s
		}, want: "waits for nats-3 to be healthy, but nats-3 has no healthcheck"},
		{name: "unwaited setup job", edit: func(c *composeFile) {
			for name, s := range c.Services {
				if _, ok := s.DependsOn["temporal-setup"]; ok {
					s.DependsOn = nil
					c.Services[name] = s
				}
			}
		}, want: "service temporal-setup: is a one-shot job nothing waits for"},
		{name: "nats route", edit: func(c *composeFile) {
			s := c.Services["nats-2"]
			s.Command = slices.Clone(s.Command)
			i := slices.Index(s.Command, "--routes")
			s.Command[i+1] = "nats://nats-1:6222"
			c.Services["nats-2"] = s
		}, want: "service nats-2: --routes \"nats://nats-1:6222\" does not include nats-3"},
		{name: "worker holds admin token", edit: func(c *composeFile) {
			s := c.Services["worker-1"]
			s.Environment = clone(s.Environment)
			s.Environment["ACTIVITY_ADMIN_TOKEN"] = "0123456789abcdef0123"
			c.Services["worker-1"] = s
		}, want: "service worker-1: worker replica holds ACTIVITY_ADMIN_TOKEN"},
		{name: "namespace not created", edit: func(c *composeFile) {
			s := c.Services["api-1"]
			s.Environment = clone(s.Environment)
			s.Environment["ACTIVITY_TEMPORAL_NAMESPACE"] = "prod"
			c.Services["api-1"] = s
		}, want: `service api-1: uses Temporal namespace "prod", which no setup job creates`},
		{name: "layout grew", edit: func(*composeFile) {},
			layout: append(slices.Clone(deploy), topology.Process{Name: "router-3", Kind: "activity-core", Role: "router"}),
			want:   "service router-3: missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCompose(text)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(&c)
			layout := cmpOr(tc.layout, deploy)
			wantErr(t, checkCompose(c, layout, version), tc.want)
		})
	}

	t.Run("not YAML", func(t *testing.T) {
		if _, err := parseCompose("services: [\n"); err == nil {
			t.Error("a broken compose file parsed")
		}
	})
	t.Run("missing bind mount", func(t *testing.T) {
		broken := strings.Replace(text, "./temporal/dynamicconfig.yaml:", "./temporal/missing.yaml:", 1)
		c, err := parseCompose(broken)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, checkBindMounts(c, "."), "bind mount source ./temporal/missing.yaml")
	})
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cmpOr[T any](s, def []T) []T {
	if s != nil {
		return s
	}
	return def
}

// ---- Dockerfile -------------------------------------------------------------

type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile returns the instructions, continuation lines joined and
// comments dropped.
func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		cont := strings.HasSuffix(line, "\\")
		cur.WriteString(strings.TrimSuffix(line, "\\"))
		cur.WriteString(" ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// goBuildFlags are what the production build must pass.
var goBuildFlags = []string{
	"CGO_ENABLED=0", "go build", "-tags nodev", "-trimpath",
	"-X github.com/coulomb/activity-core/internal/cli.Version=${VERSION}", "./cmd/activity-core",
}

// checkDockerfile checks the production build and the runtime stages.
func checkDockerfile(text string) []error {
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", dockerfilePath, line, fmt.Sprintf(format, args...)))
	}
	type stage struct {
		from   instruction
		instrs []instruction
	}
	var stages []stage
	for _, in := range parseDockerfile(text) {
		if in.cmd == "FROM" {
			stages = append(stages, stage{from: in})
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				bad(in.line, "%s before the first FROM", in.cmd)
			}
			continue
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if len(stages) < 2 {
		bad(1, "not multi-stage: %d FROM", len(stages))
		return errs
	}
	built, hasVersionArg := false, false
	for _, st := range stages {
		for _, in := range st.instrs {
			if in.cmd == "ARG" && strings.HasPrefix(in.args, "VERSION") {
				hasVersionArg = true
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				built = true
				for _, flag := range goBuildFlags {
					if !strings.Contains(in.args, flag) {
						bad(in.line, "go build lacks %q (the production build: -tags nodev, CGO off, -trimpath, version via -ldflags -X)", flag)
					}
				}
			}
		}
	}
	if !built {
		bad(1, "no RUN with go build")
	}
	if !hasVersionArg {
		bad(1, "no ARG VERSION for the -ldflags -X version")
	}
	// Every stage that ships the binary runs as non-root; the last one
	// (the default target) also has a /healthz HEALTHCHECK.
	for i, st := range stages {
		ships := false
		user := ""
		userLine := st.from.line
		health := ""
		for _, in := range st.instrs {
			switch in.cmd {
			case "COPY":
				if strings.Contains(in.args, "--from=") && strings.Contains(in.args, "activity-core") {
					ships = true
				}
			case "USER":
				user, userLine = in.args, in.line
			case "HEALTHCHECK":
				health = in.args
			}
		}
		if !ships {
			continue
		}
		name, _, _ := strings.Cut(user, ":")
		if name == "" || name == "root" || name == "0" {
			bad(userLine, "stage %q ships activity-core but runs as root: add USER <uid>:<gid>", st.from.args)
		}
		if i == len(stages)-1 && !strings.Contains(health, "/healthz") {
			bad(st.from.line, "the default stage has no HEALTHCHECK on /healthz")
		}
	}
	if last := stages[len(stages)-1]; !slices.ContainsFunc(last.instrs, func(in instruction) bool {
		return in.cmd == "COPY" && strings.Contains(in.args, "--from=")
	}) {
		bad(last.from.line, "the default (last) stage does not copy the built binary")
	}
	return errs
}

func TestDockerfile(t *testing.T) {
	noErrs(t, dockerfilePath, checkDockerfile(read(t, dockerfilePath)))
}

func TestDockerfileChecksCatchBreakage(t *testing.T) {
	text := read(t, dockerfilePath)
	cases := []struct{ name, old, new, want string }{
		{"dev build", "go build -tags nodev -trimpath", "go build -trimpath", `lacks "-tags nodev"`},
		{"cgo", "CGO_ENABLED=0", "CGO_ENABLED=1", `lacks "CGO_ENABLED=0"`},
		{"trimpath", "-trimpath", "", `lacks "-trimpath"`},
		{"version", "internal/cli.Version=${VERSION}", "internal/cli.Version=dev", `lacks "-X github.com/coulomb/activity-core/internal/cli.Version=${VERSION}"`},
		{"root", "USER 10001:10001", "USER root", "ships activity-core but runs as root"},
		{"no user", "USER 65532:65532", "", "ships activity-core but runs as root"},
		{"no healthcheck", "/healthz\"", "/\"", "no HEALTHCHECK on /healthz"}, // every probe: see below
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(text, tc.old) {
				t.Fatalf("the Dockerfile no longer contains %q: update this case", tc.old)
			}
			n := 1
			if tc.name == "no healthcheck" {
				n = -1 // the api probe and the ops probe
			}
			wantErr(t, checkDockerfile(strings.Replace(text, tc.old, tc.new, n)), tc.want)
		})
	}
	t.Run("single stage", func(t *testing.T) {
		wantErr(t, checkDockerfile("FROM alpine\nUSER 1000\n"), "not multi-stage")
	})
}

// dockerfileGoBuild returns the Dockerfile's go build command as a shell
// command for this machine, writing to out.
func dockerfileGoBuild(text, out string) (string, error) {
	for _, in := range parseDockerfile(text) {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		i := strings.Index(in.args, "CGO_ENABLED=")
		if i < 0 {
			return "", errors.New("go build RUN has no CGO_ENABLED=")
		}
		cmd := strings.NewReplacer(
			"$TARGETOS", runtime.GOOS, "$TARGETARCH", runtime.GOARCH,
			"${VERSION}", "deploy-test", "/out/activity-core", out,
		).Replace(in.args[i:])
		return cmd, nil
	}
	return "", errors.New("no RUN with go build")
}

// TestDockerfileGoBuild runs the Dockerfile's own go build command (minutes
// on two cores, so only with ACTIVITY_TEST_DOCKER_BUILD=1) and checks the
// binary: production build, version stamped.
func TestDockerfileGoBuild(t *testing.T) {
	if os.Getenv("ACTIVITY_TEST_DOCKER_BUILD") != "1" {
		t.Skip("set ACTIVITY_TEST_DOCKER_BUILD=1 to run the Dockerfile's go build (minutes)")
	}
	bin := filepath.Join(t.TempDir(), "activity-core")
	cmdline, err := dockerfileGoBuild(read(t, dockerfilePath), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("running in ..: %s", cmdline)
	build := exec.Command("sh", "-c", cmdline)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "activity-core deploy-test") {
		t.Errorf("version: %v: %s", err, out)
	}
	info, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v: %s", err, info)
	}
	for _, want := range []string{"-tags=nodev", "CGO_ENABLED=0", "-trimpath=true"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("binary build info lacks %s:\n%s", want, info)
		}
	}
	if strings.Contains(string(info), "go.temporal.io/server") {
		t.Error("the production binary links go.temporal.io/server")
	}
	out, _ = exec.Command(bin, "dev").CombinedOutput()
	if !strings.Contains(string(out), "without the embedded engines") {
		t.Errorf("dev in the production binary: %s", out)
	}
}

func TestDockerfileGoBuildExtract(t *testing.T) {
	cmd, err := dockerfileGoBuild(read(t, dockerfilePath), "/tmp/x/activity-core")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-tags nodev", "-o /tmp/x/activity-core", "GOARCH=" + runtime.GOARCH, "cli.Version=deploy-test"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("extracted build command %q lacks %q", cmd, want)
		}
	}
	if strings.Contains(cmd, "--mount") {
		t.Errorf("extracted build command keeps BuildKit mounts: %q", cmd)
	}
	if _, err := dockerfileGoBuild("FROM alpine\n", "x"); err == nil {
		t.Error("a Dockerfile without go build gave a build command")
	}
}

// ---- .dockerignore ----------------------------------------------------------

// dockerignoreRE turns one .dockerignore pattern into a regexp over
// slash-separated paths (*, ?, ** as Docker reads them).
func dockerignoreRE(pattern string) *regexp.Regexp {
	pattern = strings.Trim(filepath.ToSlash(filepath.Clean(pattern)), "/")
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case strings.HasPrefix(pattern[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	// A pattern excludes a directory with everything under it.
	b.WriteString("(/.*)?$")
	return regexp.MustCompile(b.String())
}

// dockerignored reports whether path is excluded by the patterns (the last
// matching pattern decides; ! re-includes).
func dockerignored(patterns []string, path string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if dockerignoreRE(strings.TrimPrefix(p, "!")).MatchString(path) {
			ignored = !neg
		}
	}
	return ignored
}

// checkDockerignore: what the build needs stays in the context; the
// repository history and deploy secrets stay out.
func checkDockerignore(text string) []error {
	var patterns []string
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	var errs []error
	for _, path := range []string{
		"go.mod", "go.sum", "cmd/activity-core/main.go", "internal/cli/cli.go",
		"internal/store/postgres/migrations/0001_init.sql", "internal/definition/schema.json",
		"internal/ui/templates/index.html", "internal/ui/static/app.css", "internal/adminapi/openapi.json",
	} {
		if dockerignored(patterns, path) {
			errs = append(errs, fmt.Errorf("%s: excludes %s, which the build needs", dockerignorePath, path))
		}
	}
	for _, path := range []string{".git/config", "deploy/.env", "bin/activity-core", ".activity-core/token"} {
		if !dockerignored(patterns, path) {
			errs = append(errs, fmt.Errorf("%s: does not exclude %s", dockerignorePath, path))
		}
	}
	return errs
}

func TestDockerignore(t *testing.T) {
	noErrs(t, dockerignorePath, checkDockerignore(read(t, dockerignorePath)))
}

func TestDockerignoreChecksCatchBreakage(t *testing.T) {
	text := read(t, dockerignorePath)
	wantErr(t, checkDockerignore(text+"\ninternal/**/*.sql\n"), "excludes internal/store/postgres/migrations/0001_init.sql")
	wantErr(t, checkDockerignore(text+"\n*.mod\n"), "excludes go.mod")
	wantErr(t, checkDockerignore(strings.ReplaceAll(text, "\n.git\n", "\n")), "does not exclude .git/config")
	wantErr(t, checkDockerignore(text+"\n!deploy/.env\n"), "does not exclude deploy/.env")
}

// ---- systemd ----------------------------------------------------------------

// unitFile is a parsed systemd unit: section -> key -> values (a key may
// repeat).
type unitFile map[string]map[string][]string

// parseUnit reads systemd's INI dialect: [Section], Key=Value, # and ;
// comments, backslash continuations.
func parseUnit(name, text string) (unitFile, error) {
	u := unitFile{}
	section := ""
	var pending string
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if pending == "" && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: unterminated section header %q", name, i+1, line)
			}
			section = line[1 : len(line)-1]
			if _, dup := u[section]; dup {
				return nil, fmt.Errorf("%s:%d: section [%s] twice", name, i+1, section)
			}
			u[section] = map[string][]string{}
			continue
		}
		if section == "" {
			return nil, fmt.Errorf("%s:%d: %q before any [section]", name, i+1, line)
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not Key=Value", name, i+1, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	for s := range u {
		if s != "Unit" && s != "Service" && s != "Install" {
			return nil, fmt.Errorf("%s: unknown section [%s]", name, s)
		}
	}
	return u, nil
}

func (u unitFile) get(section, key string) []string { return u[section][key] }

// last is the effective value of a single-valued key.
func (u unitFile) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func (u unitFile) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// workerBreakers are hardening directives that stop ordinary operator
// commands from working; the worker unit must not set them.
var workerBreakers = []string{
	"MemoryDenyWriteExecute", "SystemCallFilter", "RestrictAddressFamilies",
	"PrivateDevices", "ProtectHome", "RestrictNamespaces",
}

// checkUnit checks one unit; role is api, worker, router, or "migrate".
func checkUnit(name, text, role string) []error {
	u, err := parseUnit(name, text)
	if err != nil {
		return []error{err}
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if u.last("Unit", "Description") == "" {
		bad("[Unit] has no Description")
	}
	if !slices.Contains(u.words("Unit", "After"), "network-online.target") || !slices.Contains(u.words("Unit", "Wants"), "network-online.target") {
		bad("[Unit] must Want and come After network-online.target (it talks to the store, Temporal and NATS at start)")
	}
	if !slices.Contains(u.get("Service", "EnvironmentFile"), "/etc/activity-core/env") {
		bad("[Service] EnvironmentFile=/etc/activity-core/env missing (or optional with '-': a missing settings file must stop the start)")
	}
	if user := u.last("Service", "User"); user == "" || user == "root" || user == "0" {
		bad("[Service] runs as root (User=%q): set User=activity-core", user)
	}
	if u.last("Service", "NoNewPrivileges") != "yes" || u.last("Service", "PrivateTmp") != "yes" || u.last("Service", "ProtectSystem") == "" {
		bad("[Service] lacks the base hardening (NoNewPrivileges=yes, PrivateTmp=yes, ProtectSystem=)")
	}
	start := strings.Fields(u.last("Service", "ExecStart"))
	if len(start) == 0 || filepath.Base(start[0]) != "activity-core" {
		bad("[Service] ExecStart does not run activity-core: %q", u.last("Service", "ExecStart"))
		return errs
	}
	if role == "migrate" {
		if u.last("Service", "Type") != "oneshot" {
			bad("[Service] Type=%q, want oneshot", u.last("Service", "Type"))
		}
		if !slices.Equal(start[1:], []string{"migrate"}) {
			bad("[Service] ExecStart %q, want activity-core migrate", strings.Join(start, " "))
		}
		return errs
	}
	// role "worker@" is the pool template: the instance name is the pool.
	want := []string{"serve", "--roles", role}
	if role == "worker@" {
		role, want = "worker", []string{"serve", "--roles", "worker", "--pools", "%i"}
		if !strings.Contains(u.last("Service", "StateDirectory"), "%i") {
			bad("[Service] StateDirectory=%q is shared by every pool, whose instances run as different users: add %%i", u.last("Service", "StateDirectory"))
		}
	}
	if !slices.Equal(start[1:], want) {
		bad("[Service] ExecStart %q, want activity-core %s", strings.Join(start, " "), strings.Join(want, " "))
	}
	if u.last("Service", "Restart") != "on-failure" {
		bad("[Service] Restart=%q, want on-failure", u.last("Service", "Restart"))
	}
	if !slices.Contains(u.words("Unit", "Wants"), "activity-core-migrate.service") || !slices.Contains(u.words("Unit", "After"), "activity-core-migrate.service") {
		bad("[Unit] must Want and come After activity-core-migrate.service")
	}
	if !slices.Contains(u.get("Install", "WantedBy"), "multi-user.target") {
		bad("[Install] WantedBy=multi-user.target missing: it would not start at boot")
	}
	switch role {
	case "worker":
		for _, key := range workerBreakers {
			if v := u.get("Service", key); len(v) > 0 {
				bad("[Service] %s=%s stops operators' commands from working in the worker", key, v[len(v)-1])
			}
		}
		if u.last("Service", "ProtectSystem") == "strict" {
			bad("[Service] ProtectSystem=strict makes the whole file system read-only to operators' commands")
		}
		if u.last("Service", "KillMode") != "mixed" {
			bad("[Service] KillMode=%q, want mixed (the worker stops its commands itself, with their grace period)", u.last("Service", "KillMode"))
		}
	default:
		for key, want := range map[string]string{"ProtectSystem": "strict", "ProtectHome": "yes", "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": ""} {
			if v := u.get("Service", key); len(v) == 0 || v[len(v)-1] != want {
				bad("[Service] %s=%q missing: the %s role starts no process, so it gets the strict set", key, want, role)
			}
		}
	}
	return errs
}

func TestSystemdUnits(t *testing.T) {
	for role, path := range roleUnits {
		noErrs(t, path, checkUnit(path, read(t, path), role))
	}
	noErrs(t, migrateUnit, checkUnit(migrateUnit, read(t, migrateUnit), "migrate"))
	noErrs(t, poolUnit, checkUnit(poolUnit, read(t, poolUnit), "worker@"))
}

func TestSystemdChecksCatchBreakage(t *testing.T) {
	api := read(t, roleUnits["api"])
	worker := read(t, roleUnits["worker"])
	migrate := read(t, migrateUnit)
	detector := read(t, roleUnits["detector"])
	pool := read(t, poolUnit)
	cases := []struct {
		name, text, role, old, new, want string
	}{
		{"wrong role", api, "api", "serve --roles api", "serve --roles worker", "want activity-core serve --roles api"},
		{"restart", api, "api", "Restart=on-failure", "Restart=no", `Restart="no"`},
		{"root", api, "api", "User=activity-core", "User=root", "runs as root"},
		{"env file optional", api, "api", "EnvironmentFile=/etc/activity-core/env", "EnvironmentFile=-/etc/activity-core/env", "EnvironmentFile=/etc/activity-core/env missing"},
		{"api loosened", api, "api", "MemoryDenyWriteExecute=yes", "", `MemoryDenyWriteExecute="yes" missing`},
		{"no install", api, "api", "[Install]\nWantedBy=multi-user.target", "", "WantedBy=multi-user.target missing"},
		{"no migrate", api, "api", "Wants=network-online.target activity-core-migrate.service", "Wants=network-online.target", "Want and come After activity-core-migrate.service"},
		{"worker sandboxed too hard", worker, "worker", "\n#MemoryDenyWriteExecute=yes", "\nMemoryDenyWriteExecute=yes", "MemoryDenyWriteExecute=yes stops operators' commands"},
		{"worker strict", worker, "worker", "ProtectSystem=full", "ProtectSystem=strict", "ProtectSystem=strict makes"},
		{"worker killmode", worker, "worker", "\nKillMode=mixed\n", "\nKillMode=control-group\n", `KillMode="control-group"`},
		{"migrate type", migrate, "migrate", "Type=oneshot", "Type=simple", `Type="simple", want oneshot`},
		{"not INI", api, "api", "[Service]", "[Service", "unterminated section header"},
		{"stray line", api, "api", "Type=simple", "Type simple", `"Type simple" is not Key=Value`},
		{"detector role", detector, "detector", "serve --roles detector", "serve --roles api,detector", "want activity-core serve --roles detector"},
		{"detector loosened", detector, "detector", "ProtectSystem=strict", "ProtectSystem=full", `ProtectSystem="strict" missing`},
		{"pool not passed", pool, "worker@", "--pools %i", "", "want activity-core serve --roles worker --pools %i"},
		{"pool state shared", pool, "worker@", "StateDirectory=activity-core/%i", "StateDirectory=activity-core", "is shared by every pool"},
		{"pool sandboxed too hard", pool, "worker@", "\n#ProtectHome=yes", "\nProtectHome=yes", "ProtectHome=yes stops operators' commands"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.text, tc.old) {
				t.Fatalf("the unit no longer contains %q: update this case", tc.old)
			}
			wantErr(t, checkUnit("unit", strings.Replace(tc.text, tc.old, tc.new, 1), tc.role), tc.want)
		})
	}
}

// ---- docs ---------------------------------------------------------------------

// docHeadings are the sections docs/deployment.md must keep.
var docHeadings = []string{
	"## Sizing", "## Scaling each role", "## Upgrades and migrations", "## Backing up the store",
	"## Search attributes", "## Tokens", "## TLS",
}

// checkDeploymentDoc reports missing sections and roles the doc does not
// discuss.
func checkDeploymentDoc(doc string, layout []topology.Process) []error {
	var errs []error
	for _, heading := range docHeadings {
		if !strings.Contains(doc, "\n"+heading) {
			errs = append(errs, fmt.Errorf("%s has no %q section", deploymentDoc, heading))
		}
	}
	for _, p := range layout {
		if p.Kind == "activity-core" && !strings.Contains(doc, "`"+p.Role+"`") {
			errs = append(errs, fmt.Errorf("%s does not discuss the %s role", deploymentDoc, p.Role))
		}
	}
	return errs
}

func TestDeploymentDoc(t *testing.T) {
	noErrs(t, deploymentDoc, checkDeploymentDoc(read(t, deploymentDoc), topology.Layout))
}

func TestDeploymentDocChecksCatchBreakage(t *testing.T) {
	doc := read(t, deploymentDoc)
	wantErr(t, checkDeploymentDoc(strings.Replace(doc, "\n## Backing up the store", "\n## Backups", 1), topology.Layout), `no "## Backing up the store" section`)
	wantErr(t, checkDeploymentDoc(strings.ReplaceAll(doc, "`router`", "router"), topology.Layout), "does not discuss the router role")
	wantErr(t, checkDeploymentDoc(strings.ReplaceAll(doc, "`detector`", "detector"), topology.Layout), "does not discuss the detector role")
}

// ---- Prometheus rules ---------------------------------------------------------

// alertMetrics are the metrics the detector and the notifier export
// (docs/alerting.md#prometheus-and-alertmanager); the rules use no other.
var alertMetrics = []string{
	"activity_definition_last_success_timestamp_seconds",
	"activity_definition_consecutive_failures",
	"activity_definition_missed_total",
	"activity_definition_state",
	"activity_definition_paused",
	"activity_detector_leader",
	"activity_detector_last_pass_timestamp_seconds",
	"activity_detector_pass_duration_seconds",
	"activity_notifications_total",
	"activity_notifications_pending",
}

// runbookBase is where every alert's runbook_url points: a section of
// docs/alerting.md.
const runbookBase = "https://github.com/coulomb/activity-core/blob/main/docs/alerting.md#"

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func parseRules(text string) ([]rule, error) {
	var f ruleFile
	if err := yaml.Unmarshal([]byte(text), &f); err != nil {
		return nil, err
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		return nil, errors.New("no rules")
	}
	return rules, nil
}

// markdownAnchors are the anchors GitHub makes for the headings of doc.
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

var metricRE = regexp.MustCompile(`\bactivity_[a-z_]+\b`)

// checkAlertRules: every alert has a severity, says what happened and
// what to do, and links to its runbook in docs/alerting.md; every metric
// is one activity-core exports.
func checkAlertRules(text, doc string) []error {
	rules, err := parseRules(text)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", alertsPath, err)}
	}
	anchors := markdownAnchors(doc)
	var errs []error
	for _, r := range rules {
		name := cmp.Or(r.Alert, r.Record)
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s: %s", alertsPath, name, fmt.Sprintf(format, args...)))
		}
		for _, m := range metricRE.FindAllString(r.Expr, -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
			if !slices.Contains(alertMetrics, base) {
				bad("%s is not a metric activity-core exports (docs/alerting.md#prometheus-and-alertmanager)", m)
			}
		}
		if r.Record != "" {
			if !strings.HasPrefix(r.Record, "activity:") {
				bad("recording rules are named activity:<what>")
			}
			continue
		}
		if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
			bad("severity %q: want warning or critical", sev)
		}
		for _, key := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[key]) == "" {
				bad("has no %s annotation", key)
			}
		}
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookBase)
		switch {
		case !ok:
			bad("runbook_url %q is not a section of docs/alerting.md (%s…)", url, runbookBase)
		case !anchors[anchor]:
			bad("runbook_url anchor #%s is not a heading of docs/alerting.md", anchor)
		}
	}
	return errs
}

type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name  string `yaml:"name"`
		Cases []struct {
			Alert string `yaml:"alertname"`
			Exp   []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// checkAlertTests: every alert is tested firing and not firing, against
// the rules and the example thresholds.
func checkAlertTests(rulesText, testsText string) []error {
	rules, err := parseRules(rulesText)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", alertsPath, err)}
	}
	var tests ruleTests
	if err := yaml.Unmarshal([]byte(testsText), &tests); err != nil {
		return []error{fmt.Errorf("%s: %w", alertsTestPath, err)}
	}
	var errs []error
	for _, f := range []string{filepath.Base(alertsPath), filepath.Base(thresholdsPath)} {
		if !slices.Contains(tests.RuleFiles, f) {
			errs = append(errs, fmt.Errorf("%s: rule_files does not load %s", alertsTestPath, f))
		}
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tg := range tests.Tests {
		for _, c := range tg.Cases {
			if len(c.Exp) > 0 {
				firing[c.Alert] = true
			} else {
				quiet[c.Alert] = true
			}
		}
	}
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		if !firing[r.Alert] {
			errs = append(errs, fmt.Errorf("%s: %s is never tested firing", alertsTestPath, r.Alert))
		}
		if !quiet[r.Alert] {
			errs = append(errs, fmt.Errorf("%s: %s is never tested not firing (exp_alerts: [])", alertsTestPath, r.Alert))
		}
	}
	return errs
}

// alertingAnchors are the sections of docs/alerting.md that code comments,
// messages and the other docs link to.
var alertingAnchors = []string{
	"expect", "notify", "defaults", "missed-fires", "detector", "delivery", "the-timeline", "prometheus-and-alertmanager",
}

func checkAlertingDoc(doc string) []error {
	anchors := markdownAnchors(doc)
	var errs []error
	for _, a := range alertingAnchors {
		if !anchors[a] {
			errs = append(errs, fmt.Errorf("%s has no section #%s", alertingDoc, a))
		}
	}
	return errs
}

func TestAlertingDoc(t *testing.T) {
	noErrs(t, alertingDoc, checkAlertingDoc(read(t, alertingDoc)))
	wantErr(t, checkAlertingDoc(strings.Replace(read(t, alertingDoc), "\n## Missed fires\n", "\n## Misses\n", 1)), "no section #missed-fires")
}

func TestAlertRules(t *testing.T) {
	noErrs(t, alertsPath, checkAlertRules(read(t, alertsPath), read(t, alertingDoc)))
	noErrs(t, thresholdsPath, checkAlertRules(read(t, thresholdsPath), read(t, alertingDoc)))
	noErrs(t, testDefaultPath, checkAlertRules(read(t, testDefaultPath), read(t, alertingDoc)))
	noErrs(t, alertsTestPath, checkAlertTests(read(t, alertsPath), read(t, alertsTestPath)))
}

func TestAlertRulesChecksCatchBreakage(t *testing.T) {
	rules, doc, tests := read(t, alertsPath), read(t, alertingDoc), read(t, alertsTestPath)
	cases := []struct{ name, text, old, new, want string }{
		{"severity", rules, "severity: critical", "severity: page", `severity "page"`},
		{"metric", rules, "activity_definition_consecutive_failures)", "activity_definition_consecutive_failure)", "activity_definition_consecutive_failure is not a metric"},
		{"runbook", rules, "alerting.md#activitydetectornoleader", "alerting.md#no-leader", "anchor #no-leader is not a heading"},
		{"runbook elsewhere", rules, "https://github.com/coulomb/activity-core/blob/main/docs/alerting.md#activitydefinitionlate", "https://wiki.example/late", "is not a section of docs/alerting.md"},
		{"summary", rules, "summary: \"No activity-core detector holds the lease\"", "", "has no summary annotation"},
		{"record name", rules, "record: activity:definition_failure_threshold\n", "record: definition_failure_threshold\n", "recording rules are named activity:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.text, tc.old) {
				t.Fatalf("%s no longer contains %q: update this case", alertsPath, tc.old)
			}
			wantErr(t, checkAlertRules(strings.Replace(tc.text, tc.old, tc.new, 1), doc), tc.want)
		})
	}
	t.Run("undocumented runbook", func(t *testing.T) {
		wantErr(t, checkAlertRules(rules, strings.ReplaceAll(doc, "### ActivityDefinitionStale\n", "### Stale\n")), "anchor #activitydefinitionstale is not a heading")
	})
	t.Run("untested firing", func(t *testing.T) {
		wantErr(t, checkAlertTests(rules, strings.ReplaceAll(tests, "alertname: ActivityDetectorSlowPasses\n        exp_alerts:\n", "alertname: ActivityDetectorSlowPasses\n        exp_alerts: []\n        x:\n")),
			"ActivityDetectorSlowPasses is never tested firing")
	})
	t.Run("untested quiet", func(t *testing.T) {
		wantErr(t, checkAlertTests(rules, strings.ReplaceAll(tests, "alertname: ActivityDefinitionLate\n        exp_alerts: []", "alertname: ActivityDefinitionFailing\n        exp_alerts: []")),
			"ActivityDefinitionLate is never tested not firing")
	})
	t.Run("thresholds not loaded", func(t *testing.T) {
		wantErr(t, checkAlertTests(rules, strings.Replace(tests, "  - thresholds.yaml\n", "", 1)), "rule_files does not load thresholds.yaml")
	})
}

// promtool runs Prometheus's own checker in dir, or skips the test when
// it is not installed.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH: apt-get install prometheus (Debian's package ships it; .ci/run installs it)")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPromtool checks the rules and runs their unit tests with promtool,
// as CI does (docs/alerting.md#prometheus-and-alertmanager).
func TestPromtool(t *testing.T) {
	dir := filepath.Dir(alertsPath)
	if out, err := promtool(t, dir, "check", "rules", filepath.Base(alertsPath), filepath.Base(thresholdsPath), "testdata/"+filepath.Base(testDefaultPath)); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := promtool(t, dir, "test", "rules", filepath.Base(alertsTestPath)); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestPromtoolCatchesBreakage: a rule changed under its tests fails them.
// Only the first test group is kept, so this costs a fraction of a second.
func TestPromtoolCatchesBreakage(t *testing.T) {
	dir := t.TempDir()
	rules := read(t, alertsPath)
	old := ">= on (definition) activity:definition_failure_threshold"
	if !strings.Contains(rules, old) {
		t.Fatalf("%s no longer contains %q: update this test", alertsPath, old)
	}
	tests := read(t, alertsTestPath)
	first := strings.Index(tests, "\n  - name: ")
	second := strings.Index(tests[first+1:], "\n  - name: ")
	if first < 0 || second < 0 {
		t.Fatalf("%s: cannot find its first two test groups", alertsTestPath)
	}
	files := map[string]string{
		filepath.Base(alertsPath):                    strings.Replace(rules, old, "> on (definition) activity:definition_failure_threshold", 1),
		filepath.Base(thresholdsPath):                read(t, thresholdsPath),
		"testdata/" + filepath.Base(testDefaultPath): read(t, testDefaultPath),
		filepath.Base(alertsTestPath):                tests[:first+1+second+1],
	}
	if err := os.Mkdir(filepath.Join(dir, "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := promtool(t, dir, "test", "rules", filepath.Base(alertsTestPath))
	if err == nil || !strings.Contains(out, "alertname: ActivityDefinitionFailing") {
		t.Fatalf("promtool test rules passed a rule that fires one failure late (err %v):\n%s", err, out)
	}
}

// TestAlertMetricsExported: the metrics the rules use are the ones the
// code registers (read from its source), once the detector is there.
func TestAlertMetricsExported(t *testing.T) {
	if _, err := os.Stat("../internal/detector"); err != nil {
		t.Skip("internal/detector is not merged yet: the metric names are taken from docs/alerting.md")
	}
	var src strings.Builder
	err := filepath.WalkDir("../internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		src.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range alertMetrics {
		if !strings.Contains(src.String(), `"`+name+`"`) {
			t.Errorf("no package in internal/ names the metric %s, which %s uses", name, alertsPath)
		}
	}
}
