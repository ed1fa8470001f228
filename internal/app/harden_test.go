package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUndumpableHidesEnvironment: once the process is undumpable, a command
// it starts (same user) cannot read its environment, while the command's
// own environment stays its own.
func TestUndumpableHidesEnvironment(t *testing.T) {
	if os.Getenv("APP_TEST_CHILD") == "1" {
		if err := makeUndumpable(); err != nil {
			t.Fatal(err)
		}
		if d, err := dumpable(); err != nil || d {
			t.Fatalf("still dumpable: %v %v", d, err)
		}
		out, _ := exec.Command("/bin/sh", "-c", `cat /proc/$PPID/environ 2>/dev/null | tr '\0' '\n'; echo; echo own=$APP_TEST_OWN`).CombinedOutput()
		if strings.Contains(string(out), "APP_TEST_MARKER") {
			t.Fatalf("a child read the undumpable parent's environment:\n%s", out)
		}
		if !strings.Contains(string(out), "own=") {
			t.Fatalf("child did not run: %s", out)
		}
		return
	}
	bin := os.Args[0]
	cmd := exec.Command(bin, "-test.run=^TestUndumpableHidesEnvironment$", "-test.count=1")
	if os.Geteuid() == 0 {
		// root reads any environ (CAP_SYS_PTRACE): run parent and child as
		// an ordinary user, from a copy of the test binary it may execute.
		dir, err := os.MkdirTemp("", "undumpable-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "app.test")
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(bin, "-test.run=^TestUndumpableHidesEnvironment$", "-test.count=1")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd.Env = append(os.Environ(), "APP_TEST_CHILD=1", "APP_TEST_MARKER=secret-in-parent-env")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
