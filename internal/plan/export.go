package plan

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Bounds of one export: a definitions folder is small; anything past these
// is a mistake or an attack, refused rather than written to disk.
const (
	gitTimeoutDefault = time.Minute
	exportMaxBytes    = 256 << 20
	exportMaxEntries  = 100_000
)

// commit describes the commit a side was read at.
type commit struct {
	SHA     string
	Time    time.Time
	Author  string
	Subject string
}

// errNoPath is returned when the definitions folder does not exist at a
// ref (a pull request that creates it).
var errNoPath = errors.New("no such path at this ref")

// git runs git in repoDir with argv, never through a shell, without
// prompts, bounded by a timeout.
func git(ctx context.Context, repoDir string, stdout io.Writer, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, gitTimeoutDefault)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repoDir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/true")
	var stderr bytes.Buffer
	cmd.Stdout = stdout
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096, drop: true}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(msg)
	}
	return nil
}

// resolve turns ref into a commit of repoDir and describes it.
func resolve(ctx context.Context, repoDir, ref string) (commit, error) {
	if ref == "" || strings.HasPrefix(ref, "-") {
		return commit{}, fmt.Errorf("ref %q: a ref may not be empty or start with '-'", ref)
	}
	var out bytes.Buffer
	if err := git(ctx, repoDir, &out, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}"); err != nil {
		return commit{}, fmt.Errorf("ref %q is not a commit in %s (try `git fetch` or check the name)", ref, repoDir)
	}
	sha := strings.TrimSpace(out.String())
	out.Reset()
	if err := git(ctx, repoDir, &out, "log", "-1", "--format=%ct%x00%an <%ae>%x00%s", sha, "--"); err != nil {
		return commit{}, fmt.Errorf("reading commit %s: %v", sha, err)
	}
	parts := strings.SplitN(strings.TrimSuffix(out.String(), "\n"), "\x00", 3)
	if len(parts) != 3 {
		return commit{}, fmt.Errorf("reading commit %s: unexpected git log output", sha)
	}
	secs, _ := strconv.ParseInt(parts[0], 10, 64)
	return commit{SHA: sha, Time: time.Unix(secs, 0).UTC(), Author: parts[1], Subject: parts[2]}, nil
}

// exportRef writes dir (slash-separated, "" for the root) of commit sha
// into dst, a folder that must not exist yet. It is the fallback for
// gitsource.ExportRef: `git archive` read by archive/tar, refusing
// anything but regular files and folders inside dst.
func exportRef(ctx context.Context, repoDir, sha, dir, dst string) error {
	spec := sha
	if dir != "" {
		spec = sha + ":" + dir
		if err := git(ctx, repoDir, io.Discard, "cat-file", "-e", spec); err != nil {
			return errNoPath
		}
	}
	var tarball bytes.Buffer
	if err := git(ctx, repoDir, &limitedWriter{w: &tarball, n: exportMaxBytes}, "archive", "--format=tar", spec); err != nil {
		return fmt.Errorf("git archive %s: %v", spec, err)
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	return untar(&tarball, dst)
}

// untar extracts regular files and folders into dst.
func untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the exported tree: %w", err)
		}
		if n >= exportMaxEntries {
			return fmt.Errorf("the exported tree has more than %d entries", exportMaxEntries)
		}
		name := path.Clean(h.Name)
		if name == "." || h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("the exported tree holds %q, outside its folder", h.Name)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFile(target, tr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("the exported tree holds %q, which is not a regular file or folder (symbolic links are not read from git)", h.Name)
		}
	}
}

func writeFile(target string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// limitedWriter keeps the first n bytes and fails past them (or, with
// drop, silently drops the rest).
type limitedWriter struct {
	w    io.Writer
	n    int
	drop bool
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		if l.drop {
			_, err := l.w.Write(p[:l.n])
			l.n = 0
			return len(p), err
		}
		return 0, fmt.Errorf("output larger than the limit of %d bytes", exportMaxBytes)
	}
	l.n -= len(p)
	return l.w.Write(p)
}
