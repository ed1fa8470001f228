package app

import (
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/engine"
	"github.com/coulomb/activity-core/internal/liveout"
)

var _ engine.OutputSink = (*liveout.Sink)(nil)

// liveOutput builds the two ends of live output over nc
// (docs/run-control.md#live-output): the worker's sink for
// engine.Config.Output and the api's viewer for adminapi.Config.Output,
// serving at most viewersMax streams (liveout.ViewersMaxDefault when 0).
// Without NATS both are nil: runs keep their stored tails and the api
// answers those.
func liveOutput(nc *nats.Conn, viewersMax int, log *slog.Logger) (engine.OutputSink, adminapi.OutputViewer, error) {
	if viewersMax < 0 {
		return nil, nil, &config.Error{Setting: "ACTIVITY_OUTPUT_VIEWERS_MAX", Msg: fmt.Sprintf("%d is negative: give the most live-output streams one api process serves (0 for the default, %d)", viewersMax, liveout.ViewersMaxDefault)}
	}
	if nc == nil {
		return nil, nil, nil
	}
	sink, err := liveout.NewSink(liveout.SinkConfig{Conn: nc, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	viewer, err := liveout.NewViewer(liveout.ViewerConfig{Conn: nc, Max: viewersMax, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return sink, viewer, nil
}
