package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// gitTimeoutDefault bounds one git call.
const gitTimeoutDefault = time.Minute

// git runs git in repoDir with argv, never through a shell, without
// prompts, bounded by a timeout.
func git(ctx context.Context, repoDir string, stdout io.Writer, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, gitTimeoutDefault)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repoDir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/true")
	var stderr bytes.Buffer
	cmd.Stdout = stdout
	cmd.Stderr = &capped{w: &stderr, n: 4096}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(msg)
	}
	return nil
}

// resolve turns ref into a commit SHA of repoDir, with a message that
// says what to do when it does not name one.
func resolve(ctx context.Context, repoDir, ref string) (string, error) {
	if ref == "" || strings.HasPrefix(ref, "-") {
		return "", fmt.Errorf("ref %q: a ref may not be empty or start with '-'", ref)
	}
	var out bytes.Buffer
	if err := git(ctx, repoDir, &out, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}"); err != nil {
		return "", fmt.Errorf("ref %q is not a commit in %s (try `git fetch` or check the name)", ref, repoDir)
	}
	return strings.TrimSpace(out.String()), nil
}

// capped keeps the first n bytes written and drops the rest.
type capped struct {
	w io.Writer
	n int
}

func (c *capped) Write(p []byte) (int, error) {
	keep := p[:min(len(p), c.n)]
	c.n -= len(keep)
	_, err := c.w.Write(keep)
	return len(p), err
}
