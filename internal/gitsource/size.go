package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RepoMaxBytesDefault bounds the objects of one source's repository after
// a fetch (FetcherConfig.MaxRepoBytes): anyone who can push to the
// followed branch could otherwise fill the data disk.
const repoMaxBytesDefault int64 = 1 << 30

// ErrRepoTooLarge is a fetch that left a source's repository past
// FetcherConfig.MaxRepoBytes; what it fetched is dropped again.
var errRepoTooLarge = errors.New("repository too large")

// checkSize fails a fetch that left the source's repository over the
// cap, after deleting what no ref keeps (the fetch's objects; the last
// good commit is held by refs/activity/current).
func (f *Fetcher) checkSize(ctx context.Context, name string) error {
	size, err := repoBytes(ctx, f.local(name))
	if err != nil || size <= f.cfg.MaxRepoBytes {
		return err
	}
	if err := f.dropUnreferenced(ctx, name); err != nil {
		f.cfg.Logger.Warn("gitsource: dropping an oversized fetch", "source", name, "err", err)
	}
	return fmt.Errorf("%w: the fetch left %s of objects, over the %s a source may hold; "+
		"what it fetched was dropped (check the remote for large files)", errRepoTooLarge, sizeText(size), sizeText(f.cfg.MaxRepoBytes))
}

// sizeText is n bytes in MiB, or KiB below one MiB.
func sizeText(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// repoBytes is the size of a repository's objects, loose, packed and
// garbage, as git count-objects -v reports it (in KiB).
func repoBytes(ctx context.Context, g gitRun) (int64, error) {
	out, err := g.output(ctx, "count-objects", "-v")
	if err != nil {
		return 0, err
	}
	var kib int64
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "size" || k == "size-pack" || k == "size-garbage" {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("git count-objects printed %q", line)
			}
			kib += n
		}
	}
	return kib << 10, nil
}

// dropUnreferenced deletes every object no ref keeps.
func (f *Fetcher) dropUnreferenced(ctx context.Context, name string) error {
	if err := os.Remove(filepath.Join(f.repoDir(name), "FETCH_HEAD")); err != nil && !os.IsNotExist(err) {
		return err
	}
	_, err := f.local(name).output(ctx, "gc", "--prune=now", "--quiet")
	return err
}
