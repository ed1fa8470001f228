package app

import (
	"context"
	"log/slog"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/shell"
)

// startContainer makes the worker's shell container and, before any task
// is polled, ends what a dead predecessor left running
// (docs/definitions.md#timeouts).
func startContainer(ctx context.Context, c config.Containment, log *slog.Logger) (*shell.Container, error) {
	sh, err := shell.NewContainer(shell.ContainerConfig{CgroupRoot: c.CgroupRoot, RuntimeDir: c.RuntimeDir, Logger: log})
	if err != nil {
		return nil, &config.Error{Setting: "ACTIVITY_CGROUP_ROOT", Msg: err.Error()}
	}
	if n, err := sh.Reap(ctx); err != nil {
		log.Warn("app: ending commands left by a dead worker failed", "ended", n, "error", err)
	} else if n > 0 {
		log.Warn("app: ended commands left by a dead worker", "runs", n)
	}
	if sh.Mode() == shell.ContainCgroup {
		log.Info("app: shell commands run in a cgroup of their own")
	} else {
		log.Warn("app: shell commands are contained by their process group only; a descendant that leaves it and clears its environment can outlive its run", "reason", sh.Reason())
	}
	return sh, nil
}
