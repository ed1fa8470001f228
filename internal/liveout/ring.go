package liveout

// ring keeps the last max bytes written to it and counts every byte, so a
// byte's offset in the stream names it whether or not it is still kept.
// It grows to max as output comes, so a run that prints little costs
// little. Not safe for concurrent use.
type ring struct {
	buf   []byte
	total int64
	max   int
}

func (r *ring) write(p []byte) {
	for len(p) > 0 {
		if len(r.buf) < r.max { // still growing: index == offset
			n := min(len(p), r.max-len(r.buf))
			r.buf = append(r.buf, p[:n]...)
			r.total += int64(n)
			p = p[n:]
			continue
		}
		if len(p) > r.max {
			r.total += int64(len(p) - r.max)
			p = p[len(p)-r.max:]
		}
		n := copy(r.buf[r.total%int64(r.max):], p)
		r.total += int64(n)
		p = p[n:]
	}
}

// start is the offset of the oldest kept byte.
func (r *ring) start() int64 { return r.total - int64(len(r.buf)) }

// since copies the kept bytes from offset from (or the oldest kept, when
// from fell out) to the end, and says where the copy starts.
func (r *ring) since(from int64) ([]byte, int64) {
	from = max(from, r.start())
	if from >= r.total {
		return nil, r.total
	}
	out := make([]byte, 0, r.total-from)
	for off := from; off < r.total; {
		i := int(off % int64(r.max))
		n := min(int64(len(r.buf)-i), r.total-off)
		out = append(out, r.buf[i:i+int(n)]...)
		off += n
	}
	return out, from
}
