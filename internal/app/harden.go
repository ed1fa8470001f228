package app

import (
	"fmt"
	"syscall"
)

// prctl options (linux/prctl.h).
const (
	prGetDumpable = 3
	prSetDumpable = 4
)

// makeUndumpable stops processes of the same user — the commands the worker
// runs among them — from reading this process's memory and environment
// through /proc/<pid>/environ, /proc/<pid>/mem or ptrace: the worker holds
// the database URL and tokens that definitions must never read
// (docs/security.md#secrets). Commands are not affected: exec makes them
// dumpable again.
func makeUndumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %v", errno)
	}
	return nil
}

// dumpable reports the process's dumpable flag.
func dumpable() (bool, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if errno != 0 {
		return false, errno
	}
	return r != 0, nil
}
