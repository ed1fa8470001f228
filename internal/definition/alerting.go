package definition

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/coulomb/activity-core/internal/tlsconf"
)

// The alerting fields (expect, notify, pause_after_failures) can be given
// by a definition, by the _defaults.yaml files of its folders and by the
// deployment's defaults file (docs/definitions.md#alerting-defaults). Each
// source is decoded into an alerting layer that remembers which fields it
// set, so the layers merge field by field; the merged values are what the
// definition holds, and so what its canonical JSON and hash hold.

// defaultsFileName is the name of a folder's alerting defaults file.
const defaultsFileName = "_defaults.yaml"

// notifyAfterFailuresDefault is notify.after_failures when not given.
const notifyAfterFailuresDefault = 1

var (
	notifyEvents = []string{EventFailed, EventTimedOut, EventMissed, EventStale, EventLate, EventRecovered, EventSkipped, EventPaused}
	targetKinds  = []string{TargetWebhook, TargetSlack, TargetEmail, TargetNATS}
	// targetFields are the fields each target kind takes.
	targetFields = map[string][]string{
		TargetWebhook: {"url", "secret"},
		TargetSlack:   {"url"},
		TargetEmail:   {"to"},
		TargetNATS:    {"subject"},
	}
	expectFields   = []string{"succeeds_within", "max_duration", "grace", "output_matches"}
	notifyFields   = []string{"on", "after_failures", "targets"}
	defaultsFields = []string{"expect", "notify", "pause_after_failures"}
	// envRefOnly matches a value that is one ${env:NAME} reference and
	// nothing else: a whole URL kept in a secret.
	envRefOnly = regexp.MustCompile(`^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$`)
)

// alerting is the alerting fields as one source wrote them; a nil pointer
// or a false *Set flag means "not given here".
type alerting struct {
	// file is the defaults file the layer came from; empty for the
	// definition's own fields.
	file string

	succeedsWithin, maxDuration, grace *Duration
	outputMatches                      *string

	notify        bool // a notify block was written
	on            []string
	onSet         bool
	afterFailures *int
	targets       []NotifyTarget
	targetsSet    bool
	// targetRefs are the secrets the targets name, where they are.
	targetRefs []secretRef

	pause *int
}

// alertingFields decodes expect, notify and pause_after_failures from a
// definition's or a defaults file's top-level fields. def is the
// definition being decoded, nil in a defaults file.
func (d *decoder) alertingFields(f *fields, def *Definition) *alerting {
	a := &alerting{}
	if n := f.get("expect"); n != nil {
		d.expect(n, a, def)
	}
	if n := f.get("notify"); n != nil {
		d.notify(n, a)
	}
	if n := f.get("pause_after_failures"); n != nil {
		if v, ok := d.integer(n, "pause_after_failures"); ok {
			if v < 0 {
				d.errorf(n, "pause_after_failures", "must be 0 (never pause) or a number of consecutive failures, got %d", v)
			}
			p := int(v)
			a.pause = &p
		}
	}
	return a
}

func (d *decoder) expect(n *yaml.Node, a *alerting, def *Definition) {
	f, ok := d.mapping(n, "expect")
	if !ok {
		return
	}
	d.allowOnly(f, "expect", expectFields, "")
	dur := func(key string) *Duration {
		n := f.get(key)
		if n == nil {
			return nil
		}
		v, ok := d.duration(n, "expect."+key)
		if !ok {
			return nil
		}
		dv := Duration(v)
		return &dv
	}
	a.succeedsWithin, a.maxDuration, a.grace = dur("succeeds_within"), dur("max_duration"), dur("grace")
	if def == nil {
		if e, ok := f.byKey["output_matches"]; ok {
			d.errorf(e.key, "expect.output_matches", "is not a default: it checks one definition's output, so write it in that definition")
		}
		return
	}
	if gn := f.get("grace"); gn != nil && def.Trigger.Type != "" && def.Trigger.Type != TriggerCron {
		d.errorf(gn, "expect.grace", "applies to cron triggers only (it bounds how late a scheduled fire may leave its run); %s trigger has no schedule to miss", map[bool]string{true: "an event", false: "a once"}[def.Trigger.Type == TriggerEvent])
	}
	if on := f.get("output_matches"); on != nil {
		if v, ok := d.str(on, "expect.output_matches"); ok {
			d.outputMatches(on, v, def.Instruction.Kind)
			a.outputMatches = &v
		}
	}
}

// outputMatches checks the pattern compiles as RE2 (Go's regexp syntax).
// It applies to a shell command's stdout and an http response's body;
// a publish has no output to match.
func (d *decoder) outputMatches(n *yaml.Node, v, kind string) {
	if kind == InstructionPublish {
		d.errorf(n, "expect.output_matches", "a publish instruction has no output to match: output_matches checks a shell command's stdout or an http response's body")
		return
	}
	if v == "" {
		d.errorf(n, "expect.output_matches", "is empty, which every output matches: give the text a successful run prints, or remove the field")
		return
	}
	if _, err := regexp.Compile(v); err != nil {
		d.errorf(n, "expect.output_matches", "%q is not an RE2 regular expression: %s", v, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
}

func (d *decoder) notify(n *yaml.Node, a *alerting) {
	f, ok := d.mapping(n, "notify")
	if !ok {
		return
	}
	a.notify = true
	d.allowOnly(f, "notify", notifyFields, "")
	if on := f.get("on"); on != nil {
		a.on, a.onSet = d.notifyOn(on)
	}
	if an := f.get("after_failures"); an != nil {
		if v, ok := d.integer(an, "notify.after_failures"); ok {
			if v < 1 {
				d.errorf(an, "notify.after_failures", "must be at least 1 (1: alert on the first failure), got %d", v)
			}
			i := int(v)
			a.afterFailures = &i
		}
	}
	if tn, ok := f.byKey["targets"]; ok {
		refs := len(d.refs)
		a.targets, a.targetsSet = d.targets(tn.val)
		a.targetRefs = slices.Clone(d.refs[refs:])
	}
}

func (d *decoder) notifyOn(n *yaml.Node) ([]string, bool) {
	list, ok := d.stringList(n, "notify.on")
	if !ok {
		return nil, false
	}
	if len(list) == 0 {
		d.errorf(n, "notify.on", "lists no events: give at least one of %s (to tell nobody, write targets: [])", strings.Join(notifyEvents, ", "))
		return nil, false
	}
	seen := map[string]int{}
	for i, ev := range list {
		field := index("notify.on", i)
		if !slices.Contains(notifyEvents, ev) {
			msg := fmt.Sprintf("%q is not an event: use %s", ev, strings.Join(notifyEvents, ", "))
			if s := suggest(ev, notifyEvents); s != "" {
				msg = fmt.Sprintf("%q is not an event (did you mean %q?)", ev, s)
			}
			d.errorf(n.Content[i], field, "%s", msg)
			ok = false
			continue
		}
		if j, dup := seen[ev]; dup {
			d.errorf(n.Content[i], field, "%q is already listed as notify.on[%d]", ev, j)
			ok = false
		}
		seen[ev] = i
	}
	return list, ok
}

// targets decodes notify.targets: a list whose entries each hold exactly
// one kind key (`- slack: {url: ...}`). An empty list is allowed: it
// replaces inherited targets with none.
func (d *decoder) targets(n *yaml.Node) ([]NotifyTarget, bool) {
	if isNull(n) || n.Kind != yaml.SequenceNode {
		d.errorf(n, "notify.targets", "must be a list of targets (- webhook: {...}, - slack: {...}, - email: {...}, - nats: {...}), got %s", kindName(n))
		return nil, false
	}
	out := make([]NotifyTarget, 0, len(n.Content))
	seen := map[string]int{}
	ok := true
	for i, item := range n.Content {
		t, good := d.target(item, index("notify.targets", i))
		if !good {
			ok = false
			continue
		}
		key, _ := json.Marshal(t)
		if j, dup := seen[string(key)]; dup {
			d.errorf(item, index("notify.targets", i), "is the same target as notify.targets[%d]: each would get every notification twice", j)
			ok = false
			continue
		}
		seen[string(key)] = i
		out = append(out, t)
	}
	return out, ok
}

func (d *decoder) target(item *yaml.Node, field string) (NotifyTarget, bool) {
	f, ok := d.mapping(item, field)
	if !ok {
		return NotifyTarget{}, false
	}
	if len(f.order) != 1 {
		if len(f.order) == 0 {
			d.errorf(item, field, "is empty: give one of %s", strings.Join(targetKinds, ", "))
		} else {
			d.errorf(f.byKey[f.order[1]].key, field, "holds %s: give exactly one kind per entry (a new `- ` entry for each target)", strings.Join(f.order, " and "))
		}
		return NotifyTarget{}, false
	}
	kind := f.order[0]
	e := f.byKey[kind]
	allowed, known := targetFields[kind]
	if !known {
		msg := fmt.Sprintf("%q is not a target kind: use %s", kind, strings.Join(targetKinds, ", "))
		if s := suggest(kind, targetKinds); s != "" {
			msg = fmt.Sprintf("%q is not a target kind (did you mean %q?)", kind, s)
		}
		d.errorf(e.key, field, "%s", msg)
		return NotifyTarget{}, false
	}
	field += "." + kind
	tf, ok := d.mapping(e.val, field)
	if !ok {
		return NotifyTarget{}, false
	}
	errs := len(d.errs)
	d.allowOnly(tf, field, allowed, "for target "+kind)
	t := NotifyTarget{Kind: kind}
	for _, k := range allowed {
		if tf.get(k) == nil {
			d.errorf(e.val, field+"."+k, "is required for a %s target%s", kind, targetHint[kind+"."+k])
		}
	}
	if n := tf.get("url"); n != nil {
		t.URL = d.notifyURL(n, field+".url", kind == TargetSlack)
	}
	if n := tf.get("secret"); n != nil {
		t.Secret = d.secretName(n, field+".secret")
	}
	if n := tf.get("to"); n != nil {
		t.To = d.emailList(n, field+".to")
	}
	if n := tf.get("subject"); n != nil {
		if v, ok := d.str(n, field+".subject"); ok {
			if err := ValidateSubject(v); err != nil {
				d.errorf(n, field+".subject", "%v", err)
			}
			t.Subject = v
		}
	}
	return t, len(d.errs) == errs
}

var targetHint = map[string]string{
	"webhook.url":    " (https://..., or \"${env:NAME}\")",
	"webhook.secret": " (the name of an allow-listed secret the body is signed with)",
	"slack.url":      " (\"${env:NAME}\": the incoming webhook URL, kept as a secret)",
	"email.to":       " (a list of addresses)",
	"nats.subject":   " (a NATS subject, e.g. org.alerts.activity)",
}

// notifyURL checks a webhook or Slack URL: https, plain http only to a
// loopback address, or a ${env:NAME} reference resolved at delivery. A
// written URL is shown to read tokens (the definition, its timeline), so
// it may carry no credential: a Slack URL, which is one, must be a
// reference, and a webhook URL may hold no user info and no query
// (docs/alerting.md#notify).
func (d *decoder) notifyURL(n *yaml.Node, field string, credential bool) string {
	v, ok := d.str(n, field)
	if !ok {
		return ""
	}
	errs := len(d.errs)
	d.checkEnvRefs(n, field, v)
	if envRefOnly.MatchString(v) || len(d.errs) > errs {
		return v
	}
	if err := validateURL(v); err != nil {
		d.errorf(n, field, "%v", err)
		return v
	}
	u, _ := url.Parse(envRefPattern.ReplaceAllString(v, "x"))
	switch {
	case credential:
		d.errorf(n, field, "a Slack incoming-webhook URL is a credential, and definitions are shown to read tokens: put it in an allow-listed secret and write \"${env:NAME}\"")
	case u.User != nil || strings.Contains(v, "?"):
		d.errorf(n, field, "must not carry credentials (user info or a query), which read tokens would see in the definition: put the whole URL in an allow-listed secret and write \"${env:NAME}\"")
	case strings.EqualFold(u.Scheme, "http") && !tlsconf.IsLoopback(u.Hostname()):
		d.errorf(n, field, "%q must be an https:// URL (plain http only to a loopback address): notifications carry run output", v)
	}
	return v
}

// secretName checks a webhook's secret: the name of an allow-listed
// secret, recorded as a reference so sync and validate check it against
// the allow-list like any ${env:NAME}.
func (d *decoder) secretName(n *yaml.Node, field string) string {
	v, ok := d.str(n, field)
	if !ok {
		return ""
	}
	if !envNamePattern.MatchString(v) {
		d.errorf(n, field, "%q is not a secret name: give the NAME of an allow-listed secret (letters, digits and _), not its value nor ${env:NAME}", v)
		return v
	}
	d.refs = append(d.refs, secretRef{Name: v, Field: field, Line: n.Line, Column: n.Column})
	return v
}

func (d *decoder) emailList(n *yaml.Node, field string) []string {
	list, ok := d.stringList(n, field)
	if !ok {
		return nil
	}
	if len(list) == 0 {
		d.errorf(n, field, "lists no address: give at least one")
	}
	for i, addr := range list {
		if _, err := mail.ParseAddress(addr); err != nil {
			d.errorf(n.Content[i], index(field, i), "%q is not an email address (%v)", addr, err)
		}
	}
	return list
}

// applyAlerting sets the definition's alerting fields from layers, lowest
// precedence first (deployment, outermost folder ... nearest folder, the
// definition itself): each field takes the value of the last layer that
// gives it; notify.targets is one field, replaced whole. Defaults that
// mean nothing for the definition's trigger (grace on an event trigger)
// are not applied. Secrets named by inherited targets become references
// of the definition, at the defaults file's position.
func (def *Definition) applyAlerting(layers []*alerting) {
	var e Expect
	var n Notify
	notify := false
	var targetsFrom *alerting
	def.PauseAfterFailures = 0
	for _, l := range layers {
		if l == nil {
			continue
		}
		setDur(&e.SucceedsWithin, l.succeedsWithin)
		setDur(&e.MaxDuration, l.maxDuration)
		if def.Trigger.Type == TriggerCron {
			setDur(&e.Grace, l.grace)
		}
		if l.outputMatches != nil {
			e.OutputMatches = *l.outputMatches
		}
		if l.pause != nil {
			def.PauseAfterFailures = *l.pause
		}
		if !l.notify {
			continue
		}
		notify = true
		if l.onSet {
			n.On = slices.Clone(l.on)
		}
		if l.afterFailures != nil {
			n.AfterFailures = *l.afterFailures
		}
		if l.targetsSet {
			n.Targets, targetsFrom = slices.Clone(l.targets), l
		}
	}
	def.Expect = nil
	if e != (Expect{}) {
		def.Expect = &e
	}
	def.Notify = nil
	if notify {
		if n.On == nil {
			n.On = slices.Clone(NotifyOnDefault)
		}
		if n.AfterFailures == 0 {
			n.AfterFailures = notifyAfterFailuresDefault
		}
		if len(n.Targets) == 0 {
			n.Targets = nil
		}
		def.Notify = &n
	}
	if targetsFrom != nil && targetsFrom.file != "" {
		for _, r := range targetsFrom.targetRefs {
			r.File = targetsFrom.file
			def.SecretRefs = append(def.SecretRefs, r)
		}
	}
}

func setDur(dst *Duration, v *Duration) {
	if v != nil {
		*dst = *v
	}
}
