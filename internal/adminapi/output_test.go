package adminapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/coulomb/activity-core/internal/liveout"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// outputEnv is an API with live output over the machine's NATS (nc nil
// when none is asked for).
type outputEnv struct {
	srv   *httptest.Server
	store store.Store
	nc    *nats.Conn
}

func newOutputEnv(t *testing.T, withNATS bool, maxViewers int) *outputEnv {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "api.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, AdminToken: adminToken, ReadToken: readToken, Logger: quiet}
	e := &outputEnv{store: st}
	if withNATS {
		u := os.Getenv("ACTIVITY_TEST_NATS_URL")
		if u == "" {
			t.Skip("ACTIVITY_TEST_NATS_URL is not set; set it to a NATS server (e.g. nats://127.0.0.1:4222) to run the live-output tests")
		}
		if e.nc, err = nats.Connect(u); err != nil {
			t.Fatalf("connecting to ACTIVITY_TEST_NATS_URL: %v", err)
		}
		t.Cleanup(e.nc.Close)
		v, err := liveout.NewViewer(liveout.ViewerConfig{Conn: e.nc, Max: maxViewers, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Output = v
	}
	api, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(api)
	t.Cleanup(e.srv.Close)
	return e
}

// mustWrite writes s to a run's output stream, failing the test on an error.
func mustWrite(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

func (e *outputEnv) createRun(t *testing.T, r store.Run) {
	t.Helper()
	r.DefinitionID, r.Trigger = "t.live", store.RunTriggerManual
	if _, err := e.store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

type sseEvent struct {
	name string
	data map[string]any
}

// openOutput starts GET /api/v1/runs/{id}/output; events arrive on the
// channel, which closes when the stream does.
func (e *outputEnv) openOutput(t *testing.T, runID string) (int, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/api/v1/runs/"+runID+"/output", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan sseEvent, 1000)
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		close(ch)
		return resp.StatusCode, ch
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			case line == "" && ev.name != "":
				ch <- ev
				ev = sseEvent{}
			}
		}
	}()
	return resp.StatusCode, ch
}

// collect reads events until end, the stream's close or the deadline.
func collect(t *testing.T, ch <-chan sseEvent) (out map[string]string, end map[string]any) {
	t.Helper()
	out = map[string]string{}
	deadline := time.After(20 * time.Second) // a deadline, not a wait
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out, end
			}
			switch ev.name {
			case "output":
				out[ev.data["stream"].(string)] += ev.data["text"].(string)
			case "end":
				return out, ev.data
			case "skipped":
				t.Errorf("unexpected skip: %v", ev.data)
			}
		case <-deadline:
			t.Fatalf("no end after 20s; output so far %q", out)
		}
	}
}

func TestOutputOfFinishedRunIsStoredTails(t *testing.T) {
	t.Parallel()
	e := newOutputEnv(t, false, 0)
	e.createRun(t, store.Run{ID: "r-done", Status: store.RunFailed, Stdout: "hello\n", Stderr: "boom\n"})
	code, ch := e.openOutput(t, "r-done")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	out, end := collect(t, ch)
	if out["stdout"] != "hello\n" || out["stderr"] != "boom\n" || end["status"] != "failed" {
		t.Fatalf("output %q, end %v", out, end)
	}
	if code, _ := e.openOutput(t, "r-missing"); code != http.StatusNotFound {
		t.Fatalf("missing run: status %d, want 404", code)
	}
}

func TestOutputOfRunningRunNeedsNATS(t *testing.T) {
	t.Parallel()
	e := newOutputEnv(t, false, 0)
	e.createRun(t, store.Run{ID: "r-running", Status: store.RunRunning})
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/runs/r-running/output", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "ACTIVITY_NATS_URL") {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

// TestOutputFollowsARunningRun: a viewer of a running run gets what the
// worker kept, then the live tail, then — once the run is recorded
// finished — the end with its status. A second viewer beyond
// ACTIVITY_OUTPUT_VIEWERS_MAX is refused.
func TestOutputFollowsARunningRun(t *testing.T) {
	t.Parallel()
	e := newOutputEnv(t, true, 1)
	runID := fmt.Sprintf("r-live-%d", time.Now().UnixNano())
	e.createRun(t, store.Run{ID: runID, Status: store.RunRunning})
	sink, err := liveout.NewSink(liveout.SinkConfig{Conn: e.nc})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, done := sink.Open(runID, nil, 0)
	mustWrite(t, stdout, "before the viewer\n")
	mustWrite(t, stdout, "é"[:1]) // a character cut between two writes
	code, ch := e.openOutput(t, runID)
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	// The first event is the backlog: the viewer is attached.
	var first sseEvent
	select {
	case first = <-ch:
	case <-time.After(10 * time.Second): // a deadline, not a wait
		t.Fatal("no backlog")
	}
	if first.name != "output" || first.data["text"] != "before the viewer\n" {
		t.Fatalf("first event %v", first)
	}
	if code, _ := e.openOutput(t, runID); code != http.StatusServiceUnavailable {
		t.Fatalf("a second viewer with a maximum of 1: status %d, want 503", code)
	}
	mustWrite(t, stdout, "é"[1:]+" live\n")
	mustWrite(t, stderr, "err line\n")
	done()
	if _, err := e.store.UpdateRun(context.Background(), store.Run{ID: runID, DefinitionID: "t.live", Trigger: store.RunTriggerManual, Status: store.RunSucceeded, Stdout: "x"}); err != nil {
		t.Fatal(err)
	}
	out, end := collect(t, ch)
	if out["stdout"] != "é live\n" || out["stderr"] != "err line\n" || end["status"] != "succeeded" {
		t.Fatalf("output %q, end %v", out, end)
	}
}

func TestWholeRunes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{{"abc", 3}, {"a\xc3", 1}, {"a\xc3\xa9", 3}, {"\xe2\x82", 0}, {"\xe2\x82\xac", 3}, {"\xff", 1}, {"", 0}} {
		if got := wholeRunes([]byte(c.in)); got != c.want {
			t.Errorf("wholeRunes(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestOutputOfRunWhoseIDCannotBeASubject: a stored run id with a dot
// cannot name a subject; the stream ends at once and says why.
func TestOutputOfRunWhoseIDCannotBeASubject(t *testing.T) {
	t.Parallel()
	e := newOutputEnv(t, true, 0)
	e.createRun(t, store.Run{ID: "r.dotted", Status: store.RunRunning})
	code, ch := e.openOutput(t, "r.dotted")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	_, end := collect(t, ch)
	if end["status"] != "running" || !strings.Contains(fmt.Sprint(end["note"]), "cannot name a NATS subject") {
		t.Fatalf("end %v", end)
	}
}

// TestOutputViewersShareByToken: one token holds at most a quarter of the
// process's live-output streams, so a reader opening many cannot refuse
// them to everyone else.
func TestOutputViewersShareByToken(t *testing.T) {
	t.Parallel()
	e := newOutputEnv(t, true, 4)
	e.createRun(t, store.Run{ID: "r-share", Status: store.RunRunning})
	open := func(token string) (int, string) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/api/v1/runs/r-share/output", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			t.Cleanup(func() { resp.Body.Close() }) // the stream stays open, waiting for a worker
			return resp.StatusCode, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := open(readToken); code != http.StatusOK {
		t.Fatalf("first reader stream: %d %s", code, body)
	}
	if code, body := open(readToken); code != http.StatusServiceUnavailable || !strings.Contains(body, "its share of 4") {
		t.Fatalf("second reader stream with a share of 1: %d %s", code, body)
	}
	if code, body := open(adminToken); code != http.StatusOK {
		t.Fatalf("another token's stream: %d %s", code, body)
	}
}

func TestViewerCounts(t *testing.T) {
	var v viewerCounts
	r1, ok1 := v.take("a", 2)
	_, ok2 := v.take("a", 2)
	_, ok3 := v.take("a", 2)
	_, okB := v.take("b", 2)
	if !ok1 || !ok2 || ok3 || !okB {
		t.Fatalf("takes: %v %v %v %v, want true true false true", ok1, ok2, ok3, okB)
	}
	r1()
	if _, ok := v.take("a", 2); !ok {
		t.Fatal("a released stream is not free again")
	}
}
