package definition

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/coulomb/activity-core/internal/cronexpr"
)

var (
	idPattern       = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
	bindPattern     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envNamePattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLinePattern = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// maxIDLength keeps ids short enough to be part of a Temporal schedule id
// and workflow id with room for the prefixes.
const maxIDLength = 200

// celReserved are names a context bind may not take: they are the CEL
// variables every rule sees, or CEL keywords.
var celReserved = map[string]bool{
	"event": true, "definition": true, "now": true,
	"true": true, "false": true, "null": true, "in": true,
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true,
	"loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true,
}

// Parse reads one ActivityDefinition file. file is used in error messages
// only. The returned error, when not nil, is an Errors listing every problem
// found; the Definition is nil then.
func Parse(file string, data []byte) (*Definition, error) {
	d := &decoder{file: file}
	root := d.document(data)
	if root == nil {
		return nil, errOrNil(d.errs)
	}
	def := d.definition(root)
	if len(d.errs) > 0 {
		for _, e := range d.errs {
			e.DefinitionID = def.ID
		}
		return nil, errOrNil(d.errs)
	}
	def.Source.File = file
	def.Warnings = d.warnings
	def.SecretRefs = d.refs
	for _, w := range def.Warnings {
		w.DefinitionID = def.ID
	}
	return def, nil
}

// document checks size and encoding, parses exactly one YAML document and
// returns its top-level mapping node, or nil after reporting why not.
func (d *decoder) document(data []byte) *yaml.Node {
	if len(data) > maxFileSize {
		d.errorf(nil, "", "file is %d bytes, over the 1 MiB limit for a %s", len(data), d.fileNoun())
		return nil
	}
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:invalidUTF8Offset(data)], []byte("\n"))
		d.errs = append(d.errs, &Error{File: d.file, Line: line, Message: "file is not valid UTF-8"})
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		d.errorf(nil, "", "file is empty: expected one %s", d.noun())
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(nil, "", "file is empty: expected one %s", d.noun())
		} else {
			d.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "", "file holds more than one YAML document: put one %s per file", d.noun())
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.yamlError(err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.errorf(&doc, "", "file is empty: expected one %s", d.noun())
		return nil
	}
	root := doc.Content[0]
	if isNull(root) {
		d.errorf(root, "", "file is empty: expected one %s", d.noun())
		return nil
	}
	if !d.checkNoAliases(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "a %s must be a mapping of fields, got %s", d.noun(), kindName(root))
		return nil
	}
	return root
}

// yamlError turns a yaml.v3 syntax error into positioned Errors.
func (d *decoder) yamlError(err error) {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		e := &Error{File: d.file, Message: "YAML syntax: " + strings.TrimPrefix(m, "yaml: ")}
		if g := yamlLinePattern.FindStringSubmatch(m); g != nil {
			e.Line, _ = strconv.Atoi(g[1])
			e.Message = "YAML syntax: " + g[2]
		}
		d.errs = append(d.errs, e)
	}
}

func invalidUTF8Offset(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

var topFields = []string{"id", "description", "enabled", "trigger", "context", "rule", "instruction", "on_failure", "retry", "concurrency_key",
	"expect", "notify", "pause_after_failures", "run_on", "inputs", "mode"}

func (d *decoder) definition(root *yaml.Node) *Definition {
	def := &Definition{Enabled: true, OnFailure: onFailureDefault}
	f, _ := d.mapping(root, "")
	d.allowOnly(f, "", topFields, "")

	if n := f.get("id"); n != nil {
		if id, ok := d.str(n, "id"); ok {
			def.ID = id
			def.Source.Line, def.Source.Column = n.Line, n.Column
			switch {
			case len(id) > maxIDLength:
				d.errorf(n, "id", "is %d characters long, the limit is %d", len(id), maxIDLength)
			case !idPattern.MatchString(id):
				d.errorf(n, "id", "%q is not a valid id: use namespace.slug with lower-case letters, digits and '-', at least one dot (e.g. team.nightly-backup)", id)
			}
		}
	} else {
		d.errorf(root, "id", "is required (namespace.slug, e.g. team.nightly-backup)")
	}
	if n := f.get("description"); n != nil {
		def.Description, _ = d.str(n, "description")
	}
	if n := f.get("enabled"); n != nil {
		def.Enabled, _ = d.boolean(n, "enabled")
	}
	if n := f.get("trigger"); n != nil {
		d.trigger(n, &def.Trigger)
	} else {
		d.errorf(root, "trigger", "is required (trigger_type: cron, event or once)")
	}
	if n := f.get("context"); n != nil {
		def.Context = d.context(n)
	}
	var whenNode *yaml.Node
	if n := f.get("rule"); n != nil {
		whenNode = d.rule(n, def)
	}
	if n := f.get("instruction"); n != nil {
		d.instruction(n, &def.Instruction)
	} else {
		d.errorf(root, "instruction", "is required (kind: shell, http or publish)")
	}
	if n := f.get("on_failure"); n != nil {
		if v, ok := d.str(n, "on_failure"); ok {
			if v != OnFailureFail && v != OnFailureLogAndContinue {
				d.errorf(n, "on_failure", "%q is not one of fail, log_and_continue", v)
			}
			def.OnFailure = v
		}
	}
	def.Retry = d.retry(f.get("retry"))
	if n := f.get("concurrency_key"); n != nil {
		if v, ok := d.str(n, "concurrency_key"); ok {
			if strings.TrimSpace(v) == "" || len(v) > maxIDLength || strings.ContainsAny(v, " \t\r\n") {
				d.errorf(n, "concurrency_key", "must be a non-empty key without whitespace, at most %d characters", maxIDLength)
			}
			def.ConcurrencyKey = v
		}
	}
	if n := f.get("run_on"); n != nil {
		d.runOn(n, def)
	}
	d.inputs(f.get("inputs"), def)
	if n := f.get("mode"); n != nil {
		d.mode(n, def)
	}
	// The alerting fields need the trigger and the instruction; defaults
	// are merged in by Load (docs/definitions.md#alerting-defaults).
	def.own = d.alertingFields(f, def)
	def.applyAlerting([]*alerting{def.own})
	// The rule is compiled last, once the binds are known.
	if len(def.Rule.When) > 0 {
		d.compileRule(def, whenNode)
	}
	return def
}

var triggerFieldsByType = map[string][]string{
	TriggerCron:  {"trigger_type", "cron_expression", "timezone", "misfire_policy", "catchup_window", "jitter", "inputs"},
	TriggerOnce:  {"trigger_type", "run_at", "timezone", "misfire_policy", "catchup_window", "inputs"},
	TriggerEvent: {"trigger_type", "event_type", "filters", "inputs"},
}

func (d *decoder) trigger(n *yaml.Node, t *Trigger) {
	f, ok := d.mapping(n, "trigger")
	if !ok {
		return
	}
	tn := f.get("trigger_type")
	if tn == nil {
		d.errorf(n, "trigger.trigger_type", "is required: cron, event or once")
		return
	}
	typ, ok := d.str(tn, "trigger.trigger_type")
	if !ok {
		return
	}
	allowed, known := triggerFieldsByType[typ]
	if !known {
		d.errorf(tn, "trigger.trigger_type", "%q is not one of cron, event, once", typ)
		return
	}
	t.Type = typ
	d.allowOnly(f, "trigger", allowed, "for trigger_type "+typ)
	// trigger.inputs needs the inputs declaration: decoded with it.
	d.trigInputs = f.get("inputs")

	if typ == TriggerCron || typ == TriggerOnce {
		d.scheduleTrigger(f, t)
	}
	switch typ {
	case TriggerCron:
		d.cronTrigger(f, t)
	case TriggerOnce:
		d.onceTrigger(f, t)
	case TriggerEvent:
		d.eventTrigger(f, t)
	}
}

// scheduleTrigger decodes the fields cron and once triggers share: the
// time zone, the misfire policy and the catch-up window.
func (d *decoder) scheduleTrigger(f *fields, t *Trigger) {
	t.Timezone = TimezoneDefault
	if n := f.get("timezone"); n != nil {
		if v, ok := d.str(n, "trigger.timezone"); ok {
			if _, err := loadLocation(v); err != nil {
				d.errorf(n, "trigger.timezone", "%q is not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)", v)
			}
			t.Timezone = v
		}
	}
	t.MisfirePolicy = MisfirePolicyDefault
	if n := f.get("misfire_policy"); n != nil {
		if v, ok := d.str(n, "trigger.misfire_policy"); ok {
			switch v {
			case MisfireSkip, MisfireBufferOne, MisfireBufferAll, MisfireAllowAll, MisfireCancelOther, MisfireTerminateOther:
			default:
				d.errorf(n, "trigger.misfire_policy", "%q is not one of skip, buffer_one, buffer_all, allow_all, cancel_other, terminate_other", v)
			}
			t.MisfirePolicy = v
		}
	}
	t.CatchupWindow = Duration(CatchupWindowDefault)
	if n := f.get("catchup_window"); n != nil {
		if v, ok := d.duration(n, "trigger.catchup_window"); ok {
			// Temporal's minimum catch-up window is 10s.
			if v < 10*time.Second {
				d.errorf(n, "trigger.catchup_window", "%s is below Temporal's minimum of 10s", v)
			}
			t.CatchupWindow = Duration(v)
		}
	}
}

// cronTrigger decodes the fields of a cron trigger.
func (d *decoder) cronTrigger(f *fields, t *Trigger) {
	if n := f.get("cron_expression"); n != nil {
		if v, ok := d.str(n, "trigger.cron_expression"); ok {
			t.CronExpression = v
			if _, err := cronexpr.Parse(v); err != nil {
				d.errorf(n, "trigger.cron_expression", "%v", err)
			} else if note := vixieNote(v, t.Timezone); note != "" {
				// Not an error: the expression is valid, it just does not
				// mean what it means to crontab.
				d.warnings = append(d.warnings, &Error{File: d.file, Line: n.Line, Column: n.Column, Field: "trigger.cron_expression", Message: note})
			}
		}
	} else {
		d.errorf(f.node, "trigger.cron_expression", "is required for trigger_type cron (e.g. \"*/15 * * * *\" or @daily)")
	}
	if n := f.get("jitter"); n != nil {
		if v, ok := d.duration(n, "trigger.jitter"); ok {
			t.Jitter = Duration(v)
		}
	}
}

// onceTrigger decodes the fields of a once trigger.
func (d *decoder) onceTrigger(f *fields, t *Trigger) {
	if n := f.get("run_at"); n != nil {
		if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "!!timestamp") {
			ts, err := time.Parse(time.RFC3339, n.Value)
			if err != nil {
				d.errorf(n, "trigger.run_at", "%q is not an RFC 3339 time with a zone offset (e.g. \"2026-12-01T03:00:00Z\")", n.Value)
			} else {
				ts = ts.UTC()
				t.RunAt = &ts
			}
		} else {
			d.errorf(n, "trigger.run_at", "must be an RFC 3339 time, got %s", kindName(n))
		}
	} else {
		d.errorf(f.node, "trigger.run_at", "is required for trigger_type once (RFC 3339, e.g. \"2026-12-01T03:00:00Z\")")
	}
}

// eventTrigger decodes the fields of an event trigger.
func (d *decoder) eventTrigger(f *fields, t *Trigger) {
	if n := f.get("event_type"); n != nil {
		if v, ok := d.str(n, "trigger.event_type"); ok {
			if err := ValidateSubjectPattern(v); err != nil {
				d.errorf(n, "trigger.event_type", "%v", err)
			}
			t.EventType = v
		}
	} else {
		d.errorf(f.node, "trigger.event_type", "is required for trigger_type event (a NATS subject pattern, e.g. org.repo.commit.pushed)")
	}
	if n := f.get("filters"); n != nil {
		t.Filters = d.filters(n)
	}
}

func (d *decoder) filters(n *yaml.Node) map[string][]string {
	f, ok := d.mapping(n, "trigger.filters")
	if !ok {
		return nil
	}
	out := make(map[string][]string, len(f.order))
	for _, k := range f.order {
		e := f.byKey[k]
		field := "trigger.filters." + k
		if err := validateFieldPath(k); err != nil {
			d.errorf(e.key, field, "%v", err)
			continue
		}
		var globs []string
		switch e.val.Kind {
		case yaml.SequenceNode:
			if len(e.val.Content) == 0 {
				d.errorf(e.val, field, "an empty list matches nothing: give at least one glob")
				continue
			}
			for i, item := range e.val.Content {
				if g, ok := d.globScalar(item, index(field, i)); ok {
					globs = append(globs, g)
				}
			}
		default:
			if g, ok := d.globScalar(e.val, field); ok {
				globs = append(globs, g)
			}
		}
		out[k] = globs
	}
	return out
}

// globScalar accepts any scalar as a glob: `priority: 1` matches the
// payload value 1 by its text, which is what an operator means.
func (d *decoder) globScalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, field, "must be a glob or a list of globs, got %s", kindName(n))
		return "", false
	}
	if _, err := CompileGlob(n.Value); err != nil {
		d.errorf(n, field, "%v", err)
		return "", false
	}
	return n.Value, true
}

var contextFieldsByKind = map[string][]string{
	ContextHTTPGet:        {"kind", "url", "bind", "timeout", "headers"},
	ContextStateHubHealth: {"kind", "bind", "timeout"},
	ContextStateHubRepos:  {"kind", "bind", "timeout"},
}

func (d *decoder) context(n *yaml.Node) []ContextSource {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "context", "must be a list of context sources, got %s", kindName(n))
		return nil
	}
	binds := map[string]int{}
	out := make([]ContextSource, 0, len(n.Content))
	for i, item := range n.Content {
		field := index("context", i)
		f, ok := d.mapping(item, field)
		if !ok {
			continue
		}
		c := ContextSource{Timeout: Duration(ContextTimeoutDefault)}
		kn := f.get("kind")
		if kn == nil {
			d.errorf(item, field+".kind", "is required: http_get, state_hub.health or state_hub.repos")
			continue
		}
		kind, ok := d.str(kn, field+".kind")
		if !ok {
			continue
		}
		allowed, known := contextFieldsByKind[kind]
		if !known {
			msg := fmt.Sprintf("%q is not one of http_get, state_hub.health, state_hub.repos", kind)
			if s := suggest(kind, []string{ContextHTTPGet, ContextStateHubHealth, ContextStateHubRepos}); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errorf(kn, field+".kind", "%s", msg)
			continue
		}
		c.Kind = kind
		d.allowOnly(f, field, allowed, "for context kind "+kind)
		if bn := f.get("bind"); bn != nil {
			if b, ok := d.str(bn, field+".bind"); ok {
				c.Bind = b
				switch {
				case !bindPattern.MatchString(b):
					d.errorf(bn, field+".bind", "%q is not a valid name: use letters, digits and _, not starting with a digit", b)
				case celReserved[b]:
					d.errorf(bn, field+".bind", "%q is reserved in rules: choose another name", b)
				default:
					if prev, dup := binds[b]; dup {
						d.errorf(bn, field+".bind", "%q is already bound by context[%d]", b, prev)
					}
					binds[b] = i
				}
			}
		} else {
			d.errorf(item, field+".bind", "is required: the name the rule uses for this result")
		}
		if tn := f.get("timeout"); tn != nil {
			if v, ok := d.duration(tn, field+".timeout"); ok {
				if v <= 0 {
					d.errorf(tn, field+".timeout", "must be positive")
				}
				c.Timeout = Duration(v)
			}
		}
		if kind == ContextHTTPGet {
			if un := f.get("url"); un != nil {
				c.URL, _ = d.url(un, field+".url")
			} else {
				d.errorf(item, field+".url", "is required for http_get")
			}
			if hn := f.get("headers"); hn != nil {
				c.Headers = d.headers(hn, field+".headers")
			}
		}
		out = append(out, c)
	}
	return out
}

// rule decodes rule.when and returns its node, for compileRule's positions.
func (d *decoder) rule(n *yaml.Node, def *Definition) *yaml.Node {
	f, ok := d.mapping(n, "rule")
	if !ok {
		return nil
	}
	d.allowOnly(f, "rule", []string{"when"}, "")
	wn := f.get("when")
	if wn == nil {
		return nil
	}
	if wn.Kind == yaml.ScalarNode && wn.Tag == "!!str" {
		// A single expression is a common shorthand; accept it as a list of one.
		def.Rule.When = []string{wn.Value}
		return wn
	}
	if wn.Kind != yaml.SequenceNode {
		d.errorf(wn, "rule.when", "must be a list of CEL expressions, got %s", kindName(wn))
		return nil
	}
	for i, item := range wn.Content {
		if s, ok := d.str(item, index("rule.when", i)); ok {
			if strings.TrimSpace(s) == "" {
				d.errorf(item, index("rule.when", i), "is an empty expression")
				continue
			}
			def.Rule.When = append(def.Rule.When, s)
		}
	}
	return wn
}

// compileRule compiles each rule expression against the binds, reporting
// CEL errors at the expression's position.
func (d *decoder) compileRule(def *Definition, wn *yaml.Node) {
	nodeFor := func(i int) *yaml.Node {
		if wn != nil && wn.Kind == yaml.SequenceNode && i < len(wn.Content) {
			return wn.Content[i]
		}
		return wn
	}
	binds := make([]string, 0, len(def.Context))
	for _, c := range def.Context {
		if c.Bind != "" {
			binds = append(binds, c.Bind)
		}
	}
	for i, expr := range def.Rule.When {
		field := index("rule.when", i)
		if len(def.Rule.When) == 1 && wn != nil && wn.Kind == yaml.ScalarNode {
			field = "rule.when"
		}
		if _, err := CompileExpression(expr, binds); err != nil {
			d.errorf(nodeFor(i), field, "%v", err)
		}
	}
}

var instructionFieldsByKind = map[string][]string{
	InstructionShell:   {"kind", "cmd", "args", "workdir", "env", "timeout"},
	InstructionHTTP:    {"kind", "method", "url", "headers", "body", "expect_status", "timeout"},
	InstructionPublish: {"kind", "subject", "payload", "timeout"},
}

func (d *decoder) instruction(n *yaml.Node, in *Instruction) {
	f, ok := d.mapping(n, "instruction")
	if !ok {
		return
	}
	kn := f.get("kind")
	if kn == nil {
		d.errorf(n, "instruction.kind", "is required: shell, http or publish")
		return
	}
	kind, ok := d.str(kn, "instruction.kind")
	if !ok {
		return
	}
	allowed, known := instructionFieldsByKind[kind]
	if !known {
		d.errorf(kn, "instruction.kind", "%q is not one of shell, http, publish", kind)
		return
	}
	in.Kind = kind
	d.allowOnly(f, "instruction", allowed, "for instruction kind "+kind)
	in.Timeout = Duration(instructionTimeoutDefault)
	if tn := f.get("timeout"); tn != nil {
		if v, ok := d.duration(tn, "instruction.timeout"); ok {
			if v <= 0 {
				d.errorf(tn, "instruction.timeout", "must be positive")
			}
			in.Timeout = Duration(v)
		}
	}
	switch kind {
	case InstructionShell:
		d.shellInstruction(n, f, in)
	case InstructionHTTP:
		d.httpInstruction(n, f, in)
	case InstructionPublish:
		d.publishInstruction(n, f, in)
	}
}

// shellInstruction decodes the fields of a shell instruction (n is the
// instruction's node, f its fields).
func (d *decoder) shellInstruction(n *yaml.Node, f *fields, in *Instruction) {
	cmd, args := f.get("cmd"), f.get("args")
	switch {
	case cmd != nil && args != nil:
		d.errorf(args, "instruction.args", "give either cmd (run by /bin/sh -c) or args (run directly), not both")
	case cmd == nil && args == nil:
		d.errorf(n, "instruction.cmd", "shell needs cmd (run by /bin/sh -c) or args (a program and its arguments)")
	case cmd != nil:
		if v, ok := d.str(cmd, "instruction.cmd"); ok {
			if strings.TrimSpace(v) == "" {
				d.errorf(cmd, "instruction.cmd", "is empty")
			}
			d.noEnvRefs(cmd, "instruction.cmd", v)
			in.Cmd = v
		}
	default:
		if v, ok := d.stringList(args, "instruction.args"); ok {
			if len(v) == 0 || v[0] == "" {
				d.errorf(args, "instruction.args", "needs at least the program to run")
			}
			for i, a := range v {
				d.noEnvRefs(args.Content[i], index("instruction.args", i), a)
			}
			in.Args = v
		}
	}
	if wn := f.get("workdir"); wn != nil {
		if v, ok := d.str(wn, "instruction.workdir"); ok {
			if !strings.HasPrefix(v, "/") {
				d.errorf(wn, "instruction.workdir", "%q must be an absolute path", v)
			}
			in.Workdir = v
		}
	}
	if en := f.get("env"); en != nil {
		in.Env = d.env(en)
	}
}

// httpInstruction decodes the fields of an http instruction.
func (d *decoder) httpInstruction(n *yaml.Node, f *fields, in *Instruction) {
	in.Method = httpMethodDefault
	if mn := f.get("method"); mn != nil {
		if v, ok := d.str(mn, "instruction.method"); ok {
			switch strings.ToUpper(v) {
			case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
				in.Method = strings.ToUpper(v)
			default:
				d.errorf(mn, "instruction.method", "%q is not one of GET, POST, PUT, PATCH, DELETE, HEAD", v)
			}
		}
	}
	if un := f.get("url"); un != nil {
		in.URL, _ = d.url(un, "instruction.url")
	} else {
		d.errorf(n, "instruction.url", "is required for kind http")
	}
	if hn := f.get("headers"); hn != nil {
		in.Headers = d.headers(hn, "instruction.headers")
	}
	if bn := f.get("body"); bn != nil {
		if v, ok := d.value(bn, "instruction.body"); ok {
			d.envRefsIn(bn, "instruction.body")
			in.Body = v
		}
	}
	if sn := f.get("expect_status"); sn != nil {
		in.ExpectStatus = d.statuses(sn)
	}
}

// publishInstruction decodes the fields of a publish instruction.
func (d *decoder) publishInstruction(n *yaml.Node, f *fields, in *Instruction) {
	if sn := f.get("subject"); sn != nil {
		if v, ok := d.str(sn, "instruction.subject"); ok {
			if err := ValidateSubject(v); err != nil {
				d.errorf(sn, "instruction.subject", "%v", err)
			}
			in.Subject = v
		}
	} else {
		d.errorf(n, "instruction.subject", "is required for kind publish (a NATS subject, e.g. org.backup.done)")
	}
	if pn := f.get("payload"); pn != nil {
		if pn.Kind != yaml.MappingNode {
			d.errorf(pn, "instruction.payload", "must be a mapping (published as a JSON object), got %s", kindName(pn))
		} else if v, ok := d.value(pn, "instruction.payload"); ok {
			d.envRefsIn(pn, "instruction.payload")
			in.Payload = v.(map[string]any)
		}
	}
}

func (d *decoder) statuses(n *yaml.Node) []int {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			d.errorf(n, "instruction.expect_status", "an empty list accepts nothing: omit it for any 2xx")
		}
	}
	var out []int
	for i, item := range items {
		field := "instruction.expect_status"
		if n.Kind == yaml.SequenceNode {
			field = index(field, i)
		}
		v, ok := d.integer(item, field)
		if !ok {
			continue
		}
		if v < 100 || v > 599 {
			d.errorf(item, field, "%d is not an HTTP status code (100-599)", v)
			continue
		}
		out = append(out, int(v))
	}
	return out
}

func (d *decoder) env(n *yaml.Node) map[string]string {
	m, f, ok := d.stringMap(n, "instruction.env")
	if !ok {
		return m
	}
	for k, v := range m {
		e := f.byKey[k]
		if !envNamePattern.MatchString(k) {
			d.errorf(e.key, "instruction.env."+k, "%q is not a valid environment variable name", k)
		}
		if strings.HasPrefix(k, "ACTIVITY_") {
			d.errorf(e.key, "instruction.env."+k, "names starting with ACTIVITY_ are set by activity-core for every run")
		}
		d.checkEnvRefs(e.val, "instruction.env."+k, v)
	}
	return m
}

func (d *decoder) headers(n *yaml.Node, field string) map[string]string {
	m, f, ok := d.stringMap(n, field)
	if !ok {
		return m
	}
	for k, v := range m {
		e := f.byKey[k]
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			d.errorf(e.key, field+"."+k, "%q is not a valid header name", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			d.errorf(e.val, field+"."+k, "header values may not contain line breaks")
		}
		d.checkEnvRefs(e.val, field+"."+k, v)
	}
	return m
}

func (d *decoder) url(n *yaml.Node, field string) (string, bool) {
	v, ok := d.str(n, field)
	if !ok {
		return "", false
	}
	if err := validateURL(v); err != nil {
		d.errorf(n, field, "%v", err)
		return v, false
	}
	d.checkEnvRefs(n, field, v)
	return v, true
}

func (d *decoder) duration(n *yaml.Node, field string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && !(n.Tag == "!!int" && n.Value == "0")) {
		d.errorf(n, field, "must be a duration like \"30s\", \"5m\" or \"1h30m\", got %s", kindName(n))
		return 0, false
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, field, "%q is not a duration: use a number with a unit, like 30s, 5m or 1h30m", n.Value)
		return 0, false
	}
	if v < 0 {
		d.errorf(n, field, "must not be negative")
		return 0, false
	}
	return v, true
}

func (d *decoder) retry(n *yaml.Node) Retry {
	r := Retry{
		MaxAttempts:        retryMaxAttemptsDefault,
		InitialInterval:    Duration(retryInitialIntervalDefault),
		BackoffCoefficient: retryBackoffCoefficientDefault,
		MaxInterval:        Duration(retryMaxIntervalDefault),
	}
	if n == nil {
		return r
	}
	f, ok := d.mapping(n, "retry")
	if !ok {
		return r
	}
	d.allowOnly(f, "retry", []string{"max_attempts", "initial_interval", "backoff_coefficient", "max_interval"}, "")
	if v := f.get("max_attempts"); v != nil {
		if i, ok := d.integer(v, "retry.max_attempts"); ok {
			if i < 1 || i > 100 {
				d.errorf(v, "retry.max_attempts", "%d is out of range 1-100 (1 means no retry)", i)
			}
			r.MaxAttempts = int(i)
		}
	}
	if v := f.get("initial_interval"); v != nil {
		if dur, ok := d.duration(v, "retry.initial_interval"); ok {
			if dur < time.Second {
				d.errorf(v, "retry.initial_interval", "must be at least 1s")
			}
			r.InitialInterval = Duration(dur)
		}
	}
	if v := f.get("backoff_coefficient"); v != nil {
		if c, ok := d.number(v, "retry.backoff_coefficient"); ok {
			if c < 1 {
				d.errorf(v, "retry.backoff_coefficient", "must be at least 1")
			}
			r.BackoffCoefficient = c
		}
	}
	if v := f.get("max_interval"); v != nil {
		if dur, ok := d.duration(v, "retry.max_interval"); ok {
			r.MaxInterval = Duration(dur)
			if dur < r.InitialInterval.D() {
				d.errorf(v, "retry.max_interval", "%s is shorter than initial_interval %s", dur, r.InitialInterval)
			}
		}
	}
	return r
}

// vixieNote is cronexpr.VixieDifference without the DST remark when the
// zone never changes its offset (UTC and most of the world's zones have no
// DST, so the remark would only be noise).
func vixieNote(expr, zone string) string {
	note := cronexpr.VixieDifference(expr)
	if note == "" {
		return ""
	}
	loc, err := loadLocation(zone)
	if err != nil || hasDST(loc) {
		return note
	}
	var keep []string
	for _, n := range strings.Split(note, "; ") {
		if !strings.HasPrefix(n, "fixed times between") {
			keep = append(keep, n)
		}
	}
	return strings.Join(keep, "; ")
}

// hasDST reports whether loc changes its UTC offset during this year or
// the next.
func hasDST(loc *time.Location) bool {
	y := time.Now().Year()
	_, off := time.Date(y, 1, 1, 0, 0, 0, 0, loc).Zone()
	for m := 1; m <= 24; m++ {
		if _, o := time.Date(y, time.Month(m), 1, 0, 0, 0, 0, loc).Zone(); o != off {
			return true
		}
	}
	return false
}
