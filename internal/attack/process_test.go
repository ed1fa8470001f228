package attack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func processAttacks(t *testing.T, d *devProc) {
	attack(t, "processes", "term-ignored-past-timeout-is-timed-out", func(t *testing.T) {
		d.write("proc/term.yaml", "id: attack.proc-term\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"instruction:\n  kind: shell\n  cmd: \"trap '' TERM; while :; do sleep 1; done\"\n  timeout: 2s\non_failure: fail\n")
		d.sync()
		r := d.waitRun(d.runNow("attack.proc-term"), 2*time.Minute)
		if r.Status != "timed_out" {
			t.Fatalf("a command that ignores SIGTERM past its timeout was recorded %s (%s), want timed_out", r.Status, r.Error)
		}
	})
	attack(t, "processes", "setsid-daemon-ends-with-run", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "daemon.pid")
		d.write("proc/daemon.yaml", "id: attack.proc-daemon\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"instruction:\n  kind: shell\n  cmd: \"setsid sh -c 'echo $$ > "+pidFile+"; exec sleep 95' & sleep 1; echo x\"\n  timeout: 10s\n")
		d.sync()
		r := d.waitRun(d.runNow("attack.proc-daemon"), 90*time.Second)
		if !strings.Contains(r.Stdout, "x") {
			t.Errorf("output lost: %s %q %s", r.Status, r.Stdout, r.Error)
		}
		pid := readPID(t, pidFile)
		waitDead(t, pid, 30*time.Second, "the setsid daemon ends with its run")
	})
	attack(t, "processes", "setsid-daemon-past-timeout", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "daemon.pid")
		d.write("proc/daemon2.yaml", "id: attack.proc-daemon-timeout\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"instruction:\n  kind: shell\n  cmd: \"setsid sh -c 'echo $$ > "+pidFile+"; exec sleep 95' & echo started; sleep 60\"\n  timeout: 3s\non_failure: log_and_continue\n")
		d.sync()
		r := d.waitRun(d.runNow("attack.proc-daemon-timeout"), 90*time.Second)
		if r.Status != "timed_out" || !strings.Contains(r.Stdout, "started") {
			t.Errorf("want timed_out with its output, got %s %q %s", r.Status, r.Stdout, r.Error)
		}
		pid := readPID(t, pidFile)
		waitDead(t, pid, 30*time.Second, "the daemon ends with its timed-out run")
	})
	attack(t, "processes", "double-fork-after-exit", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "orphan.pid")
		d.write("proc/fork.yaml", "id: attack.proc-fork\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
			"instruction:\n  kind: shell\n  cmd: \"(sh -c 'echo $$ > "+pidFile+"; exec sleep 300' >/dev/null 2>&1 &); exit 0\"\n  timeout: 30s\n")
		d.sync()
		d.waitRun(d.runNow("attack.proc-fork"), 90*time.Second)
		pid := readPID(t, pidFile)
		waitDead(t, pid, 30*time.Second, "a double-forked child ends with its run")
	})
}

// TestWorkerCrash kills dev while a command runs: the command must die
// with it, a restarted dev must end what was left, and the run must be
// recorded with the reason, not run again.
func TestWorkerCrash(t *testing.T) {
	requireSuite(t)
	d := startDev(t)
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	childPID := filepath.Join(dir, "child.pid")
	grandPID := filepath.Join(dir, "grandchild.pid")
	d.write("crash.yaml", "id: attack.crash\ntrigger:\n  trigger_type: once\n  run_at: \"2099-01-01T00:00:00Z\"\n"+
		"instruction:\n  kind: shell\n  cmd: \"echo $$ >> "+starts+"; echo $$ > "+childPID+"; sh -c 'echo $$ > "+grandPID+"; exec sleep 300' & wait\"\n  timeout: 10m\n"+
		"retry: {max_attempts: 3, initial_interval: 1s}\n")
	d.sync()
	id := d.runNow("attack.crash")
	child, grand := readPID(t, childPID), readPID(t, grandPID)
	d.kill()

	attack(t, "processes", "command-dies-with-worker", func(t *testing.T) {
		waitDead(t, child, 30*time.Second, "the command dies with its worker")
	})
	d.start()
	attack(t, "processes", "restarted-worker-ends-leftovers", func(t *testing.T) {
		waitDead(t, grand, 60*time.Second, "a restarted worker ends what its predecessor left")
	})
	attack(t, "processes", "dead-worker-run-recorded-not-rerun", func(t *testing.T) {
		r := d.waitRun(id, 4*time.Minute)
		if r.Status == "succeeded" || r.Status == "running" {
			t.Fatalf("run whose worker died: %s", r.Status)
		}
		if !strings.Contains(strings.ToLower(r.Error), "worker") {
			t.Errorf("the reason does not name the dead worker: %q", r.Error)
		}
		b, _ := os.ReadFile(starts)
		if n := strings.Count(string(b), "\n"); n != 1 {
			t.Errorf("the command started %d times; a run whose worker died must not be retried while its command may live", n)
		}
	})
}
