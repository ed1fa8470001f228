package integration

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

	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/shell"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// TestTimeoutIgnoringTERMIsTimedOut: a command that ignores SIGTERM runs
// past its timeout while heartbeats keep going during the grace period;
// the run is timed_out (not canceled) and on_failure: fail fails the
// workflow, so it alerts.
func TestTimeoutIgnoringTERMIsTimedOut(t *testing.T) {
	// A heartbeat (every 5s) falls inside timeout (4s) .. timeout + grace.
	in := startWith(t, temporalSrv.Address(), func(o *app.Options) { o.ShellGrace = 4 * time.Second })
	in.write("stubborn.yaml", `id: it.stubborn
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
instruction: {kind: shell, cmd: 'trap "" TERM; echo started; while :; do sleep 0.2; done', timeout: 4s}
`)
	in.sync("")
	started := in.manualRun("it.stubborn")
	runID, wfID := started.RunID, started.WorkflowID
	r := in.waitRun(runID)
	if r.Status != store.RunTimedOut || r.Stdout != "started\n" || !strings.Contains(r.Error, "timed out after 4s") {
		t.Errorf("run %+v", r)
	}
	err := in.tc.GetWorkflow(context.Background(), wfID, "").Get(context.Background(), nil)
	var appErr *temporal.ApplicationError
	if err == nil || temporal.IsCanceledError(err) || !errors.As(err, &appErr) {
		t.Errorf("workflow did not fail: %v", err)
	}
}

// TestDaemonDoesNotDefeatTheRun: a setsid daemon neither holds the run
// open nor outlives it: the run succeeds with its output once the main
// process exits, and the daemon is dead.
func TestDaemonDoesNotDefeatTheRun(t *testing.T) {
	in := start(t)
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	in.write("daemon.yaml", fmt.Sprintf(`id: it.daemon
trigger: {trigger_type: cron, cron_expression: "0 0 1 1 *"}
instruction: {kind: shell, cmd: 'setsid sleep 95 & echo $! > %s; sleep 1; echo x', timeout: 10s}
`, pidFile))
	in.sync("")
	runID := in.manualRun("it.daemon").RunID
	r := in.waitRun(runID)
	if r.Status != store.RunSucceeded || r.Stdout != "x\n" {
		t.Errorf("run %+v", r)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	testsupport.Eventually(t, 10*time.Second, "the daemon is dead", func() error {
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(stat), ") Z") {
			return fmt.Errorf("daemon %d alive", pid)
		}
		return nil
	})
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// TestWorkerStartReapsPredecessor: a command recorded by a worker that
// died (here in the process-group fallback's records) is ended when the
// next worker starts, before it polls for tasks.
func TestWorkerStartReapsPredecessor(t *testing.T) {
	rt := t.TempDir()
	cmd := exec.Command("sleep", "300")
	cmd.Env = []string{"PATH=/usr/bin:/bin", shell.MarkerEnv + "=it-left"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	dead := filepath.Join(rt, "w999999999-1-1") // no such worker is alive
	if err := os.MkdirAll(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	rec := fmt.Sprintf("%d 0 it-left\n", cmd.Process.Pid) // start time unknown: found by its marker
	if err := os.WriteFile(filepath.Join(dead, "run-x"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	startWith(t, temporalSrv.Address(), func(o *app.Options) {
		o.Containment = config.Containment{CgroupRoot: shell.CgroupOff, RuntimeDir: rt}
	})
	testsupport.Eventually(t, 10*time.Second, "the predecessor's command is dead", func() error {
		select {
		case <-exited:
			return nil
		default:
			return errors.New("still running")
		}
	})
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead worker's records are still there: %v", err)
	}
}
