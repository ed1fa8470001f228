package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// scope is the containment of one command: a cgroup (cg, fd), or the
// process group plus the processes carrying marker in MarkerEnv.
type scope struct {
	closed bool
	c      *Container
	cg     string
	fd     int
	marker string
	state  string // the fallback's record file
	pgid   int
}

// drop turns a cgroup scope into a process-group one (the start into the
// cgroup failed).
func (s *scope) drop() {
	s.closeFD()
	_ = syscall.Rmdir(s.cg)
	s.c.setOpen(s.cg, false)
	s.cg = ""
}

func (s *scope) closeFD() {
	if s.fd >= 0 {
		_ = syscall.Close(s.fd)
		s.fd = -1
	}
}

func (s *scope) mode() Containment {
	if s.cg != "" {
		return ContainCgroup
	}
	return ContainProcessGroup
}

// env is what the command's environment gains: the marker, with the
// fallback only (a cgroup needs none).
func (s *scope) env() []string {
	if s.cg != "" {
		return nil
	}
	return []string{MarkerEnv + "=" + s.marker}
}

// started records the group for the reaper (fallback only).
func (s *scope) started(pid int) {
	s.pgid = pid
	if s.cg != "" || s.state == "" {
		return
	}
	st, _ := procStartTime(pid)
	rec := fmt.Sprintf("%d %d %s\n", pid, st, s.marker)
	_ = os.WriteFile(s.state, []byte(rec), 0o600)
}

// signal sends sig to the group and to every process of the scope: with
// a cgroup, to the processes of every cgroup below it too (a command may
// make child cgroups inside its own and move into them).
func (s *scope) signal(sig syscall.Signal) {
	s.signalGroup(sig)
	if s.cg != "" {
		for _, pid := range cgroupTreeProcs(s.cg) {
			_ = syscall.Kill(pid, sig)
		}
		return
	}
	for _, pid := range markedProcs(s.marker) {
		_ = syscall.Kill(pid, sig)
	}
}

// signalGroup signals the command's process group, once there is one
// (kill(0, sig) would signal the worker's own group), and the command's
// main process itself, which may have left both its group and its cgroup.
// The main process is reaped only after the scope is closed, so until
// then its pid (the group's id) cannot belong to anyone else.
func (s *scope) signalGroup(sig syscall.Signal) {
	if s.pgid > 1 {
		_ = syscall.Kill(-s.pgid, sig)
		_ = syscall.Kill(s.pgid, sig)
	}
}

// cgroupKillFile is the kernel's kill-the-whole-subtree file (Linux 5.14);
// a test names a missing file to exercise the fallback.
var cgroupKillFile = "cgroup.kill"

// kill ends everything at once: cgroup.kill (which covers the child
// cgroups), or SIGKILL to each process of the cgroup tree.
func (s *scope) kill() {
	if s.cg != "" && os.WriteFile(filepath.Join(s.cg, cgroupKillFile), []byte("1"), 0) == nil {
		s.signalGroup(syscall.SIGKILL)
		return
	}
	s.signal(syscall.SIGKILL)
}

// empty reports whether no process of the scope is left.
func (s *scope) empty() bool {
	if s.cg != "" {
		return !cgroupPopulated(s.cg)
	}
	return !groupOrMarkedAlive(s.pgid, s.marker)
}

// waitEmpty polls until the scope is empty or the timeout passes.
func (s *scope) waitEmpty(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !s.empty() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling the kernel's state; no event to wait on
	}
	return true
}

// close ends whatever is left and removes the cgroup and the record.
func (s *scope) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.closeFD()
	s.signalGroup(syscall.SIGKILL) // a main process still running (a panic) must not block its reaping
	if !s.empty() {
		s.kill()
		s.waitEmpty(5 * time.Second)
	}
	if s.cg != "" {
		if err := removeCgroupTree(s.cg); err != nil {
			s.c.log.Warn("shell: removing a run's cgroup failed; the sweep that follows kills what is in it and retries", "cgroup", s.cg, "error", err)
		}
		s.c.setOpen(s.cg, false)
		s.c.sweep()
	}
	if s.state != "" {
		_ = os.Remove(s.state)
	}
}

func cgroupProcs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupTree lists dir and every cgroup below it, children before their
// parent (the order in which they can be removed).
func cgroupTree(dir string) []string {
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, cgroupTree(filepath.Join(dir, e.Name()))...)
		}
	}
	return append(out, dir)
}

// cgroupTreeProcs lists the processes of dir and of every cgroup below it.
func cgroupTreeProcs(dir string) []int {
	var pids []int
	for _, d := range cgroupTree(dir) {
		pids = append(pids, cgroupProcs(d)...)
	}
	return pids
}

// removeCgroupTree removes dir and the cgroups below it, bottom-up; the
// error is dir's own.
func removeCgroupTree(dir string) error {
	tree := cgroupTree(dir)
	for _, d := range tree[:len(tree)-1] {
		_ = syscall.Rmdir(d)
	}
	return syscall.Rmdir(dir)
}

func cgroupPopulated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return len(cgroupTreeProcs(dir)) > 0
	}
	return bytes.Contains(b, []byte("populated 1"))
}

// groupOrMarkedAlive reports whether a process that has not exited (a
// zombie has) is in group pgid or carries the marker.
func groupOrMarkedAlive(pgid int, marker string) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		state, pgrp, err := procState(pid)
		if err != nil || state == "Z" {
			continue
		}
		if pgid > 1 && pgrp == pgid || hasMarker(pid, marker) {
			return true
		}
	}
	return false
}

// procState is fields 3 and 5 of /proc/<pid>/stat: state and group.
func procState(pid int) (string, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 3 {
		return "", 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	pgrp, err := strconv.Atoi(fields[2])
	return fields[0], pgrp, err
}

func hasMarker(pid int, marker string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	want := []byte(MarkerEnv + "=" + marker + "\x00")
	return err == nil && (bytes.HasPrefix(b, want) || bytes.Contains(b, append([]byte{0}, want...)))
}

// markedProcs lists the processes whose environment holds the marker.
// Environments of other users' processes are unreadable and skipped.
func markedProcs(marker string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if hasMarker(pid, marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStartTime is field 22 of /proc/<pid>/stat: the start time in clock
// ticks since boot, which tells a process from a later one with its pid.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64) // field 22 is the 20th after ")"
}

// workerAlive reports whether the worker named w<pid>-<start>-<n> still
// runs.
func workerAlive(name string) bool {
	pidS, rest, ok := strings.Cut(strings.TrimPrefix(name, "w"), "-")
	startS, _, _ := strings.Cut(rest, "-")
	pid, err1 := strconv.Atoi(pidS)
	start, err2 := strconv.ParseUint(startS, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return false
	}
	st, err := procStartTime(pid)
	return err == nil && st == start
}

// Reap ends what dead workers left: every per-run cgroup under the
// shared parent whose worker is gone, and every recorded process group
// (and marked process) of a dead worker. Live workers' runs are left
// alone. It returns how many runs it ended; each is logged.
func (c *Container) Reap(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	if c.cgParent != "" {
		k, err := c.reapCgroups(ctx)
		n += k
		errs = append(errs, err)
		c.sweep()
	}
	k, err := c.reapRecords(ctx)
	return n + k, errors.Join(append(errs, err)...)
}

func (c *Container) reapCgroups(ctx context.Context) (int, error) {
	workers, err := os.ReadDir(c.cgParent)
	if err != nil {
		return 0, fmt.Errorf("shell: reaping %s: %w", c.cgParent, err)
	}
	n := 0
	for _, w := range workers {
		if !w.IsDir() || !strings.HasPrefix(w.Name(), "w") || w.Name() == c.self || workerAlive(w.Name()) {
			continue
		}
		wdir := filepath.Join(c.cgParent, w.Name())
		runs, _ := os.ReadDir(wdir)
		for _, r := range runs {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			if !r.IsDir() || !strings.HasPrefix(r.Name(), "run-") {
				continue
			}
			s := &scope{c: c, cg: filepath.Join(wdir, r.Name()), fd: -1}
			pids := cgroupTreeProcs(s.cg)
			if len(pids) > 0 {
				s.kill()
				s.waitEmpty(5 * time.Second)
			}
			err := removeCgroupTree(s.cg)
			c.log.Warn("shell: ended a run left by a dead worker", "cgroup", s.cg, "processes", len(pids), "removed", err == nil)
			n++
		}
		_ = syscall.Rmdir(wdir)
	}
	return n, nil
}

func (c *Container) reapRecords(ctx context.Context) (int, error) {
	workers, err := os.ReadDir(c.stateParent)
	if err != nil {
		return 0, fmt.Errorf("shell: reaping %s: %w", c.stateParent, err)
	}
	n := 0
	for _, w := range workers {
		if !w.IsDir() || !strings.HasPrefix(w.Name(), "w") || w.Name() == c.self || workerAlive(w.Name()) {
			continue
		}
		wdir := filepath.Join(c.stateParent, w.Name())
		recs, _ := os.ReadDir(wdir)
		for _, r := range recs {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			file := filepath.Join(wdir, r.Name())
			b, err := os.ReadFile(file)
			if err != nil {
				continue
			}
			var pgid int
			var start uint64
			var marker string
			if _, err := fmt.Sscan(string(b), &pgid, &start, &marker); err != nil || pgid <= 1 {
				_ = os.Remove(file)
				continue
			}
			killed := 0
			// The leader is the same process only if its start time matches:
			// a pid reused by someone else is never signalled.
			if st, err := procStartTime(pgid); err == nil && st == start {
				if syscall.Kill(-pgid, syscall.SIGKILL) == nil {
					killed++
				}
			}
			for _, pid := range markedProcs(marker) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
			}
			_ = os.Remove(file)
			c.log.Warn("shell: ended a run left by a dead worker", "pgid", pgid, "signalled", killed)
			n++
		}
		_ = os.Remove(wdir)
	}
	return n, nil
}
