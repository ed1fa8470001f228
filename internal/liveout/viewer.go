package liveout

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ViewerConfig configures the api side.
type ViewerConfig struct {
	Conn   *nats.Conn
	Logger *slog.Logger
	// Max bounds the watches open at once in this process
	// (ViewersMaxDefault when 0).
	Max int
	// Buffer bounds the bytes one watch holds unread (ViewerBufferDefault
	// when 0).
	Buffer int
	// AskTimeout bounds the wait for a worker's answer (AskTimeoutDefault
	// when 0).
	AskTimeout time.Duration
}

// Viewer follows runs' live output for the api.
type viewer struct {
	cfg   ViewerConfig
	log   *slog.Logger
	slots chan struct{}
}

// ErrNoWorker says no worker answered a watch request: the run's command
// has not started, has ended, or its worker is gone.
var ErrNoWorker = errors.New("no worker is streaming this run's output")

// ErrLost says a watch stopped getting answers from its worker, or
// another attempt answered: watch again.
var errLost = errors.New("the worker stopped answering this watch")

// NewViewer checks cfg and fills its defaults.
func NewViewer(cfg ViewerConfig) (*viewer, error) {
	if cfg.Conn == nil {
		return nil, errors.New("liveout: ViewerConfig.Conn is required")
	}
	if cfg.Max < 0 || cfg.Buffer < 0 || cfg.AskTimeout < 0 {
		return nil, errors.New("liveout: ViewerConfig sizes and durations must not be negative")
	}
	cfg.Max = cmp.Or(cfg.Max, ViewersMaxDefault)
	cfg.Buffer = cmp.Or(cfg.Buffer, viewerBufferDefault)
	cfg.AskTimeout = cmp.Or(cfg.AskTimeout, askTimeoutDefault)
	return &viewer{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), slots: make(chan struct{}, cfg.Max)}, nil
}

// Max is how many watches this process serves at once.
func (v *viewer) Max() int { return v.cfg.Max }

// Acquire takes one of the process's viewer slots for a whole stream;
// ok is false when all are taken.
func (v *viewer) Acquire() (release func(), ok bool) {
	select {
	case v.slots <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-v.slots }) }, true
	default:
		return nil, false
	}
}

// EventKind says what an Event is.
type EventKind int

// The event kinds.
const (
	// EventOutput carries Data, redacted output of Stream.
	EventOutput EventKind = iota + 1
	// EventSkipped says Bytes of Stream were not delivered (the viewer
	// fell behind, or the worker could not publish them).
	EventSkipped
	// EventEnd says the attempt's command ended; the run may still retry.
	EventEnd
)

// Event is one step of a watch.
type Event struct {
	Kind   EventKind
	Stream string
	Data   []byte
	Bytes  int64
}

// Watch follows one attempt of one run. Not safe for concurrent use
// except Close.
type Watch struct {
	v       *viewer
	watch   string
	attempt string
	sub     *nats.Subscription
	next    [2]int64 // the offset each stream continues at
	backlog []Event

	mu     sync.Mutex
	queue  []*nats.Msg
	queued int
	lost   bool
	signal chan struct{}
	stop   chan struct{}
	once   sync.Once
}

// Watch subscribes to the run's chunks, asks its worker for a lease and
// the backlog, and keeps renewing the lease until Close. It returns
// ErrNoWorker when no worker answers within AskTimeout. With prev, a
// watch of the same run that was lost, it continues after what prev gave
// when the same attempt answers: instead of the backlog again, what
// passed meanwhile is reported skipped.
func (v *viewer) Watch(ctx context.Context, runID string, prev *Watch) (*Watch, error) {
	watch, err := subject(runID, "watch")
	if err != nil {
		return nil, err
	}
	data, _ := subject(runID, "data")
	w := &Watch{v: v, watch: watch, signal: make(chan struct{}, 1), stop: make(chan struct{})}
	// Subscribe before asking, so no chunk published after the answer
	// is missed; earlier ones are told apart by their offsets.
	if w.sub, err = v.cfg.Conn.Subscribe(data, w.onData); err != nil {
		return nil, fmt.Errorf("liveout: subscribing to %s: %w", data, err)
	}
	// The client's own queue before onData: onData is quick and drops
	// beyond Buffer itself, so this only bounds a stalled callback.
	_ = w.sub.SetPendingLimits(-1, 4*v.cfg.Buffer)
	reply, err := w.ask(ctx, true)
	if err != nil {
		_ = w.sub.Unsubscribe()
		return nil, err
	}
	w.attempt = reply.Attempt
	resume := prev != nil && prev.attempt == reply.Attempt
	for _, part := range reply.Streams {
		i := streamIndex(part.Stream)
		if i < 0 {
			continue
		}
		w.next[i] = part.To
		if resume {
			if part.To > prev.next[i] {
				w.backlog = append(w.backlog, Event{Kind: EventSkipped, Stream: part.Stream, Bytes: part.To - prev.next[i]})
			}
		} else if len(part.Data) > 0 {
			w.backlog = append(w.backlog, Event{Kind: EventOutput, Stream: part.Stream, Data: part.Data})
		}
	}
	go w.renew(time.Duration(max(reply.LeaseMS, 300)) * time.Millisecond / 3)
	return w, nil
}

func streamIndex(name string) int {
	for i, n := range streamNames {
		if n == name {
			return i
		}
	}
	return -1
}

// ask sends one watch request.
func (w *Watch) ask(ctx context.Context, backlog bool) (*watchReply, error) {
	body, _ := json.Marshal(watchRequest{Backlog: backlog})
	actx, cancel := context.WithTimeout(ctx, w.v.cfg.AskTimeout)
	defer cancel()
	m, err := w.v.cfg.Conn.RequestWithContext(actx, w.watch, body)
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, ErrNoWorker
	}
	if err != nil {
		return nil, fmt.Errorf("liveout: asking for a watch: %w", err)
	}
	var reply watchReply
	if err := json.Unmarshal(m.Data, &reply); err != nil || reply.Attempt == "" {
		return nil, fmt.Errorf("liveout: a worker answered the watch request with %q", clip(m.Data))
	}
	return &reply, nil
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// renew keeps the lease on; it marks the watch lost when the worker stops
// answering or another attempt answers.
func (w *Watch) renew(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		reply, err := w.ask(context.Background(), false)
		if err != nil || reply.Attempt != w.attempt {
			w.drain()
			w.mu.Lock()
			w.lost = true
			w.mu.Unlock()
			w.notify()
			return
		}
	}
}

// drainWaitMax bounds how long a lost watch waits for the chunks already
// delivered to it to be queued.
const drainWaitMax = 2 * time.Second

// drain hands every chunk the server already delivered to onData before
// the watch is marked lost. nats.go runs the data subscription's callback
// on a goroutine of its own, so a worker's last chunks and its end can
// still be on their way to the queue when the renewal learns that the
// worker has gone: without this, a reader could see the loss first and
// miss the run's last output.
func (w *Watch) drain() {
	closed := w.sub.StatusChanged(nats.SubscriptionClosed)
	if w.sub.Drain() != nil {
		return
	}
	t := time.NewTimer(drainWaitMax)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
	case <-w.stop:
	}
}

// onData queues a chunk; beyond the buffer it drops it (the offsets of
// the next one tell the reader how much was skipped). The end is always
// queued.
func (w *Watch) onData(m *nats.Msg) {
	w.mu.Lock()
	if m.Header.Get(hdrEnd) == "" && w.queued+len(m.Data) > w.v.cfg.Buffer {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, m)
	w.queued += len(m.Data)
	w.mu.Unlock()
	w.notify()
}

func (w *Watch) notify() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Next returns the next event: the backlog first, then live chunks in
// order. It returns ErrLost when the worker stopped answering, and ctx's
// error when ctx ends first.
func (w *Watch) Next(ctx context.Context) (Event, error) {
	if len(w.backlog) > 0 {
		ev := w.backlog[0]
		w.backlog = w.backlog[1:]
		return ev, nil
	}
	for {
		w.mu.Lock()
		var m *nats.Msg
		if len(w.queue) > 0 {
			m = w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.queued -= len(m.Data)
		}
		lost := w.lost
		w.mu.Unlock()
		if m != nil {
			if ev, ok := w.event(m); ok {
				return ev, nil
			}
			continue
		}
		if lost {
			return Event{}, errLost
		}
		select {
		case <-w.signal:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// event turns a data message into an event, dropping what the backlog or
// an earlier chunk already gave and chunks of other attempts. A chunk
// past the expected offset first yields the skip; the chunk itself is
// put back to be read next.
func (w *Watch) event(m *nats.Msg) (Event, bool) {
	if m.Header.Get(hdrAttempt) != w.attempt {
		return Event{}, false
	}
	if m.Header.Get(hdrEnd) != "" {
		// The end says where each stream stopped: what did not arrive
		// (dropped at the tail) is reported before the end.
		for i, name := range streamNames {
			if last, err := strconv.ParseInt(m.Header.Get(name), 10, 64); err == nil && last > w.next[i] {
				skipped := last - w.next[i]
				w.next[i] = last
				w.requeue(m)
				return Event{Kind: EventSkipped, Stream: name, Bytes: skipped}, true
			}
		}
		return Event{Kind: EventEnd}, true
	}
	i := streamIndex(m.Header.Get(hdrStream))
	from, err1 := strconv.ParseInt(m.Header.Get(hdrFrom), 10, 64)
	to, err2 := strconv.ParseInt(m.Header.Get(hdrTo), 10, 64)
	if i < 0 || err1 != nil || err2 != nil || to <= w.next[i] {
		return Event{}, false
	}
	if from > w.next[i] {
		skipped := from - w.next[i]
		w.next[i] = from
		w.requeue(m)
		return Event{Kind: EventSkipped, Stream: streamNames[i], Bytes: skipped}, true
	}
	if from < w.next[i] { // overlaps what was given: cannot split redacted text
		return Event{}, false
	}
	w.next[i] = to
	return Event{Kind: EventOutput, Stream: streamNames[i], Data: m.Data}, true
}

// requeue puts m back to be read next.
func (w *Watch) requeue(m *nats.Msg) {
	w.mu.Lock()
	w.queue = append([]*nats.Msg{m}, w.queue...)
	w.queued += len(m.Data)
	w.mu.Unlock()
}

// Close stops renewing and unsubscribes; the worker stops publishing when
// the lease runs out, unless another viewer renews it.
func (w *Watch) Close() {
	w.once.Do(func() {
		close(w.stop)
		_ = w.sub.Unsubscribe()
	})
}
