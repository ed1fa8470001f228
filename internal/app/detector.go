package app

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"go.temporal.io/sdk/client"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/detector"
	"github.com/coulomb/activity-core/internal/notify"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// detectorParts is what the detector role is made from.
type detectorParts struct {
	store    store.Store
	temporal client.Client
	proj     *schedule.Projector
	nats     *nats.Conn // nil: nats targets fail and are retried
	secrets  *secret.AllowList
	metrics  *adminapi.Metrics
	log      *slog.Logger
}

// newDetector builds the detector role (docs/alerting.md#detector): the
// notifier that delivers the outbox, and the detector that fills it, which
// calls the notifier after each pass while it holds the store lease.
func newDetector(o Options, p detectorParts) (*detector.Detector, error) {
	a := o.Alerting
	n, err := notify.New(notify.Config{
		Store: p.store, Secrets: p.secrets, NATS: p.nats,
		SMTP:      notify.SMTPSettings(&a, o.Transport),
		PublicURL: a.PublicURL, TemporalUIURL: a.TemporalUIURL, Namespace: o.Engines.TemporalNamespace,
		Logger: p.log, Registerer: p.metrics.Registry(),
	})
	if err != nil {
		return nil, err
	}
	return detector.New(detector.Config{
		Store: p.store, Schedules: p.proj, Pollers: detector.TemporalPollers{Client: p.temporal}, Pauser: p.proj,
		TaskQueue: o.Engines.TaskQueue, Interval: a.Interval(), LeaseTTL: a.LeaseTTL(),
		Logger: p.log, Registerer: p.metrics.Registry(), Deliver: n.Deliver,
	})
}

// runDetector runs the detector until ctx ends; an error is logged, never
// fatal to the other roles of the process.
func runDetector(ctx context.Context, d *detector.Detector, log *slog.Logger) {
	log.Info("app: detector started", "holder", d.Holder())
	if err := d.Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("app: detector stopped", "error", err)
	}
}
