package gitsource

import (
	"slices"
	"strings"
	"testing"
)

func TestGitEnv(t *testing.T) {
	got := gitEnv([]string{"HOME=/home/a", "GIT_DIR=/elsewhere", "GIT_TERMINAL_PROMPT=1", "LC_ALL=de_DE.UTF-8"})
	want := []string{"HOME=/home/a", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "GIT_SSH_COMMAND=ssh -o BatchMode=yes"}
	if !slices.Equal(got, want) {
		t.Fatalf("gitEnv = %q, want %q", got, want)
	}
	mine := gitEnv([]string{"GIT_SSH_COMMAND=ssh -i /etc/key"})
	if slices.Contains(mine, "GIT_SSH_COMMAND=ssh -o BatchMode=yes") || !slices.Contains(mine, "GIT_SSH_COMMAND=ssh -i /etc/key") {
		t.Fatalf("the user's GIT_SSH_COMMAND was replaced: %q", mine)
	}
}

func TestRedactGitStderr(t *testing.T) {
	g := gitRun{url: "https://ann:hunter2secret@host/repo.git"}
	got := g.redact("fatal: unable to access 'https://ann:hunter2secret@host/repo.git/': 401; also https://bob:other-pass@mirror/x and hunter2secret")
	for _, s := range []string{"hunter2secret", "other-pass", "bob"} {
		if strings.Contains(got, s) {
			t.Fatalf("redacted text still holds %q: %s", s, got)
		}
	}
}
