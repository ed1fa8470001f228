package gitsource

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
	"github.com/coulomb/activity-core/internal/testsupport/gittest"
)

const ann = "Ann Example <ann@example.com>"

func newFetcher(t *testing.T) *Fetcher {
	t.Helper()
	f, err := NewFetcher(FetcherConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustSpec(t *testing.T, raw string) Spec {
	t.Helper()
	s, err := ParseSpec(raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readSnapshot returns the snapshot's files, path → content.
func readSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func assertFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := readSnapshot(t, dir)
	if len(got) != len(want) {
		t.Fatalf("snapshot %s holds %v, want %v", dir, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("snapshot %s: %s = %q, want %q (all: %v)", dir, k, got[k], v, got)
		}
	}
}

func TestFetchTransports(t *testing.T) {
	transports := map[string]func(r *gittest.Repo) string{
		"daemon": func(r *gittest.Repo) string { return r.ServeDaemon(t) },
		"http":   func(r *gittest.Repo) string { return r.ServeHTTP(t) },
		"file":   func(r *gittest.Repo) string { return r.FileURL() },
	}
	for name, serve := range transports {
		t.Run(name, func(t *testing.T) {
			r := gittest.NewRepo(t)
			first := r.Commit(map[string]string{"automations/a.yaml": "v1", "automations/sub/b.yaml": "b", "README": "r"}, ann, "add a")
			r.Push()
			f := newFetcher(t)
			s := mustSpec(t, "ops=git+"+serve(r)+"//automations?ref=main")
			snap, err := f.Fetch(context.Background(), s, "")
			if err != nil {
				t.Fatal(err)
			}
			if snap.Commit.SHA != first || snap.Commit.Author != ann || snap.Commit.Subject != "add a" || snap.Commit.Time.IsZero() {
				t.Fatalf("commit = %+v, want %s by %s", snap.Commit, first, ann)
			}
			assertFiles(t, snap.Dir, map[string]string{"a.yaml": "v1", "sub/b.yaml": "b"})

			second := r.Commit(map[string]string{"automations/a.yaml": "v2", "automations/sub/b.yaml": gittest.Delete}, "Bob <bob@example.com>", "change a")
			r.Push()
			snap2, err := f.Fetch(context.Background(), s, "")
			if err != nil {
				t.Fatal(err)
			}
			if snap2.Commit.SHA != second || snap2.Commit.Author != "Bob <bob@example.com>" {
				t.Fatalf("second fetch read %+v, want %s", snap2.Commit, second)
			}
			assertFiles(t, snap2.Dir, map[string]string{"a.yaml": "v2"})
			assertFiles(t, snap.Dir, map[string]string{"a.yaml": "v1", "sub/b.yaml": "b"}) // the previous stays
		})
	}
}

func TestFetchPrunesAllButCurrentAndPrevious(t *testing.T) {
	r := gittest.NewRepo(t)
	f := newFetcher(t)
	s := mustSpec(t, "ops=git+"+r.FileURL())
	var snaps []Snapshot
	for i, v := range []string{"1", "2", "3"} {
		r.Commit(map[string]string{"a.yaml": v}, ann, "v"+v)
		r.Push()
		snap, err := f.Fetch(context.Background(), s, "")
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		snaps = append(snaps, snap)
	}
	entries, err := os.ReadDir(f.treesDir("ops"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{treeName(snaps[1].Commit.SHA, ""), treeName(snaps[2].Commit.SHA, "")}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("trees = %v, want %v", names, want)
	}
	// The pruned commit is still in the repository: Load exports it again.
	snap, err := f.Load(context.Background(), s, snaps[0].Commit.SHA)
	if err != nil {
		t.Fatal(err)
	}
	assertFiles(t, snap.Dir, map[string]string{"a.yaml": "1"})
}

func TestFetchFailuresKeepLastGood(t *testing.T) {
	r := gittest.NewRepo(t)
	good := r.Commit(map[string]string{"automations/a.yaml": "v1"}, ann, "add a")
	r.Push()
	url := r.ServeHTTP(t)
	f := newFetcher(t)
	ctx := context.Background()
	if _, err := f.Fetch(ctx, mustSpec(t, "ops=git+"+url+"//automations"), ""); err != nil {
		t.Fatal(err)
	}
	closed := "http://" + testsupport.FreeAddr(t) + "/repo.git"
	tests := []struct {
		name, spec, ref string
		want            []string
		is              error
	}{
		{"bad ref", "ops=git+" + url + "//automations", "nope", []string{"source ops: fetching nope from git+" + url, "couldn't find remote ref nope"}, nil},
		{"unreachable", "ops=git+" + closed + "//automations", "", []string{"source ops: fetching HEAD from git+" + closed, "Failed to connect to 127.0.0.1"}, nil},
		{"missing path", "ops=git+" + url + "//automations-old", "", []string{"path automations-old not found at " + good[:7] + " of ops"}, ErrPathNotFound},
		{"path is a file", "ops=git+" + url + "//automations/a.yaml", "", []string{"path automations/a.yaml at " + good[:7] + " of ops is a file"}, ErrPathNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Fetch(ctx, mustSpec(t, tt.spec), tt.ref)
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v is not %v", err, tt.is)
			}
			snap, err := f.Load(ctx, mustSpec(t, "ops=git+"+url+"//automations"), good)
			if err != nil {
				t.Fatalf("last good commit not loadable: %v", err)
			}
			assertFiles(t, snap.Dir, map[string]string{"a.yaml": "v1"})
		})
	}
}

func TestLoadUnknownCommit(t *testing.T) {
	f := newFetcher(t)
	s := mustSpec(t, "ops=git+https://host/ops.git")
	_, err := f.Load(context.Background(), s, strings.Repeat("ab", 20))
	if !errors.Is(err, errNotFetched) || !strings.Contains(err.Error(), "fetch it with sync --source ops") {
		t.Fatalf("got %v, want ErrNotFetched with a hint", err)
	}
	if _, err := f.Load(context.Background(), s, "main"); err == nil || !strings.Contains(err.Error(), "not a full commit SHA") {
		t.Fatalf("got %v", err)
	}
}

func TestFetchPinnedSHA(t *testing.T) {
	r := gittest.NewRepo(t)
	old := r.Commit(map[string]string{"a.yaml": "old"}, ann, "old")
	r.Commit(map[string]string{"a.yaml": "new"}, ann, "new")
	r.Push()
	// Protocol v0 serves no unadvertised commit: the fetch of an older SHA
	// falls back to fetching the branches.
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.version")
	t.Setenv("GIT_CONFIG_VALUE_0", "0")
	for name, url := range map[string]string{"daemon": r.ServeDaemon(t), "http": r.ServeHTTP(t)} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			f, err := NewFetcher(FetcherConfig{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			s := mustSpec(t, "ops=git+"+url)
			snap, err := f.Fetch(context.Background(), s, old)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Commit.SHA != old {
				t.Fatalf("read %s, want %s", snap.Commit.SHA, old)
			}
			assertFiles(t, snap.Dir, map[string]string{"a.yaml": "old"})
			if !strings.Contains(logs.String(), "shallow fetch refused") {
				t.Fatalf("the fallback was not taken: %s", logs.String())
			}
			_, err = f.Fetch(context.Background(), s, strings.Repeat("0", 40))
			if err == nil || !strings.Contains(err.Error(), "commit 0000000 is not in the history of HEAD on the remote") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestFetchSkipsSymlinks(t *testing.T) {
	r := gittest.NewRepo(t)
	r.Symlink("../../etc/passwd", "automations/link.yaml")
	r.Commit(map[string]string{"automations/a.yaml": "a"}, ann, "link")
	r.Push()
	f := newFetcher(t)
	snap, err := f.Fetch(context.Background(), mustSpec(t, "ops=git+"+r.FileURL()+"//automations"), "")
	if err != nil {
		t.Fatal(err)
	}
	assertFiles(t, snap.Dir, map[string]string{"a.yaml": "a"})
	if !slices.Equal(snap.Skipped, []string{"link.yaml"}) {
		t.Fatalf("skipped = %v, want [link.yaml]", snap.Skipped)
	}
	if _, err := os.Lstat(filepath.Join(snap.Dir, "link.yaml")); !os.IsNotExist(err) {
		t.Fatalf("link exported: %v", err)
	}
	again, err := f.Load(context.Background(), mustSpec(t, "ops=git+"+r.FileURL()+"//automations"), snap.Commit.SHA)
	if err != nil || again.Dir != snap.Dir || !slices.Equal(again.Skipped, []string{"link.yaml"}) {
		t.Fatalf("reused snapshot: %+v, %v; want the same folder and skipped [link.yaml]", again, err)
	}
}

func TestFetchErrorsHideCredentials(t *testing.T) {
	r := gittest.NewRepo(t)
	r.Commit(map[string]string{"a.yaml": "a"}, ann, "a")
	r.Push()
	url := serveHTTPSAuth(t, r, "ann", "right-password")
	f := newFetcher(t)
	for _, creds := range []string{"ann:wrong-password-1234", "ghp_tokenvalue1234"} {
		withCreds := withUserinfo(url, creds)
		_, err := f.Fetch(context.Background(), mustSpec(t, "ops=git+"+withCreds), "")
		if err == nil {
			t.Fatal("Fetch succeeded with wrong credentials")
		}
		for _, secret := range []string{"wrong-password-1234", "ghp_tokenvalue1234"} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows a credential: %v", err)
			}
		}
		if !strings.Contains(err.Error(), "the remote refused our credentials") {
			t.Fatalf("error %q does not say the credentials were refused", err)
		}
	}
	good := withUserinfo(url, "ann:right-password")
	if _, err := f.Fetch(context.Background(), mustSpec(t, "ops=git+"+good), ""); err != nil {
		t.Fatalf("right credentials: %v", err)
	}
}

func TestFetchTimeout(t *testing.T) {
	// A remote that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	f, err := NewFetcher(FetcherConfig{Dir: t.TempDir(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Fetch(context.Background(), mustSpec(t, "ops=git+git://"+ln.Addr().String()+"/repo.git"), "")
	if !errors.Is(err, errTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

// activityRef is what refs/activity/<ref> of a source names, "" when unset.
func activityRef(t *testing.T, f *Fetcher, name, ref string) string {
	t.Helper()
	out, _ := f.local(name).output(context.Background(), "rev-parse", "--verify", "--quiet", "refs/activity/"+ref)
	return strings.TrimSpace(out)
}

func TestFetchDryRunRecordsNothing(t *testing.T) {
	r := gittest.NewRepo(t)
	c1 := r.Commit(map[string]string{"a.yaml": "1"}, ann, "v1")
	r.Push()
	f := newFetcher(t)
	s := mustSpec(t, "ops=git+"+r.FileURL())
	good, err := f.Fetch(context.Background(), s, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"2", "3"} {
		sha := r.Commit(map[string]string{"a.yaml": v}, ann, "v"+v)
		r.Push()
		snap, err := f.FetchDryRun(context.Background(), s, sha)
		if err != nil || snap.Commit.SHA != sha {
			t.Fatalf("dry run to v%s: %+v, %v", v, snap.Commit, err)
		}
		assertFiles(t, snap.Dir, map[string]string{"a.yaml": v})
	}
	if cur, prev := activityRef(t, f, "ops", "current"), activityRef(t, f, "ops", "previous"); cur != c1 || prev != "" {
		t.Fatalf("after dry runs current = %q, previous = %q; want %s and none", cur, prev, c1)
	}
	assertFiles(t, good.Dir, map[string]string{"a.yaml": "1"}) // not pruned
}

func TestDataDirIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022) // the usual; the modes below must not depend on it
	t.Cleanup(func() { syscall.Umask(old) })
	r := gittest.NewRepo(t)
	r.Commit(map[string]string{"defs/a.yaml": "a", "defs/sub/b.yaml": "b"}, ann, "a")
	r.Push()
	f := newFetcher(t)
	if err := os.MkdirAll(filepath.Join(f.cfg.Dir, "ops"), 0o755); err != nil { // as an older version left it
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), mustSpec(t, "ops=git+"+r.FileURL()+"//defs"), ""); err != nil {
		t.Fatal(err)
	}
	assertPrivate(t, f.cfg.Dir, 0o400)
}

// assertPrivate fails unless every folder under dir (dir too) is 0700,
// every exported file (outside repo.git) has mode file and no file in
// repo.git is open to others (FETCH_HEAD, which git writes with the
// umask, is covered by its folder).
func assertPrivate(t *testing.T, dir string, file os.FileMode) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		inRepo := strings.Contains(rel, "repo.git")
		switch perm := fi.Mode().Perm(); {
		case d.IsDir() && perm != 0o700:
			t.Errorf("folder %s has mode %v, want 0700", rel, perm)
		case !d.IsDir() && !inRepo && perm != file:
			t.Errorf("file %s has mode %v, want %v", rel, perm, file)
		case !d.IsDir() && inRepo && d.Name() != "FETCH_HEAD" && perm&0o077 != 0:
			t.Errorf("file %s has mode %v, open to others", rel, perm)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestErrorsNameTheSourceNotServerPaths(t *testing.T) {
	r := gittest.NewRepo(t)
	r.Commit(map[string]string{"a.yaml": "a"}, ann, "a")
	r.Push()
	f := newFetcher(t)
	s := mustSpec(t, "ops=git+"+r.FileURL())
	_, err := f.Load(context.Background(), s, strings.Repeat("ab", 20))
	if err == nil || strings.Contains(err.Error(), f.cfg.Dir) || !errors.Is(err, errNotFetched) {
		t.Fatalf("Load: %v; want ErrNotFetched without %s", err, f.cfg.Dir)
	}
	if err := os.MkdirAll(filepath.Dir(f.treesDir("ops")), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.treesDir("ops"), nil, 0o600); err != nil { // snapshots cannot be written
		t.Fatal(err)
	}
	_, err = f.Fetch(context.Background(), s, "")
	if err == nil || strings.Contains(err.Error(), f.cfg.Dir) || !strings.Contains(err.Error(), "git:ops/trees") {
		t.Fatalf("Fetch: %v; want git:ops/trees, not %s", err, f.cfg.Dir)
	}
}
