package detector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
)

type noSchedules struct{}

func (noSchedules) States(context.Context) (map[string]*schedule.State, error) { return nil, nil }

func TestNewChecksConfig(t *testing.T) {
	st := openSQLite(t, nil)
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no store", Config{Schedules: noSchedules{}}, "Config.Store is required"},
		{"no schedules", Config{Store: st}, "Config.Schedules is required"},
		{"lease shorter than the interval", Config{Store: st, Schedules: noSchedules{}, Interval: time.Minute}, "must be longer than the interval"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	d, err := New(Config{Store: st, Schedules: noSchedules{}})
	if err != nil {
		t.Fatal(err)
	}
	if d.cfg.Interval != intervalDefault || d.cfg.LeaseTTL != leaseTTLDefault || d.cfg.TaskQueue != engine.TaskQueueDefault || d.cfg.Holder == "" {
		t.Errorf("defaults: %+v", d.cfg)
	}
}

// TestMetrics: the lease holder exports each definition's health, others
// nothing per definition.
func TestMetrics(t *testing.T) {
	clk := newClock()
	st := openSQLite(t, clk.Now)
	reg := prometheus.NewRegistry()
	d := newDetector(t, Config{Store: st, Schedules: noSchedules{}, Now: clk.Now, Registerer: reg})
	putDefs(t, st, failingDef("m.fail", func(d *definition.Definition) { d.Notify = nil }))
	finishedRun(t, st, "m-1", "m.fail", store.RunFailed, clk.Now())
	clk.Add(time.Second)
	pass(t, d)
	if got := gather(t, reg); len(got) != 3 || got["activity_detector_leader"] != 0 || got["activity_detector_pass_duration_seconds"] != 1 {
		t.Errorf("not the leader: %v", got)
	}
	d.setLeader(true)
	got := gather(t, reg)
	for name, want := range map[string]float64{
		"activity_detector_leader":                                       1,
		`activity_definition_consecutive_failures{definition="m.fail"}`:  1,
		`activity_definition_missed_total{definition="m.fail"}`:          0,
		`activity_definition_state{definition="m.fail",state="failing"}`: 1,
		`activity_definition_state{definition="m.fail",state="ok"}`:      0,
		`activity_definition_paused{definition="m.fail"}`:                0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %t), want %v", name, v, ok, want)
		}
	}
	if n := len(got); n != 3+3+5 { // no success yet: no last success series
		t.Errorf("%d series, want 11: %v", n, got)
	}
}

// gather reads a registry as "name{labels}" -> value (a histogram's count).
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"=\""+l.GetValue()+"\"")
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
