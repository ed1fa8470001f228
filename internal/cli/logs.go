package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coulomb/activity-core/internal/store"
)

// runsLogsCmd prints a run's output: its kept tails, or with --follow its
// live output until it ends (docs/run-control.md#live-output).
type runsLogsCmd struct {
	ClientFlags
	ID     string `arg:"" help:"Run id."`
	Follow bool   `short:"f" help:"Follow the output live until the run ends; the exit status is then the run's, as with run --wait."`
}

// Help is shown by "activity-core runs logs --help".
func (c *runsLogsCmd) Help() string {
	return `Prints the run's stdout on stdout and its stderr on stderr: the last 64 KiB
of each the run keeps. With -f it prints them as the command writes them,
then exits when the run ends, with the status "run --wait" gives:
  0 succeeded, 1 failed, 3 skipped, 4 timed out, 5 canceled, 6 still running
  when the server stopped waiting for a worker.
When it falls behind a fast command it says how many bytes it skipped.

Examples:
  activity-core runs logs 0190d5c4-7f1e-7a00-9b1a-3c2d1e0f9a8b
  activity-core runs logs -f 0190d5c4-7f1e-7a00-9b1a-3c2d1e0f9a8b`
}

// Run prints the output.
func (c *runsLogsCmd) Run(env *cmdEnv) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if !c.Follow {
		var r store.Run
		if err := cl.do(env.Ctx, "GET", "/api/v1/runs/"+url.PathEscape(c.ID), nil, &r); err != nil {
			return err
		}
		if c.Format == "json" {
			return printJSON(env.Stdout, map[string]any{"status": r.Status, "stdout": r.Stdout, "stderr": r.Stderr})
		}
		_, _ = io.WriteString(env.Stdout, r.Stdout)
		_, _ = io.WriteString(env.Stderr, r.Stderr)
		return nil
	}
	body, err := c.openStream(env.Ctx, cl)
	if err != nil {
		return err
	}
	defer body.Close()
	return c.follow(env, body)
}

// openStream asks for the run's event stream. --timeout bounds the wait
// for the answer's headers, not the stream.
func (c *runsLogsCmd) openStream(ctx context.Context, cl *apiClient) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.base+"/api/v1/runs/"+url.PathEscape(c.ID)+"/output", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = c.Timeout
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach activity-core at %s: %v (is it running? point --server/ACTIVITY_SERVER at it)", cl.base, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var doc struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &doc) == nil && doc.Error.Message != "" {
			return nil, &apiError{Status: resp.StatusCode, Code: doc.Error.Code, Message: doc.Error.Message}
		}
		return nil, &apiError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
	}
	return resp.Body, nil
}

// follow prints the stream's events until its end.
func (c *runsLogsCmd) follow(env *cmdEnv, body io.Reader) error {
	sc := bufio.NewScanner(body)
	// A line holds at most a chunk or a stored tail, JSON-escaped.
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	var name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && name != "":
			done, err := c.event(env, name, data)
			if done || err != nil {
				return err
			}
			name, data = "", ""
		}
	}
	if err := sc.Err(); err != nil && env.Ctx.Err() == nil {
		return fmt.Errorf("reading run %s's output: %w", c.ID, err)
	}
	if env.Ctx.Err() != nil {
		return nil //nolint:nilerr // the user stopped following (Ctrl-C): not a failure
	}
	return fmt.Errorf("the server closed run %s's output before the run ended; run the command again to keep following", c.ID)
}

// event prints one event; done is true at the end.
func (c *runsLogsCmd) event(env *cmdEnv, name, data string) (done bool, err error) {
	if c.Format == "json" {
		fmt.Fprintf(env.Stdout, "{\"event\":%q,\"data\":%s}\n", name, data)
	}
	var ev struct {
		Stream string          `json:"stream"`
		Text   string          `json:"text"`
		Bytes  int64           `json:"bytes"`
		Status store.RunStatus `json:"status"`
		Note   string          `json:"note"`
	}
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		return true, fmt.Errorf("the server sent a %s event that is not JSON: %v", name, err)
	}
	w := env.Stdout
	if ev.Stream == "stderr" {
		w = env.Stderr
	}
	switch name {
	case "output":
		if c.Format != "json" {
			_, err = io.WriteString(w, ev.Text)
		}
		return false, err
	case "skipped":
		if c.Format != "json" {
			fmt.Fprintf(env.Stderr, "[activity-core: %d bytes of %s skipped: this viewer fell behind]\n", ev.Bytes, ev.Stream)
		}
		return false, nil
	case "end":
		return true, c.endStatus(ev.Status, ev.Note)
	}
	return false, nil
}

// endStatus is the command's outcome for the run's status at the end.
func (c *runsLogsCmd) endStatus(st store.RunStatus, note string) error {
	if !st.Terminal() {
		return &exitError{code: ExitWaitTimeout, msg: fmt.Sprintf("run %s is still %s: %s", c.ID, st, note)}
	}
	if code := runExitCode(st); code != ExitOK {
		return &exitError{code: code, msg: fmt.Sprintf("run %s %s", c.ID, st)}
	}
	return nil
}
