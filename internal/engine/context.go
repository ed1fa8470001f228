package engine

import (
	"cmp"
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
	"github.com/coulomb/activity-core/internal/limits"
)

// GatherInput asks for a definition's context.
type GatherInput struct {
	// Spec is the definition (first-shape runs); Ref names it (lean runs).
	Spec json.RawMessage `json:"spec,omitempty"`
	Ref  *SpecRef        `json:"ref,omitempty"`
}

// GatherResult holds each bind's value (JSON) and the snapshot recorded
// with the run. Both go to workflow history: every resolved secret, in
// every form, is redacted from them before they leave the activity.
type GatherResult struct {
	Values   map[string]json.RawMessage `json:"values"`
	Snapshot json.RawMessage            `json:"snapshot"`
}

// GatherContext fetches each context source in order. A JSON response is
// bound as the decoded value; any other body as a string; a non-2xx status,
// a timeout or an unset ${env:...} fails the run at stage context.
func (a *Activities) GatherContext(ctx context.Context, in GatherInput) (*GatherResult, error) {
	def, err := a.definition(ctx, in.Spec, in.Ref)
	if err != nil {
		return nil, err
	}
	sec := newSecrets(a.cfg.Secrets)
	// Resolve every reference first, so each value is redacted of every
	// secret this run's context uses, whichever source echoed it.
	for i, c := range def.Context {
		if err := expandSource(sec, c); err != nil {
			msg := sec.redact(fmt.Sprintf("context[%d] (%s %s): %v", i, c.Kind, c.Bind, err))
			return nil, temporal.NewNonRetryableApplicationError(msg, errTypeConfig, nil)
		}
	}
	rememberInstruction(sec, def.Instruction)
	res := &GatherResult{Values: map[string]json.RawMessage{}}
	snapshot := map[string]json.RawMessage{}
	budget := limits.Context
	for i, c := range def.Context {
		val, err := a.fetchContext(ctx, sec, c, budget)
		if err == nil {
			// Measured as history stores it: compacted, with <, > and &
			// escaped by Temporal's JSON converter.
			val, err = json.Marshal(sec.redactJSON(val))
		}
		if err == nil {
			if len(val) > budget {
				err = fmt.Errorf("the context is over %s in all (this source adds %d bytes); bind smaller documents (docs/definitions.md#limits)", sizeText(limits.Context), len(val))
			}
		}
		if err != nil {
			msg := sec.redact(fmt.Sprintf("context[%d] (%s %s): %v", i, c.Kind, c.Bind, err))
			return nil, temporal.NewApplicationError(msg, errTypeContext)
		}
		budget -= len(val)
		res.Values[c.Bind] = val
		snapshot[c.Bind] = val
	}
	b, _ := json.Marshal(snapshot)
	res.Snapshot = b
	return res, nil
}

// expandSource resolves a source's references without using them, so a
// refused or unset secret fails the run before any request is made.
func expandSource(sec *secrets, c definition.ContextSource) error {
	if c.Kind == definition.ContextHTTPGet {
		if _, err := sec.expand(c.URL); err != nil {
			return err
		}
	}
	for k, v := range c.Headers {
		if _, err := sec.expand(v); err != nil {
			return fmt.Errorf("header %s: %w", k, err)
		}
	}
	return nil
}

// rememberInstruction resolves the instruction's references only to
// redact them too: a context source may know and echo a secret the
// instruction uses. A reference that fails here fails the run later, at
// stage instruction, where it belongs.
func rememberInstruction(sec *secrets, in definition.Instruction) {
	_, _ = sec.expand(in.URL)
	for _, m := range []map[string]string{in.Headers, in.Env} {
		for _, v := range m {
			_, _ = sec.expand(v)
		}
	}
	_, _ = sec.expandAny(in.Body)
	_, _ = sec.expandAny(in.Payload)
}

func sizeText(n int) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// fetchContext GETs one source; limit bounds its body (the context budget
// left).
func (a *Activities) fetchContext(ctx context.Context, sec *secrets, c definition.ContextSource, limit int) (json.RawMessage, error) {
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
	timeout := cmp.Or(max(c.Timeout.D(), 0), definition.ContextTimeoutDefault)
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %v", sec.redact(url), err)
	}
	if len(body) > limit {
		return nil, fmt.Errorf("GET %s: body over %d bytes: a run's context is at most %s in all; bind smaller documents (docs/definitions.md#limits)", sec.redact(url), limit, sizeText(limits.Context))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: status %d after %s: %s", sec.redact(url), resp.StatusCode, time.Since(start).Round(time.Millisecond), clip(sec.redact(string(body)), 200)+redirectNote(resp))
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
