package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/app"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// TestPlacement is placement with whole processes
// (docs/run-control.md#placement): an api process that also works the
// default pool, and `activity-core serve --roles worker --pools a` in a
// directory named a, on one PostgreSQL store. Each command prints its
// working directory, so the output names the worker that ran it. Twenty
// runs of a `run_on: a` definition all land on worker a; a pool-b run
// waits, queued in pool b's task queue, until a worker for pool b starts,
// then runs there.
func TestPlacement(t *testing.T) {
	base := os.Getenv("ACTIVITY_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("ACTIVITY_TEST_POSTGRES_URL is not set; set it to a PostgreSQL database the tests may create schemas in, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	pg, err := benchSchema(t, base)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	in := startWith(t, temporalSrv.Address(), func(o *app.Options) { o.Engines.DatabaseURL = pg })
	queue := "it-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	worker := func(pool string) *poolWorker {
		return startPoolWorker(t, bin, pool, []string{
			"ACTIVITY_DATABASE_URL=" + pg,
			"ACTIVITY_TEMPORAL_ADDRESS=" + temporalSrv.Address(),
			"ACTIVITY_TEMPORAL_NAMESPACE=" + temporalSrv.Namespace(),
			"ACTIVITY_TASK_QUEUE=" + queue,
			"ACTIVITY_DEFINITION_PATHS=" + in.dir,
			"ACTIVITY_SCHEDULE_PREFIX=" + in.prefix,
		})
	}
	worker("a")
	testsupport.Eventually(t, time.Minute, "worker a polling", func() error {
		if _, pollers := describeQueue(t, in.tc, queue+".a"); pollers == 0 {
			return fmt.Errorf("no poller on %s.a yet", queue)
		}
		return nil
	})

	placed := func(id, pool string) string {
		return fmt.Sprintf("id: %s\nrun_on: %s\ntrigger: {trigger_type: cron, cron_expression: \"0 3 1 1 *\", misfire_policy: allow_all}\ninstruction: {kind: shell, cmd: pwd}\n", id, pool)
	}
	in.write("on-a.yaml", placed("it.on-a", "a"))
	in.write("on-b.yaml", placed("it.on-b", "b"))
	res := in.sync("")
	if !res.OK() {
		t.Fatalf("sync: %+v", res.Errors)
	}
	if !hasWarning(res, "it.on-b", "no worker polls pool b") || hasWarning(res, "it.on-a", "") {
		t.Errorf("sync warnings = %+v, want one for it.on-b only", res.Warnings)
	}

	var ids []string
	for range 20 {
		ids = append(ids, in.startRun("it.on-a"))
	}
	for _, id := range ids {
		if r := in.waitRun(id); r.Status != store.RunSucceeded || filepath.Base(strings.TrimSpace(r.Stdout)) != "a" {
			t.Errorf("run %s: %s on %q, want succeeded on worker a", id, r.Status, strings.TrimSpace(r.Stdout))
		}
	}

	waiting := in.startRun("it.on-b")
	qb := queue + ".b"
	testsupport.Eventually(t, 30*time.Second, "the pool-b run queued in "+qb, func() error {
		backlog, pollers := describeQueue(t, in.tc, qb)
		if pollers != 0 || backlog < 1 {
			return fmt.Errorf("backlog %d, %d pollers; want the run's task queued and no worker", backlog, pollers)
		}
		return nil
	})
	var r store.Run
	if code := in.call("GET", "/api/v1/runs/"+waiting, "", &r); code == 200 && r.Status != store.RunPending {
		t.Fatalf("run %s with no worker for pool b is %s, want pending", waiting, r.Status)
	}
	worker("b")
	if r := in.waitRun(waiting); r.Status != store.RunSucceeded || filepath.Base(strings.TrimSpace(r.Stdout)) != "b" {
		t.Errorf("run %s: %s on %q, want succeeded on worker b", waiting, r.Status, strings.TrimSpace(r.Stdout))
	}
}

// hasWarning reports a sync warning about the definition whose message
// contains text.
func hasWarning(res *syncer.Result, id, text string) bool {
	for _, w := range res.Warnings {
		if w.DefinitionID == id && strings.Contains(w.Message, text) {
			return true
		}
	}
	return false
}

// startRun starts a manual run through the API and returns its id.
func (in *instance) startRun(definitionID string) string {
	in.t.Helper()
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := in.call("POST", "/api/v1/definitions/"+definitionID+"/run", "", &started); code != 202 {
		in.t.Fatalf("run %s: %d", definitionID, code)
	}
	return started.RunID
}

// describeQueue is Temporal's view of a task queue's workflow tasks.
func describeQueue(t *testing.T, c client.Client, q string) (backlog int64, pollers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: temporalSrv.Namespace(), TaskQueue: &taskqueuepb.TaskQueue{Name: q, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW, ReportStats: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetStats().GetApproximateBacklogCount(), len(resp.GetPollers())
}

var binary struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// buildBinary builds cmd/activity-core once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "activity-core-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "activity-core")
		cmd := exec.Command("go", "build", "-o", binary.path, "github.com/coulomb/activity-core/cmd/activity-core")
		binary.out, binary.err = cmd.CombinedOutput()
	})
	if binary.err != nil {
		t.Fatalf("building activity-core: %v\n%s", binary.err, binary.out)
	}
	return binary.path
}

// poolWorker is one `serve --roles worker --pools P` process, run in a
// directory named P.
type poolWorker struct {
	cmd *exec.Cmd
	log string
}

func startPoolWorker(t *testing.T, bin, pool string, env []string) *poolWorker {
	t.Helper()
	dir := filepath.Join(t.TempDir(), pool)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "worker-"+pool+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--roles", "worker", "--pools", pool)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &poolWorker{cmd: cmd, log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			_ = err // the exit status of a stopped worker says nothing
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err := <-done
			_ = err // killed: its exit status is the kill's
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("worker %s log:\n%s", pool, b)
		}
	})
	return w
}
