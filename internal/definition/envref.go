package definition

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/coulomb/activity-core/internal/secret"
)

// envRefPattern matches a well-formed ${env:NAME} reference.
var envRefPattern = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)

// EnvRefs returns the names of the ${env:NAME} references in s, in order.
// The worker resolves them at run time and redacts their values.
func EnvRefs(s string) []string {
	var names []string
	for _, m := range envRefPattern.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	return names
}

// expandEnvRefs replaces every ${env:NAME} in s using lookup. It fails on
// the first unset name, naming it, because running with a blank secret is
// worse than not running.
func expandEnvRefs(s string, lookup func(string) (string, bool)) (string, error) {
	var missing string
	out := envRefPattern.ReplaceAllStringFunc(s, func(ref string) string {
		name := envRefPattern.FindStringSubmatch(ref)[1]
		v, ok := lookup(name)
		if !ok && missing == "" {
			missing = name
		}
		return v
	})
	if missing != "" {
		return "", fmt.Errorf("environment variable %s is not set on the worker (referenced as ${env:%s})", missing, missing)
	}
	return out, nil
}

// ExpandSecrets is expandEnvRefs through a resolver that may refuse a
// name (the secret allow-list): the first refusal is returned as is, and
// every value resolved is passed to remember, so the caller can redact it.
func ExpandSecrets(s string, resolve func(string) (string, error), remember func(string)) (string, error) {
	var failure error
	out, err := expandEnvRefs(s, func(name string) (string, bool) {
		v, err := resolve(name)
		if err != nil {
			failure = cmp.Or(failure, err)
			return "", false
		}
		remember(v)
		return v, true
	})
	if failure != nil {
		return "", failure
	}
	return out, err
}

// secretRef is one ${env:NAME} reference, or a secret named by a
// notification target, and where it is.
type secretRef struct {
	Name   string
	Field  string
	Line   int
	Column int
	// File is set when the reference is in a defaults file
	// (docs/definitions.md#alerting-defaults) rather than in the
	// definition's own file.
	File string
}

// CheckSecrets withholds every definition that references a name check
// refuses (secret.AllowList.Check): each such reference is an error on its
// definition, which is then invalid like any other (a sync keeps its last
// good version). Secrets come only from the operator's allow-list
// (docs/definitions.md#secrets).
func (r *Result) CheckSecrets(check func(name string) error) {
	for _, sr := range r.Sources {
		kept := sr.Definitions[:0]
		for _, d := range sr.Definitions {
			var bad []*Error
			for _, ref := range d.SecretRefs {
				if err := check(ref.Name); err != nil {
					bad = append(bad, &Error{
						File: cmp.Or(ref.File, d.Source.File), Line: ref.Line, Column: ref.Column, Field: ref.Field, DefinitionID: d.ID,
						Message: fmt.Sprintf("secret %s is not allowed: %s", ref.Name, strings.TrimPrefix(err.Error(), secret.ErrNotAllowed.Error()+": ")),
					})
				}
			}
			if len(bad) == 0 {
				kept = append(kept, d)
				continue
			}
			sr.FailedFiles[d.Source.File] = true
			sr.HeldIDs[d.ID] = true
			r.Errors = append(r.Errors, bad...)
		}
		sr.Definitions = kept
	}
	sortErrors(r.Errors)
}

// checkEnvRefs reports malformed references: anything that starts like
// ${env: but is not ${env:NAME}.
func (d *decoder) checkEnvRefs(n *yaml.Node, field, s string) {
	for _, name := range EnvRefs(s) {
		d.refs = append(d.refs, secretRef{Name: name, Field: field, Line: n.Line, Column: n.Column})
	}
	rest := envRefPattern.ReplaceAllString(s, "")
	if i := strings.Index(rest, "${env:"); i >= 0 {
		d.errorf(n, field, "malformed environment reference near %q: write ${env:NAME} with NAME made of letters, digits and _", clip(rest[i:], 24))
	}
}

// noEnvRefs refuses references in a command line: a secret substituted into
// cmd or args would show in process listings and in the run record. Pass
// it through instruction.env and use $NAME in the command instead.
func (d *decoder) noEnvRefs(n *yaml.Node, field, s string) {
	if strings.Contains(s, "${env:") {
		d.errorf(n, field, "${env:...} is not expanded in commands (it would show in process listings): set it in instruction.env, e.g. env: {TOKEN: \"${env:TOKEN}\"}, and use $TOKEN")
	}
}

// envRefsIn checks every scalar inside a YAML value (body, payload):
// whatever its tag, since a custom tag (`!x "${env:X}"`) still reaches the
// worker as a string.
func (d *decoder) envRefsIn(n *yaml.Node, field string) {
	if n.Kind == yaml.ScalarNode {
		d.checkEnvRefs(n, field, n.Value)
	}
	for _, c := range n.Content {
		d.envRefsIn(c, field)
	}
}
