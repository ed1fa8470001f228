package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// BenchmarkDevRSS runs a real `activity-core dev` (the binary named by
// ACTIVITY_BENCH_DEV_BIN) through ACTIVITY_BENCH_DEV_RUNS event runs
// (10,000) in batches of 250 and prints its resident set after each
// thousand runs (docs/benchmarks.md#memory-of-dev). Run it with
// -benchtime 1x; `make bench-dev-rss` builds the binary and does.
func BenchmarkDevRSS(b *testing.B) {
	bin := os.Getenv("ACTIVITY_BENCH_DEV_BIN")
	if bin == "" {
		b.Skip("set ACTIVITY_BENCH_DEV_BIN to an activity-core binary built with the embedded servers")
	}
	total := benchInt(b, "ACTIVITY_BENCH_DEV_RUNS", 10_000)
	dir := b.TempDir()
	defs := filepath.Join(dir, "defs")
	if err := os.MkdirAll(defs, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(defs, "rss.yaml"), []byte("id: bench.rss\ntrigger: {trigger_type: event, event_type: org.bench.rss}\ninstruction: {kind: shell, cmd: 'true'}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	natsAddr := testsupport.FreeAddr(b)
	cmd := exec.Command(bin, "dev", "--definitions", defs, "--data-dir", filepath.Join(dir, "data"),
		"--http", testsupport.FreeAddr(b), "--temporal-addr", testsupport.FreeAddr(b), "--nats-addr", natsAddr,
		"--admin-token", token, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "GODEBUG=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "activity-core dev is ready") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(3 * time.Minute):
		b.Fatal("dev did not become ready in 3 minutes")
	}

	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	var done, failed atomic.Int64
	if _, err := nc.Subscribe("activity.run.>", func(m *nats.Msg) {
		var ev engine.LifecycleEvent
		if json.Unmarshal(m.Data, &ev) == nil && ev.DefinitionID == "bench.rss" {
			if ev.Status != store.RunSucceeded {
				failed.Add(1)
			}
			done.Add(1)
		}
	}); err != nil {
		b.Fatal(err)
	}
	rss := func() string { return pidRSS(cmd.Process.Pid) }
	fmt.Printf("\n| runs | dev RSS |\n|---|---|\n| 0 | %s |\n", rss())
	const batch = 250
	start := time.Now()
	for b.Loop() {
		for sent := 0; sent < total; {
			n := min(batch, total-sent)
			for i := range n {
				id := fmt.Sprintf("rss-%d", sent+i)
				if _, err := js.PublishAsync("org.bench.rss", []byte(`{"n":1}`), jetstream.WithMsgID(id)); err != nil {
					b.Fatal(err)
				}
			}
			<-js.PublishAsyncComplete()
			sent += n
			testsupport.Eventually(b, 5*time.Minute, "every run finished", func() error {
				if d := done.Load(); d < int64(sent) {
					return fmt.Errorf("%d of %d runs finished", d, sent)
				}
				return nil
			})
			if sent%1000 == 0 || sent == total {
				fmt.Printf("| %d | %s |\n", sent, rss())
			}
		}
	}
	b.StopTimer()
	if failed.Load() > 0 {
		b.Errorf("%d runs did not succeed", failed.Load())
	}
	fmt.Printf("\n%d runs in %s (%.1f runs/s)\n", total, time.Since(start).Round(time.Second), float64(total)/time.Since(start).Seconds())
	kib, _ := strconv.Atoi(strings.Fields(rss())[0])
	b.ReportMetric(float64(kib)/1024, "final-RSS-MiB")
}

// pidRSS is a process's resident set and its peak, from /proc.
func pidRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "0 unknown"
	}
	var rss, hwm string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = strings.TrimSpace(v)
		}
	}
	return rss + " (peak " + hwm + ")"
}
