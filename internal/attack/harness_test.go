package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/coulomb/activity-core/internal/testsupport"
)

const (
	adminToken = "attack-admin-token-5c1e0b7d9a"
	readToken  = "attack-read-token-77f3e2a10c"
	// hubSecret is allowed through ACTIVITY_SECRET_ENV; fileSecret through
	// ACTIVITY_SECRETS_DIR. Run output must never show either.
	hubSecret  = "hub-s3cr3t-9f8e7d6c5b4a"
	fileSecret = "file-s3cr3t-0a1b2c3d4e5f"
	// longSecret is long enough for base64(1) to wrap it; pinSecret is
	// all digits, as a context source may answer it as a JSON number.
	longSecret = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"
	pinSecret  = "90817263544"
)

var (
	binPath  string
	buildErr error
	buildMu  sync.Once
)

// binary builds the dev binary once per test process.
func binary(t testing.TB) string {
	t.Helper()
	buildMu.Do(func() {
		dir, err := os.MkdirTemp("", "attack-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "activity-core")
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/activity-core")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// devProc is one `activity-core dev` process, as an operator runs it.
type devProc struct {
	t          testing.TB
	cmd        *exec.Cmd
	base       string
	natsURL    string
	temporal   string
	dataDir    string
	defs       string
	secretsDir string
	env        []string
	out        *lockedBuffer
	done       chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 { // keep the log bounded
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDev starts dev on fresh ports with the attack suite's tokens and
// secrets allow-list; extraEnv is appended.
func startDev(t testing.TB, extraEnv ...string) *devProc {
	t.Helper()
	d := &devProc{t: t, dataDir: t.TempDir(), defs: t.TempDir(), secretsDir: t.TempDir()}
	for name, v := range map[string]string{"DB_PASS": fileSecret, "LONG_TOKEN": longSecret, "HUB_PIN": pinSecret} {
		if err := os.WriteFile(filepath.Join(d.secretsDir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.env = append(os.Environ(),
		"ACTIVITY_ADMIN_TOKEN="+adminToken,
		"ACTIVITY_READ_TOKEN="+readToken,
		"ACTIVITY_SECRET_ENV=HUB_TOKEN",
		"ACTIVITY_SECRETS_DIR="+d.secretsDir,
		"HUB_TOKEN="+hubSecret,
		"NOT_ALLOWED_SECRET=not-allowed-value-31337",
	)
	d.env = append(d.env, extraEnv...)
	d.start()
	return d
}

func (d *devProc) start() {
	t := d.t
	t.Helper()
	http, tmp, nt := testsupport.FreeAddr(t), testsupport.FreeAddr(t), testsupport.FreeAddr(t)
	d.base, d.temporal, d.natsURL = "http://"+http, tmp, "nats://"+nt
	d.out = &lockedBuffer{}
	d.cmd = exec.Command(binary(t), "dev", "--definitions", d.defs, "--data-dir", d.dataDir,
		"--http", http, "--temporal-addr", tmp, "--nats-addr", nt)
	d.cmd.Env = d.env
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(d.cmd, d.done)
	t.Cleanup(d.stop)
	testsupport.Eventually(t, 90*time.Second, "dev answers /readyz", func() error {
		select {
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("dev exited: %v\n%s", err, d.out.String())
		default:
		}
		code, body := d.call("GET", "/readyz", "", "")
		if code != 200 {
			return fmt.Errorf("readyz %d %s", code, body)
		}
		return nil
	})
}

// stop ends dev with SIGTERM (SIGKILL after a bound).
func (d *devProc) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		_ = err // the exit status of a stopped dev says nothing
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		err := <-d.done
		_ = err // killed: its exit status is the kill's
	}
	d.cmd = nil
}

// kill SIGKILLs the dev process alone (not its group), as a crash would.
func (d *devProc) kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	err := <-d.done
	_ = err // killed: its exit status is the kill's
	d.cmd = nil
}

func (d *devProc) call(method, path, token, body string) (int, []byte) {
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b
}

func (d *devProc) mustJSON(method, path, token, body string, want int, out any) {
	d.t.Helper()
	code, b := d.call(method, path, token, body)
	if code != want {
		d.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, clip(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("%s %s: %v: %s", method, path, err, clip(b))
		}
	}
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

func (d *devProc) write(name, content string) {
	d.t.Helper()
	p := filepath.Join(d.defs, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// syncResult is the part of POST /admin/sync's answer the attacks read.
type syncResult struct {
	Definitions struct {
		Scanned, Upserted, Unchanged, Removed, Invalid int
	} `json:"definitions"`
	Errors []struct {
		Stage, File, Message string
		DefinitionID         string `json:"definition_id"`
		Line                 int
	} `json:"errors"`
	ErrorsDropped int `json:"errors_dropped"`
}

func (r syncResult) errorText() string {
	var b strings.Builder
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "%s:%d: %s\n", e.File, e.Line, e.Message)
	}
	return b.String()
}

func (d *devProc) sync() syncResult {
	d.t.Helper()
	var res syncResult
	d.mustJSON("POST", "/admin/sync?event_types=true", adminToken, "", 200, &res)
	return res
}

type run struct {
	ID           string          `json:"id"`
	DefinitionID string          `json:"definition_id"`
	Status       string          `json:"status"`
	SkipReason   string          `json:"skip_reason"`
	Stdout       string          `json:"stdout"`
	Stderr       string          `json:"stderr"`
	Error        string          `json:"error"`
	WorkflowID   string          `json:"workflow_id"`
	Trigger      string          `json:"trigger"`
	Context      json.RawMessage `json:"context_snapshot"`
}

func terminal(status string) bool {
	switch status {
	case "succeeded", "failed", "skipped", "timed_out", "canceled":
		return true
	}
	return false
}

// runNow starts a manual run and returns its id.
func (d *devProc) runNow(id string) string {
	d.t.Helper()
	var started struct {
		RunID string `json:"run_id"`
	}
	d.mustJSON("POST", "/api/v1/definitions/"+id+"/run", adminToken, "", 202, &started)
	return started.RunID
}

func (d *devProc) getRun(id string) (run, bool) {
	var r run
	code, b := d.call("GET", "/api/v1/runs/"+id, readToken, "")
	if code != 200 || json.Unmarshal(b, &r) != nil {
		return r, false
	}
	return r, true
}

func (d *devProc) waitRun(id string, timeout time.Duration) run {
	d.t.Helper()
	var r run
	testsupport.Eventually(d.t, timeout, "run "+id+" finishes", func() error {
		got, ok := d.getRun(id)
		if !ok || !terminal(got.Status) {
			return fmt.Errorf("status %q", got.Status)
		}
		r = got
		return nil
	})
	return r
}

// runsOf lists the runs of a definition, newest first.
func (d *devProc) runsOf(defID string) []run {
	d.t.Helper()
	var page struct {
		Runs []run `json:"runs"`
	}
	d.mustJSON("GET", "/api/v1/runs?limit=50&definition_id="+defID, readToken, "", 200, &page)
	for i, r := range page.Runs { // the list leaves output out: read each run whole
		if full, ok := d.getRun(r.ID); ok {
			page.Runs[i] = full
		}
	}
	return page.Runs
}

func (d *devProc) nats() *nats.Conn {
	d.t.Helper()
	nc, err := nats.Connect(d.natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(nc.Close)
	return nc
}

// publish sends an event through JetStream, as a producer would.
func (d *devProc) publish(subject string, payload []byte, msgID string) error {
	nc := d.nats()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	_, err = js.Publish(subject, payload, nats.MsgId(msgID))
	return err
}

// cli runs the binary as a client command against this dev.
func (d *devProc) cli(ctx context.Context, args ...string) (int, string) {
	cmd := exec.CommandContext(ctx, binary(d.t), args...)
	cmd.Env = append(os.Environ(), "ACTIVITY_SERVER="+d.base, "ACTIVITY_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, string(out)
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func readPID(t testing.TB, path string) int {
	t.Helper()
	var pid int
	testsupport.Eventually(t, 30*time.Second, "pid file "+path, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = fmt.Sscan(strings.TrimSpace(string(b)), &pid)
		return err
	})
	return pid
}

// execServe prepares `activity-core serve` with only env's settings on top
// of a store and engines that need not be up: a weak token must be refused
// before anything is dialled.
func execServe(ctx context.Context, t testing.TB, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary(t), "serve", "--roles", "api")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"ACTIVITY_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "x.db"),
		"ACTIVITY_HTTP_ADDR=" + testsupport.FreeAddr(t)}, env...)
	return cmd
}

// waitDead waits until pid no longer runs.
func waitDead(t testing.TB, pid int, timeout time.Duration, what string) {
	t.Helper()
	testsupport.Eventually(t, timeout, what, func() error {
		if pidAlive(pid) {
			return fmt.Errorf("pid %d still alive", pid)
		}
		return nil
	})
}
