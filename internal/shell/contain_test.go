package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// helperEnv makes the test binary, re-executed, act as a worker running
// one command (TestMain); the value is the pid file the command writes.
const helperEnv = "SHELL_TEST_HELPER_PIDFILE"

func TestMain(m *testing.M) {
	if pidFile := os.Getenv(helperEnv); pidFile != "" {
		c, err := NewContainer(ContainerConfig{CgroupRoot: os.Getenv("SHELL_TEST_HELPER_CGROUP"), RuntimeDir: os.Getenv("SHELL_TEST_HELPER_RUNTIME")})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		_, err = Run(context.Background(), Command{
			Cmd: `echo $$ > "$PIDFILE"; exec sleep 300`, Env: append(baseEnv, "PIDFILE="+pidFile), Container: c,
		})
		fmt.Fprintln(os.Stderr, "helper: Run returned", err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// containers are the two containments: a cgroup (skipped where the test
// cannot make one) and the process-group fallback, forced.
func containers(t *testing.T) map[Containment]*Container {
	t.Helper()
	out := map[Containment]*Container{}
	for _, root := range []string{CgroupAuto, CgroupOff} {
		c, err := NewContainer(ContainerConfig{CgroupRoot: root, RuntimeDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		out[c.Mode()] = c
	}
	if out[ContainCgroup] == nil {
		t.Logf("no cgroup containment here (%s); testing the fallback only", out[ContainProcessGroup].Reason())
	}
	return out
}

// gone reports whether pid has exited (a zombie counts as exited).
func gone(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
		return nil
	}
	return fmt.Errorf("process %d still running", pid)
}

func runAsync(ctx context.Context, c Command) <-chan *Result {
	done := make(chan *Result, 1)
	go func() {
		res, err := Run(ctx, c)
		if err != nil {
			res = &Result{Stderr: "Run: " + err.Error()}
		}
		done <- res
	}()
	return done
}

// await waits for Run's result within limit: the bound the containment
// promises (timeout + grace + drainAfterKill), with a margin.
func await(t *testing.T, done <-chan *Result, limit time.Duration) *Result {
	t.Helper()
	var res *Result
	testsupport.Eventually(t, limit, "Run returns", func() error {
		select {
		case res = <-done:
			return nil
		default:
			return errors.New("still running")
		}
	})
	return res
}

// TestDaemonDoesNotOutliveRun: a setsid daemon leaves the process group
// and keeps the output pipes open; the run still ends in bounded time with
// its output, and the daemon is dead afterwards, under both containments.
func TestDaemonDoesNotOutliveRun(t *testing.T) {
	for mode, c := range containers(t) {
		t.Run(string(mode), func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "daemon.pid")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done := runAsync(ctx, Command{
				Cmd:       `setsid sleep 95 & echo $! > "$PIDFILE"; sleep 1; echo x`,
				Env:       append(baseEnv, "PIDFILE="+pidFile),
				Grace:     500 * time.Millisecond,
				Container: c, Name: "daemon",
			})
			res := await(t, done, 5*time.Second+500*time.Millisecond+drainAfterKill+5*time.Second)
			if res.ExitCode != 0 || res.Stdout != "x\n" || res.Containment != mode || !res.Leftover {
				t.Errorf("result %+v", res)
			}
			testsupport.Eventually(t, 5*time.Second, "the daemon is dead", func() error { return gone(readPID(t, pidFile)) })
		})
	}
}

// TestDaemonTimeoutKeepsOutput: the same daemon under a timeout shorter
// than the main process: the run is canceled in time and keeps its output.
func TestDaemonTimeoutKeepsOutput(t *testing.T) {
	for mode, c := range containers(t) {
		t.Run(string(mode), func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "daemon.pid")
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			done := runAsync(ctx, Command{
				Cmd:       `setsid sleep 95 & echo $! > "$PIDFILE"; echo before; sleep 30`,
				Env:       append(baseEnv, "PIDFILE="+pidFile),
				Grace:     500 * time.Millisecond,
				Container: c,
			})
			res := await(t, done, time.Second+500*time.Millisecond+drainAfterKill+5*time.Second)
			if !res.Canceled || res.Stdout != "before\n" || res.Containment != mode {
				t.Errorf("result %+v", res)
			}
			testsupport.Eventually(t, 5*time.Second, "the daemon is dead", func() error { return gone(readPID(t, pidFile)) })
		})
	}
}

// TestDoubleForkAfterExitIsKilled: a grandchild that double-forks into a
// new session, and outlives the main process's normal exit, is ended too.
func TestDoubleForkAfterExitIsKilled(t *testing.T) {
	for mode, c := range containers(t) {
		t.Run(string(mode), func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "gc.pid")
			res, err := Run(context.Background(), Command{
				Cmd:       `(setsid sh -c 'sleep 0.3; sleep 300 >/dev/null 2>&1 </dev/null & echo $! > "$PIDFILE"' &); echo main done`,
				Env:       append(baseEnv, "PIDFILE="+pidFile),
				Grace:     2 * time.Second,
				Container: c,
			})
			if err != nil || res.ExitCode != 0 || res.Stdout != "main done\n" {
				t.Fatalf("%v %+v", err, res)
			}
			// The grandchild may have been killed before it wrote its pid.
			if b, err := os.ReadFile(pidFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				testsupport.Eventually(t, 5*time.Second, "the grandchild is dead", func() error { return gone(pid) })
			}
			if !res.Leftover {
				t.Errorf("the leftover session was not noticed: %+v", res)
			}
		})
	}
}

// TestEscapedDaemonStillBounded: in the fallback, a daemon that leaves the
// group and clears its environment escapes (the documented limit), but the
// run still returns within grace + drainAfterKill with its output.
func TestEscapedDaemonStillBounded(t *testing.T) {
	c, err := NewContainer(ContainerConfig{CgroupRoot: CgroupOff, RuntimeDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	done := runAsync(context.Background(), Command{
		Cmd:       `env -i setsid sleep 95 & echo $! > "$PIDFILE"; echo x`,
		Env:       append(baseEnv, "PIDFILE="+pidFile),
		Grace:     300 * time.Millisecond,
		Container: c,
	})
	res := await(t, done, 300*time.Millisecond+drainAfterKill+5*time.Second)
	pid := readPID(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if res.ExitCode != 0 || res.Stdout != "x\n" || !res.Leftover || res.Containment != ContainProcessGroup {
		t.Errorf("result %+v", res)
	}
}

// TestReapEndsCgroupOfDeadWorker: a run cgroup left by a worker that is
// gone is emptied and removed by the next worker's Reap; a live worker's
// is left alone.
func TestReapEndsCgroupOfDeadWorker(t *testing.T) {
	c := containers(t)[ContainCgroup]
	if c == nil {
		t.Skip("no cgroup v2 here")
	}
	dead := filepath.Join(c.cgParent, "w999999999-1", "run-left")
	if err := os.MkdirAll(dead, 0o755); err != nil {
		t.Fatal(err)
	}
	mine := c.newScope("mine")
	t.Cleanup(mine.close)
	leftover := startSleep(t, nil)
	ownRun := startSleep(t, nil)
	for dir, pid := range map[string]int{dead: leftover, mine.cg: ownRun} {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	n, err := c.Reap(context.Background())
	if err != nil || n < 1 {
		t.Fatalf("Reap = %d, %v", n, err)
	}
	testsupport.Eventually(t, 5*time.Second, "the leftover is dead", func() error { return gone(leftover) })
	if _, err := os.Stat(filepath.Dir(dead)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead worker's cgroup not removed: %v", err)
	}
	if gone(ownRun) == nil {
		t.Error("Reap killed a live worker's run")
	}
}

// TestReapEndsRecordedGroup: the fallback's record of a dead worker's
// process group leads the next worker to kill it, and a record whose pid
// now belongs to another process (start time differs) is not signalled.
func TestReapEndsRecordedGroup(t *testing.T) {
	rt := t.TempDir()
	c, err := NewContainer(ContainerConfig{CgroupRoot: CgroupOff, RuntimeDir: rt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	leftover := startSleep(t, []string{MarkerEnv + "=m1"})
	innocent := startSleep(t, nil)
	start, _ := procStartTime(leftover)
	dir := filepath.Join(rt, "w999999999-1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	recs := map[string]string{
		"run-a": fmt.Sprintf("%d %d m1\n", leftover, start),
		"run-b": fmt.Sprintf("%d %d m2\n", innocent, 12345), // reused pid
	}
	for name, rec := range recs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(rec), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Reap(context.Background()); err != nil || n != 2 {
		t.Fatalf("Reap = %d, %v", n, err)
	}
	testsupport.Eventually(t, 5*time.Second, "the recorded group is dead", func() error { return gone(leftover) })
	if gone(innocent) == nil {
		t.Error("Reap killed a process whose pid was reused")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead worker's records not removed: %v", err)
	}
}

// startSleep starts `sleep 300` in its own process group, reaped and
// killed when the test ends.
func startSleep(t *testing.T, env []string) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.Env = append(append([]string{}, baseEnv...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd.Process.Pid
}

// TestCommandDiesWithWorker: a worker (this binary, re-executed) running
// `sleep 300` is SIGKILLed; the command dies with it (parent-death signal).
func TestCommandDiesWithWorker(t *testing.T) {
	for _, root := range []string{CgroupAuto, CgroupOff} {
		t.Run(root, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "cmd.pid")
			helper := exec.Command(os.Args[0], "-test.run=^$")
			helper.Env = append(os.Environ(), helperEnv+"="+pidFile, "SHELL_TEST_HELPER_CGROUP="+root, "SHELL_TEST_HELPER_RUNTIME="+t.TempDir())
			if err := helper.Start(); err != nil {
				t.Fatal(err)
			}
			pid := readPID(t, pidFile)
			if err := helper.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = helper.Wait()
			testsupport.Eventually(t, 5*time.Second, "the command is dead", func() error { return gone(pid) })
		})
	}
}

// TestPlainCommandLeavesNothing: a command that leaves nothing behind is
// not reported as leaving something, and says how it was contained.
func TestPlainCommandLeavesNothing(t *testing.T) {
	for mode, c := range containers(t) {
		t.Run(string(mode), func(t *testing.T) {
			res, err := Run(context.Background(), Command{Cmd: "echo hi; echo there >&2", Env: baseEnv, Container: c})
			if err != nil || res.Leftover || res.Containment != mode || res.Stdout != "hi\n" || res.Stderr != "there\n" {
				t.Errorf("%v %+v", err, res)
			}
		})
	}
}

// TestRuntimeDirMustBeOwn: the fallback's records name processes to kill,
// so a runtime directory others may write to (or a link planted in a
// shared temp directory) is refused with the setting's name.
func TestRuntimeDirMustBeOwn(t *testing.T) {
	open := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{open, link} {
		if _, err := NewContainer(ContainerConfig{CgroupRoot: CgroupOff, RuntimeDir: dir}); err == nil || !strings.Contains(err.Error(), "ACTIVITY_RUNTIME_DIR") {
			t.Errorf("%s: %v", dir, err)
		}
	}
}
