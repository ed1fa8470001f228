package detector

import (
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
)

// Each definition's missed fire is judged by the pollers of its own pool
// (docs/run-control.md#placement), and a pass asks once per pool: three
// definitions on two pools make two questions.
func TestMissedPerPool(t *testing.T) {
	now := t0.Add(150 * time.Second)
	w := worldAt(now, "a", "b1", "b2")
	var asked []string
	w.pollers = &pollerAnswers{ask: func(q string) (bool, error) {
		asked = append(asked, q)
		return q == testQueue, nil // only the default pool has a worker
	}}
	onB := func(d *definition.Definition) { d.RunOn = "b" }
	reasons := map[string]string{}
	for _, d := range []*definition.Definition{cronDef("a"), cronDef("b1", onB), cronDef("b2", onB)} {
		o := evaluate(specOf(t, d), checkedAt(d.ID, t0), w)
		if len(o.missed) != 1 {
			t.Fatalf("%s: missed = %+v, want one record", d.ID, o.missed)
		}
		reasons[d.ID] = o.missed[0].run.SkipReason
	}
	want := map[string]string{
		"a":  "catch-up window (1m0s) passed: Temporal did not fire it in time",
		"b1": "no worker polling pool b (task queue q.b)",
		"b2": "no worker polling pool b (task queue q.b)",
	}
	for id, r := range want {
		if reasons[id] != r {
			t.Errorf("%s: reason %q, want %q", id, reasons[id], r)
		}
	}
	if len(asked) != 2 || asked[0] != testQueue || asked[1] != testQueue+".b" {
		t.Errorf("asked %v, want [q q.b]", asked)
	}
}
