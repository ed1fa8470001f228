package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/router"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/testsupport"
)

var httpClient = &http.Client{Timeout: 5 * time.Minute}

// call sends an authenticated request to an api replica and decodes a
// 2xx JSON body into out. It returns the status code, or an error when
// the request did not complete.
func (c *cluster) call(api, method, path, body string, out any) (int, error) {
	req, err := http.NewRequest(method, c.apiURL[api]+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s on %s: %d %s", method, path, api, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// mustCall is call that fails the test on any error or non-2xx status.
func (c *cluster) mustCall(t testing.TB, api, method, path, body string, out any) {
	t.Helper()
	if _, err := c.call(api, method, path, body, out); err != nil {
		t.Fatal(err)
	}
}

// sync runs POST /admin/sync on an api replica.
func (c *cluster) sync(t testing.TB, api, query string) *syncer.Result {
	t.Helper()
	var res syncer.Result
	c.mustCall(t, api, "POST", "/admin/sync"+query, "", &res)
	return &res
}

// defsDir is a per-scenario subdirectory of the shared definitions
// directory, removed (and synced away) when the test ends.
type defsDir struct {
	c   *cluster
	t   testing.TB
	dir string
}

func (c *cluster) scenarioDefs(t testing.TB, name string) *defsDir {
	t.Helper()
	d := &defsDir{c: c, t: t, dir: filepath.Join(c.defs, name)}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(d.dir)
		// Remove its definitions and schedules so scenarios stay apart; a
		// failing cleanup sync is reported, not fatal.
		if _, err := c.call("api-1", "POST", "/admin/sync", "", nil); err != nil {
			t.Logf("cleanup sync: %v", err)
		}
	})
	return d
}

func (d *defsDir) write(name, content string) {
	d.t.Helper()
	if err := os.WriteFile(filepath.Join(d.dir, name), []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

func (d *defsDir) remove(name string) {
	d.t.Helper()
	if err := os.Remove(filepath.Join(d.dir, name)); err != nil {
		d.t.Fatal(err)
	}
}

func cronDef(id, expr, extra string) string {
	return fmt.Sprintf("id: %s\ntrigger: {trigger_type: cron, cron_expression: %q}\ninstruction: {kind: shell, cmd: 'echo %s'}\n%s", id, expr, id, extra)
}

// schedules lists the managed schedules whose definition id starts with
// idPrefix: definition id -> paused.
func (c *cluster) schedules(idPrefix string) (map[string]bool, error) {
	got := map[string]bool{}
	it, err := c.tc.ScheduleClient().List(c.ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, err
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		id := strings.TrimPrefix(e.ID, "activity-core:")
		if id != e.ID && strings.HasPrefix(id, idPrefix) {
			got[id] = e.Paused
		}
	}
	return got, nil
}

// waitSchedules polls Temporal's schedule listing (visibility lags
// writes) until the schedules under idPrefix are exactly want.
func (c *cluster) waitSchedules(t testing.TB, idPrefix string, want map[string]bool) {
	t.Helper()
	var got map[string]bool
	err := testsupport.Poll(60*time.Second, func() error {
		var err error
		if got, err = c.schedules(idPrefix); err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("schedules %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runCounts counts the stored runs of a definition by status, and the
// distinct workflow ids among them.
func (c *cluster) runCounts(t testing.TB, definitionID string) (byStatus map[store.RunStatus]int, total, workflows int) {
	t.Helper()
	rows, err := c.db.Query(c.ctx, `SELECT status, count(*) FROM runs WHERE definition_id = $1 GROUP BY status`, definitionID)
	if err != nil {
		t.Fatal(err)
	}
	byStatus = map[store.RunStatus]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		byStatus[store.RunStatus(s)] = n
		total += n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.db.QueryRow(c.ctx, `SELECT count(DISTINCT workflow_id) FROM runs WHERE definition_id = $1`, definitionID).Scan(&workflows); err != nil {
		t.Fatal(err)
	}
	return byStatus, total, workflows
}

// unsuccessful describes the stored runs of a definition that did not
// succeed: status, stage, attempt and error.
func (c *cluster) unsuccessful(t testing.TB, definitionID string) []string {
	t.Helper()
	rows, err := c.db.Query(c.ctx, `SELECT id, status, stage, attempt, error, workflow_id FROM runs WHERE definition_id = $1 AND status <> 'succeeded' ORDER BY created_at LIMIT 10`, definitionID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, status, stage, msg, wid string
		var attempt int
		if err := rows.Scan(&id, &status, &stage, &attempt, &msg, &wid); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("run %s (%s): %s at stage %q, attempt %d: %s", id, wid, status, stage, attempt, msg))
	}
	return out
}

// waitRunsTerminal waits until want runs of the definition are stored and
// all are terminal; it fails the test if more than want appear.
func (c *cluster) waitRunsTerminal(t testing.TB, definitionID string, want int, timeout time.Duration) map[store.RunStatus]int {
	t.Helper()
	var by map[store.RunStatus]int
	var total int
	err := testsupport.Poll(timeout, func() error {
		by, total, _ = c.runCounts(t, definitionID)
		terminal := 0
		for s, n := range by {
			if s.Terminal() {
				terminal += n
			}
		}
		if total > want {
			return nil // reported below
		}
		if terminal != want {
			return fmt.Errorf("%s: %d runs stored, %d terminal, want %d terminal: %v", definitionID, total, terminal, want, by)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != want {
		t.Fatalf("%s: %d runs stored, want exactly %d: %v", definitionID, total, want, by)
	}
	return by
}

// publishEvents publishes n events on subject with Nats-Msg-Id
// <idPrefix>-<i>, retrying each until JetStream acknowledges it (the
// publisher side of exactly-once: a retry with the same id is
// deduplicated). onPublished, if set, is called after each ack.
func (c *cluster) publishEvents(ctx context.Context, subject, idPrefix string, n int, every time.Duration, onPublished func(i int)) error {
	for i := range n {
		payload := fmt.Sprintf(`{"seq":%d,"repo_slug":"coulomb/topology"}`, i)
		id := fmt.Sprintf("%s-%d", idPrefix, i)
		err := testsupport.Poll(2*time.Minute, func() error {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_, err := c.js.Publish(pctx, subject, []byte(payload), jetstream.WithMsgID(id))
			return err
		})
		if err != nil {
			return fmt.Errorf("publishing %s: %w", id, err)
		}
		if onPublished != nil {
			onPublished(i)
		}
		if every > 0 {
			time.Sleep(every) // pacing the load, not waiting for a result
		}
	}
	return nil
}

// waitConsumerDrained waits until the routers' durable consumer has
// nothing pending or unacknowledged.
func (c *cluster) waitConsumerDrained(t testing.TB, timeout time.Duration) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	err := testsupport.Poll(timeout, func() error {
		ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
		defer cancel()
		s, err := c.js.Stream(ctx, streamName)
		if err != nil {
			return err
		}
		// The routers' shared durable (other, ephemeral consumers such as
		// a test's ordered reader are not the routers').
		cons, err := s.Consumer(ctx, router.DurableDefault)
		if err != nil {
			return fmt.Errorf("the routers' durable consumer %s: %w", router.DurableDefault, err)
		}
		if info, err = cons.Info(ctx); err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer %s: pending %d, ack pending %d", info.Name, info.NumPending, info.NumAckPending)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// pids is every process's pid, to prove nothing restarted.
func (c *cluster) pids(kind string) map[string]int {
	out := map[string]int{}
	for _, p := range Layout {
		if kind == "" || p.Kind == kind {
			out[p.Name] = c.procs[p.Name].pid()
		}
	}
	return out
}

// workflowStatus describes a workflow in Temporal.
//
// The run record turns terminal in FinishRun, a moment before the workflow
// itself completes (it still publishes the lifecycle event), so this polls
// until the workflow has closed, for up to a minute, and returns its status.
func (c *cluster) workflowStatus(t testing.TB, id string) string {
	t.Helper()
	var status string
	err := testsupport.Poll(time.Minute, func() error {
		d, err := c.tc.DescribeWorkflowExecution(c.ctx, id, "")
		if err != nil {
			return fmt.Errorf("describe %s: %w", id, err)
		}
		status = d.WorkflowExecutionInfo.Status.String()
		if status == "Running" {
			return fmt.Errorf("workflow %s still running", id)
		}
		return nil
	})
	if err != nil && status == "" {
		t.Fatal(err)
	}
	return status
}

// waitWorkflowCount counts workflows in Temporal's visibility matching query,
// polling until it equals want (visibility is eventually consistent).
func (c *cluster) waitWorkflowCount(t testing.TB, query string, want int64) {
	t.Helper()
	err := testsupport.Poll(60*time.Second, func() error {
		resp, err := c.tc.CountWorkflow(c.ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return err
		}
		if resp.Count != want {
			return fmt.Errorf("%d workflows match %s, want %d", resp.Count, query, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// parallel runs f for i in [0,n) on n goroutines and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}
