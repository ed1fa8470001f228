// Package gittest makes real git repositories for tests and serves them
// the three ways git sources fetch in tests: git daemon (git://), git
// http-backend behind net/http/cgi (http://) and file://. It is imported
// only from _test.go files.
package gittest

import (
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Delete, as a file's content in Commit, removes the file.
const Delete = "\x00delete"

// Branch is the branch NewRepo creates and Push updates.
const Branch = "main"

// Repo is a bare repository (what is served) and a work clone (where
// tests commit), both removed when the test ends.
type Repo struct {
	t testing.TB
	// Root is the folder holding the bare repository: what git daemon
	// and http-backend serve.
	Root string
	// Name is the bare repository's folder name in Root ("repo.git").
	Name string
	// Bare and Work are the repositories' paths.
	Bare, Work string
}

// NewRepo makes an empty bare repository with HEAD on main and a work
// repository whose origin is it.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	base := t.TempDir()
	r := &Repo{t: t, Root: filepath.Join(base, "served"), Name: "repo.git", Work: filepath.Join(base, "work")}
	r.Bare = filepath.Join(r.Root, r.Name)
	Run(t, "", "init", "--quiet", "--bare", "--initial-branch="+Branch, r.Bare)
	Run(t, "", "init", "--quiet", "--initial-branch="+Branch, r.Work)
	r.Git("remote", "add", "origin", r.Bare)
	return r
}

// Run runs git in dir (none when "") with the machine's and the user's
// git config ignored, and fails the test on error; it returns stdout.
func Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return runEnv(t, dir, nil, args...)
}

// RunEnv is Run with extra environment variables.
func runEnv(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = append(append(os.Environ(), isolated...), env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// isolated keeps a developer's git config out of the test repositories.
var isolated = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}

// Git runs git in the work repository.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return Run(r.t, r.Work, args...)
}

// Commit writes files (path → content; Delete removes) in the work
// repository and commits everything as author ("Name <email>") with
// message; it returns the commit's SHA. It does not push.
func (r *Repo) Commit(files map[string]string, author, message string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.Work, filepath.FromSlash(name))
		if content == Delete {
			if err := os.RemoveAll(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.Git("add", "--all")
	runEnv(r.t, r.Work, authorEnv(r.t, author), "commit", "--quiet", "--allow-empty", "--no-gpg-sign", "-m", message)
	return strings.TrimSpace(r.Git("rev-parse", "HEAD"))
}

// Symlink adds a symbolic link name → target to the work repository,
// for the next Commit.
func (r *Repo) Symlink(target, name string) {
	r.t.Helper()
	p := filepath.Join(r.Work, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		r.t.Fatal(err)
	}
}

// Push pushes the work repository's HEAD to main of the bare one
// (forced, so a test may rewrite history).
func (r *Repo) Push() {
	r.t.Helper()
	r.Git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/"+Branch)
}

// FileURL is the bare repository's file:// URL.
func (r *Repo) FileURL() string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(r.Bare)}).String()
}

// authorEnv sets author and committer from "Name <email>".
func authorEnv(t testing.TB, author string) []string {
	t.Helper()
	a, err := mail.ParseAddress(author)
	if err != nil {
		t.Fatalf("gittest: author %q: want \"Name <email>\": %v", author, err)
	}
	return []string{
		"GIT_AUTHOR_NAME=" + a.Name, "GIT_AUTHOR_EMAIL=" + a.Address,
		"GIT_COMMITTER_NAME=" + a.Name, "GIT_COMMITTER_EMAIL=" + a.Address,
	}
}
