package simulate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/router"
)

// maxEventLine bounds one line of an events file (the payload and its
// envelope): a test event is a message, not a data dump.
const maxEventLine = 1 << 20

// Event is one line of an events file: the envelope the router hands a run
// (engine.Event: subject, id, time, payload), plus the context fixtures for
// this event only.
type Event struct {
	File string `json:"file"`
	Line int    `json:"line"`

	Subject string          `json:"subject"`
	ID      string          `json:"id"`
	Time    time.Time       `json:"time"`
	Payload json.RawMessage `json:"payload"`
	// TimeGiven is false when the line had no time and the simulation
	// clock was used.
	TimeGiven bool `json:"-"`

	// Context overrides the fixtures for this event (keys are bind names,
	// URLs or state_hub kinds, as in a fixtures file).
	Context map[string]json.RawMessage `json:"context,omitempty"`

	payload map[string]any // decoded as the router decodes (numbers exact)
}

// Engine is the event as the engine receives it.
func (e *Event) Engine() *engine.Event {
	return &engine.Event{Subject: e.Subject, ID: e.ID, Time: e.Time, Payload: e.Payload}
}

var eventFields = []string{"subject", "id", "time", "payload", "context"}

// loadEvents reads an events file: JSON Lines, one event object per line.
// Blank lines and lines starting with # are skipped. Every bad line is
// reported (file:line: field: message) and left out; the good ones are
// returned. An event without an id gets its line number, as the router
// uses the stream sequence when a message has no Nats-Msg-Id; one without
// a time gets now.
func loadEvents(file string, now time.Time) ([]*Event, []*definition.Error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, []*definition.Error{{File: file, Message: "cannot read events file: " + pathErr(err)}}
	}
	defer f.Close()
	return readEvents(file, f, now)
}

// readEvents is loadEvents on an open reader; file names it in messages.
func readEvents(file string, r io.Reader, now time.Time) ([]*Event, []*definition.Error) {
	var events []*Event
	var errs []*definition.Error
	seen := map[string]int{}
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		text, tooLong, err := readLine(br)
		if errors.Is(err, io.EOF) && text == nil {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			errs = append(errs, &definition.Error{File: file, Line: line, Message: "cannot read: " + err.Error()})
			break
		}
		fail := func(field, format string, args ...any) {
			errs = append(errs, &definition.Error{File: file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
		}
		trimmed := bytes.TrimSpace(text)
		switch {
		case tooLong:
			fail("", "line is over the %d-byte limit for one event", maxEventLine)
			continue
		case len(trimmed) == 0 || trimmed[0] == '#':
			continue
		}
		ev, msgs := parseEvent(trimmed, now)
		for _, m := range msgs {
			fail(m.field, "%s", m.msg)
		}
		if ev == nil || len(msgs) > 0 {
			continue
		}
		ev.File, ev.Line = file, line
		if ev.ID == "" {
			ev.ID = strconv.Itoa(line)
		}
		if prev, dup := seen[ev.ID]; dup {
			fail("id", "event id %q is already used on line %d: ids must be unique (the router runs an event id once per definition)", ev.ID, prev)
			continue
		}
		seen[ev.ID] = line
		events = append(events, ev)
	}
	return events, errs
}

// readLine reads one line of any length, keeping at most maxEventLine
// bytes of it.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return line, tooLong, err
		}
		if len(line)+len(chunk) > maxEventLine {
			tooLong = true
		} else {
			line = append(line, chunk...)
		}
		if line == nil {
			line = []byte{}
		}
		if !isPrefix {
			return line, tooLong, nil
		}
	}
}

type fieldMsg struct{ field, msg string }

func parseEvent(text []byte, now time.Time) (*Event, []fieldMsg) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(text, &raw); err != nil {
		if json.Valid(text) {
			return nil, []fieldMsg{{"", "an event line must be a JSON object: {\"subject\": \"org.x.y\", \"id\": \"e1\", \"payload\": {...}}"}}
		}
		return nil, []fieldMsg{{"", "not valid JSON: " + jsonErr(err)}}
	}
	var msgs []fieldMsg
	for k := range raw {
		if !slices.Contains(eventFields, k) {
			hint := "allowed: " + strings.Join(eventFields, ", ")
			if k == "data" {
				hint = `the event's JSON object goes in "payload", as in the engine's event envelope`
			}
			msgs = append(msgs, fieldMsg{k, "unknown field: " + hint})
		}
	}
	slices.SortFunc(msgs, func(a, b fieldMsg) int { return strings.Compare(a.field, b.field) })
	ev := &Event{}
	str := func(key string, dst *string) bool {
		v, ok := raw[key]
		if !ok {
			return false
		}
		if err := json.Unmarshal(v, dst); err != nil {
			msgs = append(msgs, fieldMsg{key, "must be a string"})
			return false
		}
		return true
	}
	if !str("subject", &ev.Subject) {
		if _, ok := raw["subject"]; !ok {
			msgs = append(msgs, fieldMsg{"subject", "is required: the NATS subject the event was published on, e.g. org.repo.commit.pushed"})
		}
	} else if err := definition.ValidateSubject(ev.Subject); err != nil {
		msgs = append(msgs, fieldMsg{"subject", err.Error()})
	}
	if str("id", &ev.ID) && ev.ID == "" {
		msgs = append(msgs, fieldMsg{"id", "is empty: leave it out to use the line number"})
	}
	var ts string
	ev.Time = now
	if str("time", &ts) {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			msgs = append(msgs, fieldMsg{"time", fmt.Sprintf("%q is not an RFC 3339 time (e.g. 2026-03-29T03:00:00Z)", ts)})
		} else {
			ev.Time, ev.TimeGiven = t, true
		}
	}
	_, hasData := raw["data"]
	if p, ok := raw["payload"]; !ok {
		if !hasData {
			msgs = append(msgs, fieldMsg{"payload", "is required: the event's JSON object (use {} for none)"})
		}
	} else if m, err := router.DecodePayload(p); err != nil {
		msgs = append(msgs, fieldMsg{"payload", err.Error() + " (the router counts and drops such a message: nothing runs)"})
	} else {
		// The payload is kept as written (the bytes a publisher would
		// send); engine.PreviewRun compacts it as workflow history does
		// before a command sees it in ACTIVITY_EVENT_JSON.
		ev.payload, ev.Payload = m, p
	}
	if c, ok := raw["context"]; ok {
		if err := json.Unmarshal(c, &ev.Context); err != nil || ev.Context == nil {
			msgs = append(msgs, fieldMsg{"context", "must be an object: bind name (or URL) -> the value that context source would return"})
		}
	}
	return ev, msgs
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if e, ok := err.(*json.SyntaxError); ok {
		se = e
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	return err.Error()
}

func pathErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
