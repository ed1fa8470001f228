package syncer

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// A sync warns about each enabled definition whose pool no worker polls,
// asking once per pool (docs/run-control.md#placement); a disabled one
// does not run, so it is not warned about.
func TestWarnUnpolledPools(t *testing.T) {
	dir := t.TempDir()
	onPool := func(id, pool string) string { return cronDef(id, "0 3 * * *") + "run_on: " + pool + "\n" }
	write(t, filepath.Join(dir, "a.yaml"), onPool("t.a", "a"))
	write(t, filepath.Join(dir, "b1.yaml"), onPool("t.b1", "b"))
	write(t, filepath.Join(dir, "b2.yaml"), onPool("t.b2", "b"))
	write(t, filepath.Join(dir, "b3.yaml"), onPool("t.b3", "b")+"enabled: false\n")
	write(t, filepath.Join(dir, "d.yaml"), cronDef("t.d", "0 3 * * *"))
	var asked []string
	s := newSyncer(t, newStore(t), dir)
	s.cfg.PoolWorkers = func(_ context.Context, pool string) (string, bool, error) {
		asked = append(asked, pool)
		return "q." + pool, pool != "b", nil
	}
	res := mustRun(t, s, DefaultOptions())
	if !res.OK() {
		t.Fatalf("errors: %+v", res.Errors)
	}
	slices.Sort(asked)
	if !slices.Equal(asked, []string{"a", "b", "default"}) {
		t.Errorf("asked about %v, want each pool once", asked)
	}
	var got []string
	for _, w := range res.Warnings {
		got = append(got, w.DefinitionID+" "+w.Field+": "+w.Message)
	}
	want := []string{
		"t.b1 run_on: no worker polls pool b (task queue q.b): its runs wait until one starts with --pools b (ACTIVITY_WORKER_POOLS)",
		"t.b2 run_on: no worker polls pool b (task queue q.b): its runs wait until one starts with --pools b (ACTIVITY_WORKER_POOLS)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%q\nwant\n%q", got, want)
	}
}

// When Temporal does not answer, the sync goes on without the check.
func TestWarnUnpolledPoolsTemporalDown(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), cronDef("t.a", "0 3 * * *"))
	write(t, filepath.Join(dir, "b.yaml"), cronDef("t.b", "0 4 * * *")+"run_on: b\n")
	calls := 0
	s := newSyncer(t, newStore(t), dir)
	s.cfg.PoolWorkers = func(context.Context, string) (string, bool, error) {
		calls++
		return "", false, errors.New("connection refused")
	}
	res := mustRun(t, s, DefaultOptions())
	if !res.OK() || len(res.Warnings) != 0 || calls != 1 || res.Definitions.Upserted != 2 {
		t.Errorf("ok %t, warnings %+v, %d calls, counts %+v; want a clean sync, no warning, one call", res.OK(), res.Warnings, calls, res.Definitions)
	}
}
