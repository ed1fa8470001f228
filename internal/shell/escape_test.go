package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// cgroupContainer is a cgroup container, or skips the test.
func cgroupContainer(t *testing.T) (*Container, string) {
	t.Helper()
	c := containers(t)[ContainCgroup]
	if c == nil {
		t.Skip("no cgroup v2 here")
	}
	mount, err := cgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	return c, mount
}

// childCgroupCmd makes a child cgroup inside the run's own cgroup and
// starts there, in a session of its own (out of reach of the process
// group), a shell that notes SIGTERM in $F (or ignores it when $IGNORE
// is set) around a `sleep 300`.
const childCgroupCmd = `cg="$MOUNT$(sed -n 's/^0:://p' /proc/self/cgroup)"
echo "$cg" > "$CGFILE"
mkdir "$cg/inner"
setsid sh -c 'echo $$ > "$1/inner/cgroup.procs"
if [ -n "$IGNORE" ]; then trap "" TERM; else trap "echo got-term >> \"$F\"; exit" TERM; fi
sleep 300 & echo $! > "$SLEEPPID"; wait' sh "$cg" </dev/null >/dev/null 2>&1 &
while [ ! -s "$SLEEPPID" ]; do sleep 0.05; done
echo started`

// TestChildCgroupIsSignalled: processes a command moved into a child
// cgroup of its run's cgroup get SIGTERM when the run ends (after the
// main process exits, and on timeout), and the cgroups are removed.
func TestChildCgroupIsSignalled(t *testing.T) {
	c, mount := cgroupContainer(t)
	for name, tail := range map[string]string{"exit": "", "timeout": "; sleep 30"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			f, cgFile, sleepPID := filepath.Join(dir, "F"), filepath.Join(dir, "cg"), filepath.Join(dir, "sleep.pid")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res, err := Run(ctx, Command{
				Cmd:       childCgroupCmd + tail,
				Env:       append(baseEnv, "MOUNT="+mount, "CGFILE="+cgFile, "F="+f, "SLEEPPID="+sleepPID),
				Grace:     5 * time.Second,
				Container: c,
			})
			if err != nil || res.Stdout != "started\n" || res.Containment != ContainCgroup {
				t.Fatalf("%v %+v", err, res)
			}
			if b, _ := os.ReadFile(f); string(b) != "got-term\n" {
				t.Errorf("the process in the child cgroup got no SIGTERM (F = %q)", b)
			}
			testsupport.Eventually(t, 5*time.Second, "the sleep is dead", func() error { return gone(readPID(t, sleepPID)) })
			assertRemoved(t, cgFile)
		})
	}
}

// TestChildCgroupKilledWithoutCgroupKill: where the kernel has no
// cgroup.kill, the SIGKILL fallback reaches a child cgroup's process that
// ignores SIGTERM.
func TestChildCgroupKilledWithoutCgroupKill(t *testing.T) {
	c, mount := cgroupContainer(t)
	old := cgroupKillFile
	cgroupKillFile = "cgroup.kill-missing"
	t.Cleanup(func() { cgroupKillFile = old })
	dir := t.TempDir()
	cgFile, sleepPID := filepath.Join(dir, "cg"), filepath.Join(dir, "sleep.pid")
	res, err := Run(context.Background(), Command{
		Cmd:       childCgroupCmd,
		Env:       append(baseEnv, "MOUNT="+mount, "CGFILE="+cgFile, "F="+filepath.Join(dir, "F"), "SLEEPPID="+sleepPID, "IGNORE=1"),
		Grace:     300 * time.Millisecond,
		Container: c,
	})
	if err != nil || res.Stdout != "started\n" || !res.Leftover {
		t.Fatalf("%v %+v", err, res)
	}
	testsupport.Eventually(t, 5*time.Second, "the sleep is dead", func() error { return gone(readPID(t, sleepPID)) })
	assertRemoved(t, cgFile)
}

// assertRemoved checks that the run cgroup named in file is gone.
func assertRemoved(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cg := strings.TrimSpace(string(b))
	if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run cgroup %s not removed: %v", cg, err)
	}
}

// TestEscapeFromRunCgroupIsKilled: a command that moves a detached
// process out of its run's cgroup, into a place no process belongs (the
// worker directory, the activity-core directory, a cgroup it makes in
// either), does not outlive the run.
func TestEscapeFromRunCgroupIsKilled(t *testing.T) {
	c, mount := cgroupContainer(t)
	if !c.ownParent {
		t.Skip("the activity-core directory is not this worker's")
	}
	targets := map[string]string{
		"worker-dir":      `"$W/cgroup.procs"`,
		"activity-core":   `"$P/cgroup.procs"`,
		"stray-in-parent": `"$P/stray-$$/cgroup.procs"`,
		"stray-in-worker": `"$W/run-stray-$$/cgroup.procs"`,
		"fake-worker-dir": `"$P/w1-1-1/hide-$$/cgroup.procs"`,
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "escaped.pid")
			cmd := `cg="$MOUNT$(sed -n 's/^0:://p' /proc/self/cgroup)"; W=$(dirname "$cg"); P=$(dirname "$W"); export W P
setsid sh -c 'd=$(dirname ` + target + `); [ -d "$d" ] || mkdir -p "$d"; echo $$ > ` + target + ` && echo $$ > "$PIDFILE"; exec sleep 300' </dev/null >/dev/null 2>&1 &
while [ ! -s "$PIDFILE" ]; do sleep 0.05; done; echo moved`
			res, err := Run(context.Background(), Command{
				Cmd: cmd, Env: append(baseEnv, "MOUNT="+mount, "PIDFILE="+pidFile), Container: c,
			})
			if err != nil || res.Stdout != "moved\n" {
				t.Fatalf("%v %+v", err, res)
			}
			pid := readPID(t, pidFile)
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			testsupport.Eventually(t, 5*time.Second, "the escaped process is dead", func() error { return gone(pid) })
			ents, _ := os.ReadDir(c.cgParent)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), "stray-") {
					t.Errorf("stray cgroup %s left", e.Name())
				}
			}
		})
	}
}

// TestLeaderHeldUntilScopeClosed: while what a command left behind is
// being ended, its exited leader stays an unreaped zombie, so its pid (the
// process group's id) cannot be reused by another process that the
// group signals would then reach; it is reaped before Run returns.
func TestLeaderHeldUntilScopeClosed(t *testing.T) {
	for mode, c := range containers(t) {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			leaderFile, sleepFile := filepath.Join(dir, "leader"), filepath.Join(dir, "sleep")
			done := runAsync(context.Background(), Command{
				Cmd:       `echo $$ > "$LEADER"; trap '' TERM; (exec sleep 300) & echo $! > "$SLEEP"`,
				Env:       append(baseEnv, "LEADER="+leaderFile, "SLEEP="+sleepFile),
				Grace:     3 * time.Second,
				Container: c,
			})
			leader, sleep := readPID(t, leaderFile), readPID(t, sleepFile)
			testsupport.Eventually(t, 2*time.Second, "the leader is a zombie while its leftover runs", func() error {
				state, _, err := procState(leader)
				if err != nil || state != "Z" || gone(sleep) == nil {
					return fmt.Errorf("leader state %q (%v)", state, err)
				}
				return nil
			})
			res := await(t, done, 3*time.Second+drainAfterKill+5*time.Second)
			if !res.Leftover || res.ExitCode != 0 || res.Containment != mode {
				t.Errorf("result %+v", res)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", leader)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the leader was not reaped: %v", err)
			}
			if err := gone(sleep); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestMainProcessLeavingItsGroupStillEnds: a main process that moves into
// the worker's own process group and drops the marker is still ended at
// the timeout, so Run returns.
func TestMainProcessLeavingItsGroupStillEnds(t *testing.T) {
	if _, err := exec.LookPath("perl"); err != nil {
		t.Skip("needs perl to call setpgrp with another group")
	}
	c, err := NewContainer(ContainerConfig{CgroupRoot: CgroupOff, RuntimeDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan *Result, 1)
	go func() {
		res, _ := Run(ctx, Command{Args: []string{"perl", "-e", `setpgrp(0, getpgrp(getppid())) or die "setpgrp: $!"; exec {"/usr/bin/env"} "env", "-i", "/bin/sleep", "300"`}, Container: c, Grace: 500 * time.Millisecond})
		done <- res
	}()
	testsupport.Eventually(t, 30*time.Second, "Run returns after the timeout", func() error {
		select {
		case res := <-done:
			if res == nil || !res.Canceled {
				return fmt.Errorf("result %+v", res)
			}
			return nil
		default:
			return fmt.Errorf("still running")
		}
	})
}
