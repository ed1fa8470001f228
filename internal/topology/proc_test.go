package topology

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one long-running child process of the topology. It runs in its
// own process group (so a kill reaches everything it started) and gets
// SIGKILL if the test binary dies, so nothing outlives a crashed or
// timed-out test run.
type proc struct {
	name    string
	path    string
	args    []string
	env     []string
	dir     string
	logPath string
	cred    *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

// start starts the process; its stdout and stderr are appended to logPath.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("%s: already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "---- harness: starting %s (start #%d) at %s\n", p.name, p.starts+1, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	p.starts++
	return nil
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// pid is the running process's id, 0 when it is not running.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.done) {
		return 0
	}
	return p.cmd.Process.Pid
}

// running reports whether the process is alive.
func (p *proc) running() bool { return p.pid() != 0 }

// startCount is how many times the process was started.
func (p *proc) startCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// stop sends sig to the process group and waits up to grace for the
// process to exit, then kills the group. Stopping a stopped process is a
// no-op.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	// Children that left the group die with it too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// kill SIGKILLs the whole process group and waits for the exit.
func (p *proc) kill() { p.stop(syscall.SIGKILL, 10*time.Second) }

// tail is the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 1500 { // Temporal logs stack traces on one line
			lines[i] = append(l[:1500:1500], "…"...)
		}
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// logContains reports whether the log holds s after the last start.
func (p *proc) logContains(s string) bool {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return false
	}
	if i := bytes.LastIndex(b, []byte("---- harness: starting")); i >= 0 {
		b = b[i:]
	}
	return bytes.Contains(b, []byte(s))
}

// rssKiB is the resident set size of the process and its children
// (VmRSS from /proc), in KiB.
func (p *proc) rssKiB() int {
	pid := p.pid()
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// freePorts reserves n distinct free loopback ports by holding listeners
// until all are chosen. They are below 32768: Temporal stores membership
// ports in a PostgreSQL smallint (a kernel-chosen ephemeral port such as
// 36099 makes every service exit with "value out of range for type
// smallint"), and staying out of the ephemeral range also keeps outgoing
// connections from taking a port a restarted process needs again.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	const lo, hi = 20000, 32000
	p := lo + rand.IntN(hi-lo)
	for tried := 0; len(ports) < n; tried++ {
		if tried > hi-lo {
			return nil, fmt.Errorf("fewer than %d free loopback ports in %d-%d", n, lo, hi)
		}
		p++
		if p >= hi {
			p = lo
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, p)
	}
	return ports, nil
}

// run runs a one-shot command and returns its combined output in the
// error when it fails.
func run(env []string, dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = env, dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

var errNotReady = errors.New("not ready")
