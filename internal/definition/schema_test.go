package definition

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The published JSON Schema (schema.json, `activity-core schema`) must be a
// valid 2020-12 schema, must be what JSONSchema() embeds, and must agree with
// Parse on every file we have: valid files are accepted by both, and the
// invalid files marked `# schema: reject` are rejected by both. The schema
// is an editor aid and cannot see everything Parse checks (cron field
// ranges, time zone names, CEL, duplicate binds, duration minimums), so
// only the invalid files whose first line carries the marker are checked.

const (
	schemaFile = "schema.json"
	schemaID   = "https://activity-core.dev/schemas/activity-definition-v1.json"
	// schemaRejectMarker on the first line of a testdata/invalid file says
	// the schema, not just Parse, must reject it.
	schemaRejectMarker = "# schema: reject"
)

// compileDefaultsSchema compiles $defs/alertingDefaults, the schema of a
// _defaults.yaml or ACTIVITY_ALERT_DEFAULTS file.
func compileDefaultsSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	compileSchemaFile(t)
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaID + "#/$defs/alertingDefaults")
	if err != nil {
		t.Fatalf("%s: $defs/alertingDefaults does not compile: %v", schemaFile, err)
	}
	return s
}

// compileSchemaFile compiles schema.json and returns the definition schema
// and the event-type schema ($defs/eventType).
func compileSchemaFile(t *testing.T) (def, eventType *jsonschema.Schema) {
	t.Helper()
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("reading %s: %v", schemaFile, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s is not valid JSON: %v", schemaFile, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		t.Fatalf("adding %s: %v", schemaFile, err)
	}
	// Compile checks the document against the 2020-12 meta-schema too.
	def, err = c.Compile(schemaID)
	if err != nil {
		t.Fatalf("%s does not compile: %v", schemaFile, err)
	}
	eventType, err = c.Compile(schemaID + "#/$defs/eventType")
	if err != nil {
		t.Fatalf("%s: $defs/eventType does not compile: %v", schemaFile, err)
	}
	return def, eventType
}

func TestSchemaCompiles(t *testing.T) {
	compileSchemaFile(t)

	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		Schema string `json:"$schema"`
		ID     string `json:"$id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		t.Fatal(err)
	}
	if head.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q, want draft 2020-12", head.Schema)
	}
	if head.ID != schemaID {
		t.Errorf("$id = %q, want %q", head.ID, schemaID)
	}
	if !bytes.Equal(JSONSchema(), raw) {
		t.Errorf("JSONSchema() (%d bytes) differs from %s (%d bytes)", len(JSONSchema()), schemaFile, len(raw))
	}
}

// TestSchemaDescribesEveryProperty keeps the schema useful in editors:
// every property the schema names has a description (directly or through
// the $ref it points at).
func TestSchemaDescribesEveryProperty(t *testing.T) {
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	described := func(s map[string]any) bool {
		if d, ok := s["description"].(string); ok && d != "" {
			return true
		}
		if ref, ok := s["$ref"].(string); ok {
			target, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			d, _ := target["description"].(string)
			return d != ""
		}
		return false
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, key := range []string{"properties", "patternProperties"} {
				props, _ := v[key].(map[string]any)
				for name, p := range props {
					ps, ok := p.(map[string]any)
					if !ok || !described(ps) {
						t.Errorf("%s/%s/%s has no description", path, key, name)
					}
				}
			}
			for k, c := range v {
				if k == "examples" || k == "default" || k == "if" {
					continue
				}
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(path+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("#", root)
}

// yamlToJSON converts a YAML document to the JSON value an editor's schema
// check sees. It walks the node tree instead of decoding into `any`, so
// scalars keep the text Parse reads: an unquoted timestamp stays the
// string written (yaml.v3 would make it a time.Time, and a date-only
// `2026-12-01` would come back as a full RFC 3339 time Parse never saw),
// and mapping keys keep their text (`200:` is the key "200").
func yamlToJSON(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var v any
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		var err error
		if v, err = yamlNodeValue(doc.Content[0]); err != nil {
			return nil, err
		}
	}
	// Round-trip through encoding/json so numbers are json.Number and the
	// value is exactly what a JSON document would hold.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

func yamlNodeValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return yamlNodeValue(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			v, err := yamlNodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlNodeValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int":
			var i int64
			if err := n.Decode(&i); err == nil {
				return i, nil
			}
			var u uint64
			if err := n.Decode(&u); err == nil {
				return u, nil
			}
			if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
				return f, nil
			}
			// Not a number at all: keep the text.
			return n.Value, nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, err
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				// JSON has no such number; keep the text, which no numeric
				// field of the schema accepts.
				return n.Value, nil
			}
			return f, nil
		default: // !!str, !!timestamp, !!binary, custom tags: the text as written
			return n.Value, nil
		}
	}
	return nil, errors.New("unsupported YAML node")
}

// yamlFiles lists *.yaml and *.yml files below dir, skipping hidden files
// and folders as Load does. ok is false when dir does not exist.
func yamlFiles(t *testing.T, dir string) (files []string, ok bool) {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && isYAML(d.Name()) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	sort.Strings(files)
	return files, true
}

func inEventTypesDir(path string) bool {
	for _, part := range strings.Split(filepath.ToSlash(filepath.Dir(path)), "/") {
		if part == EventTypesDir {
			return true
		}
	}
	return false
}

func TestSchemaAcceptsValidFiles(t *testing.T) {
	defSchema, eventTypeSchema := compileSchemaFile(t)
	defaultsSchema := compileDefaultsSchema(t)
	dirs := []string{
		filepath.Join("testdata", "valid"),
		filepath.Join("..", "..", "examples", "definitions"),
	}
	for _, dir := range dirs {
		files, ok := yamlFiles(t, dir)
		if !ok {
			t.Logf("%s does not exist yet: skipped", dir)
			continue
		}
		if len(files) == 0 {
			t.Logf("%s holds no YAML files: skipped", dir)
		}
		for _, file := range files {
			t.Run(filepath.ToSlash(file), func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				v, err := yamlToJSON(data)
				if err != nil {
					t.Fatalf("converting YAML to JSON: %v", err)
				}
				if filepath.Base(file) == defaultsFileName {
					if _, err := ParseDefaults(file, data); err != nil {
						t.Errorf("ParseDefaults rejects a valid defaults file:\n%v", err)
					}
					if err := defaultsSchema.Validate(v); err != nil {
						t.Errorf("$defs/alertingDefaults rejects a valid defaults file:\n%v", err)
					}
					return
				}
				if inEventTypesDir(file) {
					if _, err := ParseEventType(file, data); err != nil {
						t.Errorf("ParseEventType rejects a valid event-type file:\n%v", err)
					}
					if err := eventTypeSchema.Validate(v); err != nil {
						t.Errorf("$defs/eventType rejects a valid event-type file:\n%v", err)
					}
					return
				}
				if _, err := Parse(file, data); err != nil {
					t.Errorf("Parse rejects a valid file:\n%v", err)
				}
				if err := defSchema.Validate(v); err != nil {
					t.Errorf("schema rejects a valid file:\n%v", err)
				}
			})
		}
	}
}

func TestSchemaRejectsMarkedInvalidFiles(t *testing.T) {
	defSchema, _ := compileSchemaFile(t)
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		if !strings.Contains(first, schemaRejectMarker) {
			continue
		}
		marked++
		t.Run(filepath.ToSlash(file), func(t *testing.T) {
			if _, err := Parse(file, data); err == nil {
				t.Errorf("Parse accepts a file marked %q", schemaRejectMarker)
			}
			v, err := yamlToJSON(data)
			if err != nil {
				// An editor shows the YAML error before any schema check.
				t.Logf("not YAML, so rejected before the schema: %v", err)
				return
			}
			if err := defSchema.Validate(v); err == nil {
				t.Errorf("schema accepts a file marked %q", schemaRejectMarker)
			}
		})
	}
	if marked == 0 {
		t.Logf("no testdata/invalid/*.yaml file is marked %q (found %d files): nothing checked", schemaRejectMarker, len(files))
	}
}

// schemaErrorAt reports whether the validation error has an output unit at
// the instance location ptr (a JSON pointer, "" for the document).
func schemaErrorAt(err error, ptr string) (bool, []string) {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return false, nil
	}
	var locs []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		locs = append(locs, jsonPointer(e.InstanceLocation))
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	for _, l := range locs {
		if l == ptr {
			return true, locs
		}
	}
	return false, locs
}

func jsonPointer(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(tok))
	}
	return b.String()
}

// parseFieldFor turns a JSON pointer into Parse's field notation:
// /context/0/bind -> context[0].bind.
func parseFieldFor(ptr string) string {
	var b strings.Builder
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if seg == "" {
			continue
		}
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// parseErrorAt reports whether Parse's error names field (or a field below
// it).
func parseErrorAt(err error, field string) bool {
	var es Errors
	if !errors.As(err, &es) {
		return false
	}
	for _, e := range es {
		if field == "" || e.Field == field || strings.HasPrefix(e.Field, field+".") || strings.HasPrefix(e.Field, field+"[") {
			return true
		}
	}
	return false
}

// schemaCases are small documents the schema and Parse must judge alike.
// at is where the schema must report the problem (a JSON pointer); Parse
// must name that field or one below it.
var schemaCases = []struct {
	name   string
	accept bool
	at     string
	yaml   string
}{
	// ----------------------------------------------------------- rejected
	{name: "unknown top-level field", at: "", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
owner: me
`},
	{name: "cron_expression on an event trigger", at: "/trigger", yaml: `
id: team.job
trigger: {trigger_type: event, event_type: org.x.y, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "jitter on a once trigger", at: "/trigger", yaml: `
id: team.job
trigger: {trigger_type: once, run_at: "2026-12-01T03:00:00Z", jitter: 5s}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "shell with both cmd and args", at: "/instruction", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true", args: ["/bin/true"]}
`},
	{name: "shell with neither cmd nor args", at: "/instruction", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, workdir: /tmp}
`},
	{name: "http without url", at: "/instruction", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: http, method: POST}
`},
	{name: "publish without subject", at: "/instruction", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: publish, payload: {a: 1}}
`},
	{name: "url on a shell instruction", at: "/instruction", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true", url: "http://example.com/"}
`},
	{name: "enabled is a string", at: "/enabled", yaml: `
id: team.job
enabled: "yes"
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "description is a number", at: "/description", yaml: `
id: team.job
description: 42
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "unknown misfire_policy", at: "/trigger/misfire_policy", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *", misfire_policy: sometimes}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "unknown trigger_type", at: "/trigger/trigger_type", yaml: `
id: team.job
trigger: {trigger_type: weekly}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "duration in words", at: "/trigger/catchup_window", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *", catchup_window: 5 minutes}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "duration as a bare number", at: "/instruction/timeout", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true", timeout: 30}
`},
	{name: "zero context timeout", at: "/context/0/timeout", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
context: [{kind: state_hub.health, bind: hub, timeout: 0s}]
instruction: {kind: shell, cmd: "true"}
`},
	{name: "id without a dot", at: "/id", yaml: `
id: NoDot
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "missing trigger", at: "", yaml: `
id: team.job
instruction: {kind: shell, cmd: "true"}
`},
	{name: "bind starting with a digit", at: "/context/0/bind", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
context: [{kind: state_hub.health, bind: 1abc}]
instruction: {kind: shell, cmd: "true"}
`},
	{name: "bind is a reserved name", at: "/context/0/bind", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
context: [{kind: state_hub.repos, bind: event}]
instruction: {kind: shell, cmd: "true"}
`},
	{name: "headers on a state hub context", at: "/context/0", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
context: [{kind: state_hub.health, bind: hub, headers: {X-A: b}}]
instruction: {kind: shell, cmd: "true"}
`},
	{name: "http_get without url", at: "/context/0", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
context: [{kind: http_get, bind: hub}]
instruction: {kind: shell, cmd: "true"}
`},
	{name: "expect_status out of range", at: "/instruction/expect_status", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: http, url: "https://example.com/", expect_status: 999}
`},
	{name: "expect_status empty list", at: "/instruction/expect_status", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: http, url: "https://example.com/", expect_status: []}
`},
	{name: "unknown http method", at: "/instruction/method", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: http, url: "https://example.com/", method: FETCH}
`},
	{name: "url that is not http", at: "/instruction/url", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: http, url: "ftp://example.com/file"}
`},
	{name: "retry max_attempts 0", at: "/retry/max_attempts", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
retry: {max_attempts: 0}
`},
	{name: "retry backoff below 1", at: "/retry/backoff_coefficient", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
retry: {backoff_coefficient: 0.5}
`},
	{name: "filter with an empty list", at: "/trigger/filters/repo", yaml: `
id: team.job
trigger: {trigger_type: event, event_type: org.x.y, filters: {repo: []}}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "filter with an empty glob", at: "/trigger/filters/repo", yaml: `
id: team.job
trigger: {trigger_type: event, event_type: org.x.y, filters: {repo: ""}}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "event_type with > not last", at: "/trigger/event_type", yaml: `
id: team.job
trigger: {trigger_type: event, event_type: "org.>.pushed"}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "publish subject with a wildcard", at: "/instruction/subject", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: publish, subject: "org.*.done"}
`},
	{name: "run_at without a zone", at: "/trigger/run_at", yaml: `
id: team.job
trigger: {trigger_type: once, run_at: "2026-12-01 03:00:00"}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "env name with the ACTIVITY_ prefix", at: "/instruction/env", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true", env: {ACTIVITY_RUN_ID: x}}
`},
	{name: "env reference in cmd", at: "/instruction/cmd", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "curl -H 'X: ${env:TOKEN}' http://x/"}
`},
	{name: "malformed env reference in a header", at: "/context/0/headers/Authorization", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
context: [{kind: http_get, bind: hub, url: "http://hub/", headers: {Authorization: "Bearer ${env:}"}}]
instruction: {kind: shell, cmd: "true"}
`},
	{name: "relative workdir", at: "/instruction/workdir", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true", workdir: srv/app}
`},
	{name: "empty rule expression", at: "/rule/when/0", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
rule: {when: ["  "]}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "concurrency_key with a space", at: "/concurrency_key", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
concurrency_key: a b
`},
	{name: "unknown on_failure", at: "/on_failure", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
on_failure: retry
`},
	{name: "payload that is a list", at: "/instruction/payload", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: publish, subject: org.x.done, payload: [1, 2]}
`},
	{name: "cron expression with three fields", at: "/trigger/cron_expression", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 *"}
instruction: {kind: shell, cmd: "true"}
`},

	{name: "grace on an event trigger", at: "/expect", yaml: `
id: team.job
trigger: {trigger_type: event, event_type: org.x.y}
instruction: {kind: shell, cmd: "true"}
expect: {grace: 5m}
`},
	{name: "output_matches on a publish", at: "/expect", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: publish, subject: org.x.done}
expect: {output_matches: done}
`},
	{name: "unknown expect field", at: "/expect", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
expect: {stale_after: 1h}
`},
	{name: "unknown notify event", at: "/notify/on/0", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
notify: {on: [exploded]}
`},
	{name: "target with two kinds", at: "/notify/targets/0", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
notify: {targets: [{nats: {subject: a.b}, email: {to: [a@b.c]}}]}
`},
	{name: "webhook over plain http", at: "/notify/targets/0/webhook/url", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
notify: {targets: [{webhook: {url: "http://hooks.example/x", secret: S}}]}
`},
	{name: "webhook without secret", at: "/notify/targets/0/webhook", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
notify: {targets: [{webhook: {url: "https://hooks.example/x"}}]}
`},
	{name: "negative pause_after_failures", at: "/pause_after_failures", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
pause_after_failures: -2
`},

	{name: "run_on with upper-case letters", at: "/run_on", yaml: `
id: team.job
run_on: State-Hub
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
`},
	{name: "unknown input type", at: "/inputs/repo/type", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
inputs: {repo: {type: text}}
`},
	{name: "values on a string input", at: "/inputs/repo", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
inputs: {repo: {type: string, values: [a]}}
`},
	{name: "enum input without values", at: "/inputs/mode", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
inputs: {mode: {type: enum, default: fast}}
`},
	{name: "int input with a text default", at: "/inputs/depth/default", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *"}
instruction: {kind: shell, cmd: "true"}
inputs: {depth: {type: int, default: three}}
`},
	{name: "cel in a cron trigger's inputs", at: "/trigger/inputs/repo", yaml: `
id: team.job
trigger: {trigger_type: cron, cron_expression: "0 3 * * *", inputs: {repo: {cel: "'x'"}}}
instruction: {kind: shell, cmd: "true"}
inputs: {repo: {type: string}}
`},
	{name: "empty cel in an event trigger's inputs", at: "/trigger/inputs/repo", yaml: `
id: team.job
trigger: {trigger_type: event, event_type: org.x.y, inputs: {repo: {cel: ""}}}
instruction: {kind: shell, cmd: "true"}
inputs: {repo: {type: string}}
`},

	// ----------------------------------------------------------- accepted
	{name: "run_on, every input type and trigger inputs", accept: true, yaml: `
id: team.sweep
run_on: state-hub
trigger:
  trigger_type: event
  event_type: org.repo.pushed
  inputs:
    repo: {cel: "event.payload.repo_slug"}
    dry_run: true
instruction: {kind: shell, args: [/usr/local/bin/sweep]}
inputs:
  repo: {type: string, required: true, description: "org/name of the repository"}
  depth: {type: int, default: 3}
  dry_run: {type: bool, default: false}
  mode: {type: enum, values: [fast, full], default: fast}
  wait: {type: duration, default: 5m}
`},
	{name: "minimal cron shell", accept: true, yaml: `
id: team.nightly-backup
trigger:
  trigger_type: cron
  cron_expression: "0 3 * * *"
instruction:
  kind: shell
  cmd: /usr/local/bin/backup --all
`},
	{name: "the documented example", accept: true, yaml: `
id: the-custodian.state-hub-consistency-sweep
description: Sweep all registered repos.
enabled: true
trigger:
  trigger_type: cron
  cron_expression: "*/15 * * * *"
  timezone: UTC
  misfire_policy: skip
  catchup_window: 5m
  jitter: 0s
context:
  - kind: http_get
    url: http://127.0.0.1:8000/state/health
    bind: hub_health
    timeout: 5s
    headers: {Authorization: "Bearer ${env:STATE_HUB_TOKEN}"}
rule:
  when:
    - "hub_health.status == 'ok'"
instruction:
  kind: shell
  cmd: >-
    cd /srv/state-hub && .venv/bin/python scripts/consistency_check.py --all
  workdir: /srv/state-hub
  timeout: 10m
  env: {LOG_LEVEL: info}
on_failure: log_and_continue
retry: {max_attempts: 1, initial_interval: 10s, backoff_coefficient: 2, max_interval: 5m}
concurrency_key: state-hub-sweep
`},
	{name: "event trigger with filters and an http instruction", accept: true, yaml: `
id: org.repo-pushed.notify
enabled: false
trigger:
  trigger_type: event
  event_type: org.repo.*.pushed
  filters:
    repo_slug: "*"
    branch: [main, "release-*"]
    meta.priority: 1
    forced: false
instruction:
  kind: http
  method: post
  url: "https://${env:HOOK_HOST}/hooks/push"
  headers: {Content-Type: application/json, X-Token: "${env:HOOK_TOKEN}"}
  body: {text: "pushed", count: 2, tags: [a, b], extra: null, token: "${env:HOOK_TOKEN}"}
  expect_status: [200, 204]
  timeout: 30s
on_failure: fail
`},
	{name: "once trigger with an unquoted timestamp and publish", accept: true, yaml: `
id: ops.migrate-once
trigger:
  trigger_type: once
  run_at: 2026-12-01T03:00:00Z
  timezone: Europe/Berlin
  misfire_policy: buffer_one
  catchup_window: 1h30m
instruction:
  kind: publish
  subject: org.ops.migration.start
  payload: {step: 1, dry_run: false, note: "go"}
  timeout: 500ms
`},
	{name: "state hub context, single rule string, args and retry", accept: true, yaml: `
id: the-custodian.repos-sweep
trigger: {trigger_type: cron, cron_expression: "@daily", jitter: 0, catchup_window: 10s}
context:
  - {kind: state_hub.health, bind: hub}
  - {kind: state_hub.repos, bind: repos, timeout: 1.5m}
rule:
  when: "hub.status == 'ok' && size(repos) > 0"
instruction:
  kind: shell
  args: [/usr/bin/env, python3, -c, "print('hi')"]
  env: {PORT: "8080", ACTIVITY: x, TOKEN: "${env:SWEEP_TOKEN}"}
retry: {max_attempts: 5, initial_interval: 1s, backoff_coefficient: 1.5, max_interval: 1h}
`},
	{name: "every alerting field", accept: true, yaml: `
id: team.backup
trigger: {trigger_type: cron, cron_expression: "30 2 * * *"}
instruction: {kind: shell, cmd: "backup && echo done"}
expect: {succeeds_within: 26h, max_duration: 30m, grace: 5m, output_matches: '^done$'}
notify:
  on: [failed, missed, paused]
  after_failures: 3
  targets:
    - webhook: {url: "https://hooks.example/ops", secret: OPS_HOOK_SECRET}
    - slack: {url: "${env:SLACK_OPS_URL}"}
    - email: {to: [ops@example.com]}
    - nats: {subject: org.alerts.activity}
pause_after_failures: 5
`},
	{name: "event trigger with expect but no grace, and no targets", accept: true, yaml: `
id: team.hook
trigger: {trigger_type: event, event_type: org.x.y}
instruction: {kind: http, url: "https://x/"}
expect: {succeeds_within: 0s, max_duration: 1m, output_matches: ok}
notify: {targets: []}
pause_after_failures: 0
`},
	{name: "http with a single status and a text body", accept: true, yaml: `
id: team.ping
trigger: {trigger_type: event, event_type: "org.>"}
rule: {when: []}
instruction: {kind: http, url: "http://hub:8000/ping", method: HEAD, expect_status: 204, body: "ping"}
`},
}

func TestSchemaCases(t *testing.T) {
	defSchema, _ := compileSchemaFile(t)
	rejects, accepts := 0, 0
	for _, tc := range schemaCases {
		if tc.accept {
			accepts++
		} else {
			rejects++
		}
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(strings.TrimPrefix(tc.yaml, "\n"))
			v, err := yamlToJSON(data)
			if err != nil {
				t.Fatalf("test case is not YAML: %v", err)
			}
			schemaErr := defSchema.Validate(v)
			_, parseErr := Parse("case.yaml", data)
			if tc.accept {
				if schemaErr != nil {
					t.Errorf("schema rejects:\n%v", schemaErr)
				}
				if parseErr != nil {
					t.Errorf("Parse rejects (schema and Parse disagree):\n%v", parseErr)
				}
				return
			}
			if schemaErr == nil {
				t.Errorf("schema accepts")
			} else if ok, locs := schemaErrorAt(schemaErr, tc.at); !ok {
				t.Errorf("schema rejects, but not at %q (errors at %q):\n%v", tc.at, locs, schemaErr)
			}
			if parseErr == nil {
				t.Errorf("Parse accepts (schema and Parse disagree)")
			} else if field := parseFieldFor(tc.at); !parseErrorAt(parseErr, field) {
				t.Errorf("Parse rejects, but not at field %q:\n%v", field, parseErr)
			}
		})
	}
	if rejects < 12 || accepts < 5 {
		t.Errorf("want at least 12 rejected and 5 accepted cases, have %d and %d", rejects, accepts)
	}
}

// TestSchemaEventTypeCases checks $defs/eventType on a few documents.
func TestSchemaEventTypeCases(t *testing.T) {
	_, etSchema := compileSchemaFile(t)
	cases := []struct {
		name   string
		accept bool
		yaml   string
	}{
		{"name only", true, "name: org.repo.commit.pushed\n"},
		{"with schema", true, "name: org.repo.commit.pushed\ndescription: A push.\nschema:\n  type: object\n  required: [repo_slug]\n"},
		{"missing name", false, "description: A push.\n"},
		{"wildcard name", false, "name: org.repo.*\n"},
		{"unknown field", false, "name: org.repo.pushed\nfields: [a]\n"},
		{"schema is a string", false, "name: org.repo.pushed\nschema: object\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.yaml)
			v, err := yamlToJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := etSchema.Validate(v)
			_, parseErr := ParseEventType("event.yaml", data)
			if (schemaErr == nil) != tc.accept {
				t.Errorf("schema: accept = %v, want %v (%v)", schemaErr == nil, tc.accept, schemaErr)
			}
			if (parseErr == nil) != tc.accept {
				t.Errorf("ParseEventType: accept = %v, want %v (%v) (schema and parser disagree)", parseErr == nil, tc.accept, parseErr)
			}
		})
	}
}

// TestSchemaFieldsAgreeWithParse puts one value at a time into an otherwise
// valid definition and checks that the schema's patterns say what Parse
// says. Values the schema knowingly cannot judge (see the schema's
// descriptions: duration minimums, time zone names, impossible dates, CEL)
// are not listed.
func TestSchemaFieldsAgreeWithParse(t *testing.T) {
	defSchema, _ := compileSchemaFile(t)
	const (
		cron  = `{trigger_type: cron, cron_expression: "0 3 * * *"}`
		shell = `{kind: shell, cmd: "true"}`
	)
	doc := func(trigger, instruction, extra string) string {
		return "id: team.job\ntrigger: " + trigger + "\ninstruction: " + instruction + "\n" + extra
	}
	refs := []string{`"${env:A}"`, `"${env:}"`, `"${env:A"`, `"$${env:A}"`, `"${env:1A}"`, `"a${env:A}${env:B_2}b"`,
		`"${env:A-B}"`, `"${env:${env:A}}"`, `"$"`, `"${"`, `"${env"`, `"${ENV:A}"`, `"${env:A}}"`}
	groups := []struct {
		name   string
		doc    func(v string) string
		values []string
	}{
		{"cron_expression", func(v string) string {
			return doc(`{trigger_type: cron, cron_expression: `+v+`}`, shell, "")
		}, []string{`"0 3 * * *"`, `"@daily"`, `" @hourly "`, `"@every 5m"`, `"@Daily"`, `"0 3 * * * # nightly"`,
			`"@daily # nightly"`, `"0 3 * * *#x"`, `"0 0 3 * * *"`, `"* * * *"`, `""`, `"@daily @hourly"`, `"# comment"`}},
		{"jitter", func(v string) string {
			return doc(`{trigger_type: cron, cron_expression: "0 3 * * *", jitter: `+v+`}`, shell, "")
		}, []string{`0`, `"0"`, `0s`, `1s`, `1.5h`, `.5s`, `1.s`, `1h30m`, `500ms`, `2us`, `3µs`, `3μs`, `1d`, `"1 s"`,
			`s`, `""`, `"."`, `-1s`, `1`, `1H`, `5 minutes`, `true`}},
		{"instruction.timeout", func(v string) string {
			return doc(cron, `{kind: shell, cmd: "true", timeout: `+v+`}`, "")
		}, []string{`0`, `0s`, `"0"`, `0h0m`, `1ns`, `0.5s`, `10m`, `-1s`}},
		{"instruction.env name", func(v string) string {
			return doc(cron, `{kind: shell, cmd: "true", env: {`+v+`: x}}`, "")
		}, []string{`A`, `ACTIVITY`, `ACTIVITY_`, `ACTIVITY_X`, `ACTIVITYX`, `ACTIVIT`, `ACTIVITY1`, `activity_x`, `_A`,
			`1A`, `A-B`, `"A B"`}},
		{"instruction.env value", func(v string) string {
			return doc(cron, `{kind: shell, cmd: "true", env: {A: `+v+`}}`, "")
		}, append([]string{`1`, `true`, `"1"`}, refs...)},
		{"instruction.headers value", func(v string) string {
			return doc(cron, `{kind: http, url: "http://x/", headers: {X-A: `+v+`}}`, "")
		}, append([]string{`1`, `"x\ny"`, `"a: b"`}, refs...)},
		{"instruction.headers name", func(v string) string {
			return doc(cron, `{kind: http, url: "http://x/", headers: {`+v+`: x}}`, "")
		}, []string{`X-A`, `"a b"`, `"a:b"`, `"a\tb"`}},
		{"instruction.body", func(v string) string {
			return doc(cron, `{kind: http, url: "http://x/", body: {a: [`+v+`]}}`, "")
		}, append([]string{`1`, `1.5`, `null`, `true`}, refs...)},
		{"instruction.cmd", func(v string) string {
			return doc(cron, `{kind: shell, cmd: `+v+`}`, "")
		}, append([]string{`""`, `" "`, `"echo $HOME"`, `1`}, refs...)},
		{"instruction.args", func(v string) string {
			return doc(cron, `{kind: shell, args: `+v+`}`, "")
		}, []string{`[a]`, `[a, ""]`, `[""]`, `[]`, `[a, 1]`, `a`, `[a, "${env:A}"]`}},
		{"instruction.url", func(v string) string {
			return doc(cron, `{kind: http, url: `+v+`}`, "")
		}, append([]string{`"http://x"`, `"HTTPS://x:80/a?b#c"`, `"http://u:p@x/"`, `"http://"`, `"http:///x"`, `"ftp://x"`,
			`"http:x"`, `"//x"`, `"${env:URL}"`, `"http://${env:HOST}/x"`, `"http://a b/"`, `"http://@/x"`,
			`"http://x/a b"`, `"http://[::1]:80/"`}, refs...)},
		{"trigger.event_type", func(v string) string {
			return doc(`{trigger_type: event, event_type: `+v+`}`, shell, "")
		}, []string{`a`, `a.b`, `"a.*"`, `"a.>"`, `">"`, `"*"`, `"*.*.>"`, `"a.>.b"`, `a..b`, `.a`, `a.`, `"a*.b"`,
			`"a.b>"`, `"a b"`, `""`}},
		{"instruction.subject", func(v string) string {
			return doc(cron, `{kind: publish, subject: `+v+`}`, "")
		}, []string{`a`, `a.b-c.d_e`, `"a.*"`, `"a.>"`, `a..b`, `.a`, `"a b"`, `""`, `1`}},
		{"trigger.filters value", func(v string) string {
			return doc(`{trigger_type: event, event_type: a.b, filters: {k: `+v+`}}`, shell, "")
		}, []string{`"*"`, `'\'`, `'a\'`, `'a\\'`, `'\*'`, `1`, `2.5`, `true`, `null`, `""`, `[a, ""]`, `[a, null]`,
			`[1, b]`, `{a: b}`, `[[a]]`, `2026-01-01`, `[]`}},
		{"trigger.filters key", func(v string) string {
			return doc(`{trigger_type: event, event_type: a.b, filters: {`+v+`: x}}`, shell, "")
		}, []string{`a`, `a.b`, `a..b`, `.a`, `a.`, `1`, `"a b"`, `"*"`}},
		{"id", func(v string) string {
			return "id: " + v + "\ntrigger: " + cron + "\ninstruction: " + shell + "\n"
		}, []string{`a.b`, `a-b.c-d`, `a.b.c`, `-a.b`, `a-.b`, `A.b`, `ab`, `a..b`, `a.b.`, `a_b.c`, `1.2`, `"1.2"`,
			strings.Repeat("a", 198) + ".b", strings.Repeat("a", 199) + ".b"}},
		{"trigger.run_at", func(v string) string {
			return doc(`{trigger_type: once, run_at: `+v+`}`, shell, "")
		}, []string{`2026-12-01T03:00:00Z`, `"2026-12-01T03:00:00Z"`, `2026-12-01T03:00:00.123+01:00`, `2026-12-01`,
			`2026-12-01 03:00:00Z`, `"2026-12-01 03:00:00"`, `2026-13-01T03:00:00Z`, `2026-12-01T24:00:00Z`,
			`2026-12-01T03:00:00+0100`, `1`}},
		{"trigger.timezone", func(v string) string {
			return doc(`{trigger_type: cron, cron_expression: "0 3 * * *", timezone: `+v+`}`, shell, "")
		}, []string{`UTC`, `Europe/Berlin`, `Local`, `""`, `1`}},
		{"context bind", func(v string) string {
			return doc(cron, shell, "context: [{kind: state_hub.health, bind: "+v+"}]\n")
		}, []string{`a`, `_a`, `a1`, `1a`, `a-b`, `now`, `Now`, `event`, `definition`, `while`, `whiles`, `""`, `1`}},
		{"instruction.method", func(v string) string {
			return doc(cron, `{kind: http, url: "http://x/", method: `+v+`}`, "")
		}, []string{`GET`, `get`, `Post`, `HEAD`, `FETCH`, `""`, `1`}},
		{"instruction.expect_status", func(v string) string {
			return doc(cron, `{kind: http, url: "http://x/", expect_status: `+v+`}`, "")
		}, []string{`200`, `[200, 204]`, `100`, `599`, `99`, `600`, `"200"`, `[]`, `[200, 600]`}},
		{"concurrency_key", func(v string) string {
			return doc(cron, shell, "concurrency_key: "+v+"\n")
		}, []string{`a`, `a.b:c/d`, `"a b"`, `""`, `5`, strings.Repeat("k", 200), strings.Repeat("k", 201)}},
		{"retry", func(v string) string {
			return doc(cron, shell, "retry: "+v+"\n")
		}, []string{`{}`, `{max_attempts: 1}`, `{max_attempts: 100}`, `{max_attempts: 101}`, `{max_attempts: 0}`,
			`{max_attempts: "1"}`, `{backoff_coefficient: 1}`, `{backoff_coefficient: 1.5}`, `{backoff_coefficient: 0.99}`,
			`{backoff_coefficient: "2"}`, `{initial_interval: 2s, max_interval: 1h}`, `{jitter: 1s}`}},
		{"instruction.workdir", func(v string) string {
			return doc(cron, `{kind: shell, cmd: "true", workdir: `+v+`}`, "")
		}, []string{`/a`, `a`, `./a`, `""`}},
		{"enabled", func(v string) string {
			return doc(cron, shell, "enabled: "+v+"\n")
		}, []string{`true`, `false`, `True`, `"true"`, `yes`, `1`}},
		{"expect.succeeds_within", func(v string) string {
			return doc(cron, shell, "expect: {succeeds_within: "+v+"}\n")
		}, []string{`0`, `0s`, `26h`, `1h30m`, `-1h`, `30`, `1d`, `"5 minutes"`, `true`}},
		{"expect.grace on an event trigger", func(v string) string {
			return doc(`{trigger_type: event, event_type: a.b}`, shell, "expect: {grace: "+v+"}\n")
		}, []string{`5m`, `0s`}},
		{"expect.grace on a cron trigger", func(v string) string {
			return doc(cron, shell, "expect: {grace: "+v+"}\n")
		}, []string{`5m`, `0s`, `-5m`}},
		{"expect.output_matches", func(v string) string {
			return doc(cron, shell, "expect: {output_matches: "+v+"}\n")
		}, []string{`done`, `"^backup complete$"`, `""`, `1`, `[a]`}},
		{"notify.on", func(v string) string {
			return doc(cron, shell, "notify: {on: "+v+"}\n")
		}, []string{`[failed]`, `[skipped, paused]`, `[failed, timed_out, missed, stale, late, recovered]`, `[]`, `failed`,
			`[failed, failed]`, `[faild]`, `[1]`, `[Failed]`}},
		{"notify.after_failures", func(v string) string {
			return doc(cron, shell, "notify: {after_failures: "+v+"}\n")
		}, []string{`1`, `10`, `0`, `-1`, `"1"`, `1.5`}},
		{"notify webhook url", func(v string) string {
			return doc(cron, shell, "notify: {targets: [{webhook: {url: "+v+", secret: S}}]}\n")
		}, []string{`"https://x/"`, `"HTTPS://x:8443/a?b"`, `"http://x/"`, `"http://localhost:8080/h"`, `"http://LOCALHOST/h"`,
			`"http://127.0.0.1/h"`, `"http://127.0.0.2:9"`, `"http://[::1]:9/h"`, `"${env:U}"`, `"${env:U}/x"`, `"https://${env:H}/x"`,
			`"http://${env:H}/x"`, `"ftp://x"`, `"${env:}"`, `"http://127.0.0.1.evil.example/"`, `"http://localhost.evil.example/"`,
			`"https://"`, `1`}},
		{"notify webhook secret", func(v string) string {
			return doc(cron, shell, `notify: {targets: [{webhook: {url: "https://x/", secret: `+v+`}}]}`+"\n")
		}, []string{`S`, `_X1`, `"${env:S}"`, `"a b"`, `1A`, `1`, `""`}},
		{"notify slack", func(v string) string {
			return doc(cron, shell, `notify: {targets: [{slack: `+v+`}]}`+"\n")
		}, []string{`{url: "https://x/"}`, `{}`, `{url: "https://x/", secret: S}`, `"https://x/"`}},
		{"notify email to", func(v string) string {
			return doc(cron, shell, `notify: {targets: [{email: {to: `+v+`}}]}`+"\n")
		}, []string{`[ops@example.com]`, `["Ops <ops@example.com>", b@example.com]`, `[]`, `ops@example.com`, `["not an address"]`, `[1]`}},
		{"notify nats subject", func(v string) string {
			return doc(cron, shell, `notify: {targets: [{nats: {subject: `+v+`}}]}`+"\n")
		}, []string{`a.b`, `"a.*"`, `"a.>"`, `a..b`, `""`, `1`}},
		{"notify target entry", func(v string) string {
			return doc(cron, shell, `notify: {targets: [`+v+`]}`+"\n")
		}, []string{`{nats: {subject: a}}`, `{}`, `{nats: {subject: a}, slack: {url: "https://x/"}}`, `{slak: {url: "https://x/"}}`,
			`slack`, `{nats: {subject: a}}, {nats: {subject: a}}`, `{nats: {subject: a}}, {nats: {subject: b}}`}},
		{"notify targets", func(v string) string {
			return doc(cron, shell, `notify: {targets: `+v+`}`+"\n")
		}, []string{`[]`, `{}`, `null`, `"a"`}},
		{"run_on", func(v string) string {
			return doc(cron, shell, "run_on: "+v+"\n")
		}, []string{`state-hub`, `default`, `a`, `0a`, `a_b`, `State`, `-a`, `_a`, `a.b`, `"a b"`, `""`, `5`, `"5"`, `true`,
			strings.Repeat("p", 63), strings.Repeat("p", 64)}},
		{"mode", func(v string) string {
			return doc(cron, shell, "mode: "+v+"\n")
		}, []string{`active`, `shadow`, `Shadow`, `dry-run`, `""`, `true`, `1`, `[shadow]`}},
		{"input name", func(v string) string {
			return doc(cron, shell, "inputs: {"+v+": {type: bool}}\n")
		}, []string{`repo`, `a1`, `a_b`, `Repo`, `1a`, `_a`, `a-b`, `"a b"`, "a" + strings.Repeat("b", 62), "a" + strings.Repeat("b", 63)}},
		{"inputs", func(v string) string {
			return doc(cron, shell, "inputs: "+v+"\n")
		}, []string{`{}`, `[]`, `x`, manyInputs(maxInputs), manyInputs(maxInputs + 1)}},
		{"input declaration", func(v string) string {
			return doc(cron, shell, "inputs: {x: "+v+"}\n")
		}, []string{`{type: string}`, `{type: strng}`, `{}`, `string`, `{type: string, values: [a]}`, `{type: string, help: x}`,
			`{type: string, description: a}`, `{type: string, description: 1}`, `{type: string, required: yes, default: a}`,
			`{type: string, required: false}`, `{type: string, default: 5}`, `{type: string, default: "a\0b"}`, `{type: string, default: ""}`,
			`{type: string, default: ` + strings.Repeat("d", maxInputBytes) + `}`, `{type: string, default: ` + strings.Repeat("d", maxInputBytes+1) + `}`,
			`{type: enum, values: [a]}`, `{type: enum}`, `{type: enum, values: []}`, `{type: enum, values: [a, a]}`, `{type: enum, values: [""]}`,
			`{type: enum, values: [1]}`, `{type: enum, values: a}`, `{type: enum, values: [a], default: a}`, `{type: enum, values: [a], default: 1}`,
			`{type: int, default: 3}`, `{type: int, default: -3}`, `{type: int, default: "3"}`, `{type: int, default: x}`, `{type: int, default: true}`,
			`{type: bool, default: true}`, `{type: bool, default: "true"}`, `{type: bool, default: 1}`,
			`{type: duration, default: 5m}`, `{type: duration, default: 0}`, `{type: duration, default: 1h30m}`, `{type: duration, default: 5}`,
			`{type: duration, default: -1s}`, `{type: duration, default: soon}`, `{type: duration, values: [a]}`}},
		{"cron trigger inputs", func(v string) string {
			return doc(`{trigger_type: cron, cron_expression: "0 3 * * *", inputs: `+v+`}`, shell,
				"inputs: {repo: {type: string}, depth: {type: int}, on: {type: bool}}\n")
		}, []string{`{}`, `{repo: x}`, `{depth: 3}`, `{on: true}`, `{repo: "x", depth: 0, on: false}`, `{repo: {cel: "'x'"}}`,
			`{repo: [a]}`, `{repo: null}`, `{depth: 1.5}`, `{Repo: x}`, `[]`}},
		{"once trigger inputs", func(v string) string {
			return doc(`{trigger_type: once, run_at: "2026-12-01T03:00:00Z", inputs: `+v+`}`, shell, "inputs: {repo: {type: string}}\n")
		}, []string{`{repo: x}`, `{repo: {cel: "'x'"}}`, `{repo: {}}`}},
		{"event trigger inputs", func(v string) string {
			return doc(`{trigger_type: event, event_type: a.b, inputs: `+v+`}`, shell, "inputs: {repo: {type: string}}\n")
		}, []string{`{repo: x}`, `{repo: {cel: "event.payload.repo"}}`, `{repo: {cel: ""}}`, `{repo: {cel: " "}}`, `{repo: {cel: 1}}`,
			`{repo: {cel: x, y: 1}}`, `{repo: {}}`, `{repo: {cel: null}}`, `{repo: 1.5}`, `{"1": x}`}},
		{"pause_after_failures", func(v string) string {
			return doc(cron, shell, "pause_after_failures: "+v+"\n")
		}, []string{`0`, `3`, `-1`, `"3"`, `1.5`, `true`}},
	}
	for _, g := range groups {
		for _, v := range g.values {
			data := []byte(g.doc(v))
			label := v
			if len(label) > 40 {
				label = label[:40] + "…"
			}
			t.Run(g.name+"="+label, func(t *testing.T) {
				j, err := yamlToJSON(data)
				if err != nil {
					t.Fatalf("test document is not YAML: %v\n%s", err, data)
				}
				schemaErr := defSchema.Validate(j)
				_, parseErr := Parse("case.yaml", data)
				if (schemaErr == nil) != (parseErr == nil) {
					t.Errorf("schema and Parse disagree on %s = %s:\nschema: %v\nParse: %v", g.name, v, schemaErr, parseErr)
				}
			})
		}
	}
}

// TestSchemaDefaultsAgreeWithParse: $defs/alertingDefaults and
// ParseDefaults judge defaults files alike.
func TestSchemaDefaultsAgreeWithParse(t *testing.T) {
	schema := compileDefaultsSchema(t)
	for _, doc := range []string{
		"expect: {grace: 5m, succeeds_within: 26h, max_duration: 1h}\n",
		"expect: {output_matches: done}\n",
		"expect: {grace: -1m}\n",
		"notify: {targets: []}\n",
		"notify: {on: [missed], after_failures: 2, targets: [{slack: {url: \"${env:SLACK}\"}}]}\n",
		"notify: {targets: [{webhook: {url: \"http://hooks.example/\", secret: S}}]}\n",
		"pause_after_failures: 3\n",
		"pause_after_failures: -1\n",
		"id: team.job\n",
		"{}\n",
		"- expect\n",
	} {
		t.Run(strings.TrimSpace(doc), func(t *testing.T) {
			v, err := yamlToJSON([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := schema.Validate(v)
			_, parseErr := ParseDefaults("_defaults.yaml", []byte(doc))
			if (schemaErr == nil) != (parseErr == nil) {
				t.Errorf("schema and ParseDefaults disagree:\nschema: %v\nParseDefaults: %v", schemaErr, parseErr)
			}
		})
	}
}

// manyInputs is an inputs mapping declaring n bool inputs.
func manyInputs(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("i%d: {type: bool}", i)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
