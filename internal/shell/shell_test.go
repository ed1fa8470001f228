package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
)

var baseEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}

func TestTailMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		limit := 1 + r.IntN(64)
		tail := NewTail(limit)
		var all []byte
		for range r.IntN(20) {
			chunk := make([]byte, r.IntN(100))
			for i := range chunk {
				chunk[i] = byte('a' + r.IntN(26))
			}
			all = append(all, chunk...)
			if n, err := tail.Write(chunk); n != len(chunk) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		want := all
		if len(want) > limit {
			want = want[len(want)-limit:]
		}
		if got := tail.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("trial %d max %d: got %q want %q", trial, limit, got, want)
		}
		if tail.Total() != int64(len(all)) || tail.Truncated() != (len(all) > limit) {
			t.Fatalf("trial %d: total %d truncated %v for %d bytes", trial, tail.Total(), tail.Truncated(), len(all))
		}
	}
}

func TestTailDropsPartialRune(t *testing.T) {
	tail := NewTail(5)
	if _, err := tail.Write([]byte("ab€cd")); err != nil {
		t.Fatal(err)
	} // € is 3 bytes: the kept 5 bytes start inside it
	if got := tail.String(); got != "€cd" && got != "cd" {
		t.Fatalf("got %q", got)
	}
	tail = NewTail(6)
	if _, err := tail.Write([]byte("xxab€cd")); err != nil {
		t.Fatal(err)
	}
	if got := tail.String(); got != "b€cd" {
		t.Fatalf("got %q", got)
	}
}

func TestRunOutputAndExitCode(t *testing.T) {
	res, err := Run(context.Background(), Command{Cmd: "echo out; echo err >&2; exit 3", Env: baseEnv})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.Stdout != "out\n" || res.Stderr != "err\n" || res.Canceled {
		t.Errorf("result %+v", res)
	}
}

func TestRunArgsHaveNoShell(t *testing.T) {
	res, err := Run(context.Background(), Command{Args: []string{"printf", "%s|%s", "$(id -u)", "a b;c"}, Env: baseEnv})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "$(id -u)|a b;c" || res.ExitCode != 0 {
		t.Errorf("args were interpreted: %+v", res)
	}
}

func TestRunEnvIsExactlyWhatIsGiven(t *testing.T) {
	t.Setenv("ACTIVITY_SECRET_OF_THE_WORKER", "leak")
	res, err := Run(context.Background(), Command{Args: []string{"env"}, Env: append(baseEnv, "ACTIVITY_RUN_ID=r1")})
	if err != nil {
		t.Fatal(err)
	}
	// The process-group fallback adds only its marker (MarkerEnv).
	if strings.Contains(res.Stdout, "leak") || !strings.Contains(res.Stdout, "ACTIVITY_RUN_ID=r1") ||
		strings.Count(res.Stdout, "\n") != len(baseEnv)+1+strings.Count(res.Stdout, MarkerEnv+"=") {
		t.Errorf("environment: %q", res.Stdout)
	}
}

func TestRunWorkdir(t *testing.T) {
	dir := t.TempDir()
	res, err := Run(context.Background(), Command{Cmd: "pwd", Dir: dir, Env: baseEnv})
	if err != nil {
		t.Fatal(err)
	}
	resolved, _ := filepath.EvalSymlinks(dir)
	if strings.TrimSpace(res.Stdout) != resolved && strings.TrimSpace(res.Stdout) != dir {
		t.Errorf("pwd = %q, want %q", res.Stdout, dir)
	}
}

func TestRunStartFailures(t *testing.T) {
	for _, c := range []Command{
		{Args: []string{"/no/such/program"}},
		{Args: []string{"no-such-program-anywhere"}},
		{Cmd: "true", Dir: "/no/such/dir"},
		{},
	} {
		if _, err := Run(context.Background(), c); !errors.Is(err, errStart) {
			t.Errorf("%+v: err = %v, want ErrStart", c, err)
		}
	}
}

// pidAlive reports whether a process exists (and is not a zombie we reaped).
func pidAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	testsupport.Eventually(t, 10*time.Second, fmt.Sprintf("process %d gone", pid), func() error {
		if pidAlive(pid) {
			return errors.New("still alive")
		}
		return nil
	})
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testsupport.Eventually(t, 10*time.Second, "pid file "+path+" written", func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return errors.New("empty")
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	return pid
}

// TestCancelKillsWholeGroup: a command that ignores SIGTERM and has a
// grandchild is killed, grandchild included, after the grace period.
func TestCancelKillsWholeGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once bool
	done := make(chan *Result)
	go func() {
		res, err := Run(ctx, Command{
			Cmd:           `trap '' TERM; sleep 300 & echo $! > "$PIDFILE"; while :; do sleep 1; done`,
			Env:           append(baseEnv, "PIDFILE="+pidFile),
			Grace:         200 * time.Millisecond,
			ProgressEvery: 5 * time.Millisecond,
			Progress: func(Progress) {
				if !once {
					once = true
					close(started)
				}
			},
		})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-started
	child := readPID(t, pidFile)
	cancel()
	res := <-done
	if !res.Canceled || !res.Killed || res.Signal != "killed" {
		t.Errorf("result %+v", res)
	}
	waitGone(t, child)
}

// TestStrayGrandchildIsReaped: the main process exits but leaves a
// background process holding stdout; Run still returns and the stray dies.
func TestStrayGrandchildIsReaped(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "stray.pid")
	res, err := Run(context.Background(), Command{
		Cmd:   `sleep 300 & echo $! > "$PIDFILE"; echo main done`,
		Env:   append(baseEnv, "PIDFILE="+pidFile),
		Grace: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Stdout != "main done\n" {
		t.Errorf("result %+v", res)
	}
	waitGone(t, readPID(t, pidFile))
}

func TestLargeOutputKeepsTail(t *testing.T) {
	res, err := Run(context.Background(), Command{
		Cmd: `head -c 10485760 /dev/zero | tr '\0' 'x'; printf 'END'`,
		Env: baseEnv,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.StdoutBytes != 10<<20+3 || len(res.Stdout) != TailSize || !strings.HasSuffix(res.Stdout, "xxxEND") {
		t.Errorf("bytes %d, tail len %d, suffix %q", res.StdoutBytes, len(res.Stdout), res.Stdout[len(res.Stdout)-6:])
	}
}

func TestLiveOutput(t *testing.T) {
	var live bytes.Buffer
	_, err := Run(context.Background(), Command{Cmd: "echo one; echo two", Env: baseEnv, Stdout: &live})
	if err != nil {
		t.Fatal(err)
	}
	if live.String() != "one\ntwo\n" {
		t.Errorf("live = %q", live.String())
	}
}

// BenchmarkOutput1GiB checks docs/benchmarks.md: a command writing 1 GiB keeps the
// worker's memory flat. It reports heap growth per run (should stay near
// 2 × TailSize regardless of the output size) and throughput.
func BenchmarkOutput1GiB(b *testing.B) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res, err := Run(context.Background(), Command{
			Args: []string{"head", "-c", strconv.FormatInt(size, 10), "/dev/zero"},
			Env:  baseEnv,
		})
		if err != nil || res.StdoutBytes != size {
			b.Fatalf("err %v, bytes %d", err, res.StdoutBytes)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/1024, "KiB-allocated/run")
		b.ReportMetric(float64(after.HeapInuse)/1024/1024, "MiB-heap-inuse")
	}
	b.SetBytes(size)
}

// TestLargeOutputMemoryFlat asserts a generous bound on what a command
// writing 256 MiB costs the worker: the output goes through fixed rings,
// so allocation stays in kilobytes, not in proportion to the output.
func TestLargeOutputMemoryFlat(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := Run(context.Background(), Command{Args: []string{"head", "-c", strconv.Itoa(256 << 20), "/dev/zero"}, Env: baseEnv})
	if err != nil || res.StdoutBytes != 256<<20 {
		t.Fatalf("err %v, bytes %d", err, res.StdoutBytes)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("allocated %d bytes for 256 MiB of output", alloc)
	}
}

// failingWriter fails every write, as a live viewer's connection that
// went away may.
type failingWriter struct{ calls int }

func (w *failingWriter) Write([]byte) (int, error) {
	w.calls++
	return 0, errors.New("viewer gone")
}

// TestLiveWriterFailureDoesNotStallTheCommand: a live writer that fails
// is dropped; the output is still read to the end (a command blocked on a
// full pipe would never exit) and kept in the tail.
func TestLiveWriterFailureDoesNotStallTheCommand(t *testing.T) {
	live := &failingWriter{}
	var seen bytes.Buffer
	res, err := Run(context.Background(), Command{
		Cmd: "head -c 1000000 /dev/zero | tr '\\0' x; echo end >&2", Env: baseEnv,
		Stdout: live, Stderr: &seen,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.StdoutBytes != 1000000 || !strings.HasSuffix(res.Stdout, "xxx") {
		t.Errorf("exit %d, %d bytes read, tail ends %q", res.ExitCode, res.StdoutBytes, res.Stdout[max(0, len(res.Stdout)-3):])
	}
	if live.calls != 1 || seen.String() != "end\n" {
		t.Errorf("failing writer called %d times (want 1); stderr writer got %q", live.calls, seen.String())
	}
}
