package adminapi

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/syncer"
)

// Metrics are the Prometheus metrics of one process. Each process has its
// own registry (no globals), so tests and several servers in one process
// do not collide.
type Metrics struct {
	reg            *prometheus.Registry
	syncs          *prometheus.CounterVec
	lastSuccess    prometheus.Gauge
	lastError      prometheus.Gauge
	syncErrors     prometheus.Gauge
	runs           *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	overlapSkipped *prometheus.GaugeVec
	missedCatchup  *prometheus.GaugeVec
	authFailures   *prometheus.CounterVec
}

// NewMetrics registers the metrics on a new registry, with the Go runtime
// and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "activity_core_syncs_total", Help: "Syncs run by this process, by result (ok, errors, failed).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "activity_core_sync_last_success_timestamp_seconds", Help: "Unix time of the last sync without errors.",
		}),
		lastError: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "activity_core_sync_last_error_timestamp_seconds", Help: "Unix time of the last sync that reported errors or failed.",
		}),
		syncErrors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "activity_core_sync_last_errors", Help: "Errors reported by the last sync (0 when it was clean).",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "activity_core_runs_total", Help: "Runs finished by this process's workers, by definition and status.",
		}, []string{"definition", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "activity_core_http_request_duration_seconds", Help: "HTTP API latency by route.", Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		overlapSkipped: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "activity_core_schedule_overlap_skipped", Help: "Fires Temporal skipped because the previous run was still going (per schedule, as last described).",
		}, []string{"definition"}),
		missedCatchup: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "activity_core_schedule_missed_catchup_window", Help: "Fires missed because they were later than the catch-up window (per schedule, as last described).",
		}, []string{"definition"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "activity_core_auth_failures_total", Help: "Refused tokens, by surface (api: bearer token, ui: dashboard sign-in) and reason (missing_token, invalid_token, insufficient_role, no_token_configured).",
		}, []string{"surface", "reason"}),
	}
	m.reg.MustRegister(m.authFailures, m.syncs, m.lastSuccess, m.lastError, m.syncErrors, m.runs, m.httpDuration, m.overlapSkipped, m.missedCatchup,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry lets other parts (the router) register their metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// RunFinished counts a finished run; the engine calls it.
func (m *Metrics) RunFinished(r store.Run) {
	m.runs.WithLabelValues(r.DefinitionID, string(r.Status)).Inc()
}

// ScheduleCounts records a schedule's overlap-skipped and missed catch-up
// counts, as Temporal reported them.
func (m *Metrics) ScheduleCounts(definitionID string, overlapSkipped, missedCatchup int64) {
	m.overlapSkipped.WithLabelValues(definitionID).Set(float64(overlapSkipped))
	m.missedCatchup.WithLabelValues(definitionID).Set(float64(missedCatchup))
}

// SyncDone records a sync's outcome (the background loop and worker
// startup call it too).
func (m *Metrics) SyncDone(res *syncer.Result, err error, now time.Time) { m.syncDone(res, err, now) }

func (m *Metrics) syncDone(res *syncer.Result, err error, now time.Time) {
	switch {
	case err != nil:
		m.syncs.WithLabelValues("failed").Inc()
		m.lastError.Set(float64(now.Unix()))
	case !res.OK():
		m.syncs.WithLabelValues("errors").Inc()
		m.lastError.Set(float64(now.Unix()))
		m.syncErrors.Set(float64(len(res.Errors) + res.ErrorsDropped))
	default:
		m.syncs.WithLabelValues("ok").Inc()
		m.lastSuccess.Set(float64(now.Unix()))
		m.syncErrors.Set(0)
	}
}

func (m *Metrics) observeHTTP(route string, d time.Duration) {
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *Metrics) authFailed(surface, reason string) {
	m.authFailures.WithLabelValues(surface, reason).Inc()
}
