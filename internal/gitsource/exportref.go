package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ExportRef exports path at ref of the local repository repoDir into dst
// (a new folder) and describes the commit: `plan --base REF` reads both
// sides of a change this way, offline.
func ExportRef(ctx context.Context, repoDir, ref, path, dst string) (Commit, error) {
	if ref == "" || strings.HasPrefix(ref, "-") {
		return Commit{}, fmt.Errorf("gitsource: ref %q: give a branch, tag or commit not starting with '-'", ref)
	}
	clean, err := cleanPath(path)
	if err != nil {
		return Commit{}, fmt.Errorf("gitsource: %w", err)
	}
	g := gitRun{bin: "git", dir: repoDir}
	sha, err := resolve(ctx, g, ref)
	if err != nil {
		return Commit{}, fmt.Errorf("gitsource: in %s: %w", repoDir, err)
	}
	c, err := readCommit(ctx, g, sha)
	if err != nil {
		return Commit{}, fmt.Errorf("gitsource: in %s: %w", repoDir, err)
	}
	opt := extractOptions{fileMode: 0o600, maxBytes: treeMaxBytes, maxCount: treeMaxEntries}
	if _, err := export(ctx, g, sha, clean, repoDir, dst, opt); err != nil {
		return Commit{}, fmt.Errorf("gitsource: %w", err)
	}
	return c, nil
}

// DescribeRef resolves ref in the local repository repoDir and describes
// its commit, offline: `plan` names both sides of a change with it.
func DescribeRef(ctx context.Context, repoDir, ref string) (Commit, error) {
	if ref == "" || strings.HasPrefix(ref, "-") {
		return Commit{}, fmt.Errorf("ref %q: a ref may not be empty or start with '-'", ref)
	}
	g := gitRun{bin: "git", dir: repoDir}
	sha, err := resolve(ctx, g, ref)
	if err != nil {
		return Commit{}, fmt.Errorf("ref %q is not a commit in %s (try `git fetch` or check the name)", ref, repoDir)
	}
	c, err := readCommit(ctx, g, sha)
	if err != nil {
		return Commit{}, fmt.Errorf("reading commit %s: %w", sha, err)
	}
	return c, nil
}

// export writes the folder path of commit sha into dst through a
// temporary folder beside it, so dst appears whole or not at all.
// of names the repository in errors ("ops", "/src/repo").
func export(ctx context.Context, g gitRun, sha, path, of, dst string, opt extractOptions) ([]string, error) {
	treeish := sha
	if path != "" {
		typ, err := g.output(ctx, "cat-file", "-t", sha+":"+path)
		if err != nil {
			return nil, &pathError{Path: path, Commit: sha, Of: of}
		}
		if strings.TrimSpace(typ) != "tree" {
			return nil, &pathError{Path: path, Commit: sha, Of: of, File: true}
		}
		treeish = sha + ":" + path
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-")
	if err != nil {
		return nil, err
	}
	var skipped []string
	err = g.stream(ctx, func(r io.Reader) error {
		var err error
		skipped, err = extractTar(r, tmp, opt)
		return err
	}, "archive", "--format=tar", treeish)
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("exporting %s: %w", sha[:7], err), removeTree(tmp))
	}
	return skipped, nil
}

// parseTime reads git's strict ISO 8601 (%cI).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("commit time %q: %w", s, err)
	}
	return t, nil
}

// PathError is a source path that is not a folder at a commit; it is
// ErrPathNotFound.
type pathError struct {
	Path, Commit, Of string
	File             bool // the path is a file
}

func (e *pathError) Error() string {
	if e.File {
		return fmt.Sprintf("path %s at %s of %s is a file, not a folder", e.Path, e.Commit[:7], e.Of)
	}
	return fmt.Sprintf("path %s not found at %s of %s", e.Path, e.Commit[:7], e.Of)
}

// Is makes a PathError match ErrPathNotFound.
func (e *pathError) Is(target error) bool { return target == ErrPathNotFound }
