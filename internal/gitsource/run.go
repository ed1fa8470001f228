package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/coulomb/activity-core/internal/secret"
)

// Bounds on what a git process may print into memory.
const (
	stderrMax = 8 << 10
	stdoutMax = 1 << 20
)

// gitEnvDrop are variables that would point git at another repository
// than the one given with -C.
var gitEnvDrop = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_COMMON_DIR",
}

// gitRun is one git invocation: the repository, the transport allowed
// (none for local commands), the remote URL to redact from errors and
// git configuration passed in the environment (key, value…).
type gitRun struct {
	bin    string
	dir    string
	scheme string
	url    string
	config []string
}

// command builds the exec.Cmd: argv only, no prompts, transports limited
// to the source's scheme.
func (g gitRun) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := []string{"-c", "protocol.allow=never"}
	if g.scheme != "" {
		argv = append(argv, "-c", "protocol."+g.scheme+".allow=always")
	}
	if g.dir != "" {
		argv = append(argv, "-C", g.dir)
	}
	cmd := exec.CommandContext(ctx, g.bin, append(argv, args...)...)
	cmd.Env = withConfig(gitEnv(os.Environ()), g.config...)
	cmd.WaitDelay = waitDelay
	return cmd
}

// gitEnv is env without repository overrides, with prompts off and ssh
// in batch mode unless the user chose an ssh command.
func gitEnv(env []string) []string {
	out := make([]string, 0, len(env)+3)
	sshSet := false
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(gitEnvDrop, k) || k == "GIT_TERMINAL_PROMPT" || k == "LC_ALL" {
			continue
		}
		sshSet = sshSet || k == "GIT_SSH_COMMAND" || k == "GIT_SSH"
		out = append(out, kv)
	}
	out = append(out, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	if !sshSet {
		out = append(out, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	return out
}

// output runs git and returns its stdout (bounded); a failure's error
// holds git's stderr, redacted.
func (g gitRun) output(ctx context.Context, args ...string) (string, error) {
	cmd := g.command(ctx, args...)
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = stdoutMax, stderrMax
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", g.failure(ctx, args[0], stderr.String(), err)
	}
	if stdout.dropped > 0 {
		return "", fmt.Errorf("git %s printed more than %d bytes", args[0], stdoutMax)
	}
	return stdout.String(), nil
}

// stream runs git with stdout handed to consume; consume's error wins
// over git's (git dies of a closed pipe when consume stops early).
func (g gitRun) stream(ctx context.Context, consume func(io.Reader) error, args ...string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := g.command(ctx, args...)
	var stderr limitedBuffer
	stderr.max = stderrMax
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return g.failure(ctx, args[0], "", err)
	}
	cerr := consume(out)
	if cerr != nil {
		cancel()
	} else {
		_, _ = io.Copy(io.Discard, out)
	}
	werr := cmd.Wait()
	if cerr != nil {
		return cerr
	}
	if werr != nil {
		return g.failure(ctx, args[0], stderr.String(), werr)
	}
	return nil
}

// failure words a failed git run: git's last error lines, redacted, and
// the exit status or the timeout.
func (g gitRun) failure(ctx context.Context, sub, stderr string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", errTimeout, ctx.Err())
	}
	msg := g.redact(gitMessage(stderr))
	if msg == "" {
		return fmt.Errorf("git %s: %w", sub, err)
	}
	return &gitError{Op: sub, Stderr: msg, err: err}
}

// redact hides the remote's credentials and any URL user info in text.
func (g gitRun) redact(text string) string {
	if g.url != "" {
		text = secret.RedactURLIn(text, g.url)
		text = strings.ReplaceAll(text, g.url, redactURL(g.url))
	}
	return userinfoRE.ReplaceAllString(text, "://"+secret.Mask+"@")
}

// gitMessage keeps git's fatal:/error: lines (all of stderr when it has
// none), trimmed and joined.
func gitMessage(stderr string) string {
	var keep, all []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		all = append(all, line)
		if strings.HasPrefix(line, "fatal:") || strings.HasPrefix(line, "error:") {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		keep = all
	}
	return strings.Join(keep, "; ")
}

// GitError is a git command that failed, with its redacted stderr.
type gitError struct {
	Op     string // the git subcommand
	Stderr string // git's error lines, credentials redacted
	err    error
}

func (e *gitError) Error() string { return fmt.Sprintf("git %s: %s (%v)", e.Op, e.Stderr, e.err) }
func (e *gitError) Unwrap() error { return e.err }

// ErrTimeout is a git command stopped by FetcherConfig.Timeout or the
// caller's context.
var errTimeout = errors.New("timed out")

// limitedBuffer keeps the first max bytes written and counts the rest.
type limitedBuffer struct {
	bytes.Buffer
	max     int
	dropped int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	n := min(len(p), max(b.max-b.Len(), 0))
	b.Buffer.Write(p[:n])
	b.dropped += len(p) - n
	return len(p), nil
}
