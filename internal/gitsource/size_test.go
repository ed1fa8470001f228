package gitsource

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/testsupport/gittest"
)

// noise is n bytes git cannot compress.
func noise(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFetchOverSizeCapKeepsLastGood(t *testing.T) {
	const maxBytes = 128 << 10
	r := gittest.NewRepo(t)
	good := r.Commit(map[string]string{"defs/a.yaml": "v1"}, ann, "small")
	r.Push()
	f, err := NewFetcher(FetcherConfig{Dir: t.TempDir(), MaxRepoBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	s := mustSpec(t, "ops=git+"+r.ServeHTTP(t)+"//defs")
	ctx := context.Background()
	if _, err := f.Fetch(ctx, s, ""); err != nil {
		t.Fatal(err)
	}
	r.Commit(map[string]string{"defs/a.yaml": "v2", "big.bin": noise(t, 4*maxBytes)}, ann, "big")
	r.Push()
	_, err = f.Fetch(ctx, s, "")
	if !errors.Is(err, errRepoTooLarge) || !strings.Contains(err.Error(), "over the 128 KiB a source may hold") {
		t.Fatalf("got %v, want ErrRepoTooLarge", err)
	}
	if size, err := repoBytes(ctx, f.local("ops")); err != nil || size > maxBytes {
		t.Fatalf("the repository holds %d bytes (%v) after the refused fetch, want at most %d", size, err, maxBytes)
	}
	snap, err := f.Load(ctx, s, good)
	if err != nil {
		t.Fatalf("last good commit: %v", err)
	}
	assertFiles(t, snap.Dir, map[string]string{"a.yaml": "v1"})
	if cur := activityRef(t, f, "ops", "current"); cur != good {
		t.Fatalf("current = %s, want %s", cur, good)
	}
}

func TestFetchSHAFallbackReadsOnlyTheFollowedRef(t *testing.T) {
	r := gittest.NewRepo(t)
	r.Commit(map[string]string{"a.yaml": "main"}, ann, "main")
	r.Push()
	r.Git("checkout", "--quiet", "-b", "other")
	other := r.Commit(map[string]string{"a.yaml": "other", "big.bin": noise(t, 64<<10)}, ann, "other")
	r.Commit(map[string]string{"a.yaml": "other 2"}, ann, "other 2") // a branch's tip is served by SHA
	r.Git("push", "--quiet", "origin", "other")
	r.Git("checkout", "--quiet", gittest.Branch)
	r.Commit(map[string]string{"a.yaml": "main 2"}, ann, "main 2")
	r.Push()
	t.Setenv("GIT_CONFIG_COUNT", "1") // protocol v0 serves no commit by SHA
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.version")
	t.Setenv("GIT_CONFIG_VALUE_0", "0")
	f := newFetcher(t)
	_, err := f.Fetch(context.Background(), mustSpec(t, "ops=git+"+r.ServeHTTP(t)+"?ref=main"), other)
	if err == nil || !strings.Contains(err.Error(), "commit "+other[:7]+" is not in the history of main on the remote") {
		t.Fatalf("got %v, want the commit refused as not on main", err)
	}
	if _, err := f.local("ops").output(context.Background(), "cat-file", "-e", other+"^{commit}"); err == nil {
		t.Fatal("the other branch was fetched")
	}
}

// TestPartialFetchIsRemoved: what a fetch stopped part-way leaves (git's
// temporary pack and index, a quarantine folder) is deleted by the next
// fetch, so fetches that time out cannot add up past the size cap.
func TestPartialFetchIsRemoved(t *testing.T) {
	r := gittest.NewRepo(t)
	r.Commit(map[string]string{"defs/a.yaml": "v1"}, ann, "small")
	r.Push()
	f := newFetcher(t)
	s := mustSpec(t, "ops=git+"+r.FileURL()+"//defs")
	ctx := context.Background()
	if _, err := f.Fetch(ctx, s, ""); err != nil {
		t.Fatal(err)
	}
	left := []string{"objects/pack/tmp_pack_Xy12ab", "objects/pack/tmp_idx_Xy12ab", "objects/incoming-Qr7/pack/p"}
	for _, p := range left {
		path := filepath.Join(f.repoDir("ops"), p)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(noise(t, 64<<10)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Fetch(ctx, s, ""); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{left[0], left[1], "objects/incoming-Qr7"} {
		if _, err := os.Stat(filepath.Join(f.repoDir("ops"), p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the next fetch: %v", p, err)
		}
	}
}
