package cutover

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// systemd's catalog message IDs of a unit's life (systemd.catalog).
const (
	msgUnitStarting    = "7d4958e842da4a758f6c1cdc7b36dcc5" // a start job began: "Starting X..."
	msgUnitStarted     = "39f53479d3a045ac8e11786248231fbf" // it finished: "Started X." / "Finished X."
	msgUnitProcessExit = "98e322203f7a4ed290d09fe03c09fe15" // "Main process exited, code=exited, status=1/FAILURE"
	msgUnitFailure     = "d9b373ed55a64feb8242e02dbe79a49c" // "Failed with result 'exit-code'."
	msgUnitSuccess     = "7ad2d189f7e94e70a38c781354912448" // "Deactivated successfully."
)

// unitName is what a systemd unit name may hold (systemd.unit(5)); it
// cannot start with "-", so it is never read as an option.
var unitName = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]{1,255}$`)

// ValidUnit checks a unit name given on the command line.
func ValidUnit(unit string) error {
	if !unitName.MatchString(unit) || strings.HasPrefix(unit, "-") || strings.HasPrefix(unit, ".") {
		return fmt.Errorf("unit %q is not a systemd unit name (letters, digits, : _ . \\ @ -; e.g. custodian-sync.service)", unit)
	}
	return nil
}

// fullUnit adds ".service" to a unit named without a type, as systemctl
// and journalctl do.
func fullUnit(unit string) string {
	if i := strings.LastIndexByte(unit, '.'); i > 0 && !strings.Contains(unit[i:], "@") {
		return unit
	}
	return unit + ".service"
}

// JournalArgs is the journalctl argv reading a unit's entries since a
// time; user reads a user manager's unit (systemctl --user).
func JournalArgs(unit string, user bool, since time.Time) []string {
	flag := "--unit="
	if user {
		flag = "--user-unit="
	}
	return []string{"journalctl", "-o", "json", "--no-pager", "--since=@" + strconv.FormatInt(since.Unix(), 10), flag + unit}
}

// journalMax bounds what is read from journalctl.
const journalMax = 512 << 20

// ReadJournal runs journalctl (argv, no shell) and returns its output.
func ReadJournal(ctx context.Context, args []string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout = &limitedBuffer{buf: &out, max: journalMax}
	cmd.Stderr = &limitedBuffer{buf: &errb, max: 64 << 10}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("journalctl not found: run the report on the legacy host, or save `%s` there and pass --journal-file", strings.Join(args, " "))
		}
		return nil, fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// limitedBuffer keeps the first max bytes and fails the write after.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, fmt.Errorf("more than %d bytes of output: narrow --since", l.max)
	}
	return l.buf.Write(p)
}

// journalEntry is the part of a `journalctl -o json` entry the report
// reads; a field that is not a string (binary data, repeated fields) is
// left empty.
type journalEntry struct {
	Realtime   string
	Unit       string
	MessageID  string
	Message    string
	JobType    string
	JobResult  string
	ExitCode   string
	ExitStatus string
	UnitResult string
}

func decodeEntry(line []byte) (journalEntry, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return journalEntry{}, err
	}
	str := func(k string) string {
		var s string
		if json.Unmarshal(raw[k], &s) != nil {
			return ""
		}
		return s
	}
	return journalEntry{
		Realtime: str("__REALTIME_TIMESTAMP"), Unit: cmp.Or(str("UNIT"), str("USER_UNIT")),
		MessageID: str("MESSAGE_ID"), Message: str("MESSAGE"),
		JobType: str("JOB_TYPE"), JobResult: str("JOB_RESULT"),
		ExitCode: str("EXIT_CODE"), ExitStatus: str("EXIT_STATUS"), UnitResult: str("UNIT_RESULT"),
	}, nil
}

// ParseJournal reads `journalctl -o json` output (one entry a line) and
// returns a run per start of unit: systemd's "Starting X..." (or
// "Started X." when no start was logged), with its exit status from
// "Main process exited, code=exited, status=N/…", "Failed with result
// '…'" or "Deactivated successfully". Entries of other units and the
// job's own output are skipped. name is used in errors.
func ParseJournal(r io.Reader, name, unit string) ([]LegacyRun, error) {
	want := fullUnit(unit)
	var runs []LegacyRun
	var cur *journalRun
	push := func() {
		if cur != nil {
			runs = append(runs, cur.LegacyRun)
			cur = nil
		}
	}
	err := scanLines(r, name, func(n int, line string) error {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "-- ") {
			return nil
		}
		e, err := decodeEntry([]byte(line))
		if err != nil {
			return inputError(name, n, "not a JSON journal entry (%v): give `journalctl -o json` output", err)
		}
		if e.Unit != want && e.Unit != unit {
			return nil
		}
		us, err := strconv.ParseInt(e.Realtime, 10, 64)
		if err != nil {
			return inputError(name, n, "__REALTIME_TIMESTAMP %q is not microseconds since 1970: give `journalctl -o json` output", e.Realtime)
		}
		at := time.UnixMicro(us).UTC()
		switch kind := e.kind(); {
		case kind == kindStarting, kind == kindStarted && (cur == nil || cur.started):
			push()
			if len(runs) == runsMax {
				return inputError(name, n, "more than %d runs: narrow --since", runsMax)
			}
			cur = &journalRun{LegacyRun: LegacyRun{At: at, Where: name + ":" + strconv.Itoa(n)}}
			cur.started = kind == kindStarted
		case kind == kindStarted:
			cur.started = true
		case cur != nil && kind != kindOther:
			cur.end(e, kind)
		}
		return nil
	})
	push()
	return runs, err
}

// journalRun is a run being read: started says "Started" was seen, so a
// second one is a new run.
type journalRun struct {
	LegacyRun
	started bool
}

// end records how the run ended, first word wins: the exit status
// outranks the unit's result, which outranks a later success message.
func (r *journalRun) end(e journalEntry, kind entryKind) {
	if r.Exit != nil || r.Result != "" {
		return
	}
	switch kind {
	case kindExit:
		code, status := e.ExitCode, e.ExitStatus
		if code == "" {
			if m := exitMessage.FindStringSubmatch(e.Message); m != nil {
				code, status = m[1], m[2]
			}
		}
		if n, err := strconv.Atoi(status); err == nil && code == "exited" {
			r.Exit = &n
			return
		}
		r.Result = strings.TrimSpace(code + " " + status)
	case kindFailure:
		r.Result = "failed: " + cmp.Or(e.UnitResult, e.JobResult, "unknown")
	case kindSuccess:
		zero := 0
		r.Exit = &zero
	}
}

var exitMessage = regexp.MustCompile(`Main process exited, code=(\w+), status=(\w+)`)

type entryKind int

const (
	kindOther entryKind = iota
	kindStarting
	kindStarted
	kindExit
	kindFailure
	kindSuccess
)

// kind classifies a systemd message about the unit by MESSAGE_ID, or by
// its text when the ID is absent (a log forwarded without fields).
func (e journalEntry) kind() entryKind {
	switch e.MessageID {
	case msgUnitStarting:
		if e.JobType == "" || e.JobType == "start" {
			return kindStarting
		}
		return kindOther
	case msgUnitStarted:
		if e.JobType == "" || e.JobType == "start" {
			return kindStarted
		}
		return kindOther
	case msgUnitProcessExit:
		return kindExit
	case msgUnitFailure:
		return kindFailure
	case msgUnitSuccess:
		return kindSuccess
	case "":
		return e.kindByMessage()
	}
	return kindOther
}

func (e journalEntry) kindByMessage() entryKind {
	m := e.Message
	switch {
	case strings.HasPrefix(m, "Starting "):
		return kindStarting
	case strings.HasPrefix(m, "Started "), strings.HasPrefix(m, "Finished "):
		return kindStarted
	case strings.Contains(m, "Main process exited, code="):
		return kindExit
	case strings.Contains(m, "Failed with result '"):
		return kindFailure
	case strings.Contains(m, "Deactivated successfully"), strings.Contains(m, "Succeeded."):
		return kindSuccess
	}
	return kindOther
}
