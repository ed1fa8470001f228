package shell

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Containment names how a run's processes were held together, so that
// every one of them ends when the run ends (docs/definitions.md#timeouts).
type Containment string

const (
	// ContainCgroup: the command started inside a cgroup v2 of its own;
	// nothing it forks leaves it by forking, and cgroup.kill ends all of
	// it. A process that moves itself out is swept, except into the
	// worker's own cgroup (docs/security.md#processes).
	ContainCgroup Containment = "cgroup"
	// ContainProcessGroup: the command's process group, plus the
	// processes carrying the run's MarkerEnv variable. A descendant that
	// leaves the group and clears its environment escapes it.
	ContainProcessGroup Containment = "process-group"
)

// Setting values of ContainerConfig.CgroupRoot.
const (
	CgroupAuto = "auto"
	CgroupOff  = "off"
	// MarkerEnv is the variable that marks a process-group run's
	// processes (the fallback finds escaped descendants by it).
	MarkerEnv = "ACTIVITY_CONTAINMENT_ID"
	// cgroupParentName is the directory made under the worker's own cgroup.
	cgroupParentName = "activity-core"
)

// ContainerConfig says where per-run cgroups and the fallback's state live.
type ContainerConfig struct {
	// CgroupRoot is the cgroup v2 directory under which each worker makes
	// its own directory of per-run cgroups: CgroupAuto (or empty) is
	// <the worker's own cgroup>/activity-core, CgroupOff disables
	// cgroups, anything else is an absolute path on a cgroup2 mount.
	CgroupRoot string
	// RuntimeDir holds the process-group fallback's record of running
	// groups: $XDG_RUNTIME_DIR/activity-core when set, else
	// <os.TempDir()>/activity-core-<uid>.
	RuntimeDir string
	Logger     *slog.Logger
}

// Container contains the commands one worker runs, and ends what a dead
// predecessor left behind (Reap). One per worker process.
type Container struct {
	log *slog.Logger
	// cgParent is the directory of all workers' cgroup directories; cgDir
	// is this worker's (empty when cgroups are not available).
	cgParent, cgDir string
	// stateParent / stateDir: the same for the process-group records.
	stateParent, stateDir string
	self                  string // w<pid>-<starttime>-<n>
	why                   string // why there are no cgroups
	warnOnce              sync.Once
	// ownParent: cgParent is the activity-core directory this worker's
	// own cgroup holds (CgroupAuto), so nothing but worker directories
	// belongs in it.
	ownParent bool

	mu   sync.Mutex
	open map[string]bool // names of this worker's run cgroups in use
}

var (
	containerSeq     atomic.Int64
	defaultOnce      sync.Once
	defaultContainer *Container
)

// Default is the container Run uses when the Command names none: the
// automatic settings. A worker makes its own with NewContainer and reaps.
func Default() *Container {
	defaultOnce.Do(func() {
		c, err := NewContainer(ContainerConfig{})
		if err != nil { // only an explicit CgroupRoot can fail
			c = &Container{log: slog.Default(), why: err.Error()}
		}
		defaultContainer = c
	})
	return defaultContainer
}

// NewContainer finds or makes this worker's cgroup directory and its
// record directory. An explicit CgroupRoot that cannot be used is an
// error; with CgroupAuto the worker falls back to process groups and
// says why (Mode, Reason).
func NewContainer(cfg ContainerConfig) (*Container, error) {
	c := &Container{log: cmp.Or(cfg.Logger, slog.Default()), open: map[string]bool{}}
	start, err := procStartTime(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("shell: reading this process's start time: %w", err)
	}
	// One directory per Container: w<pid>-<start time>-<n>.
	c.self = fmt.Sprintf("w%d-%d-%d", os.Getpid(), start, containerSeq.Add(1))

	rt := cfg.RuntimeDir
	if rt == "" {
		if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
			rt = filepath.Join(x, "activity-core")
		} else {
			rt = filepath.Join(os.TempDir(), fmt.Sprintf("activity-core-%d", os.Getuid()))
		}
	}
	c.stateParent, c.stateDir = rt, filepath.Join(rt, c.self)
	if err := os.MkdirAll(c.stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("ACTIVITY_RUNTIME_DIR: cannot create %s: %w", c.stateDir, err)
	}
	// The records name processes to kill: in a shared temp directory they
	// must be this user's own, not a directory (or link) planted by another.
	var st syscall.Stat_t
	if err := syscall.Lstat(rt, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o022 != 0 {
		return nil, fmt.Errorf("ACTIVITY_RUNTIME_DIR: %s must be a directory owned by uid %d and writable only by it", rt, os.Getuid())
	}

	root := strings.TrimSpace(cfg.CgroupRoot)
	switch root {
	case CgroupOff:
		c.why = "cgroups disabled (ACTIVITY_CGROUP_ROOT=off)"
		return c, nil
	case "", CgroupAuto:
		p, err := autoCgroupParent()
		if err != nil {
			c.why = err.Error()
			return c, nil //nolint:nilerr // auto: no cgroup to use means running uncontained, with why saying so
		}
		root = p
		c.ownParent = true
	default:
		if !filepath.IsAbs(root) || !isCgroup2(root) {
			return nil, fmt.Errorf("ACTIVITY_CGROUP_ROOT: %q is not a directory on a cgroup2 mount; give an absolute path such as /sys/fs/cgroup/activity-core, %q or %q", root, CgroupAuto, CgroupOff)
		}
	}
	dir := filepath.Join(root, c.self)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if cfg.CgroupRoot != "" && cfg.CgroupRoot != CgroupAuto {
			return nil, fmt.Errorf("ACTIVITY_CGROUP_ROOT: cannot create %s: %w", dir, err)
		}
		c.why = fmt.Sprintf("cannot create %s: %v", dir, err)
		return c, nil
	}
	c.cgParent, c.cgDir = root, dir
	return c, nil
}

// Mode is the containment runs get when their cgroup can be made.
func (c *Container) Mode() Containment {
	if c.cgDir != "" {
		return ContainCgroup
	}
	return ContainProcessGroup
}

// Reason says why runs fall back to process groups ("" with cgroups).
func (c *Container) Reason() string { return c.why }

// Close removes this worker's (empty) directories.
func (c *Container) Close() {
	if c.cgDir != "" {
		_ = syscall.Rmdir(c.cgDir)
	}
	_ = os.Remove(c.stateDir)
}

// autoCgroupParent is <cgroup2 mount><own cgroup>/activity-core.
func autoCgroupParent() (string, error) {
	mount, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if own, ok := strings.CutPrefix(line, "0::"); ok {
			// A process in the root cgroup of a hybrid host shows "/".
			return filepath.Join(mount, filepath.Clean("/"+own), cgroupParentName), nil
		}
	}
	return "", errors.New("this process is in no cgroup v2 (no 0:: line in /proc/self/cgroup)")
}

// cgroup2Mount finds the cgroup2 mount in /proc/self/mountinfo.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("reading /proc/self/mountinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		fields := strings.Fields(pre)
		if len(fields) >= 5 && fields[3] == "/" {
			return unescapeMount(fields[4]), nil
		}
	}
	return "", errors.New("no cgroup2 file system is mounted")
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

func isCgroup2(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == 0x63677270 // CGROUP2_SUPER_MAGIC
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// newScope makes the containment of one command: its own cgroup when the
// worker has a cgroup directory, else the process-group fallback with a
// marker and a record for the reaper.
func (c *Container) newScope(name string) *scope {
	var b [8]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	name = strings.Trim(unsafeName.ReplaceAllString(name, "_"), "._")
	if len(name) > 100 {
		name = name[:100]
	}
	base := "run-" + token
	if name != "" {
		base = "run-" + name + "-" + token
	}
	s := &scope{c: c, fd: -1, marker: token}
	if c.stateDir != "" {
		s.state = filepath.Join(c.stateDir, base)
	}
	if c.cgDir == "" {
		return s
	}
	dir := filepath.Join(c.cgDir, base)
	c.setOpen(dir, true) // before it exists: sweep must never see it as a stray
	if err := syscall.Mkdir(dir, 0o755); err != nil {
		c.setOpen(dir, false)
		c.fallbackWarning(fmt.Sprintf("cannot create %s: %v", dir, err))
		return s
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		_ = syscall.Rmdir(dir)
		c.setOpen(dir, false)
		c.fallbackWarning(fmt.Sprintf("cannot open %s: %v", dir, err))
		return s
	}
	s.cg, s.fd = dir, fd
	return s
}

func (c *Container) fallbackWarning(why string) {
	c.warnOnce.Do(func() {
		c.log.Warn("shell: a run falls back to process-group containment; a descendant that leaves the group and clears its environment can outlive it", "reason", why)
	})
}

func (c *Container) setOpen(dir string, open bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if open {
		c.open[filepath.Base(dir)] = true
	} else {
		delete(c.open, filepath.Base(dir))
	}
}

func (c *Container) isOpen(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open[name]
}

var workerDirName = regexp.MustCompile(`^w[0-9]+-[0-9]+-[0-9]+$`)

// sweep ends the processes of a run that moved themselves out of its
// cgroup into a place where no process belongs: directly into a worker
// directory (w<pid>-…) or into the activity-core directory (intermediate
// cgroups, by construction empty of processes), into a cgroup made in
// the activity-core directory or in this worker's directory that is no
// run's, or into a dead worker's leftovers. The worker's own cgroup is
// not swept: the worker lives there and cannot be told from a process
// that moved in (docs/security.md#processes).
func (c *Container) sweep() {
	if c.cgDir == "" {
		return
	}
	if c.ownParent {
		c.killEscaped(c.cgParent)
	}
	ents, _ := os.ReadDir(c.cgParent)
	for _, e := range ents {
		dir := filepath.Join(c.cgParent, e.Name())
		switch {
		case !e.IsDir():
		case workerDirName.MatchString(e.Name()):
			c.killEscaped(dir)
			c.endNonRuns(dir)
		case c.ownParent:
			c.endStray(dir)
		}
	}
	runs, _ := os.ReadDir(c.cgDir)
	for _, r := range runs {
		if r.IsDir() && !c.isOpen(r.Name()) {
			c.endStray(filepath.Join(c.cgDir, r.Name()))
		}
	}
	_, _ = c.reapCgroups(context.Background())
}

// killEscaped SIGKILLs the processes directly in the intermediate cgroup
// dir (never the worker itself).
func (c *Container) killEscaped(dir string) {
	for _, pid := range cgroupProcs(dir) {
		if pid == os.Getpid() {
			continue
		}
		c.logEscape(pid, dir, syscall.Kill(pid, syscall.SIGKILL))
	}
}

// endNonRuns ends every cgroup in a worker directory that is not a run's:
// workers make only run-* cgroups there, so anything else was made by a
// command to hide in.
func (c *Container) endNonRuns(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "run-") {
			c.endStray(filepath.Join(dir, e.Name()))
		}
	}
}

// endStray kills everything in a cgroup that is no run's and removes it.
func (c *Container) endStray(dir string) {
	pids := cgroupTreeProcs(dir)
	if len(pids) > 0 {
		s := &scope{c: c, cg: dir, fd: -1}
		s.kill()
		for _, pid := range pids {
			c.logEscape(pid, dir, nil)
		}
		s.waitEmpty(5 * time.Second)
	}
	_ = removeCgroupTree(dir)
}

func (c *Container) logEscape(pid int, dir string, err error) {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	c.log.Warn("shell: killed a process that escaped its run's cgroup", "pid", pid, "command", strings.TrimSpace(string(comm)), "cgroup", dir, "error", err)
}
