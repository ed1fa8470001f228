package liveout

// holdback passes one stream's bytes through the run's redaction without
// ever publishing part of a secret: it keeps back the last hold bytes
// (the longest redacted text less one) until more output or the end shows
// whether they start a secret, and it cuts only where no secret straddles
// the cut (docs/run-control.md#live-output).
type holdback struct {
	redact func(string) string
	hold   int
	// pending are raw bytes not yet published; pos is the stream offset
	// of pending[0] (everything before it was published or skipped).
	pending []byte
	pos     int64
	// guard counts bytes still to drop after a gap: the tail of a secret
	// whose start fell into the gap must not be published either.
	guard int
	// pendingMax bounds pending when no safe cut is found (output made of
	// overlapping secrets): past it, everything is redacted and published
	// as one piece, best effort.
	pendingMax int
}

// chunk is redacted output standing for the raw stream bytes [from, to).
type chunk struct {
	from, to int64
	text     []byte
}

// reset restarts the pipeline at offset pos with raw bytes kept there
// (what a ring holds): it finds a safe cut in them and returns the
// redacted text before it, which stands for the bytes [pos, h.pos).
func (h *holdback) reset(pos int64, kept []byte, wrapped bool) []byte {
	h.pending, h.pos, h.guard = nil, pos, 0
	if wrapped {
		// The oldest kept byte may be inside a secret that began before
		// it: drop as much as the longest secret could leave.
		n := min(h.hold, len(kept))
		kept, h.pos = kept[n:], pos+int64(n)
	}
	cut, text := safeCut(kept, h.hold, h.redact)
	h.pending = append(h.pending, kept[cut:]...)
	h.pos += int64(cut)
	return text
}

// push feeds raw bytes that start at stream offset from and returns what
// may be published now (nil when nothing may be).
func (h *holdback) push(from int64, raw []byte) *chunk {
	if end := h.pos + int64(len(h.pending)); from > end {
		// A gap: the bytes before it will never be seen whole.
		h.pending, h.pos, h.guard = h.pending[:0], from, h.hold
	} else if from < end { // already had these
		if skip := end - from; skip < int64(len(raw)) {
			raw = raw[skip:]
		} else {
			return nil
		}
	}
	if h.guard > 0 {
		n := min(h.guard, len(raw))
		h.guard -= n
		raw = raw[n:]
		h.pos += int64(n)
	}
	if len(raw) == 0 {
		return nil
	}
	s := append(h.pending, raw...)
	cut, text := safeCut(s, h.hold, h.redact)
	if cut == 0 && len(s) > h.pendingMax {
		cut, text = len(s), []byte(h.redact(string(s)))
	}
	c := &chunk{from: h.pos, to: h.pos + int64(cut), text: text}
	h.pending = append(s[:0:0], s[cut:]...)
	h.pos += int64(cut)
	if cut == 0 {
		return nil
	}
	return c
}

// flush publishes what is held back: the stream ended, so no secret can
// continue past it.
func (h *holdback) flush() *chunk {
	if len(h.pending) == 0 {
		return nil
	}
	c := &chunk{from: h.pos, to: h.pos + int64(len(h.pending)), text: []byte(h.redact(string(h.pending)))}
	h.pos, h.pending = c.to, nil
	return c
}

// safeCut finds where s may be cut: at most len(s)-hold, and where no
// secret straddles the cut. Any secret that straddles such a cut lies
// wholly inside s (it is at most hold+1 long), so redacting s whole and
// in two pieces gives the same text exactly when none does. It returns
// the cut and the redacted text before it; 0 when no cut is safe yet.
func safeCut(s []byte, hold int, redact func(string) string) (int, []byte) {
	c := len(s) - hold
	if c <= 0 {
		return 0, nil
	}
	full := redact(string(s))
	if full == string(s) { // no secret in s: every cut is safe
		return c, s[:c:c]
	}
	for lo := max(c-hold-1, 1); c >= lo; c-- {
		left := redact(string(s[:c]))
		if left+redact(string(s[c:])) == full {
			return c, []byte(left)
		}
	}
	return 0, nil
}
