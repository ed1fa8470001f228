package topology

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// soakSetting reads an integer or duration knob of the soak.
func soakSetting[T int | time.Duration](t *testing.T, name string, def T) T {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out T
	switch p := any(&out).(type) {
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive integer", name, v)
		}
		*p = n
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration such as 10m", name, v)
		}
		*p = d
	}
	return out
}

// TestSoak is the soak bench (not run in CI): ACTIVITY_SOAK_DEFINITIONS
// definitions (default 10,000; half cron, half event), then
// ACTIVITY_SOAK_RATE events per second (default 100) for
// ACTIVITY_SOAK_DURATION (default 10m) on the production topology. It
// reports the cold sync time, the RSS of every process (sampled every 5s),
// and the p50/p99 of publish-to-run-start and publish-to-run-finish, and
// fails if an event is lost or doubled or an activity-core role grows
// past ACTIVITY_SOAK_MAX_RSS_MIB (default 512).
func TestSoak(t *testing.T) {
	if os.Getenv("ACTIVITY_SOAK") != "1" {
		t.Skip("set ACTIVITY_SOAK=1 (and ACTIVITY_TEST_TOPOLOGY=1) to run the soak bench")
	}
	nDefs := soakSetting(t, "ACTIVITY_SOAK_DEFINITIONS", 10000)
	rate := soakSetting(t, "ACTIVITY_SOAK_RATE", 100)
	dur := soakSetting(t, "ACTIVITY_SOAK_DURATION", 10*time.Minute)
	maxRSS := soakSetting(t, "ACTIVITY_SOAK_MAX_RSS_MIB", 512)
	c := getCluster(t)
	d := c.scenarioDefs(t, "soak")
	nEvent := nDefs / 2
	for i := range nDefs {
		id := fmt.Sprintf("soak.d%05d", i)
		if i < nEvent {
			d.write(id+".yaml", fmt.Sprintf("id: %s\ntrigger: {trigger_type: event, event_type: org.soak.e%d}\ninstruction: {kind: shell, cmd: 'true'}\n", id, i))
		} else {
			d.write(id+".yaml", cronDef(id, fmt.Sprintf("%d %d 1 1 *", i%60, i%24), ""))
		}
	}
	t0 := time.Now()
	res := c.sync(t, "api-1", "")
	coldSync := time.Since(t0)
	if !res.OK() || res.Definitions.Upserted != nDefs || res.Schedules.Upserted != nDefs-nEvent {
		t.Fatalf("cold sync: %+v %+v %v", res.Definitions, res.Schedules, res.Errors)
	}
	t0 = time.Now()
	c.sync(t, "api-2", "")
	noChange := time.Since(t0)
	t.Logf("cold sync of %d definitions (%d schedules): %s; no-change sync: %s", nDefs, nDefs-nEvent, coldSync.Round(time.Millisecond), noChange.Round(time.Millisecond))

	// RSS sampling.
	peak := map[string]int{}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	var bg sync.WaitGroup
	bg.Go(func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			mu.Lock()
			for name, p := range c.procs {
				peak[name] = max(peak[name], p.rssKiB())
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})

	// Publish at the rate; remember when each event went out.
	published := map[string]time.Time{}
	interval := time.Second / time.Duration(rate)
	deadline := time.Now().Add(dur)
	next := time.Now()
	i := 0
	for time.Now().Before(deadline) {
		id := fmt.Sprintf("soak-%d", i)
		subject := fmt.Sprintf("org.soak.e%d", rand.IntN(nEvent))
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		at := time.Now()
		_, err := c.js.Publish(pctx, subject, []byte(`{"n":`+strconv.Itoa(i)+`}`), jetstream.WithMsgID(id))
		pcancel()
		if err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
		published[id] = at
		i++
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d) // pacing the load
		}
	}
	achieved := float64(i) / time.Since(deadline.Add(-dur)).Seconds()
	// Every event gets exactly one run. If the topology cannot keep up,
	// the figures below are still reported for the runs that finished.
	publishedFor := time.Since(deadline.Add(-dur))
	var total int
	drain := soakSetting(t, "ACTIVITY_SOAK_DRAIN", 10*time.Minute)
	drainErr := testsupport.Poll(drain, func() error {
		if err := c.db.QueryRow(c.ctx, `SELECT count(*) FROM runs WHERE definition_id LIKE 'soak.%' AND status IN ('succeeded','failed','skipped','timed_out','canceled')`).Scan(&total); err != nil {
			return err
		}
		if total < i {
			return fmt.Errorf("%d of %d runs finished", total, i)
		}
		return nil
	})
	if drainErr != nil {
		t.Errorf("the topology did not keep up: %v", drainErr)
	}
	cancel()
	bg.Wait()
	rows, err := c.db.Query(c.ctx, `SELECT workflow_id, started_at, finished_at, status FROM runs WHERE definition_id LIKE 'soak.%'`)
	if err != nil {
		t.Fatal(err)
	}
	var toStart, toFinish []time.Duration
	seen := map[string]int{}
	for rows.Next() {
		var wid, status string
		var s, f *time.Time
		if err := rows.Scan(&wid, &s, &f, &status); err != nil {
			t.Fatal(err)
		}
		ev := wid[strings.LastIndex(wid, ":")+1:]
		seen[ev]++
		at, ok := published[ev]
		if !ok || s == nil || f == nil {
			continue
		}
		toStart = append(toStart, s.Sub(at))
		toFinish = append(toFinish, f.Sub(at))
	}
	if drainErr == nil && (len(seen) != i || total != i) {
		t.Errorf("%d events published, %d runs for %d distinct events", i, total, len(seen))
	}
	for ev, n := range seen {
		if n > 1 {
			t.Errorf("event %s ran %d times", ev, n)
		}
	}
	var first, last time.Time
	if err := c.db.QueryRow(c.ctx, `SELECT min(created_at), max(finished_at) FROM runs WHERE definition_id LIKE 'soak.%'`).Scan(&first, &last); err == nil && last.After(first) {
		t.Logf("runs finished: %d, %.1f/s from the first start to the last finish", len(toFinish), float64(len(toFinish))/last.Sub(first).Seconds())
	}
	pct := func(ds []time.Duration, p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ds[min(len(ds)-1, int(float64(len(ds))*p))].Round(time.Millisecond)
	}
	t.Logf("events: %d published in %s (%.1f/s achieved, %d/s asked)", i, publishedFor.Round(time.Second), achieved, rate)
	t.Logf("publish -> run started:  p50 %s  p99 %s", pct(toStart, 0.50), pct(toStart, 0.99))
	t.Logf("publish -> run finished: p50 %s  p99 %s", pct(toFinish, 0.50), pct(toFinish, 0.99))
	for _, p := range Layout {
		t.Logf("peak RSS %-18s %6d MiB", p.Name, peak[p.Name]/1024)
		if p.Kind == "activity-core" && peak[p.Name]/1024 > maxRSS {
			t.Errorf("%s peaked at %d MiB RSS, bound %d MiB", p.Name, peak[p.Name]/1024, maxRSS)
		}
	}
}
