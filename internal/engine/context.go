package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/coulomb/activity-core/internal/definition"
)

// maxContextBody bounds a context response: context is for small status
// documents, not downloads.
const maxContextBody = 4 << 20

// GatherInput asks for a definition's context.
type GatherInput struct {
	Spec json.RawMessage `json:"spec"`
}

// GatherResult holds each bind's value (JSON) and the redacted snapshot
// recorded with the run.
type GatherResult struct {
	Values   map[string]json.RawMessage `json:"values"`
	Snapshot json.RawMessage            `json:"snapshot"`
}

// GatherContext fetches each context source in order. A JSON response is
// bound as the decoded value; any other body as a string; a non-2xx status,
// a timeout or an unset ${env:...} fails the run at stage context.
func (a *Activities) GatherContext(ctx context.Context, in GatherInput) (*GatherResult, error) {
	def, err := loadSpec(in.Spec)
	if err != nil {
		return nil, err
	}
	sec := newSecrets(a.cfg.LookupEnv)
	res := &GatherResult{Values: map[string]json.RawMessage{}}
	snapshot := map[string]any{}
	for i, c := range def.Context {
		val, err := a.fetchContext(ctx, sec, c)
		if err != nil {
			msg := sec.redact(fmt.Sprintf("context[%d] (%s %s): %v", i, c.Kind, c.Bind, err))
			return nil, temporal.NewApplicationError(msg, errTypeContext)
		}
		res.Values[c.Bind] = val
		var v any
		_ = json.Unmarshal(val, &v)
		snapshot[c.Bind] = v
	}
	b, _ := json.Marshal(snapshot)
	res.Snapshot = json.RawMessage(sec.redact(string(b)))
	return res, nil
}

func (a *Activities) fetchContext(ctx context.Context, sec *secrets, c definition.ContextSource) (json.RawMessage, error) {
	var url string
	switch c.Kind {
	case definition.ContextHTTPGet:
		u, err := sec.expand(c.URL)
		if err != nil {
			return nil, err
		}
		url = u
	case definition.ContextStateHubHealth, definition.ContextStateHubRepos:
		if a.cfg.StateHubURL == "" {
			return nil, fmt.Errorf("ACTIVITY_STATE_HUB_URL is not set on the worker")
		}
		path := "/state/health"
		if c.Kind == definition.ContextStateHubRepos {
			path = "/repos/?status=active"
		}
		url = strings.TrimSuffix(a.cfg.StateHubURL, "/") + path
	default:
		return nil, fmt.Errorf("unknown context kind %q", c.Kind)
	}
	timeout := c.Timeout.D()
	if timeout <= 0 {
		timeout = definition.ContextTimeoutDefault
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "activity-core")
	for k, v := range c.Headers {
		ev, err := sec.expand(v)
		if err != nil {
			return nil, err
		}
		req.Header.Set(k, ev)
	}
	start := time.Now()
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		if rctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("GET %s: no answer within %s", sec.redact(url), timeout)
		}
		return nil, fmt.Errorf("GET %s: %v", sec.redact(url), unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxContextBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %v", sec.redact(url), err)
	}
	if len(body) > maxContextBody {
		return nil, fmt.Errorf("GET %s: body over %d bytes", sec.redact(url), maxContextBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: status %d after %s: %s", sec.redact(url), resp.StatusCode, time.Since(start).Round(time.Millisecond), clip(string(body), 200))
	}
	if json.Valid(body) && looksJSON(resp.Header.Get("Content-Type"), body) {
		return json.RawMessage(body), nil
	}
	s, _ := json.Marshal(string(body))
	return s, nil
}

func looksJSON(contentType string, body []byte) bool {
	if strings.Contains(contentType, "json") {
		return true
	}
	t := strings.TrimSpace(string(body))
	return strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")
}

func unwrapURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
