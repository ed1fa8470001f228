// Package testsupport holds helpers shared by tests across packages. It is
// imported only from _test.go files.
package testsupport

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Eventually polls cond until it returns nil, or fails the test with what
// and cond's last error once timeout has passed. It is the one way tests
// wait for something eventually consistent: never a bare sleep.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("%s: not true after %s: %v", what, timeout, err)
	}
}

// ErrGaveUp, wrapped in cond's error, stops Poll and Eventually at once:
// the condition can no longer become true (the process it waits for exited).
var ErrGaveUp = errors.New("gave up")

// Poll is Eventually for callers that are not a test (a harness's setup):
// it returns cond's last error when timeout passes.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil || errors.Is(err, ErrGaveUp) || time.Now().After(deadline) {
			return err
		}
		timer := time.NewTimer(wait) // poll interval, not a wait for an event
		<-timer.C
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// server a test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
