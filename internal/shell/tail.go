package shell

import (
	"cmp"
	"sync"
	"unicode/utf8"
)

// TailSize is how much of the end of stdout and of stderr a run keeps
// (docs/definitions.md#what-a-run-leaves-behind): enough to see why a command failed, small enough to store with
// every run.
const TailSize = 64 << 10

// Tail is an io.Writer that keeps only the last Max bytes written to it in
// a fixed ring, so a command that writes a gibibyte costs the same memory as
// one that writes a line. It is safe for concurrent use.
type Tail struct {
	mu    sync.Mutex
	buf   []byte
	start int   // index of the oldest byte when full
	full  bool  // the ring has wrapped
	total int64 // bytes ever written
	max   int
}

// NewTail returns a Tail keeping the last n bytes (TailSize when n <= 0).
func NewTail(n int) *Tail {
	n = cmp.Or(max(n, 0), TailSize)
	return &Tail{max: n, buf: make([]byte, 0, min(n, 4096))}
}

// Write keeps the end of p; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	t.total += int64(n)
	if len(p) >= t.max {
		// Only the last max bytes of p survive.
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		t.start, t.full = 0, true
		return n, nil
	}
	if !t.full {
		if len(t.buf)+len(p) <= t.max {
			t.buf = append(t.buf, p...)
			if len(t.buf) == t.max {
				t.full = true
			}
			return n, nil
		}
		// Fill up to max, then wrap.
		room := t.max - len(t.buf)
		t.buf = append(t.buf, p[:room]...)
		p = p[room:]
		t.full, t.start = true, 0
	}
	for len(p) > 0 {
		c := copy(t.buf[t.start:], p)
		p = p[c:]
		t.start = (t.start + c) % t.max
	}
	return n, nil
}

// Bytes returns the kept bytes, oldest first. When the tail was cut, the
// cut may fall inside a UTF-8 sequence; the partial rune at the start is
// dropped so the result is valid text if the output was.
func (t *Tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]byte, 0, len(t.buf))
	if t.full {
		out = append(out, t.buf[t.start:]...)
		out = append(out, t.buf[:t.start]...)
	} else {
		out = append(out, t.buf...)
	}
	if t.total > int64(len(out)) {
		for i := 0; i < len(out) && i < utf8.UTFMax; i++ {
			if utf8.RuneStart(out[i]) {
				return out[i:]
			}
		}
	}
	return out
}

// String returns Bytes as a string.
func (t *Tail) String() string { return string(t.Bytes()) }

// Total is the number of bytes ever written, kept or not.
func (t *Tail) Total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// Truncated reports whether earlier output was dropped.
func (t *Tail) Truncated() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total > int64(len(t.buf))
}
