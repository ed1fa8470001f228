package liveout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// natsConn connects to the machine's NATS (ACTIVITY_TEST_NATS_URL).
func natsConn(t *testing.T) *nats.Conn {
	t.Helper()
	u := os.Getenv("ACTIVITY_TEST_NATS_URL")
	if u == "" {
		t.Skip("ACTIVITY_TEST_NATS_URL is not set; set it to a NATS server (e.g. nats://127.0.0.1:4222) to run the live-output tests")
	}
	nc, err := nats.Connect(u, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connecting to ACTIVITY_TEST_NATS_URL: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

var runSeq atomic.Int64

func newRunID() string {
	return fmt.Sprintf("test-%d-%d", time.Now().UnixNano(), runSeq.Add(1))
}

func newSink(t *testing.T, nc *nats.Conn, cfg SinkConfig) *Sink {
	t.Helper()
	cfg.Conn = nc
	s, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newViewer(t *testing.T, nc *nats.Conn, cfg ViewerConfig) *viewer {
	t.Helper()
	cfg.Conn = nc
	v, err := NewViewer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// watch watches runID, asking again while the sink's subscription is not
// yet known to the server (Open does not wait for it).
func watch(t *testing.T, v *viewer, runID string) *Watch {
	t.Helper()
	var w *Watch
	testsupport.Eventually(t, 10*time.Second, "a worker answers the watch of "+runID, func() (err error) {
		w, err = v.Watch(context.Background(), runID, nil)
		return err
	})
	t.Cleanup(w.Close)
	return w
}

// seen is what a viewer got, per stream, until the end.
type seen struct {
	out     map[string]string
	skipped map[string]int64
}

// readToEnd reads w's events until the attempt's end.
func readToEnd(t *testing.T, w *Watch) seen {
	t.Helper()
	s := seen{out: map[string]string{}, skipped: map[string]int64{}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("reading the watch: %v (got so far %v)", err, s)
		}
		switch ev.Kind {
		case EventOutput:
			s.out[ev.Stream] += string(ev.Data)
		case EventSkipped:
			s.skipped[ev.Stream] += ev.Bytes
		case EventEnd:
			return s
		}
	}
}

// mustWrite writes s to a command's output stream, failing the test on an
// error.
func mustWrite(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %04d\n", i)
	}
	return b.String()
}

// TestViewersGetBacklogThenLive: one viewer from the start, one that comes
// late; both see every line once, in order, on the right stream.
func TestViewersGetBacklogThenLive(t *testing.T) {
	t.Parallel()
	nc, vc := natsConn(t), natsConn(t)
	sink, v := newSink(t, nc, SinkConfig{}), newViewer(t, vc, ViewerConfig{})
	runID := newRunID()
	stdout, stderr, done := sink.Open(runID, nil, 0)
	early := watch(t, v, runID)
	for i := range 100 {
		mustWrite(t, stdout, lines(i, i+1))
	}
	mustWrite(t, stderr, "warning one\n")
	late := watch(t, v, runID)
	for i := 100; i < 200; i++ {
		mustWrite(t, stdout, lines(i, i+1))
	}
	mustWrite(t, stderr, "warning two\n")
	done()
	for name, w := range map[string]*Watch{"early": early, "late": late} {
		got := readToEnd(t, w)
		if got.out[Stdout] != lines(0, 200) {
			t.Errorf("%s viewer's stdout:\n%s\nwant lines 0 to 199 once each", name, got.out[Stdout])
		}
		if got.out[Stderr] != "warning one\nwarning two\n" {
			t.Errorf("%s viewer's stderr = %q", name, got.out[Stderr])
		}
		if len(got.skipped) > 0 {
			t.Errorf("%s viewer skipped %v", name, got.skipped)
		}
	}
}

// TestLateViewerOfLongOutputGetsLast64KiB: a viewer arriving after more
// than the kept tail gets the last 64 KiB (less what a cut secret could
// leave), then everything after, without a repeat.
func TestLateViewerOfLongOutputGetsLast64KiB(t *testing.T) {
	t.Parallel()
	nc := natsConn(t)
	sink, v := newSink(t, nc, SinkConfig{}), newViewer(t, nc, ViewerConfig{})
	runID := newRunID()
	stdout, _, done := sink.Open(runID, nil, 0)
	mustWrite(t, stdout, lines(0, 20000))
	w := watch(t, v, runID)
	mustWrite(t, stdout, lines(20000, 20010))
	done()
	got := readToEnd(t, w).out[Stdout]
	all := lines(0, 20010)
	if want := all[len(all)-len(got):]; got != want || len(got) < tailSize {
		t.Fatalf("late viewer got %d bytes ending %q; want the last %d bytes or more", len(got), got[max(len(got)-30, 0):], tailSize)
	}
}

// TestSlowViewerIsToldWhatItSkipped: a viewer that does not read while a
// lot is printed loses chunks beyond its buffer, and is told how many
// bytes of which stream; what it got plus what it skipped is everything.
func TestSlowViewerIsToldWhatItSkipped(t *testing.T) {
	t.Parallel()
	nc := natsConn(t)
	sink := newSink(t, nc, SinkConfig{ChunkMax: 4 << 10})
	v := newViewer(t, nc, ViewerConfig{Buffer: 16 << 10})
	runID := newRunID()
	stdout, _, done := sink.Open(runID, nil, 0)
	w := watch(t, v, runID)
	const total = 2 << 20
	block := strings.Repeat("x", 1<<10)
	for range total / len(block) {
		mustWrite(t, stdout, block)
	}
	done()
	got := readToEnd(t, w)
	if got.skipped[Stdout] == 0 {
		t.Fatalf("a viewer with a 16 KiB buffer that read nothing during 2 MiB got %d bytes and no skip", len(got.out[Stdout]))
	}
	if n := int64(len(got.out[Stdout])) + got.skipped[Stdout]; n != total {
		t.Fatalf("got %d + skipped %d = %d bytes, want %d", len(got.out[Stdout]), got.skipped[Stdout], n, total)
	}
}

// TestSecretSplitAcrossWritesNeverPublished: the command prints a secret
// in two writes; what NATS carries never holds it, nor its start.
func TestSecretSplitAcrossWritesNeverPublished(t *testing.T) {
	t.Parallel()
	nc := natsConn(t)
	const sec = "hunter2-very-secret-token"
	redact, longest := redactor(sec)
	sink, v := newSink(t, nc, SinkConfig{}), newViewer(t, nc, ViewerConfig{})
	runID := newRunID()
	var wire strings.Builder
	sub, err := nc.Subscribe(subjectPrefix+"."+runID+".>", func(m *nats.Msg) { wire.Write(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	stdout, _, done := sink.Open(runID, redact, longest)
	w := watch(t, v, runID)
	mustWrite(t, stdout, "token: hunter2-very")
	// The viewer gets what may be published before the rest comes.
	mustWrite(t, stdout, "-secret-token and after\n")
	done()
	got := readToEnd(t, w).out[Stdout]
	if got != "token: *** and after\n" {
		t.Fatalf("viewer got %q", got)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(wire.String(), "hunter2") {
		t.Fatalf("NATS carried a piece of the secret: %q", wire.String())
	}
}

// TestNothingPublishedWhileNobodyWatches: output with no viewer sends no
// message at all, not even the end.
func TestNothingPublishedWhileNobodyWatches(t *testing.T) {
	t.Parallel()
	nc, obs := natsConn(t), natsConn(t)
	sink := newSink(t, nc, SinkConfig{})
	runID := newRunID()
	got := make(chan *nats.Msg, 100)
	sub, err := obs.ChanSubscribe(subjectPrefix+"."+runID+".>", got)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, done := sink.Open(runID, nil, 0)
	mustWrite(t, stdout, lines(0, 5000))
	mustWrite(t, stderr, "oops\n")
	done()
	// A marker published after done on the sink's connection arrives
	// after anything the sink published before it.
	if err := nc.Publish(subjectPrefix+"."+runID+".marker", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Subject != subjectPrefix+"."+runID+".marker" {
			t.Fatalf("with nobody watching, the sink published on %s: %q", m.Subject, m.Data)
		}
	case <-time.After(10 * time.Second): // the marker's deadline, not a wait for work
		t.Fatal("the marker never arrived")
	}
}

// TestWatchWithNoWorker: a run no worker streams answers ErrNoWorker.
func TestWatchWithNoWorker(t *testing.T) {
	t.Parallel()
	v := newViewer(t, natsConn(t), ViewerConfig{AskTimeout: 300 * time.Millisecond})
	if _, err := v.Watch(context.Background(), newRunID(), nil); !errors.Is(err, ErrNoWorker) {
		t.Fatalf("Watch = %v, want ErrNoWorker", err)
	}
	if _, err := v.Watch(context.Background(), "a.b", nil); !errors.Is(err, ErrBadRunID) {
		t.Fatalf("Watch(a.b) = %v, want ErrBadRunID", err)
	}
}

func TestViewerSlotsAreBounded(t *testing.T) {
	t.Parallel()
	v := newViewer(t, natsConn(t), ViewerConfig{Max: 2})
	r1, ok1 := v.Acquire()
	_, ok2 := v.Acquire()
	if _, ok3 := v.Acquire(); !ok1 || !ok2 || ok3 {
		t.Fatalf("acquire thrice with Max 2: %v %v %v", ok1, ok2, ok3)
	}
	r1()
	r1() // a second release is harmless
	if _, ok := v.Acquire(); !ok {
		t.Fatal("a released slot was not free again")
	}
	if _, ok := v.Acquire(); ok {
		t.Fatal("a double release freed two slots")
	}
}

// TestPublishingStopsWhenTheLeaseRunsOut: once its viewer has gone and the
// lease ran out, the attempt publishes nothing more, not even its end.
func TestPublishingStopsWhenTheLeaseRunsOut(t *testing.T) {
	t.Parallel()
	nc, obs := natsConn(t), natsConn(t)
	sink := newSink(t, nc, SinkConfig{Lease: 300 * time.Millisecond})
	v := newViewer(t, nc, ViewerConfig{})
	runID := newRunID()
	stdout, _, done := sink.Open(runID, nil, 0)
	w := watch(t, v, runID)
	mustWrite(t, stdout, "seen\n")
	if ev, err := w.Next(context.Background()); err != nil || string(ev.Data) != "seen\n" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	w.Close()
	o := stdout.(streamWriter).o
	testsupport.Eventually(t, 10*time.Second, "the lease ends after the viewer left", func() error {
		mustWrite(t, stdout, "unseen\n") // a write makes the publisher look at the lease
		o.pmu.Lock()
		defer o.pmu.Unlock()
		if o.live {
			return errors.New("still publishing")
		}
		return nil
	})
	got := make(chan *nats.Msg, 100)
	sub, err := obs.ChanSubscribe(subjectPrefix+"."+runID+".>", got)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, stdout, "more unseen\n")
	done()
	if err := nc.Publish(subjectPrefix+"."+runID+".marker", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if !strings.HasSuffix(m.Subject, ".marker") {
			t.Fatalf("after the lease ran out, the sink published on %s: %q %v", m.Subject, m.Data, m.Header)
		}
	case <-time.After(10 * time.Second): // the marker's deadline, not a wait for work
		t.Fatal("the marker never arrived")
	}
}
