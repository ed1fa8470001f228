package shell

import (
	"bufio"
	"cmp"
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
)

// Containment names how a run's processes were held together, so that
// every one of them ends when the run ends (docs/definitions.md#timeouts).
type Containment string

const (
	// ContainCgroup: the command started inside a cgroup v2 of its own;
	// nothing it forks can leave it, and cgroup.kill ends all of it.
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
	c := &Container{log: cmp.Or(cfg.Logger, slog.Default())}
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
			return c, nil
		}
		root = p
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
	if err := syscall.Mkdir(dir, 0o755); err != nil {
		c.fallbackWarning(fmt.Sprintf("cannot create %s: %v", dir, err))
		return s
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		_ = syscall.Rmdir(dir)
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
