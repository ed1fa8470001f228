package schedule

import (
	"slices"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
)

// The hash changes with everything the schedule is made of, and with nothing
// else: editing a command must not rewrite its schedule.
func TestDesiredHash(t *testing.T) {
	base := func() *definition.Definition {
		d, err := definition.Parse("x.yaml", []byte(cronYAML("h.job", "0 3 * * *", true)))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	h0 := DesiredHash(base(), "q")
	if h0 == "" || h0 != DesiredHash(base(), "q") {
		t.Fatalf("hash %q is empty or unstable", h0)
	}
	// Pinned: a change here rewrites every schedule at the next sync, so
	// it must come with a hashVersion bump on purpose.
	if want := "ee2df735b8ea245a0767332fad5c2fd5a34b39d2a72f9089841fd42ca7cb9251"; h0 != want {
		t.Errorf("hash = %s, want %s as before pools", h0, want)
	}
	changes := map[string]func(d *definition.Definition){
		"cron":           func(d *definition.Definition) { d.Trigger.CronExpression = "0 4 * * *" },
		"timezone":       func(d *definition.Definition) { d.Trigger.Timezone = "Europe/Berlin" },
		"jitter":         func(d *definition.Definition) { d.Trigger.Jitter = definition.Duration(time.Second) },
		"misfire_policy": func(d *definition.Definition) { d.Trigger.MisfirePolicy = definition.MisfireBufferOne },
		"catchup_window": func(d *definition.Definition) { d.Trigger.CatchupWindow = definition.Duration(time.Hour) },
		"id":             func(d *definition.Definition) { d.ID = "h.other" },
	}
	for name, change := range changes {
		d := base()
		change(d)
		if DesiredHash(d, "q") == h0 {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
	if DesiredHash(base(), "other-queue") == h0 {
		t.Error("changing the task queue keeps the hash")
	}
	// A pool moves the schedule to another queue; the default pool,
	// written or not, keeps the queue and so the hash
	// (docs/run-control.md#placement).
	pooled := base()
	pooled.RunOn = "b"
	if DesiredHash(pooled, "q") == h0 {
		t.Error("changing the pool keeps the hash")
	}
	explicit := base()
	explicit.RunOn = definition.PoolDefault
	if DesiredHash(explicit, "q") != h0 {
		t.Error("run_on: default changes the hash")
	}
	same := map[string]func(d *definition.Definition){
		"instruction": func(d *definition.Definition) { d.Instruction.Cmd = "echo changed" },
		"enabled":     func(d *definition.Definition) { d.Enabled = false },
		"description": func(d *definition.Definition) { d.Description = "new words" },
	}
	for name, change := range same {
		d := base()
		change(d)
		if DesiredHash(d, "q") != h0 {
			t.Errorf("changing %s changes the hash", name)
		}
	}
	ev, err := definition.Parse("e.yaml", []byte(eventYAML("h.event")))
	if err != nil {
		t.Fatal(err)
	}
	if h := DesiredHash(ev, "q"); h != "" {
		t.Errorf("event definition hash = %q, want none", h)
	}
}

// A once schedule matches its instant, to the second, and nothing else.
func TestOnceSpec(t *testing.T) {
	at := time.Date(2027, 3, 14, 15, 9, 26, 500_000_000, time.FixedZone("X", 3600))
	def := &definition.Definition{ID: "o.x", Enabled: true, Trigger: definition.Trigger{Type: definition.TriggerOnce, RunAt: &at}}
	d, err := newDesired(def, "q")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2027, 3, 14, 14, 9, 27, 0, time.UTC); !d.runAt.Equal(want) {
		t.Errorf("runAt = %s, want %s (UTC, next whole second)", d.runAt, want)
	}
	c := d.spec().Calendars[0]
	got := []int{c.Year[0].Start, c.Month[0].Start, c.DayOfMonth[0].Start, c.Hour[0].Start, c.Minute[0].Start, c.Second[0].Start}
	if want := []int{2027, 3, 14, 14, 9, 27}; !slices.Equal(got, want) {
		t.Errorf("calendar = %v, want %v", got, want)
	}
	if d.catchup != definition.CatchupWindowDefault {
		t.Errorf("catch-up window = %s, want the default", d.catchup)
	}
}
