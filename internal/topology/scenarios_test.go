package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// TestTopologyLayout: every process of Layout is up, the Temporal cluster
// serves the namespace with activity-core's search attributes, and the
// stream is replicated on all three NATS nodes with every replica current.
func TestTopologyLayout(t *testing.T) {
	c := getCluster(t)
	for _, p := range Layout {
		if !c.procs[p.Name].running() {
			t.Errorf("%s is not running", p.Name)
		}
	}
	if len(c.procs) != len(Layout) {
		t.Errorf("%d processes started, Layout has %d", len(c.procs), len(Layout))
	}
	if err := c.streamHealthy(); err != nil {
		t.Error(err)
	}
	for _, api := range []string{"api-1", "api-2"} {
		var ready map[string]any
		c.mustCall(t, api, "GET", "/readyz", "", &ready)
	}
	t.Logf("bring-up took %s", c.bringUp.Round(time.Millisecond))
}

// TestTopologyStreamReplicas: the router creates the stream with
// ACTIVITY_NATS_STREAM_REPLICAS replicas.
func TestTopologyStreamReplicas(t *testing.T) {
	c := getCluster(t)
	if c.streamCreatedReplicas != StreamReplicas {
		t.Errorf("the router created stream %s with %d replica(s) though ACTIVITY_NATS_STREAM_REPLICAS=%d "+
			"(internal/app must pass Engines.NATSStreamReplicas to router.Config.StreamReplicas)",
			streamName, c.streamCreatedReplicas, StreamReplicas)
	}
}

// TestTopology1Seed000Rename is seed 000 on the production topology: the
// hourly definition renamed to a daily one, another disabled and an event
// definition retargeted, synced through api-1 while api-2 serves reads.
// Every replica sees the change (api-2 reads it, a worker runs the new
// definition, a router matches the new event type) and no process
// restarts.
func TestTopology1Seed000Rename(t *testing.T) {
	c := getCluster(t)
	d := c.scenarioDefs(t, "s1")
	before := c.pids("")
	hook := func(subject string) string {
		return fmt.Sprintf("id: s1.on-push\ntrigger: {trigger_type: event, event_type: %s}\ninstruction: {kind: shell, cmd: 'echo hooked'}\n", subject)
	}
	d.write("report.yaml", cronDef("s1.customer-report-hourly", "0 * * * *", ""))
	d.write("cleanup.yaml", cronDef("s1.cleanup", "30 2 * * *", ""))
	d.write("hook.yaml", hook("org.topology.s1.pushed"))

	// api-2 serves reads the whole time.
	var reads, readErrs atomic.Int64
	var firstErr atomic.Value
	stopReads := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stopReads:
				return
			default:
			}
			var page map[string]any
			if _, err := c.call("api-2", "GET", "/api/v1/definitions", "", &page); err != nil {
				readErrs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
			reads.Add(1)
			time.Sleep(20 * time.Millisecond) // pacing the reads, not waiting for a result
		}
	})

	res := c.sync(t, "api-1", "")
	if !res.OK() || res.Schedules.Upserted != 2 || res.Definitions.Upserted != 3 {
		t.Fatalf("first sync: %+v %+v %+v", res.Definitions, res.Schedules, res.Errors)
	}
	c.waitSchedules(t, "s1.", map[string]bool{"s1.customer-report-hourly": false, "s1.cleanup": false})

	// The rename (hourly -> daily), a disable, and the event definition
	// moved to another subject.
	d.remove("report.yaml")
	d.write("report-daily.yaml", cronDef("s1.customer-report-daily", "0 6 * * *", ""))
	d.write("cleanup.yaml", cronDef("s1.cleanup", "30 2 * * *", "enabled: false\n"))
	d.write("hook.yaml", hook("org.topology.s1.merged"))
	res = c.sync(t, "api-1", "")
	if !res.OK() || res.Schedules.Upserted != 1 || res.Schedules.Deleted != 1 || res.Schedules.Paused != 1 || res.Definitions.Removed != 1 {
		t.Fatalf("rename sync: %+v %+v %+v", res.Definitions, res.Schedules, res.Errors)
	}
	// Temporal: the daily schedule live, the hourly one gone, cleanup paused.
	c.waitSchedules(t, "s1.", map[string]bool{"s1.customer-report-daily": false, "s1.cleanup": true})

	// api-2 (which did not sync) reads the new state.
	var def struct {
		ID      string `json:"id"`
		Enabled bool   `json:"enabled"`
	}
	c.mustCall(t, "api-2", "GET", "/api/v1/definitions/s1.customer-report-daily", "", &def)
	if def.ID != "s1.customer-report-daily" || !def.Enabled {
		t.Errorf("api-2 reads %+v", def)
	}
	// The store: hourly kept for history but marked removed; cleanup
	// disabled.
	var removedAt *time.Time
	var cleanupEnabled bool
	if err := c.db.QueryRow(c.ctx, `SELECT removed_at FROM definitions WHERE id = 's1.customer-report-hourly'`).Scan(&removedAt); err != nil || removedAt == nil {
		t.Errorf("hourly definition in the store: removed_at=%v err=%v", removedAt, err)
	}
	if err := c.db.QueryRow(c.ctx, `SELECT enabled FROM definitions WHERE id = 's1.cleanup'`).Scan(&cleanupEnabled); err != nil || cleanupEnabled {
		t.Errorf("cleanup in the store: enabled=%v err=%v", cleanupEnabled, err)
	}

	// A worker runs the new definition (started through api-2).
	var started struct {
		RunID string `json:"run_id"`
	}
	c.mustCall(t, "api-2", "POST", "/api/v1/definitions/s1.customer-report-daily/run", "", &started)
	run := c.waitRun(t, "api-2", started.RunID)
	if run.Status != store.RunSucceeded || strings.TrimSpace(run.Stdout) != "s1.customer-report-daily" {
		t.Errorf("run of the renamed definition: %s %q %s", run.Status, run.Stdout, run.Error)
	}
	// The routers match the new subject and no longer the old one.
	if err := c.publishEvents(c.ctx, "org.topology.s1.pushed", "s1-old", 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.publishEvents(c.ctx, "org.topology.s1.merged", "s1-new", 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	c.waitRunsTerminal(t, "s1.on-push", 1, time.Minute)
	c.waitConsumerDrained(t, time.Minute)
	var wid string
	if err := c.db.QueryRow(c.ctx, `SELECT workflow_id FROM runs WHERE definition_id = 's1.on-push'`).Scan(&wid); err != nil || wid != "activity-core:evt:s1.on-push:s1-new-0" {
		t.Errorf("event run workflow %q (%v), want the merged event's", wid, err)
	}
	if st := c.workflowStatus(t, wid); st != "Completed" {
		t.Errorf("workflow %s: %s", wid, st)
	}

	// Repeating the sync changes nothing.
	res = c.sync(t, "api-1", "")
	if n := res.Schedules.Upserted + res.Schedules.Paused + res.Schedules.Deleted + res.Definitions.Upserted; n != 0 || !res.OK() {
		t.Errorf("repeat sync: %+v %+v", res.Schedules, res.Definitions)
	}

	close(stopReads)
	readers.Wait()
	if reads.Load() == 0 || readErrs.Load() != 0 {
		t.Errorf("api-2 reads during the syncs: %d, failed %d (first: %v)", reads.Load(), readErrs.Load(), firstErr.Load())
	}
	if after := c.pids(""); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a process restarted: before %v, after %v", before, after)
	}
}

// waitRun polls GET /api/v1/runs/{id} until the run is terminal.
func (c *cluster) waitRun(t testing.TB, api, id string) store.Run {
	t.Helper()
	var r store.Run
	err := testsupport.Poll(3*time.Minute, func() error {
		r = store.Run{}
		if _, err := c.call(api, "GET", "/api/v1/runs/"+id, "", &r); err != nil {
			return err
		}
		if !r.Status.Terminal() {
			return fmt.Errorf("run %s is %s", id, r.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTopology2ConcurrentSyncs: twenty syncs at once, spread over both api
// replicas, are serialized through the store (their recorded intervals do
// not overlap) and leave the right end state.
func TestTopology2ConcurrentSyncs(t *testing.T) {
	c := getCluster(t)
	d := c.scenarioDefs(t, "s2")
	want := map[string]bool{}
	for i := range 10 {
		id := fmt.Sprintf("s2.d%02d", i)
		d.write(id+".yaml", cronDef(id, fmt.Sprintf("%d 4 1 1 *", i), ""))
		want[id] = false
	}
	start := time.Now()
	results := make([]*syncer.Result, 20)
	errs := make([]error, 20)
	parallel(20, func(i int) {
		var res syncer.Result
		_, errs[i] = c.call([]string{"api-1", "api-2"}[i%2], "POST", "/admin/sync", "", &res)
		results[i] = &res
	})
	upserted := 0
	ids := map[string]bool{}
	for i, res := range results {
		if errs[i] != nil || !res.OK() {
			t.Errorf("sync %d: %v %+v", i, errs[i], res.Errors)
			continue
		}
		upserted += res.Schedules.Upserted
		ids[res.SyncID] = true
	}
	if upserted != 10 {
		t.Errorf("schedules upserted %d times over 20 syncs, want 10 (syncs overlapped?)", upserted)
	}
	// The store recorded 20 syncs whose intervals do not overlap.
	rows, err := c.db.Query(c.ctx, `SELECT sync_id, started_at, finished_at FROM sync_results WHERE NOT dry_run AND started_at >= $1 ORDER BY started_at`, start.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var prevEnd time.Time
	n := 0
	for rows.Next() {
		var id string
		var s, f time.Time
		if err := rows.Scan(&id, &s, &f); err != nil {
			t.Fatal(err)
		}
		if !ids[id] {
			continue
		}
		n++
		if s.Before(prevEnd) {
			t.Errorf("sync %s started at %s before the previous one finished at %s", id, s, prevEnd)
		}
		prevEnd = f
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if n != 20 {
		t.Errorf("%d of the 20 syncs recorded in the store", n)
	}
	var states int
	if err := c.db.QueryRow(c.ctx, `SELECT count(*) FROM schedule_states WHERE definition_id LIKE 's2.%'`).Scan(&states); err != nil || states != 10 {
		t.Errorf("schedule states in the store: %d (%v), want 10", states, err)
	}
	c.waitSchedules(t, "s2.", want)
}

// TestTopology3WorkerKilledMidRun: the worker running a shell command is
// SIGKILLed. The command dies with it (parent-death signal), Temporal
// notices the lost activity (heartbeat timeout), and the run is recorded
// failed with that reason — not retried on the other worker, since a
// command whose worker was lost may still have been running
// (docs/definitions.md#timeouts). The run is stored once.
func TestTopology3WorkerKilledMidRun(t *testing.T) {
	c := getCluster(t)
	d := c.scenarioDefs(t, "s3")
	marker := filepath.Join(c.dir, "s3-marker")
	d.write("slow.yaml", fmt.Sprintf(`id: s3.slow
trigger: {trigger_type: cron, cron_expression: "0 3 1 1 *"}
retry: {max_attempts: 3, initial_interval: 1s}
instruction:
  kind: shell
  cmd: 'echo "start $PPID $$" >> %s; sleep 6; echo "end $PPID" >> %s; echo finished'
`, marker, marker))
	c.sync(t, "api-1", "")
	var started struct {
		RunID      string `json:"run_id"`
		WorkflowID string `json:"workflow_id"`
	}
	c.mustCall(t, "api-1", "POST", "/api/v1/definitions/s3.slow/run", "", &started)

	// Which worker runs it: the shell's parent.
	var victim string
	err := testsupport.Poll(time.Minute, func() error {
		b, _ := os.ReadFile(marker)
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return fmt.Errorf("the command has not started")
		}
		pid, _ := strconv.Atoi(f[1])
		for _, w := range []string{"worker-1", "worker-2"} {
			if c.procs[w].pid() == pid {
				victim = w
				return nil
			}
		}
		return fmt.Errorf("the command's parent %d is no worker", pid)
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(marker)
	shellPID, _ := strconv.Atoi(strings.Fields(string(b))[2])
	t.Logf("SIGKILL %s (pid %d) mid-run; its command (pid %d) must die with it", victim, c.procs[victim].pid(), shellPID)
	c.procs[victim].kill()
	t.Cleanup(func() {
		if !c.procs[victim].running() {
			c.restartActivityCore(t, victim)
		}
	})
	if err := testsupport.Poll(30*time.Second, func() error {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", shellPID)); err == nil {
			return fmt.Errorf("command %d outlived its worker", shellPID)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	run := c.waitRun(t, "api-1", started.RunID)
	if run.Status != store.RunFailed || !strings.Contains(run.Error, "worker") {
		t.Fatalf("run after the kill: %s stdout=%q error=%s, want failed naming the lost worker", run.Status, run.Stdout, run.Error)
	}
	by, total, workflows := c.runCounts(t, "s3.slow")
	if total != 1 || workflows != 1 || by[store.RunFailed] != 1 {
		t.Errorf("store: %d runs in %d workflows %v, want one failed run", total, workflows, by)
	}
	if st := c.workflowStatus(t, started.WorkflowID); st != "Failed" {
		t.Errorf("workflow: %s, want Failed (on_failure: fail)", st)
	}
	b, _ = os.ReadFile(marker)
	if n := strings.Count(string(b), "start "); n != 1 || strings.Contains(string(b), "end ") {
		t.Errorf("the command ran %d times (or finished after its worker died):\n%s", n, b)
	}
	c.restartActivityCore(t, victim)
}

// eventDef is an event definition on org.topology.<scenario>.>.
func eventDef(id, scenario string) string {
	return fmt.Sprintf("id: %s\ntrigger: {trigger_type: event, event_type: org.topology.%s.>}\ninstruction: {kind: shell, cmd: 'true'}\n", id, scenario)
}

// TestTopology4RouterKilledDuringEvents: router-1 is SIGKILLed while 1,000
// events are published; router-2 carries on, the messages router-1 held
// unacknowledged are redelivered after the ack wait, and every event gets
// exactly one run.
func TestTopology4RouterKilledDuringEvents(t *testing.T) {
	const n = 1000
	c := getCluster(t)
	d := c.scenarioDefs(t, "s4")
	d.write("on-event.yaml", eventDef("s4.on-event", "s4"))
	c.sync(t, "api-1", "")
	t.Cleanup(func() {
		if !c.procs["router-1"].running() {
			c.restartActivityCore(t, "router-1")
		}
	})
	err := c.publishEvents(c.ctx, "org.topology.s4.tick", "s4", n, 0, func(i int) {
		if i == n/3 {
			c.procs["router-1"].kill()
			t.Logf("SIGKILLed router-1 after %d events", i+1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c.restartActivityCore(t, "router-1")
	by := c.waitRunsTerminal(t, "s4.on-event", n, 5*time.Minute)
	if by[store.RunSucceeded] != n {
		t.Errorf("run statuses %v, want %d succeeded:\n%s", by, n, strings.Join(c.unsuccessful(t, "s4.on-event"), "\n"))
	}
	if _, total, workflows := c.runCounts(t, "s4.on-event"); workflows != n || total != n {
		t.Errorf("%d runs in %d workflows, want %d in %d", total, workflows, n, n)
	}
	c.waitWorkflowCount(t, `WorkflowId STARTS_WITH "activity-core:evt:s4.on-event:"`, n)
	c.waitConsumerDrained(t, time.Minute)
}

// TestTopology5NATSNodeKilled: the stream's leader node is SIGKILLed and
// restarted while events flow; the stream stays available on the other
// two, the restarted node catches up, and every event runs exactly once.
func TestTopology5NATSNodeKilled(t *testing.T) {
	const n = 300
	c := getCluster(t)
	d := c.scenarioDefs(t, "s5")
	d.write("on-event.yaml", eventDef("s5.on-event", "s5"))
	c.sync(t, "api-1", "")
	s, err := c.js.Stream(c.ctx, streamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := info.Cluster.Leader
	if c.procs[victim] == nil {
		t.Fatalf("stream leader %q is not a harness process", victim)
	}
	t.Cleanup(func() {
		if !c.procs[victim].running() {
			_ = c.procs[victim].start()
		}
	})
	var restartErr error
	err = c.publishEvents(c.ctx, "org.topology.s5.tick", "s5", n, 10*time.Millisecond, func(i int) {
		switch i {
		case n / 3:
			c.procs[victim].kill()
			t.Logf("SIGKILLed %s (the stream leader) after %d events", victim, i+1)
		case 2 * n / 3:
			restartErr = c.procs[victim].start()
			t.Logf("restarted %s after %d events", victim, i+1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	by := c.waitRunsTerminal(t, "s5.on-event", n, 4*time.Minute)
	if by[store.RunSucceeded] != n {
		t.Errorf("run statuses %v, want %d succeeded:\n%s", by, n, strings.Join(c.unsuccessful(t, "s5.on-event"), "\n"))
	}
	if _, total, workflows := c.runCounts(t, "s5.on-event"); workflows != n || total != n {
		t.Errorf("%d runs in %d workflows, want %d in %d", total, workflows, n, n)
	}
	if err := testsupport.Poll(time.Minute, c.streamHealthy); err != nil {
		t.Errorf("after the restart: %v", err)
	}
	c.waitConsumerDrained(t, time.Minute)
	// The stream holds each event once (publish retries were deduplicated).
	var count int
	cons, err := s.OrderedConsumer(c.ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"org.topology.s5.>"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for count < n {
		msgs, err := cons.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range msgs.Messages() {
			seen[m.Headers().Get("Nats-Msg-Id")]++
			got++
		}
		if got == 0 {
			break
		}
		count += got
	}
	if count != n || len(seen) != n {
		t.Errorf("stream holds %d s5 messages with %d distinct ids, want %d", count, len(seen), n)
	}
}

// TestTopology6FrontendRestartDuringSync: the Temporal frontend is killed
// while a sync projects 300 schedules; the sync reports the error (the
// definitions it stored are kept), and the next sync, after the frontend
// is back, converges.
func TestTopology6FrontendRestartDuringSync(t *testing.T) {
	const n = 300
	c := getCluster(t)
	d := c.scenarioDefs(t, "s6")
	want := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("s6.d%03d", i)
		d.write(id+".yaml", cronDef(id, fmt.Sprintf("%d %d 1 1 *", i%60, i%24), ""))
		want[id] = false
	}
	fe := c.procs["temporal-frontend"]
	t.Cleanup(func() {
		if !fe.running() {
			_ = fe.start()
			_ = testsupport.Poll(time.Minute, func() error {
				_, err := c.tc.CheckHealth(c.ctx, &client.CheckHealthRequest{})
				return err
			})
		}
	})
	type result struct {
		res  syncer.Result
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.code, r.err = c.call("api-1", "POST", "/admin/sync", "", &r.res)
		done <- r
	}()
	// Kill the frontend once the definitions stage has stored them, i.e.
	// while the schedules stage runs.
	if err := testsupport.Poll(time.Minute, func() error {
		var k int
		if err := c.db.QueryRow(c.ctx, `SELECT count(*) FROM definitions WHERE id LIKE 's6.%' AND removed_at IS NULL`).Scan(&k); err != nil {
			return err
		}
		if k < n {
			return fmt.Errorf("%d definitions stored", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fe.kill()
	t.Log("SIGKILLed temporal-frontend during the schedules stage")
	r := <-done
	t.Logf("sync during the outage: code %d err %v; schedules %+v; %d errors", r.code, r.err, r.res.Schedules, len(r.res.Errors)+r.res.ErrorsDropped)
	if r.err == nil && r.res.OK() {
		t.Errorf("the sync during the frontend outage reported no error: %+v", r.res.Schedules)
	}
	if r.err == nil && r.res.Definitions.Upserted != n {
		t.Errorf("definitions upserted %d, want %d", r.res.Definitions.Upserted, n)
	}
	if err := fe.start(); err != nil {
		t.Fatal(err)
	}
	if err := testsupport.Poll(2*time.Minute, func() error {
		_, err := c.tc.CheckHealth(c.ctx, &client.CheckHealthRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var res *syncer.Result
	if err := testsupport.Poll(2*time.Minute, func() error {
		var rr syncer.Result
		if _, err := c.call("api-2", "POST", "/admin/sync", "", &rr); err != nil {
			return err
		}
		res = &rr
		if !rr.OK() {
			return fmt.Errorf("sync after the restart: %+v", rr.Errors)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if res.Definitions.Upserted != 0 {
		t.Errorf("the definitions were not kept from the failed sync: %+v", res.Definitions)
	}
	c.waitSchedules(t, "s6.", want)
	var states int
	if err := c.db.QueryRow(c.ctx, `SELECT count(*) FROM schedule_states WHERE definition_id LIKE 's6.%'`).Scan(&states); err != nil || states != n {
		t.Errorf("schedule states %d (%v), want %d", states, err, n)
	}
	res = c.sync(t, "api-1", "")
	if res.Schedules.Upserted+res.Schedules.Deleted+res.Schedules.Paused != 0 || res.Schedules.Unchanged < n || !res.OK() {
		t.Errorf("repeat sync: %+v %+v", res.Schedules, res.Errors)
	}
	// The workers' pollers came back too: a manual run completes.
	var started struct {
		RunID string `json:"run_id"`
	}
	c.mustCall(t, "api-2", "POST", "/api/v1/definitions/s6.d000/run", "", &started)
	if r := c.waitRun(t, "api-2", started.RunID); r.Status != store.RunSucceeded {
		t.Errorf("manual run after the restart: %s %s", r.Status, r.Error)
	}
}

// TestTopology7PostgresRestart: the PostgreSQL instance that holds both
// Temporal's and activity-core's data is stopped (fast shutdown, every
// connection cut) and started again while events flow. Every role
// reconnects without a restart, every event runs exactly once, and
// nothing stored before is lost.
func TestTopology7PostgresRestart(t *testing.T) {
	const n = 200
	c := getCluster(t)
	d := c.scenarioDefs(t, "s7")
	// max_attempts 1 (the default): a completion the worker could not
	// report while PostgreSQL (and so Temporal's persistence) was down is
	// lost and Temporal sees a heartbeat timeout (1 min), but the attempt
	// kept its result on the run first, so the run is still recorded
	// succeeded, not retried and not failed.
	d.write("on-event.yaml", eventDef("s7.on-event", "s7"))
	// A manual run whose command finishes while PostgreSQL is down: its
	// result is reported exactly during the outage.
	startedMarker, stoppedMarker := filepath.Join(c.dir, "s7-started"), filepath.Join(c.dir, "s7-pg-stopped")
	d.write("finish-in-outage.yaml", fmt.Sprintf(`id: s7.finish-in-outage
trigger: {trigger_type: cron, cron_expression: "0 7 1 1 *"}
instruction:
  kind: shell
  cmd: 'touch %s; while [ ! -e %s ]; do sleep 0.05; done; echo finished'
`, startedMarker, stoppedMarker))
	c.sync(t, "api-1", "")
	var inOutage struct {
		RunID string `json:"run_id"`
	}
	c.mustCall(t, "api-1", "POST", "/api/v1/definitions/s7.finish-in-outage/run", "", &inOutage)
	if err := testsupport.Poll(time.Minute, func() error {
		_, err := os.Stat(startedMarker)
		return err
	}); err != nil {
		t.Fatalf("the manual run's command never started: %v", err)
	}
	ac := c.pids("activity-core")
	var runsBefore, defsBefore, syncsBefore int
	t0 := time.Now()
	if err := c.db.QueryRow(c.ctx, `SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM definitions), (SELECT count(*) FROM sync_results)`).Scan(&runsBefore, &defsBefore, &syncsBefore); err != nil {
		t.Fatal(err)
	}
	pg := c.procs["postgres"]
	t.Cleanup(func() {
		if !pg.running() {
			_ = pg.start()
		}
	})
	var pgErr error
	var downFor time.Duration
	// About 5s of publishing (100 events at 50ms) with PostgreSQL down.
	err := c.publishEvents(c.ctx, "org.topology.s7.tick", "s7", n, 50*time.Millisecond, func(i int) {
		switch i {
		case n / 4:
			pg.stop(syscall.SIGINT, 30*time.Second)
			downFor = time.Duration(time.Now().UnixNano())
			if err := os.WriteFile(stoppedMarker, nil, 0o644); err != nil {
				t.Error(err)
			}
			t.Logf("stopped PostgreSQL after %d events", i+1)
		case 3 * n / 4:
			pgErr = pg.start()
			downFor = time.Duration(time.Now().UnixNano()) - downFor
			t.Logf("started PostgreSQL after %d events (down %s)", i+1, downFor.Round(time.Millisecond))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	if err := c.waitPostgres(time.Minute); err != nil {
		t.Fatal(err)
	}
	by := c.waitRunsTerminal(t, "s7.on-event", n, 5*time.Minute)
	if by[store.RunSucceeded] != n {
		t.Errorf("run statuses %v, want %d succeeded:\n%s", by, n, strings.Join(c.unsuccessful(t, "s7.on-event"), "\n"))
	}
	if r := c.waitRun(t, "api-2", inOutage.RunID); r.Status != store.RunSucceeded || r.Stdout != "finished\n" {
		t.Errorf("the run that finished while PostgreSQL was down: %s %q %s", r.Status, r.Stdout, r.Error)
	}
	for _, p := range Layout {
		if p.Kind == "activity-core" && c.procs[p.Name].logContains("completion report was lost") {
			t.Logf("%s recorded a run whose completion report was lost as succeeded", p.Name)
		}
	}
	c.waitConsumerDrained(t, time.Minute)
	// Nothing stored before the restart is lost.
	var runsOld, defsNow, syncsOld int
	if err := c.db.QueryRow(c.ctx, `SELECT (SELECT count(*) FROM runs WHERE created_at < $1), (SELECT count(*) FROM definitions), (SELECT count(*) FROM sync_results WHERE started_at < $1)`, t0).Scan(&runsOld, &defsNow, &syncsOld); err != nil {
		t.Fatal(err)
	}
	if runsOld != runsBefore || defsNow != defsBefore || syncsOld != syncsBefore {
		t.Errorf("before the restart: %d runs, %d definitions, %d syncs; after: %d, %d, %d", runsBefore, defsBefore, syncsBefore, runsOld, defsNow, syncsOld)
	}
	// Every role reconnected in place: both api replicas sync, a worker
	// runs, the routers routed (above), and no process restarted.
	for _, api := range []string{"api-1", "api-2"} {
		if err := testsupport.Poll(time.Minute, func() error {
			var res syncer.Result
			if _, err := c.call(api, "POST", "/admin/sync", "", &res); err != nil {
				return err
			}
			if !res.OK() {
				return fmt.Errorf("%s sync: %+v", api, res.Errors)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	if after := c.pids("activity-core"); fmt.Sprint(after) != fmt.Sprint(ac) {
		t.Errorf("an activity-core process restarted: %v -> %v", ac, after)
	}
	for _, p := range Layout {
		if p.Kind == "temporal" && !c.procs[p.Name].running() {
			t.Errorf("%s exited during the PostgreSQL restart:\n%s", p.Name, c.procs[p.Name].tail(20))
		}
	}
}
