package notify

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coulomb/activity-core/internal/definition"
)

// Results of one notification's delivery attempt, the result label of
// activity_notifications_total.
const (
	resultSent   = "sent"
	resultRetry  = "retry"
	resultFailed = "failed"
)

type metrics struct {
	total   *prometheus.CounterVec
	pending prometheus.Gauge
}

// newMetrics makes the notifier's metrics (docs/alerting.md#prometheus-and-alertmanager)
// and registers them with reg unless it is nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "activity_notifications_total",
			Help: "Notification delivery attempts by target kind and result: sent, retry (failed, will be retried) or failed (given up).",
		}, []string{"target_kind", "result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "activity_notifications_pending",
			Help: "Notifications in the outbox not yet sent or given up, as of the last delivery pass (counted up to 1000).",
		}),
	}
	for _, k := range []string{definition.TargetWebhook, definition.TargetSlack, definition.TargetEmail, definition.TargetNATS} {
		for _, r := range []string{resultSent, resultRetry, resultFailed} {
			m.total.WithLabelValues(k, r)
		}
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.total, m.pending} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("notify: metrics already registered (one Notifier per registry): %w", err)
			}
			return nil, fmt.Errorf("notify: registering metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) result(kind, result string) {
	switch kind {
	case definition.TargetWebhook, definition.TargetSlack, definition.TargetEmail, definition.TargetNATS:
	default:
		kind = "unknown" // a stored target that does not parse: bounded label values
	}
	m.total.WithLabelValues(kind, result).Inc()
}
