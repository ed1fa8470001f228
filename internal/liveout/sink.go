package liveout

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// SinkConfig configures the worker side.
type SinkConfig struct {
	Conn   *nats.Conn
	Logger *slog.Logger
	// Lease is how long a watch request keeps the output published
	// (LeaseDefault when 0).
	Lease time.Duration
	// ChunkMax bounds one published chunk (ChunkMaxDefault when 0).
	ChunkMax int
	// FlushWait bounds how long done waits for the last chunks to be
	// handed to NATS (time.Second when 0).
	FlushWait time.Duration
}

// Sink is the worker side: it implements the engine's OutputSink.
type Sink struct {
	cfg SinkConfig
	log *slog.Logger
}

// NewSink checks cfg and fills its defaults.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if cfg.Conn == nil {
		return nil, errors.New("liveout: SinkConfig.Conn is required")
	}
	if cfg.Lease < 0 || cfg.ChunkMax < 0 || cfg.FlushWait < 0 {
		return nil, errors.New("liveout: SinkConfig durations and sizes must not be negative")
	}
	cfg.Lease = cmp.Or(cfg.Lease, leaseDefault)
	cfg.ChunkMax = cmp.Or(cfg.ChunkMax, chunkMaxDefault)
	cfg.FlushWait = cmp.Or(cfg.FlushWait, time.Second)
	return &Sink{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default())}, nil
}

// Open starts keeping one attempt's output and answering watch requests
// for it. The writers never block and never fail: a copy into a ring,
// and a wake-up of the publisher while a viewer watches. done publishes
// what is held back and the end, waiting at most FlushWait. When NATS
// refuses the subscription the output is only dropped: live output must
// never fail a run.
func (s *Sink) Open(runID string, redact func(string) string, longest int) (stdout, stderr io.Writer, done func()) {
	o, err := s.open(runID, redact, longest)
	if err != nil {
		s.log.Warn("liveout: no live output for this attempt", "run_id", runID, "error", err)
		return io.Discard, io.Discard, func() {}
	}
	return streamWriter{o, 0}, streamWriter{o, 1}, o.finish
}

// output is one attempt's output on the worker.
type output struct {
	sink    *Sink
	attempt string
	data    string // data subject
	sub     *nats.Subscription

	mu         sync.Mutex // held by writers: keep it short
	rings      [2]ring
	leaseUntil time.Time

	pmu   sync.Mutex // the publishing side: pipes and redaction
	pipes [2]holdback
	live  bool // pipes follow the rings (a lease is on)

	wake     chan struct{}
	finished chan struct{}
	stopped  chan struct{}
	once     sync.Once
}

func (s *Sink) open(runID string, redact func(string) string, longest int) (*output, error) {
	watch, err := subject(runID, "watch")
	if err != nil {
		return nil, err
	}
	data, _ := subject(runID, "data")
	if redact == nil {
		redact = func(s string) string { return s }
	}
	// Redaction may fill a cache on first use: do that here, on the
	// caller's goroutine, before the publisher can call it.
	_ = redact("liveout")
	o := &output{
		sink: s, attempt: newAttemptID(), data: data,
		wake: make(chan struct{}, 1), finished: make(chan struct{}), stopped: make(chan struct{}),
	}
	for i := range o.rings {
		o.rings[i].max = tailSize
		o.pipes[i] = holdback{redact: redact, hold: max(longest-1, 0), pendingMax: 4 * s.cfg.ChunkMax}
	}
	if o.sub, err = s.cfg.Conn.Subscribe(watch, o.onWatch); err != nil {
		return nil, err
	}
	go o.run()
	return o, nil
}

func newAttemptID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type streamWriter struct {
	o *output
	i int
}

// Write keeps p in the ring and wakes the publisher while a lease is on.
func (w streamWriter) Write(p []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	o.rings[w.i].write(p)
	watched := !o.leaseUntil.IsZero()
	o.mu.Unlock()
	if watched {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// finish is the attempt's done: the last chunks, the end, and then no
// more watch answers. Watches are answered until the end is published: a
// viewer renewing its lease in between would otherwise find no worker,
// give the attempt up as lost and miss its last chunks.
func (o *output) finish() {
	o.once.Do(func() {
		defer func() { _ = o.sub.Unsubscribe() }()
		close(o.finished)
		t := time.NewTimer(o.sink.cfg.FlushWait)
		defer t.Stop()
		select {
		case <-o.stopped:
		case <-t.C:
			o.sink.log.Warn("liveout: the last output chunks were not handed to NATS in time", "subject", o.data)
		}
	})
}

// run publishes while leases are on, until the attempt finishes.
func (o *output) run() {
	defer close(o.stopped)
	for {
		select {
		case <-o.wake:
			o.publish(false)
		case <-o.finished:
			o.publish(true)
			return
		}
	}
}

// onWatch answers a watch request: it starts or extends the lease and,
// when asked, sends the backlog up to where live chunks continue.
func (o *output) onWatch(m *nats.Msg) {
	// Answer only on a reply inbox, as nats.go's Request makes: a reply
	// subject is the requester's choice, and one in the events stream's
	// subjects (org.>) would have the worker write output into JetStream.
	if !strings.HasPrefix(m.Reply, replyPrefix) {
		return
	}
	var req watchRequest
	_ = json.Unmarshal(m.Data, &req) // anything else is a renewal
	o.pmu.Lock()
	o.mu.Lock()
	o.leaseUntil = time.Now().Add(o.sink.cfg.Lease)
	var kept [2][]byte
	var from [2]int64
	var wrapped [2]bool
	if !o.live || req.Backlog {
		for i := range o.rings {
			kept[i], from[i] = o.rings[i].since(0)
			wrapped[i] = from[i] > 0
		}
	}
	o.mu.Unlock()
	reply := watchReply{Attempt: o.attempt, LeaseMS: o.sink.cfg.Lease.Milliseconds()}
	for i := range o.pipes {
		p := &o.pipes[i]
		var text []byte
		if !o.live {
			text = p.reset(from[i], kept[i], wrapped[i])
		} else if req.Backlog {
			text = o.backlogUpTo(i, kept[i], from[i], wrapped[i])
		}
		if req.Backlog {
			reply.Streams = append(reply.Streams, backlogPart{Stream: streamNames[i], To: p.pos, Data: text})
		}
	}
	o.live = true
	o.pmu.Unlock()
	b, _ := json.Marshal(reply)
	_ = m.Respond(b)
	select { // publish what came since
	case o.wake <- struct{}{}:
	default:
	}
}

// backlogUpTo is the redacted kept output of stream i up to where its
// pipe has published: that offset is a safe cut, so the backlog redacts
// alone the same as the chunks did.
func (o *output) backlogUpTo(i int, kept []byte, from int64, wrapped bool) []byte {
	p := &o.pipes[i]
	if p.pos <= from {
		return nil
	}
	kept = kept[:p.pos-from]
	if wrapped {
		kept = kept[min(p.hold, len(kept)):]
	}
	return []byte(p.redact(string(kept)))
}

// publish sends what the rings hold beyond the pipes, in chunks; with
// final, what is held back too and the end. It does nothing while no
// lease is on, and ends the lease when it ran out.
func (o *output) publish(final bool) {
	o.pmu.Lock()
	defer o.pmu.Unlock()
	o.mu.Lock()
	if !o.leaseUntil.IsZero() && time.Now().After(o.leaseUntil) {
		o.leaseUntil, o.live = time.Time{}, false
	}
	var raw [2][]byte
	var from [2]int64
	if o.live {
		for i := range o.rings {
			p := &o.pipes[i]
			raw[i], from[i] = o.rings[i].since(p.pos + int64(len(p.pending)))
		}
	}
	o.mu.Unlock()
	if !o.live {
		return
	}
	for i := range o.pipes {
		o.send(i, raw[i], from[i], final)
	}
	if final {
		m := nats.NewMsg(o.data)
		m.Header.Set(hdrAttempt, o.attempt)
		m.Header.Set(hdrEnd, "1")
		for i := range o.pipes {
			m.Header.Set(streamNames[i], strconv.FormatInt(o.pipes[i].pos, 10))
		}
		o.pub(m)
	}
}

// send pushes one stream's new bytes through its pipe in chunks.
func (o *output) send(i int, raw []byte, from int64, final bool) {
	p := &o.pipes[i]
	for len(raw) > 0 {
		n := min(len(raw), o.sink.cfg.ChunkMax)
		if c := p.push(from, raw[:n]); c != nil {
			o.pubChunk(i, c)
		}
		raw, from = raw[n:], from+int64(n)
	}
	if final {
		if c := p.flush(); c != nil {
			o.pubChunk(i, c)
		}
	}
}

func (o *output) pubChunk(i int, c *chunk) {
	m := nats.NewMsg(o.data)
	m.Header.Set(hdrAttempt, o.attempt)
	m.Header.Set(hdrStream, streamNames[i])
	m.Header.Set(hdrFrom, strconv.FormatInt(c.from, 10))
	m.Header.Set(hdrTo, strconv.FormatInt(c.to, 10))
	m.Data = c.text
	o.pub(m)
}

func (o *output) pub(m *nats.Msg) {
	if err := o.sink.cfg.Conn.PublishMsg(m); err != nil {
		o.sink.log.Debug("liveout: publishing output failed; viewers will see it skipped", "subject", o.data, "error", err)
	}
}
