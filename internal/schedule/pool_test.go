package schedule

import (
	"testing"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/store"
)

// A definition's schedule starts its runs on its pool's task queue; moving
// it to another pool rewrites the schedule, and back to the default pool
// restores the deployment's queue (docs/run-control.md#placement).
func TestSchedulePool(t *testing.T) {
	e := newEnv(t)
	put := func(pool string) {
		t.Helper()
		def, err := definition.Parse("p.yaml", []byte(cronYAML("p.job", "0 3 * * *", true)))
		if err != nil {
			t.Fatal(err)
		}
		def.RunOn = pool
		e.putDefs([]store.Definition{storeDef(def)}, []string{def.ID})
	}
	queue := func() string {
		t.Helper()
		_, a := runInput(t, mustDescribe(t, e.sid("p.job")))
		return a.TaskQueue
	}

	put("b")
	e.syncOK(false)
	if got, want := queue(), engine.TaskQueueDefault+".b"; got != want {
		t.Errorf("pool b: task queue = %q, want %q", got, want)
	}
	put("")
	if res := e.syncOK(false); res.Counts.Upserted != 1 {
		t.Errorf("moving to the default pool: counts %+v, want one upsert", res.Counts)
	}
	if got := queue(); got != engine.TaskQueueDefault {
		t.Errorf("default pool: task queue = %q, want %q", got, engine.TaskQueueDefault)
	}
	put(definition.PoolDefault)
	if res := e.syncOK(false); res.Counts.Unchanged != 1 {
		t.Errorf("run_on: default after none: counts %+v, want unchanged", res.Counts)
	}
}
