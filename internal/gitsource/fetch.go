package gitsource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
)

// noFallback are git errors a full fetch would meet again: the remote is
// unreachable, refuses us, or has no such ref.
var noFallback = []string{
	"Could not resolve host", "Connection refused", "unable to connect",
	"Failed to connect", "Authentication failed", "could not read Username",
	"terminal prompts disabled", "Permission denied", "Host key verification failed",
	"does not appear to be a git repository", "Repository not found",
	"couldn't find remote ref", "not found", "returned error: 401", "returned error: 403",
	"Could not read from remote repository",
}

// fetchRef fetches ref into the source's repository, shallow when the
// remote allows, and returns the commit it resolves to.
func (f *Fetcher) fetchRef(ctx context.Context, s Spec, ref string) (string, error) {
	g, url, err := f.remote(s)
	if err != nil {
		return "", err
	}
	_, err = g.output(ctx, "fetch", "--depth=1", "--no-tags", "--quiet", "--", url, ref)
	if err == nil {
		return resolve(ctx, f.local(s.Name), "FETCH_HEAD")
	}
	if !fallback(err) {
		return "", err
	}
	f.cfg.Logger.Info("gitsource: shallow fetch refused, fetching in full", "source", s.Name, "ref", ref, "err", err)
	_, err = g.output(ctx, "fetch", "--no-tags", "--quiet", "--", url, ref)
	if err == nil {
		return resolve(ctx, f.local(s.Name), "FETCH_HEAD")
	}
	if !isSHA(ref) {
		return "", err
	}
	return f.fetchSHAFromHistory(ctx, s, g, url, ref)
}

// fetchSHAFromHistory fetches the whole history of the ref the source
// follows, for a remote that serves no commit by SHA, and finds the
// commit in it. Only that ref: every branch could be far larger.
func (f *Fetcher) fetchSHAFromHistory(ctx context.Context, s Spec, g gitRun, url, sha string) (string, error) {
	follow := cmp.Or(s.Git.Ref, "HEAD")
	notFound := fmt.Errorf("commit %s is not in the history of %s on the remote, which serves no commit by SHA: pin a branch or tag there, or a commit of %s", sha[:7], follow, follow)
	if isSHA(follow) {
		return "", notFound
	}
	args := []string{"fetch", "--no-tags", "--quiet"}
	if out, _ := f.local(s.Name).output(ctx, "rev-parse", "--is-shallow-repository"); strings.TrimSpace(out) == "true" {
		args = append(args, "--unshallow")
	}
	if _, err := g.output(ctx, append(args, "--", url, follow)...); err != nil {
		return "", err
	}
	got, err := resolve(ctx, f.local(s.Name), sha)
	if err != nil {
		return "", notFound
	}
	return got, nil
}

// authHints are git's words for a remote that wants credentials.
var authHints = []string{"Authentication failed", "could not read Username", "could not read Password",
	"returned error: 401", "returned error: 403", "Permission denied (publickey", "Host key verification failed"}

// hint adds what to do to an authentication failure.
func hint(err error) error {
	var ge *gitError
	if errors.As(err, &ge) {
		for _, h := range authHints {
			if strings.Contains(ge.Stderr, h) {
				return fmt.Errorf("%w; the remote refused our credentials: see docs/git-sources.md#credentials", err)
			}
		}
	}
	return err
}

// fallback reports whether a failed shallow fetch is worth a full one.
func fallback(err error) bool {
	var ge *gitError
	if errors.Is(err, errTimeout) || !errors.As(err, &ge) {
		return false
	}
	for _, s := range noFallback {
		if strings.Contains(ge.Stderr, s) {
			return false
		}
	}
	return true
}

// resolve returns the commit rev names in the local repository.
func resolve(ctx context.Context, g gitRun, rev string) (string, error) {
	out, err := g.output(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%s does not name a commit", rev)
	}
	return strings.TrimSpace(out), nil
}

// readCommit describes a commit.
func readCommit(ctx context.Context, g gitRun, sha string) (Commit, error) {
	out, err := g.output(ctx, "log", "-1", "--no-show-signature", "--format=%H%x00%cI%x00%an <%ae>%x00%s", sha, "--")
	if err != nil {
		return Commit{}, err
	}
	parts := strings.SplitN(strings.TrimRight(out, "\n"), "\x00", 4)
	if len(parts) != 4 {
		return Commit{}, fmt.Errorf("git log printed %q", out)
	}
	t, err := parseTime(parts[1])
	if err != nil {
		return Commit{}, err
	}
	return Commit{SHA: parts[0], Time: t, Author: parts[2], Subject: parts[3]}, nil
}
