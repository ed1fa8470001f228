package storetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// The child process protocol of the two-process lock tests: the parent
// re-executes its test binary with these variables set; the child opens the
// database, takes the sync lock, prints lockedLine, holds the lock until its
// stdin is closed, then prints releasedLine and exits.
const (
	childEnv     = "ACTIVITY_STORETEST_LOCK_CHILD"
	childURLEnv  = "ACTIVITY_STORETEST_LOCK_URL"
	lockedLine   = "storetest: child holds the sync lock"
	releasedLine = "storetest: child released the sync lock"
)

// absent is how long a test watches for something that must not happen
// (a second holder of the lock). It bounds a negative check, it does not
// wait for anything.
const absent = 300 * time.Millisecond

func testSyncLockExclusive(t *testing.T, d Driver) {
	e := setup(t, d)
	stores := []store.Store{e.s, e.s, e.open(), e.open()}
	var inside, most, total atomic.Int32
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for range 5 {
				err := s.WithSyncLock(ctx(t), func(ctx context.Context) error {
					n := inside.Add(1)
					defer inside.Add(-1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					total.Add(1)
					// Use the store while holding the lock, as a sync does,
					// and hold it a moment: a broken lock then shows as a
					// second holder rather than by luck.
					if err := s.PutScheduleStates(ctx, store.ScheduleState{ScheduleID: fmt.Sprint("s", i), DefinitionID: "ex.a"}); err != nil {
						return err
					}
					<-time.After(2 * time.Millisecond)
					_, err := s.ListScheduleStates(ctx)
					return err
				})
				if err != nil {
					t.Errorf("goroutine %d: WithSyncLock: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 || total.Load() != 20 {
		t.Errorf("%d holders at once (want 1), %d sections run (want 20)", most.Load(), total.Load())
	}
}

func testSyncLockTwoStores(t *testing.T, d Driver) {
	e := setup(t, d)
	other := e.open()
	held, release := make(chan struct{}), make(chan struct{})
	holderDone := make(chan error, 1)
	go func() {
		holderDone <- e.s.WithSyncLock(ctx(t), func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held

	c, cancel := context.WithTimeout(ctx(t), absent)
	defer cancel()
	err := other.WithSyncLock(c, func(context.Context) error {
		t.Error("a second store got the sync lock while the first held it")
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting with a deadline: %v, want context.DeadlineExceeded", err)
	}

	got := make(chan struct{})
	waiterDone := make(chan error, 1)
	go func() {
		waiterDone <- other.WithSyncLock(ctx(t), func(context.Context) error {
			close(got)
			return nil
		})
	}()
	select {
	case <-got:
		t.Fatal("the waiter got the lock before the holder released it")
	case <-time.After(absent):
	}
	close(release)
	if err := <-holderDone; err != nil {
		t.Fatalf("holder: %v", err)
	}
	if err := <-waiterDone; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	select {
	case <-got:
	default:
		t.Fatal("the waiter returned without running fn")
	}
}

func testSyncLockErrorAndPanic(t *testing.T, d Driver) {
	e := setup(t, d)
	boom := errors.New("boom")
	if err := e.s.WithSyncLock(ctx(t), func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("fn's error: got %v, want %v", err, boom)
	}
	func() {
		defer func() {
			if r := recover(); r != "fn panicked" {
				t.Errorf("recovered %v, want fn's panic", r)
			}
		}()
		_ = e.s.WithSyncLock(ctx(t), func(context.Context) error { panic("fn panicked") }) // fn panics: it never returns
		t.Error("WithSyncLock swallowed fn's panic")
	}()
	// Both released the lock: another store gets it at once.
	c, cancel := context.WithTimeout(ctx(t), 10*time.Second)
	defer cancel()
	if err := e.open().WithSyncLock(c, func(context.Context) error { return nil }); err != nil {
		t.Errorf("after an error and a panic, the lock is still held: %v", err)
	}
	// A context that is already done never runs fn.
	done, cancelDone := context.WithCancel(ctx(t))
	cancelDone()
	if err := e.s.WithSyncLock(done, func(context.Context) error {
		t.Error("fn ran with a canceled context")
		return nil
	}); err == nil {
		t.Error("WithSyncLock with a canceled context succeeded")
	}
}

// child is a running child process holding (or trying to take) the lock.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

func startChild(t *testing.T, root, url string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run="+runPattern(root), "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), childEnv+"=1", childURLEnv+"="+url)
	c := &child{cmd: cmd, lines: make(chan string, 16), stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the child process: %v", err)
	}
	t.Cleanup(func() {
		c.stdin.Close()
		if cmd.ProcessState == nil {
			// Cleanup of a child a test left running: it may have exited
			// already, and Wait reports the kill.
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// await waits for the child to print line.
func (c *child) await(t *testing.T, line string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("child exited before %q; stderr:\n%s", line, c.stderr)
			}
			if l == line {
				return
			}
		case <-timeout:
			t.Fatalf("child did not print %q within a minute; stderr:\n%s", line, c.stderr)
		}
	}
}

// runPattern selects exactly the test named name (and not its subtests'
// siblings) for -test.run.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// runChild is the child's side: hold the lock until stdin closes.
func runChild(t *testing.T, d Driver) {
	url := os.Getenv(childURLEnv)
	s, err := d.Open(context.Background(), url, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatalf("child: Open: %v", err)
	}
	defer s.Close()
	err = s.WithSyncLock(context.Background(), func(context.Context) error {
		fmt.Println(lockedLine)
		_, err := io.Copy(io.Discard, os.Stdin)
		return err
	})
	if err != nil {
		t.Fatalf("child: WithSyncLock: %v", err)
	}
	fmt.Println(releasedLine)
}

func testSyncLockTwoProcesses(t *testing.T, d Driver, root string) {
	e := setup(t, d)
	ch := startChild(t, root, e.url)
	ch.await(t, lockedLine)

	c, cancel := context.WithTimeout(ctx(t), absent)
	defer cancel()
	err := e.s.WithSyncLock(c, func(context.Context) error {
		t.Error("got the sync lock while another process holds it")
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting with a deadline: %v, want context.DeadlineExceeded", err)
	}

	got := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.s.WithSyncLock(ctx(t), func(context.Context) error {
			close(got)
			return nil
		})
	}()
	select {
	case <-got:
		t.Fatal("got the lock before the other process released it")
	case <-time.After(absent):
	}
	ch.stdin.Close()
	if err := <-done; err != nil {
		t.Fatalf("WithSyncLock after the other process released: %v", err)
	}
	ch.await(t, releasedLine)
	if err := ch.cmd.Wait(); err != nil {
		t.Errorf("child: %v; stderr:\n%s", err, ch.stderr)
	}
}

func testSyncLockProcessDies(t *testing.T, d Driver, root string) {
	e := setup(t, d)
	ch := startChild(t, root, e.url)
	ch.await(t, lockedLine)
	if err := ch.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = ch.cmd.Wait() // reports the kill: the error is expected
	// The kernel (flock) or the server (session end) releases it.
	c, cancel := context.WithTimeout(ctx(t), 30*time.Second)
	defer cancel()
	if err := e.s.WithSyncLock(c, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("the lock of a killed process was not released: %v", err)
	}
}

func testSyncLockSessionLost(t *testing.T, d Driver) {
	if d.Disrupt == nil {
		t.Skip("the engine has no sessions to lose")
	}
	e := setup(t, d)
	err := e.s.WithSyncLock(ctx(t), func(c context.Context) error {
		d.Disrupt(t, e.url)
		select {
		case <-c.Done():
			return c.Err()
		case <-time.After(30 * time.Second):
			return errors.New("fn's context was not canceled after the lock's session ended")
		}
	})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("WithSyncLock after losing its session: %v, want ErrUnavailable", err)
	}
	// And the lock can be taken again.
	c, cancel := context.WithTimeout(ctx(t), 30*time.Second)
	defer cancel()
	if err := e.s.WithSyncLock(c, func(context.Context) error { return nil }); err != nil {
		t.Errorf("taking the lock again: %v", err)
	}
}
