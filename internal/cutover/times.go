package cutover

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// lineMax is the longest line a legacy log may hold: a journal entry with
// a long message fits, a runaway binary file does not.
const lineMax = 1 << 20

// runsMax bounds the runs read from one legacy log: a job every minute
// for a year is half of it.
const runsMax = 1_000_000

// scanLines calls fn with each line of r and its number, stopping at the
// first error; a line longer than lineMax is an error naming it.
func scanLines(r io.Reader, name string, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), lineMax)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, sc.Text()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return inputError(name, n+1, "line longer than %d bytes: is this the right file?", lineMax)
		}
		return inputError(name, 0, "reading: %v", err)
	}
	return nil
}

// ParseTimes reads a plain list of run times: one RFC 3339 time per line,
// optionally followed by a space and the exit status; blank lines and
// lines starting with # are ignored. name is used in errors.
func ParseTimes(r io.Reader, name string) ([]LegacyRun, error) {
	var runs []LegacyRun
	err := scanLines(r, name, func(n int, line string) error {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			return nil
		}
		fields := strings.Fields(line)
		if len(fields) > 2 {
			return inputError(name, n, "%q: want a time and at most an exit status (2026-12-01T03:00:00Z 0)", line)
		}
		at, err := time.Parse(time.RFC3339Nano, fields[0])
		if err != nil {
			return inputError(name, n, "%q is not an RFC 3339 time with a zone (2026-12-01T03:00:00Z or 2026-12-01T04:00:00+01:00)", fields[0])
		}
		run := LegacyRun{At: at.UTC(), Where: name + ":" + strconv.Itoa(n)}
		if len(fields) == 2 {
			code, err := strconv.Atoi(fields[1])
			if err != nil || code < 0 || code > 255 {
				return inputError(name, n, "exit status %q is not a number from 0 to 255", fields[1])
			}
			run.Exit = &code
		}
		if len(runs) == runsMax {
			return inputError(name, n, "more than %d runs: cut the list to the weeks to compare", runsMax)
		}
		runs = append(runs, run)
		return nil
	})
	return runs, err
}
