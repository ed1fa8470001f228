// Package shell runs an instruction's command the way an operator expects
// a scheduler to: in its own process group, with a clean environment, its
// output streamed into bounded tails, and — on cancel or timeout — the whole
// group sent SIGTERM, then SIGKILL after a grace period, so no grandchild
// outlives the run.
//
// The package knows nothing about Temporal; the engine's activity wraps it
// and turns Progress callbacks into heartbeats.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Defaults.
const (
	GraceDefault     = 10 * time.Second
	ProgressDefault  = 5 * time.Second
	ShellPathDefault = "/bin/sh"
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
}

// Progress is a snapshot of a running command.
type Progress struct {
	PID          int
	Elapsed      time.Duration
	StdoutBytes  int64
	StderrBytes  int64
	LastStdout   string // the last line-ish of output, for heartbeat details
	ProcessAlive bool
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
	Killed   bool
	Started  time.Time
	Finished time.Time
}

// ErrStart reports a command that could not be started (no such program,
// bad working directory): a permanent failure, retrying will not help.
var ErrStart = errors.New("command did not start")

// Run starts the command and waits for it. It returns an error only when
// the command could not start (wrapping ErrStart); a command that ran and
// failed is a Result with a non-zero ExitCode.
func Run(ctx context.Context, c Command) (*Result, error) {
	var argv []string
	switch {
	case c.Cmd != "" && len(c.Args) > 0:
		return nil, fmt.Errorf("%w: both cmd and args given", ErrStart)
	case c.Cmd != "":
		argv = []string{ShellPathDefault, "-c", c.Cmd}
	case len(c.Args) > 0:
		argv = c.Args
	default:
		return nil, fmt.Errorf("%w: nothing to run", ErrStart)
	}
	grace := c.Grace
	if grace <= 0 {
		grace = GraceDefault
	}
	every := c.ProgressEvery
	if every <= 0 {
		every = ProgressDefault
	}

	outTail, errTail := NewTail(c.TailSize), NewTail(c.TailSize)
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: creating stdout pipe: %v", ErrStart, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("%w: creating stderr pipe: %v", ErrStart, err)
	}

	closePipes := func() {
		for _, f := range []*os.File{outR, outW, errR, errW} {
			f.Close()
		}
	}
	path := argv[0]
	if lp, err := exec.LookPath(argv[0]); err == nil {
		path = lp
	} else if c.Cmd == "" {
		closePipes()
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	// The child writes straight into the pipes (no copying goroutines in
	// os/exec), so Wait returns when the main process exits even if a
	// grandchild still holds the pipes open.
	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Dir:         c.Dir,
		Env:         c.Env,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	res := &Result{ExitCode: -1, Started: time.Now()}
	if err := cmd.Start(); err != nil {
		closePipes()
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	outW.Close()
	errW.Close()
	pgid := cmd.Process.Pid

	var readers sync.WaitGroup
	readers.Add(2)
	pump := func(r *os.File, tail *Tail, live io.Writer) {
		defer readers.Done()
		defer r.Close()
		var w io.Writer = tail
		if live != nil {
			w = io.MultiWriter(tail, live)
		}
		_, _ = io.Copy(w, r)
	}
	go pump(outR, outTail, c.Stdout)
	go pump(errR, errTail, c.Stderr)

	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var killTimer <-chan time.Time
	ctxDone := ctx.Done()
loop:
	for {
		select {
		case <-exited:
			break loop
		case <-ctxDone:
			res.Canceled = true
			ctxDone = nil
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			killTimer = time.After(grace)
		case <-killTimer:
			res.Killed = true
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case <-ticker.C:
			if c.Progress != nil {
				c.Progress(Progress{
					PID: pgid, Elapsed: time.Since(res.Started),
					StdoutBytes: outTail.Total(), StderrBytes: errTail.Total(),
					LastStdout: lastLine(outTail), ProcessAlive: true,
				})
			}
		}
	}
	// The main process is gone. Anything left in its group (a backgrounded
	// grandchild) must not outlive the run: TERM, and KILL after the grace
	// period if it still holds the output pipes open.
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err == nil {
		drained := make(chan struct{})
		go func() { readers.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	readers.Wait()
	res.Finished = time.Now()

	res.Stdout, res.Stderr = outTail.String(), errTail.String()
	res.StdoutBytes, res.StderrBytes = outTail.Total(), errTail.Total()
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
		return res, fmt.Errorf("waiting for command: %w", waitErr)
	}
	return res, nil
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
