// Package shell runs an instruction's command the way an operator expects
// a scheduler to: in a cgroup of its own (or its process group where no
// cgroup can be made), with a clean environment, its output streamed into
// bounded tails, and — on cancel, timeout or exit — everything it started
// sent SIGTERM, then SIGKILL after a grace period, so no descendant
// outlives the run (docs/definitions.md#timeouts).
//
// The package knows nothing about Temporal; the engine's activity wraps it
// and turns Progress callbacks into heartbeats.
package shell

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Defaults.
const (
	GraceDefault     = 10 * time.Second
	progressDefault  = 5 * time.Second
	shellPathDefault = "/bin/sh"
)

// Command says what to run. Exactly one of Cmd and Args is set.
type Command struct {
	// Cmd is run by /bin/sh -c.
	Cmd string
	// Args is run directly, with no shell; Args[0] is looked up in PATH.
	Args []string
	// Dir is the working directory; empty means the worker's.
	Dir string
	// Env is the complete environment of the process ("NAME=value"). The
	// caller builds it: nothing of the worker's own environment leaks in
	// unless the caller puts it there.
	Env []string
	// Grace is how long the process group has between SIGTERM and SIGKILL.
	Grace time.Duration
	// Progress, when set, is called every ProgressEvery while the command
	// runs (the engine heartbeats from it).
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Stdout and Stderr, when set, receive the output as it is produced, in
	// addition to the tails (for live logs). They must not block for long.
	Stdout, Stderr io.Writer
	// TailSize bounds the kept output per stream (TailSize when 0).
	TailSize int
	// Container holds the command's processes (Default() when nil);
	// Name names its cgroup (the run and attempt), for the operator.
	Container *Container
	Name      string
}

// Progress is a snapshot of a running command.
type Progress struct {
	PID          int
	Elapsed      time.Duration
	StdoutBytes  int64
	StderrBytes  int64
	LastStdout   string // the last line-ish of output, for heartbeat details
	ProcessAlive bool
	Containment  Containment
}

// Result is what a finished command left behind.
type Result struct {
	// ExitCode is the process's exit status; -1 when it was killed by a
	// signal or never started.
	ExitCode int
	// Signal is set when the process died of a signal.
	Signal string
	// Stdout and Stderr are the last TailSize bytes of each stream.
	Stdout, Stderr string
	// StdoutBytes and StderrBytes count everything written.
	StdoutBytes, StderrBytes int64
	// Canceled is true when the context ended the command (cancel or
	// timeout: the caller knows which from its context's error).
	Canceled bool
	// Killed is true when the group had to be sent SIGKILL after the grace
	// period.
	Killed bool
	// Containment is how the command's processes were held together.
	Containment Containment
	// Leftover is true when something outlived the main process (a
	// background process, or a pipe held open) and had to be ended.
	Leftover bool
	Started  time.Time
	Finished time.Time
}

// errStart reports a command that could not be started (no such program,
// bad working directory): a permanent failure, retrying will not help.
var errStart = errors.New("command did not start")

// Run starts the command and waits for it. It returns an error only when
// the command could not start (wrapping errStart); a command that ran and
// failed is a Result with a non-zero ExitCode.
//
// Nothing the command starts outlives the run: it starts inside its own
// cgroup when the container has one (else its process group, see
// Containment), with SIGKILL as its parent-death signal; whatever is left
// when the main process exits is sent SIGTERM, then SIGKILL after the
// grace period; and the output is read for at most drainAfterKill more,
// so Run returns in bounded time even if an escaped process holds the
// pipes open (docs/definitions.md#timeouts).
func Run(ctx context.Context, c Command) (*Result, error) {
	argv, path, err := c.argv()
	if err != nil {
		return nil, err
	}
	grace := cmp.Or(max(c.Grace, 0), GraceDefault)
	every := cmp.Or(max(c.ProgressEvery, 0), progressDefault)

	outTail, errTail := NewTail(c.TailSize), NewTail(c.TailSize)
	outR, outW, errR, errW, err := pipes()
	if err != nil {
		return nil, err
	}
	sc := cmp.Or(c.Container, Default()).newScope(c.Name)
	defer sc.close()
	// The child writes straight into the pipes (no copying goroutines in
	// os/exec), so Wait returns when the main process exits even if a
	// grandchild still holds the pipes open.
	mk := func() *exec.Cmd { return c.cmd(path, argv, sc, outW, errW) }
	res := &Result{ExitCode: -1, Started: time.Now()}
	p, err := start(mk, sc)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("%w: %v", errStart, err)
	}
	// Closing the scope ends the main process if it still runs, so reaping
	// it cannot block, even when the loop below panics.
	defer func() { sc.close(); p.reap() }()
	res.Containment = sc.mode()

	var readers sync.WaitGroup
	readers.Go(func() { pump(outR, outTail, c.Stdout) })
	readers.Go(func() { pump(errR, errTail, c.Stderr) })
	c.watch(ctx, p, sc, res, grace, every, outTail, errTail)
	res.Leftover = settle(sc, &readers, []*os.File{outR, errR}, grace, res.Killed)
	// The leader is reaped only once nothing is signalled any more: until
	// then it is a zombie, so its pid, which is the group's id, cannot be
	// reused and kill(-pgid) reaches only the run's processes.
	sc.close()
	p.reap()
	res.Finished = time.Now()

	res.Stdout, res.Stderr = outTail.String(), errTail.String()
	res.StdoutBytes, res.StderrBytes = outTail.Total(), errTail.Total()
	return res, exitStatus(res, p.err)
}

// cmd is the command's process, its output going into the pipes' write
// ends, inside its own process group and the scope's cgroup.
func (c Command) cmd(path string, argv []string, sc *scope, outW, errW *os.File) *exec.Cmd {
	return &exec.Cmd{
		Path: path, Args: argv, Dir: c.Dir,
		Env:    append(append([]string{}, c.Env...), sc.env()...),
		Stdout: outW, Stderr: errW,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid: true, Pdeathsig: syscall.SIGKILL,
			UseCgroupFD: sc.cg != "", CgroupFD: sc.fd,
		},
	}
}

// pump reads one output stream into its tail (and to a live viewer, if
// any) until the stream ends, then closes it.
func pump(r *os.File, tail *Tail, live io.Writer) {
	defer r.Close()
	var w io.Writer = tail
	if live != nil {
		w = io.MultiWriter(tail, &liveWriter{w: live})
	}
	_, _ = io.Copy(w, r)
}

// watch waits for the main process to exit. Meanwhile it reports progress
// every `every`, and when ctx ends it sends SIGTERM to the scope, then
// SIGKILL after the grace period.
func (c Command) watch(ctx context.Context, p *proc, sc *scope, res *Result, grace, every time.Duration, outTail, errTail *Tail) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var killTimer <-chan time.Time
	ctxDone := ctx.Done()
	for {
		select {
		case <-p.exited:
			return
		case <-ctxDone:
			res.Canceled = true
			ctxDone = nil
			sc.signal(syscall.SIGTERM)
			killTimer = time.After(grace)
		case <-killTimer:
			res.Killed = true
			sc.kill()
		case <-ticker.C:
			if c.Progress != nil {
				c.Progress(Progress{
					PID: p.pid, Elapsed: time.Since(res.Started),
					StdoutBytes: outTail.Total(), StderrBytes: errTail.Total(),
					LastStdout: lastLine(outTail), ProcessAlive: true, Containment: res.Containment,
				})
			}
		}
	}
}

// liveWriter passes output to a live viewer's writer until it fails, and
// then drops it: a failing viewer must not stop the output from being
// read, or the command would block on a full pipe.
type liveWriter struct {
	w      io.Writer
	failed bool
}

func (l *liveWriter) Write(p []byte) (int, error) {
	if !l.failed {
		if _, err := l.w.Write(p); err != nil {
			l.failed = true
		}
	}
	return len(p), nil
}

// drainAfterKill bounds the reading of output once everything was sent
// SIGKILL: what is still unread then belongs to a process that escaped
// the containment, and the run does not wait for it.
const drainAfterKill = 2 * time.Second

// settleQuick is how long the output of an exited command may take to be
// read before what holds the pipes is treated as left behind.
const settleQuick = 100 * time.Millisecond

// settle ends what the main process left behind: SIGTERM to the scope,
// SIGKILL after the grace period, and the output pipes closed once
// drainAfterKill has passed after that. It reports whether anything was
// left (a process, or a pipe held open).
func settle(sc *scope, readers *sync.WaitGroup, pipes []*os.File, grace time.Duration, killed bool) bool {
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	wait := func(limit time.Duration) bool {
		timer := time.NewTimer(limit)
		defer timer.Stop()
		tick := time.NewTicker(20 * time.Millisecond) // the scope's emptiness is polled
		defer tick.Stop()
		d := drained
		for {
			if d == nil && sc.empty() {
				return true
			}
			select {
			case <-d:
				d = nil
			case <-tick.C:
			case <-timer.C:
				return false
			}
		}
	}
	// What the main process wrote is still in the pipes: reading it takes
	// moments. Only what is left after that counts as leftover.
	if wait(settleQuick) {
		return false
	}
	if !killed {
		sc.signal(syscall.SIGTERM)
		if wait(grace) {
			return true
		}
	}
	sc.kill()
	if !wait(drainAfterKill) {
		for _, f := range pipes {
			_ = f.Close() // unblocks the pumps; the output read so far is kept
		}
	}
	<-drained
	return true
}

// pipes makes the stdout and stderr pipes.
func pipes() (outR, outW, errR, errW *os.File, err error) {
	if outR, outW, err = os.Pipe(); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%w: creating stdout pipe: %v", errStart, err)
	}
	if errR, errW, err = os.Pipe(); err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, nil, nil, fmt.Errorf("%w: creating stderr pipe: %v", errStart, err)
	}
	return outR, outW, errR, errW, nil
}

// proc is a started command.
type proc struct {
	pid    int
	exited chan struct{} // closed when the leader exits; it stays a zombie
	reaped chan struct{} // closed once it is reaped (after reap is called)
	once   sync.Once
	free   chan struct{} // reap's permission to reap it
	err    error         // Wait's, valid once reaped is closed
}

// reap lets the leader be reaped and waits for that (once it exited).
func (p *proc) reap() {
	p.once.Do(func() { close(p.free) })
	<-p.reaped
}

// waitExited waits for pid to exit without reaping it (WNOWAIT): the
// zombie keeps its pid, and so its process group's id, from being reused.
func waitExited(pid int) {
	const pPID = 1
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			return
		}
	}
}

// start starts the command on a goroutine locked to its OS thread until
// the command exits: the parent-death signal fires when the thread that
// forked the child ends, so that thread must live as long as the child.
// A start into the cgroup that fails is retried once without it.
func start(mk func() *exec.Cmd, sc *scope) (*proc, error) {
	p := &proc{exited: make(chan struct{}), reaped: make(chan struct{}), free: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := mk()
		err := cmd.Start()
		if err != nil && sc.cg != "" {
			// The cgroup or the command? Without the cgroup, a start that
			// then works was refused the cgroup.
			cg := sc.cg
			sc.drop()
			cmd = mk()
			if err = cmd.Start(); err == nil {
				sc.c.fallbackWarning(fmt.Sprintf("starting into %s failed", cg))
			}
		}
		if err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		sc.started(p.pid)
		started <- nil
		waitExited(p.pid)
		close(p.exited)
		<-p.free
		p.err = cmd.Wait()
		close(p.reaped)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Argv is the command line Run would start, as exec receives it: Cmd as
// shellPathDefault -c Cmd, or Args as given. A shadow run records it
// instead of running it (docs/cutover.md#shadow-runs).
func (c Command) Argv() ([]string, error) {
	switch {
	case c.Cmd != "" && len(c.Args) > 0:
		return nil, fmt.Errorf("%w: both cmd and args given", errStart)
	case c.Cmd != "":
		return []string{shellPathDefault, "-c", c.Cmd}, nil
	case len(c.Args) > 0:
		return append([]string(nil), c.Args...), nil
	}
	return nil, fmt.Errorf("%w: nothing to run", errStart)
}

// argv is the command line and the program's path.
func (c Command) argv() ([]string, string, error) {
	argv, err := c.Argv()
	if err != nil {
		return nil, "", err
	}
	path := argv[0]
	if lp, err := exec.LookPath(argv[0]); err == nil {
		path = lp
	} else if c.Cmd == "" {
		return nil, "", fmt.Errorf("%w: %v", errStart, err)
	}
	return argv, path, nil
}

// exitStatus fills the exit code or signal from Wait's error.
func exitStatus(res *Result, waitErr error) error {
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
		res.ExitCode = 0
	case errors.As(waitErr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
			res.ExitCode = -1
		} else {
			res.ExitCode = ee.ExitCode()
		}
	default:
		return fmt.Errorf("waiting for command: %w", waitErr)
	}
	return nil
}

// lastLine returns up to 200 bytes of the last non-empty line of output.
func lastLine(t *Tail) string {
	b := t.Bytes()
	end := len(b)
	for end > 0 && (b[end-1] == '\n' || b[end-1] == '\r') {
		end--
	}
	start := end
	for start > 0 && b[start-1] != '\n' && end-start < 200 {
		start--
	}
	return string(b[start:end])
}
