// Package cutover compares when a legacy job (a systemd timer, a cron
// line) actually ran with when a definition fired, to prove a migration
// before the legacy job is switched off (docs/cutover.md#the-report).
//
// The legacy side comes from the journal (ParseJournal), a syslog cron
// log (ParseSyslog) or a plain list of times (ParseTimes); the definition
// side is its runs. Compare pairs them and says what disagrees.
package cutover

import (
	"fmt"
	"time"
)

// LegacyRun is one run of the legacy job.
type LegacyRun struct {
	At time.Time `json:"at"`
	// Exit is the job's exit status; nil when the source does not say
	// (syslog cron lines never do).
	Exit *int `json:"exit,omitempty"`
	// Result is systemd's word for how it ended when there is no exit
	// status ("signal", "timeout", "core-dump"), or "" when unknown.
	Result string `json:"result,omitempty"`
	// Where is the file:line the run was read from.
	Where string `json:"where,omitempty"`
}

// Outcome says how the legacy run ended, as the report prints it.
func (r LegacyRun) Outcome() string {
	switch {
	case r.Exit != nil:
		return fmt.Sprintf("exit %d", *r.Exit)
	case r.Result != "":
		return r.Result
	}
	return "exit ?"
}

// Fire is one fire of the definition: one of its runs.
type Fire struct {
	// At is the run's fire time (scheduled_at; created_at when absent).
	At     time.Time `json:"at"`
	RunID  string    `json:"run_id"`
	Status string    `json:"status"`
	// Decision is why a skipped or missed run did not execute (the
	// rule's decision, overlap, paused, …), or a failed run's error.
	Decision string `json:"decision,omitempty"`
}

// InputError is a legacy log that cannot be read as one: it names the
// file and line, and says what to do.
type InputError struct {
	Name string
	Line int
	Msg  string
}

func (e *InputError) Error() string {
	if e.Line == 0 {
		return e.Name + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
}

func inputError(name string, line int, format string, args ...any) error {
	return &InputError{Name: name, Line: line, Msg: fmt.Sprintf(format, args...)}
}
