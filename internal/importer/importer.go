// Package importer turns crontab files and systemd timer units into
// ActivityDefinition files (`activity-core import`, docs/import.md).
//
// Its one rule is that it never changes what a job means without saying
// so. Every emitted definition is read back with definition.Parse, the
// validation sync applies, so nothing it writes can fail to load. What the
// format cannot express is carried in an equivalent form and explained in
// the definition's notes (a crontab line whose two day fields are both
// restricted, which cron ORs and Temporal ANDs, becomes two definitions),
// or skipped with a message naming the file and line.
package importer

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
)

// Options control an import. Namespace is required.
type Options struct {
	// Namespace is the first part of every emitted id (namespace.slug).
	Namespace string
	// Timezone is the zone for schedules that name none (no CRON_TZ= line,
	// no zone after OnCalendar=). Empty means UTC, with a notice, because
	// cron and systemd used the host's zone, which the importer cannot know.
	Timezone string
	// MisfirePolicy is written to every definition when not empty (and not
	// the default, skip).
	MisfirePolicy string
	// System reads a crontab in the system format (/etc/crontab,
	// /etc/cron.d/*), whose sixth field is a user name. Files at those
	// paths are detected without it.
	System bool
}

// errNamespace is returned when Options.Namespace is not a valid id prefix.
var errNamespace = errors.New("invalid namespace")

var namespacePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

func (o Options) check() error {
	if o.Namespace == "" {
		return fmt.Errorf("%w: --namespace is required (the part before the dot in every id, e.g. ops)", errNamespace)
	}
	if !namespacePattern.MatchString(o.Namespace) {
		return fmt.Errorf("%w: %q: use lower-case letters, digits and '-' (dots separate parts), e.g. ops or team.backups", errNamespace, o.Namespace)
	}
	if o.Timezone != "" {
		if _, err := time.LoadLocation(o.Timezone); err != nil || o.Timezone == "Local" {
			return fmt.Errorf("--timezone %q is not an IANA time zone name (e.g. UTC, Europe/Berlin)", o.Timezone)
		}
	}
	switch o.MisfirePolicy {
	case "", definition.MisfireSkip, definition.MisfireBufferOne, definition.MisfireBufferAll,
		definition.MisfireAllowAll, definition.MisfireCancelOther, definition.MisfireTerminateOther:
	default:
		return fmt.Errorf("--misfire-policy %q is not one of skip, buffer_one, buffer_all, allow_all, cancel_other, terminate_other", o.MisfirePolicy)
	}
	return nil
}

// Definition is one imported definition: its YAML, the parsed and
// validated result, and what the operator should know about it.
type Definition struct {
	ID string
	// Source is where it came from: "crontab:12" or "backup.timer".
	Source string
	// Schedule is the cron expression and its zone, for tables.
	Schedule string
	// Command is the command on one line, for tables.
	Command string
	// Notes say what changed form or was not carried over for this
	// definition. They are also written as comments at the top of YAML.
	Notes []string
	// YAML is the file content; it passes definition.Parse.
	YAML []byte
	// Parsed is YAML read back by definition.Parse.
	Parsed *definition.Definition
}

// Problem is a message about one place in an input file.
type Problem struct {
	File    string
	Line    int // 0 when the message concerns the whole file
	Message string
}

// Error formats the problem as file:line: message.
func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return p.File + ": " + p.Message
}

// Result is everything one import produced.
type Result struct {
	Definitions []*Definition
	// Skipped are entries that were not imported, each with the reason.
	Skipped []Problem
	// Notices are settings that were not carried over or were read in a
	// particular way; they concern the file rather than one definition.
	Notices []Problem
}

func (r *Result) skip(file string, line int, format string, args ...any) {
	r.Skipped = append(r.Skipped, Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (r *Result) notice(file string, line int, format string, args ...any) {
	r.Notices = append(r.Notices, Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// kv is one environment variable, kept in file order.
type kv struct{ name, value string }

// draft is a definition before it is rendered and validated.
type draft struct {
	id          string
	description string
	origin      []string // header comment lines: where it came from

	cron     string
	timezone string
	misfire  string
	catchup  time.Duration
	jitter   time.Duration

	cmd       string
	args      []string
	workdir   string
	env       []kv
	timeout   time.Duration
	onFailure string

	source  string
	command string // one-line summary
	notes   []string
	// andIntended marks a schedule that restricts both day fields on
	// purpose (half of a split crontab line), so validate's warning about
	// Temporal ANDing them is expected and left out.
	andIntended bool
}

func (d *draft) note(format string, args ...any) {
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
}

// finish renders the draft, validates it with definition.Parse and checks
// that what was read back is what was meant.
func finish(d *draft) (*Definition, error) {
	data, err := render(d)
	if err != nil {
		return nil, err
	}
	def, err := definition.Parse(d.id+".yaml", data)
	if err != nil {
		var es definition.Errors
		if errors.As(err, &es) {
			msgs := make([]string, len(es))
			for i, e := range es {
				// Positions in the generated file mean nothing to the
				// operator; the caller names the input line.
				msgs[i] = e.Message
				if e.Field != "" {
					msgs[i] = e.Field + ": " + e.Message
				}
			}
			return nil, fmt.Errorf("the definition would not be valid: %s", strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("the definition would not be valid: %v", err)
	}
	if def.Instruction.Cmd != d.cmd || strings.Join(def.Instruction.Args, "\x00") != strings.Join(d.args, "\x00") {
		// A YAML round trip must never alter a command.
		return nil, fmt.Errorf("internal error: the command did not survive YAML encoding; please report this line")
	}
	out := &Definition{
		ID:       d.id,
		Source:   d.source,
		Schedule: d.cron + " (" + def.Trigger.Timezone + ")",
		Command:  d.command,
		Notes:    d.notes,
		Parsed:   def,
	}
	for _, w := range def.Warnings {
		var keep []string
		for _, part := range strings.Split(w.Message, "; ") {
			if d.andIntended && strings.HasPrefix(part, "day-of-month and day-of-week are both restricted") {
				continue
			}
			keep = append(keep, part)
		}
		if len(keep) > 0 {
			out.Notes = append(out.Notes, "validate warns: "+strings.Join(keep, "; "))
		}
	}
	if len(out.Notes) != len(d.notes) {
		// Re-render so the warnings are in the file's comments too.
		d2 := *d
		d2.notes = out.Notes
		if data, err = render(&d2); err != nil {
			return nil, err
		}
	}
	out.YAML = data
	return out, nil
}

// fmtDuration writes a duration the short way: 5m, 1h30m, 90s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// oneLine squeezes a command onto one line for tables and comments.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ⏎ ")), " ")
}
