package gittest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
)

// daemonStartTimeout bounds how long git daemon may take to listen.
const daemonStartTimeout = 10 * time.Second

// ServeDaemon serves Root read-only with git daemon on a loopback port
// until the test ends, and returns the repository's git:// URL.
func (r *Repo) ServeDaemon(t testing.TB) string {
	t.Helper()
	var lastErr error
	for range 3 { // the free port may be taken between probe and listen
		addr := testsupport.FreeAddr(t)
		if lastErr = startDaemon(t, r.Root, addr); lastErr == nil {
			return "git://" + addr + "/" + r.Name
		}
	}
	t.Fatalf("gittest: git daemon: %v", lastErr)
	return ""
}

// startDaemon starts git daemon on addr and waits until it accepts.
func startDaemon(t testing.TB, root, addr string) error {
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
		"--base-path="+root, "--listen=127.0.0.1", "--port="+port, root)
	cmd.Env = append(cmd.Environ(), isolated...)
	var out testsupport.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its children die with it
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	err := testsupport.Poll(daemonStartTimeout, func() error {
		select {
		case <-exited:
			return nil
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	select {
	case <-exited:
		return fmt.Errorf("exited: %s", out.String())
	default:
	}
	if err != nil {
		stop()
		return fmt.Errorf("not listening on %s: %v: %s", addr, err, out.String())
	}
	t.Cleanup(stop)
	return nil
}

// ServeHTTP serves Root with git http-backend (smart HTTP, read-only)
// until the test ends, and returns the repository's http:// URL.
func (r *Repo) ServeHTTP(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(backend(t, r.Root))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + r.Name
}

// ServeHTTPAuth is ServeHTTP behind HTTP basic authentication: requests
// without user and password get 401, as a private forge answers.
func (r *Repo) ServeHTTPAuth(t testing.TB, user, password string) string {
	t.Helper()
	h := backend(t, r.Root)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + r.Name
}

// backend is git http-backend as a CGI handler serving root.
func backend(t testing.TB, root string) http.Handler {
	t.Helper()
	execPath := strings.TrimSpace(Run(t, "", "--exec-path"))
	return &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env:  append([]string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}, isolated...),
	}
}
