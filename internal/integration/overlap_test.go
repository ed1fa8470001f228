package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// TestManualRunNeverOverlaps: misfire_policy skip holds whatever started
// the run. While a manual run of a `* * * * *` definition runs, a second
// manual run and the schedule's next fire are recorded skipped with reason
// overlap, naming the run that holds the definition; the guard is given
// back when a run ends, canceled runs included.
func TestManualRunNeverOverlaps(t *testing.T) {
	in := start(t)
	dir := t.TempDir()
	release := filepath.Join(dir, "release")
	// Every run marks that it started, then blocks until the test lets it go.
	in.write("overlap.yaml", fmt.Sprintf(`id: it.overlap
trigger: {trigger_type: cron, cron_expression: "* * * * *"}
instruction: {kind: shell, cmd: 'touch %s/started-$ACTIVITY_RUN_ID; while [ ! -e %s ]; do sleep 0.05; done', timeout: 5m}
`, dir, release))
	in.sync("")

	// holding starts manual runs until one holds the guard (a scheduled
	// fire may hold it first: then the manual run is skipped and the test
	// lets the scheduled one finish).
	holding := func() (runID, workflowID string) {
		t.Helper()
		testsupport.Eventually(t, 3*time.Minute, "a manual run holding the definition", func() error {
			started := in.manualRun("it.overlap")
			testsupport.Eventually(t, time.Minute, "run "+started.RunID+" started or skipped", func() error {
				if _, err := os.Stat(filepath.Join(dir, "started-"+started.RunID)); err == nil {
					runID, workflowID = started.RunID, started.WorkflowID
					return nil
				}
				var r store.Run
				if in.call("GET", "/api/v1/runs/"+started.RunID, "", &r) == 200 && r.Status == store.RunSkipped {
					return nil
				}
				return errors.New("neither")
			})
			if runID == "" {
				if err := os.WriteFile(release, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				in.waitRunning("it.overlap", 0)
				_ = os.Remove(release)
				return errors.New("a scheduled run held the definition")
			}
			return nil
		})
		return runID, workflowID
	}
	holder, _ := holding()

	second := in.manualRun("it.overlap")
	r := in.waitRun(second.RunID)
	if r.Status != store.RunSkipped || !strings.HasPrefix(r.SkipReason, "overlap: run "+holder+" ") {
		t.Fatalf("second manual run while %s runs: %s %q", holder, r.Status, r.SkipReason)
	}
	if _, err := os.Stat(filepath.Join(dir, "started-"+second.RunID)); err == nil {
		t.Fatal("the refused run ran its command")
	}

	// The schedule's next fire (at most a minute away) is refused too: the
	// issue's manual run at :59:15 and the :00 fire.
	var fired store.Run
	testsupport.Eventually(t, 90*time.Second, "a scheduled fire while the manual run holds the definition", func() error {
		for _, run := range in.listRuns("it.overlap") {
			// Run ids are UUIDv7: later ids are later runs.
			if run.ID > holder && run.Trigger == store.RunTriggerCron && run.Status.Terminal() {
				fired = run
				return nil
			}
		}
		return errors.New("no scheduled run finished yet")
	})
	if fired.Status != store.RunSkipped || !strings.HasPrefix(fired.SkipReason, "overlap: run "+holder+" ") {
		t.Errorf("scheduled fire while %s runs: %s %q", holder, fired.Status, fired.SkipReason)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := in.waitRun(holder); r.Status != store.RunSucceeded {
		t.Fatalf("holder: %s %s", r.Status, r.Error)
	}

	// A canceled run gives the guard back.
	if err := os.Remove(release); err != nil {
		t.Fatal(err)
	}
	canceled, wid := holding()
	if err := in.tc.CancelWorkflow(context.Background(), wid, ""); err != nil {
		t.Fatal(err)
	}
	if r := in.waitRun(canceled); r.Status != store.RunCanceled {
		t.Fatalf("canceled run: %s %s", r.Status, r.Error)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, time.Minute, "a manual run after the cancel", func() error {
		r := in.waitRun(in.manualRun("it.overlap").RunID)
		switch {
		case r.Status == store.RunSucceeded:
			return nil
		case strings.Contains(r.SkipReason, canceled):
			t.Fatalf("the canceled run %s still holds the definition: %q", canceled, r.SkipReason)
		}
		return fmt.Errorf("%s %q (a scheduled run in flight)", r.Status, r.SkipReason)
	})
}

type runStarted struct {
	RunID      string `json:"run_id"`
	WorkflowID string `json:"workflow_id"`
}

func (in *instance) manualRun(id string) runStarted {
	in.t.Helper()
	var started runStarted
	if code := in.call("POST", "/api/v1/definitions/"+id+"/run", "", &started); code != 202 {
		in.t.Fatalf("run %s: %d", id, code)
	}
	return started
}

func (in *instance) listRuns(id string) []store.Run {
	in.t.Helper()
	var page store.RunPage
	if code := in.call("GET", "/api/v1/runs?limit=100&definition_id="+id, "", &page); code != 200 {
		in.t.Fatalf("runs of %s: %d", id, code)
	}
	return page.Runs
}

// waitRunning waits until at most n runs of the definition are running.
func (in *instance) waitRunning(id string, n int) {
	in.t.Helper()
	testsupport.Eventually(in.t, time.Minute, "runs of "+id+" finished", func() error {
		running := 0
		for _, r := range in.listRuns(id) {
			if !r.Status.Terminal() {
				running++
			}
		}
		if running > n {
			return fmt.Errorf("%d running", running)
		}
		return nil
	})
}
