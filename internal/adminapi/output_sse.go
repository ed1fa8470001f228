package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/coulomb/activity-core/internal/liveout"
	"github.com/coulomb/activity-core/internal/store"
)

// sseWriteTimeout bounds one event's write: the server's WriteTimeout
// would end a long stream, so each write sets its own deadline.
const sseWriteTimeout = time.Minute

// sseWriter writes server-sent events (docs/run-control.md#live-output):
// `output` {stream, text}, `skipped` {stream, bytes}, `end` {status}, and
// comment lines to keep the connection open.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// carry is the start of a UTF-8 sequence a chunk cut, per stream: the
	// text of an event is whole characters.
	carry map[string][]byte
	// sent says output was written: the stored tails then would repeat it.
	sent bool
	last time.Time
}

func startSSE(w http.ResponseWriter) (*sseWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	e := &sseWriter{w: w, rc: http.NewResponseController(w), carry: map[string][]byte{}}
	// The server's read deadline would end a long stream (and cancel its
	// context) once passed: the request was read, so clear it.
	_ = e.rc.SetReadDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	if err := e.flush(); err != nil {
		return nil, fmt.Errorf("adminapi: this connection cannot stream: %w", err)
	}
	return e, nil
}

func (e *sseWriter) flush() error {
	e.last = time.Now()
	return e.rc.Flush()
}

func (e *sseWriter) event(name string, v any) error {
	_ = e.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return e.flush()
}

func (e *sseWriter) comment() error {
	_ = e.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprint(e.w, ": keepalive\n\n"); err != nil {
		return err
	}
	return e.flush()
}

// pause waits d, writing a comment when the stream was silent for
// sseKeepalive; false when the client went away.
func (e *sseWriter) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	if time.Since(e.last) >= sseKeepalive {
		return e.comment() == nil
	}
	return true
}

type outputEvent struct {
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// output writes data as text, holding back a UTF-8 sequence cut at its
// end until the next chunk of the stream; invalid bytes become U+FFFD.
func (e *sseWriter) output(stream string, data []byte) error {
	b := append(e.carry[stream], data...)
	n := wholeRunes(b)
	e.carry[stream] = append([]byte(nil), b[n:]...)
	if n == 0 {
		return nil
	}
	e.sent = true
	return e.event("output", outputEvent{Stream: stream, Text: string(b[:n])})
}

// wholeRunes is the length of b without a trailing cut UTF-8 sequence.
func wholeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

func (e *sseWriter) skipped(stream string, n int64) error {
	if c := e.carry[stream]; len(c) > 0 {
		n += int64(len(c))
		e.carry[stream] = nil
	}
	return e.event("skipped", map[string]any{"stream": stream, "bytes": n})
}

// endAttempt writes what a stream held back: its attempt ended.
func (e *sseWriter) endAttempt() error {
	for _, stream := range []string{liveout.Stdout, liveout.Stderr} {
		if c := e.carry[stream]; len(c) > 0 {
			e.carry[stream] = nil
			if err := e.event("output", outputEvent{Stream: stream, Text: string(c)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// finished ends the stream of a finished run: its stored tails, unless
// live output was already written, then the end.
func (e *sseWriter) finished(run store.Run) error {
	if err := e.endAttempt(); err != nil {
		return err
	}
	if !e.sent {
		for _, part := range []struct{ stream, text string }{{liveout.Stdout, run.Stdout}, {liveout.Stderr, run.Stderr}} {
			if part.text == "" {
				continue
			}
			if err := e.event("output", outputEvent{Stream: part.stream, Text: part.text}); err != nil {
				return err
			}
		}
	}
	return e.event("end", map[string]string{"status": string(run.Status)})
}
