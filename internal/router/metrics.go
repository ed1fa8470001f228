package router

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's counters: the one place it counts what it did,
// read by Prometheus and by the tests (through testutil).
type metrics struct {
	received, matched, started, deduplicated, guarded, startFailures prometheus.Counter
	acked, naked, indexLoads, refreshErrors, schemaWarned            prometheus.Counter
	invalid                                                          *prometheus.CounterVec
	latency                                                          prometheus.Histogram
	definitions                                                      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "activity_core_router_" + name, Help: help})
	}
	m := &metrics{
		received:      counter("events_received_total", "Messages the router took from the stream, redeliveries included."),
		matched:       counter("events_matched_total", "Messages that matched at least one event definition."),
		started:       counter("runs_started_total", "Runs the router started."),
		deduplicated:  counter("runs_deduplicated_total", "Starts Temporal refused because the event's run already exists (redelivery, repeated Nats-Msg-Id)."),
		guarded:       counter("loop_guarded_total", "Matches the loop guard did not start (chain too deep, or a definition's own lifecycle event)."),
		startFailures: counter("start_failures_total", "Failed workflow starts; the message is redelivered with backoff."),
		acked:         counter("events_acked_total", "Messages acked and confirmed by the server: routed, matching nothing, or invalid."),
		naked:         counter("events_naked_total", "Messages naked for redelivery after a failed start."),
		indexLoads:    counter("index_loads_total", "Loads of the definition index: at start, periodically, and after a sync."),
		schemaWarned:  counter("events_schema_warned_total", "Events routed although their payload does not conform to their event type's schema (schema mode warn)."),
		refreshErrors: counter("refresh_errors_total", "Failed index reloads or sync checks (routing continues with the loaded definitions)."),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "activity_core_router_events_invalid_total",
			Help: "Messages acked without routing, by reason (not_json, not_object, too_large, too_deep, schema).",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "activity_core_router_routing_latency_seconds",
			Help:    "From the event's store time in the stream to its run's StartWorkflow returning.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		definitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "activity_core_router_definitions", Help: "Enabled event definitions in the router's index.",
		}),
	}
	for _, r := range []string{"not_json", "not_object", "too_large", "too_deep", "schema"} {
		m.invalid.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.received, m.matched, m.started, m.deduplicated, m.guarded, m.startFailures,
		m.acked, m.naked, m.indexLoads, m.refreshErrors, m.schemaWarned, m.invalid, m.latency, m.definitions} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("router: metrics already registered (one Router per registry): %w", err)
			}
			return nil, fmt.Errorf("router: registering metrics: %w", err)
		}
	}
	return m, nil
}
