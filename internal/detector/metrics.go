package detector

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coulomb/activity-core/internal/store"
)

// metrics are the detector's Prometheus metrics
// (docs/alerting.md#prometheus-and-alertmanager). Per-definition values
// are exported only by the lease holder, from its last pass, so that
// several replicas never report two answers.
type metrics struct {
	leader   prometheus.Gauge
	lastPass prometheus.Gauge
	duration prometheus.Histogram
	health   *healthCollector
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "activity_detector_leader", Help: "1 when this process holds the detector lease and evaluates.",
		}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "activity_detector_last_pass_timestamp_seconds", Help: "Unix time of this process's last finished detector pass.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "activity_detector_pass_duration_seconds", Help: "Duration of detector passes.", Buckets: prometheus.DefBuckets,
		}),
		health: newHealthCollector(),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.leader, m.lastPass, m.duration, m.health} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("detector: registering metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) setLeader(held bool) {
	v := 0.0
	if held {
		v = 1
	}
	m.leader.Set(v)
	m.health.setLeader(held)
}

// passDone records a finished pass and the health it left.
func (m *metrics) passDone(took time.Duration, at time.Time, hs []store.DefinitionHealth) {
	m.duration.Observe(took.Seconds())
	m.lastPass.Set(float64(at.UnixNano()) / 1e9)
	m.health.set(hs)
}

// healthCollector exports the health rows of the last pass.
type healthCollector struct {
	lastSuccess, failures, missed, state, paused *prometheus.Desc

	mu     sync.Mutex
	leader bool
	rows   []store.DefinitionHealth
}

func newHealthCollector() *healthCollector {
	def := []string{"definition"}
	return &healthCollector{
		lastSuccess: prometheus.NewDesc("activity_definition_last_success_timestamp_seconds",
			"Unix time of the definition's last successful run.", def, nil),
		failures: prometheus.NewDesc("activity_definition_consecutive_failures",
			"Failed or timed-out runs of the definition since its last success.", def, nil),
		missed: prometheus.NewDesc("activity_definition_missed_total",
			"Scheduled fires of the definition that left no run within expect.grace.", def, nil),
		state: prometheus.NewDesc("activity_definition_state",
			"1 for the definition's health state (ok, failing, stale, late, missed), 0 for the others.", []string{"definition", "state"}, nil),
		paused: prometheus.NewDesc("activity_definition_paused",
			"1 while the definition's missed fires are explained by a pause (an operator's or auto-pause), 0 otherwise.", def, nil),
	}
}

func (c *healthCollector) setLeader(held bool) {
	c.mu.Lock()
	c.leader = held
	c.mu.Unlock()
}

func (c *healthCollector) set(hs []store.DefinitionHealth) {
	c.mu.Lock()
	c.rows = hs
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lastSuccess
	ch <- c.failures
	ch <- c.missed
	ch <- c.state
	ch <- c.paused
}

// Collect implements prometheus.Collector.
func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	rows, leader := c.rows, c.leader
	c.mu.Unlock()
	if !leader {
		return
	}
	for _, h := range rows {
		id := h.DefinitionID
		if h.LastSuccessAt != nil {
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(h.LastSuccessAt.UnixNano())/1e9, id)
		}
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.GaugeValue, float64(h.ConsecutiveFailures), id)
		ch <- prometheus.MustNewConstMetric(c.missed, prometheus.CounterValue, float64(h.MissedTotal), id)
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, boolValue(pausedMiss(h)), id)
		for _, s := range store.HealthStates {
			v := 0.0
			if h.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, id, string(s))
		}
	}
}

// pausedMiss reports whether the definition's missed fires are explained by
// a pause someone made on purpose (docs/alerting.md#missed-fires).
func pausedMiss(h store.DefinitionHealth) bool {
	for _, p := range h.Problems {
		if p.Kind == store.HealthMissed && strings.HasPrefix(p.Reason, reasonPausedBy) {
			return true
		}
	}
	return false
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
