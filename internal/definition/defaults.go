package definition

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/cronexpr"
)

// Defaults are alerting defaults (expect, notify, pause_after_failures)
// for many definitions: a folder's _defaults.yaml, or the deployment's
// file (ACTIVITY_ALERT_DEFAULTS); docs/definitions.md#alerting-defaults.
type Defaults struct {
	// File is where the defaults were read from.
	File  string
	layer *alerting
}

// ParseDefaults reads one defaults file, with the strictness of a
// definition file. The returned error, when not nil, is an Errors.
func ParseDefaults(file string, data []byte) (*Defaults, error) {
	d := &decoder{file: file, defaults: true}
	root := d.document(data)
	if root == nil {
		return nil, errOrNil(d.errs)
	}
	f, _ := d.mapping(root, "")
	d.allowOnly(f, "", defaultsFields, "")
	layer := d.alertingFields(f, nil)
	if len(d.errs) > 0 {
		return nil, errOrNil(d.errs)
	}
	layer.file = file
	return &Defaults{File: file, layer: layer}, nil
}

// ReadDefaults reads and parses a defaults file (the deployment's).
func ReadDefaults(path string) (*Defaults, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, Errors{{File: path, Message: err.Error()}}
	}
	return ParseDefaults(path, data)
}

// LoadOptions are what Load needs besides the directories.
type LoadOptions struct {
	// DefaultsFile is the deployment's alerting defaults file
	// (ACTIVITY_ALERT_DEFAULTS); empty for none. When it cannot be read or
	// is invalid, its errors are source errors and no definition is
	// applied: each keeps its last good version.
	DefaultsFile string
}

// loadDefaults reads a folder's _defaults.yaml.
func (sr *SourceResult) loadDefaults(path string, data []byte, inside bool) {
	dir := filepath.Dir(path)
	defs, err := ParseDefaults(path, data)
	if err != nil {
		sr.FailedFiles[path] = true
		sr.fileErrs = append(sr.fileErrs, unquoted(err.(Errors), path, inside)...)
		sr.badDefaults[dir] = path
		return
	}
	sr.defaults[dir] = defs
}

// applyDefaults merges the deployment's and the folders' defaults into
// every definition of the source. A definition below an invalid defaults
// file is not applied: it is withheld like an invalid file, with an error
// naming the defaults file. Definitions elsewhere are not affected.
func (sr *SourceResult) applyDefaults(deployment *Defaults) {
	root := filepath.Clean(sr.Dir)
	kept := sr.Definitions[:0]
	for _, def := range sr.Definitions {
		layers := []*alerting{}
		if deployment != nil {
			layers = append(layers, deployment.layer)
		}
		bad := ""
		for _, dir := range folderChain(root, def.Source.File) {
			if f, ok := sr.badDefaults[dir]; ok && bad == "" {
				bad = f
			}
			if d := sr.defaults[dir]; d != nil {
				layers = append(layers, d.layer)
			}
		}
		if bad != "" {
			sr.withhold(def, fmt.Sprintf("not applied: the alerting defaults in %s that apply to it are invalid (fix that file)", bad))
			continue
		}
		layers = append(layers, def.own)
		def.applyAlerting(layers)
		def.Warnings = append(def.Warnings, alertingWarnings(def, layers)...)
		kept = append(kept, def)
	}
	sr.Definitions = kept
}

// withhold drops a valid definition from the result with an error on it,
// so a sync keeps its last good version.
func (sr *SourceResult) withhold(def *Definition, msg string) {
	sr.FailedFiles[def.Source.File] = true
	sr.HeldIDs[def.ID] = true
	sr.fileErrs = append(sr.fileErrs, &Error{
		File: def.Source.File, Line: def.Source.Line, Column: def.Source.Column, Field: "id", DefinitionID: def.ID, Message: msg,
	})
}

// folderChain lists the folders from root down to the one holding file,
// outermost first; nil when file is not below root (a file given alone
// takes no folder defaults).
func folderChain(root, file string) []string {
	dir := filepath.Dir(file)
	if !below(dir, root) {
		return nil
	}
	var chain []string
	for {
		chain = append(chain, dir)
		if dir == root {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain
}

// below reports whether dir is root or a folder below it, as paths Load
// built by joining names to root.
func below(dir, root string) bool {
	if root == "." {
		return !filepath.IsAbs(dir) && dir != ".." && !strings.HasPrefix(dir, ".."+string(filepath.Separator))
	}
	return dir == root || strings.HasPrefix(dir, strings.TrimSuffix(root, string(filepath.Separator))+string(filepath.Separator))
}

// gapSample is how many fires alertingWarnings looks at to find the
// longest gap between a cron definition's runs.
const gapSample = 64

// alertingWarnings flags merged alerting fields that are valid but
// probably not meant: a notify block that tells nobody, and a cron
// definition that would be stale between its own runs.
func alertingWarnings(def *Definition, layers []*alerting) []*Error {
	var out []*Error
	warn := func(field, format string, args ...any) {
		out = append(out, &Error{File: def.Source.File, Line: def.Source.Line, Column: def.Source.Column, Field: field,
			DefinitionID: def.ID, Message: fmt.Sprintf(format, args...)})
	}
	targetsGiven := false
	for _, l := range layers {
		targetsGiven = targetsGiven || (l != nil && l.targetsSet)
	}
	if def.Notify != nil && !targetsGiven {
		warn("notify", "has no targets, here or in alerting defaults: nobody is told (add notify.targets, or targets: [] to say so)")
	}
	if def.Expect == nil || def.Expect.SucceedsWithin == 0 || def.Trigger.Type != TriggerCron {
		return out
	}
	sched, err := cronexpr.Parse(def.Trigger.CronExpression)
	if err != nil {
		return out
	}
	fires := sched.NextN(time.Now(), def.Trigger.Location(), gapSample)
	var gap time.Duration
	for i := 1; i < len(fires); i++ {
		gap = max(gap, fires[i].Sub(fires[i-1]))
	}
	if within := def.Expect.SucceedsWithin.D(); within < gap {
		warn("expect.succeeds_within", "%s is shorter than the %s between some fires of %q: the definition will read stale between runs that all succeed", within, gap, def.Trigger.CronExpression)
	}
	return out
}
