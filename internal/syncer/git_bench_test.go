package syncer

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/coulomb/activity-core/internal/testsupport/gittest"
)

// BenchmarkSyncGitSource: a sync of 200 definitions read from a git
// source (file://, so the network is not measured) against the same
// definitions in a folder, in the same process: nothing changed, and one
// file changed (a new commit for git). docs/benchmarks.md#git-sources.
func BenchmarkSyncGitSource(b *testing.B) {
	const n = 200
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("defs/j%03d.yaml", i)] = cronDef(fmt.Sprintf("team.j%03d", i), "0 3 * * *")
	}
	b.Run("folder", func(b *testing.B) {
		dir := b.TempDir()
		for name, content := range files {
			write(b, filepath.Join(dir, name), content)
		}
		s := newSyncer(b, newStore(b), "local="+filepath.Join(dir, "defs"))
		benchSyncs(b, s, func(cron string) { write(b, filepath.Join(dir, "defs/j000.yaml"), cronDef("team.j000", cron)) })
	})
	b.Run("git", func(b *testing.B) {
		r := gittest.NewRepo(b)
		r.Commit(files, "Ann <ann@example.test>", "200 jobs")
		r.Push()
		s, _ := gitSyncer(b, newStore(b), gitSpec("ops", r, "defs"))
		benchSyncs(b, s, func(cron string) {
			r.Commit(map[string]string{"defs/j000.yaml": cronDef("team.j000", cron)}, "Ann <ann@example.test>", "move j000")
			r.Push()
		})
	})
}

// benchSyncs times s's syncs after a first one: with nothing changed, and
// after change (untimed) gives team.j000 another schedule.
func benchSyncs(b *testing.B, s *Syncer, change func(cron string)) {
	mustRun(b, s, DefaultOptions())
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			mustRun(b, s, DefaultOptions())
		}
	})
	b.Run("one-file-changed", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			change(fmt.Sprintf("%d 3 * * *", i%60))
			b.StartTimer()
			mustRun(b, s, DefaultOptions())
		}
	})
}
