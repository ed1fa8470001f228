package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/syncer"
)

// watch polls the definition folders and syncs when they change. Polling
// (names, sizes and modification times, once a second) needs no inotify
// limits and sees changes made through symlinks and bind mounts; it is only
// used by dev, where a second of latency is fine. A change is synced once
// the tree has been quiet for one more poll, so an editor's save-and-rename
// or a `git checkout` syncs once.
func watch(ctx context.Context, dirs []string, every time.Duration, sy *syncer.Syncer, m *adminapi.Metrics, log *slog.Logger) {
	last := fingerprint(dirs)
	pending := false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp := fingerprint(dirs)
		switch {
		case fp != last:
			last, pending = fp, true
		case pending:
			pending = false
			log.Info("app: definition files changed, syncing")
			// backgroundSync logs and counts the outcome; watching goes on.
			_, _ = backgroundSync(ctx, sy, syncer.Options{Definitions: true, EventTypes: true, Schedules: true}, m, log, "watch")
		}
	}
}

// fingerprint summarizes the folders' files.
func fingerprint(dirs []string) string {
	h := sha256.New()
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(h, "%s:err;", path)
				return nil //nolint:nilerr // an unreadable path is part of the fingerprint; the walk goes on
			}
			if info, err := e.Info(); err == nil {
				fmt.Fprintf(h, "%s:%d:%d;", path, info.Size(), info.ModTime().UnixNano())
			}
			return nil
		})
	}
	return string(h.Sum(nil))
}
