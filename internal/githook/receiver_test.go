package githook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/testsupport"
)

const hookSecret = "s3cr3t-webhook-value"

// fakeSyncs records the syncs a receiver runs; block, when set, holds
// each sync until a value is sent on it.
type fakeSyncs struct {
	mu     sync.Mutex
	calls  []string // "source actor"
	active int
	most   int
	events []string // "start N", "end N"
	block  chan struct{}
	err    error
}

func (f *fakeSyncs) sync(ctx context.Context, source, actor string) error {
	f.mu.Lock()
	f.calls = append(f.calls, source+" "+actor)
	n := len(f.calls)
	f.active++
	f.most = max(f.most, f.active)
	f.events = append(f.events, fmt.Sprint("start ", n))
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	f.active--
	f.events = append(f.events, fmt.Sprint("end ", n))
	f.mu.Unlock()
	return f.err
}

func (f *fakeSyncs) snapshot() (calls, events []string, most int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...), append([]string(nil), f.events...), f.most
}

type harness struct {
	t     *testing.T
	r     *Receiver
	mux   *http.ServeMux
	syncs *fakeSyncs
	reg   *prometheus.Registry
	logs  *testsupport.Buffer
	clock *testsupport.Clock
}

func gitSpec(name, ref, secretName string, interval time.Duration) gitsource.Spec {
	return gitsource.Spec{Name: name, Kind: gitsource.KindGit, Git: &gitsource.Remote{
		URL: "https://git.example.com/org/" + name + ".git", Ref: ref, WebhookSecret: secretName, Interval: interval}}
}

// newHarness builds a receiver over sources "defs" (follows main),
// "head" (follows the remote's HEAD), "off" (no webhook secret),
// "unset" (its secret is not allowed) and a folder "local". Webhook
// syncs are spaced by a nanosecond: the spacing has its own test.
func newHarness(t *testing.T, adjust ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, syncs: &fakeSyncs{}, reg: prometheus.NewRegistry(), logs: &testsupport.Buffer{},
		clock: testsupport.NewClock(time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC))}
	cfg := Config{
		Sources: []gitsource.Spec{
			gitSpec("defs", "main", "DEFS_HOOK", 0),
			gitSpec("head", "", "DEFS_HOOK", 0),
			gitSpec("off", "main", "", 0),
			gitSpec("unset", "main", "UNSET_HOOK", 0),
			{Name: "local", Kind: gitsource.KindFolder, Dir: t.TempDir()},
		},
		Secret: func(name string) (string, error) {
			if name == "DEFS_HOOK" {
				return hookSecret, nil
			}
			return "", fmt.Errorf("secret not allowed: %s is not in the operator's allow-list", name)
		},
		Sync:        h.syncs.sync,
		Registerer:  h.reg,
		Logger:      slog.New(slog.NewTextHandler(h.logs, nil)),
		Now:         h.clock.Now,
		SyncSpacing: time.Nanosecond,
	}
	for _, f := range adjust {
		f(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	h.r = r
	h.mux = http.NewServeMux()
	h.mux.Handle("POST /hooks/git/{source}", r)
	return h
}

func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withRef returns the payload with its ref replaced.
func withRef(t *testing.T, body []byte, ref string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["ref"] = ref
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// deliveries numbers the deliveries headers makes, so each is new.
var deliveries atomic.Int64

// headers are what each forge sends with a push, signed with key, as a
// new delivery.
func headers(forge, event, key string, body []byte) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	n := deliveries.Add(1)
	switch forge {
	case providerGitHub:
		h.Set("X-GitHub-Event", event)
		h.Set("X-GitHub-Delivery", fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", n))
		h.Set("X-Hub-Signature-256", "sha256="+sign(key, body))
	case providerGitLab:
		h.Set("X-Gitlab-Event", event)
		h.Set("X-Gitlab-Event-UUID", fmt.Sprintf("13792a34-cac6-4fda-95a8-%012d", n))
		h.Set("X-Gitlab-Token", key)
	case providerGitea, providerForgejo:
		// Gitea sends GitHub's and Gogs's headers too; Forgejo sends
		// Gitea's as well: detection must pick the most specific.
		h.Set("X-GitHub-Event", event)
		h.Set("X-Hub-Signature-256", "sha256="+sign("not-the-key", body))
		h.Set("X-Gitea-Event", event)
		h.Set("X-Gitea-Delivery", fmt.Sprintf("f6266f16-1bf3-46a5-9ea4-%012d", n))
		h.Set("X-Gitea-Signature", sign(key, body))
		if forge == providerForgejo {
			h.Set("X-Gitea-Signature", sign("not-the-key", body))
			h.Set("X-Forgejo-Event", event)
			h.Set("X-Forgejo-Delivery", fmt.Sprintf("f6266f16-1bf3-46a5-9ea5-%012d", n))
			h.Set("X-Forgejo-Signature", sign(key, body))
		}
	}
	return h
}

func (h *harness) post(source string, hdr http.Header, body []byte) (int, map[string]any) {
	h.t.Helper()
	rec := h.send(source, hdr, strings.NewReader(string(body)))
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		h.t.Fatalf("answer is not JSON: %q", rec.Body.String())
	}
	return rec.Code, out
}

// send posts a webhook whose body is read from body.
func (h *harness) send(source string, hdr http.Header, body io.Reader) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/hooks/git/"+url.PathEscape(source), body)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	return rec
}

func (h *harness) count(source, outcome string) int {
	return int(counter(h.t, h.r.metrics.webhooks.WithLabelValues(source, outcome)))
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// settle waits for the syncs started so far and returns their calls.
func (h *harness) settle() []string {
	h.r.Close()
	calls, _, _ := h.syncs.snapshot()
	return calls
}

func TestSignaturesPerForge(t *testing.T) {
	for _, tc := range []struct {
		forge, file, event, sigHeader string
	}{
		{providerGitHub, "github_push.json", "push", "X-Hub-Signature-256"},
		{providerGitLab, "gitlab_push.json", "Push Hook", "X-Gitlab-Token"},
		{providerGitea, "gitea_push.json", "push", "X-Gitea-Signature"},
		{providerForgejo, "gitea_push.json", "push", "X-Forgejo-Signature"},
	} {
		t.Run(tc.forge, func(t *testing.T) {
			h := newHarness(t)
			body := payload(t, tc.file)

			code, out := h.post("defs", headers(tc.forge, tc.event, "wrong-secret", body), body)
			if code != http.StatusUnauthorized || !strings.Contains(fmt.Sprint(out["error"]), tc.sigHeader) {
				t.Errorf("wrong secret: %d %v, want 401 naming %s", code, out, tc.sigHeader)
			}
			missing := headers(tc.forge, tc.event, hookSecret, body)
			missing.Del(tc.sigHeader)
			if code, out := h.post("defs", missing, body); code != http.StatusUnauthorized || !strings.Contains(fmt.Sprint(out["error"]), "no "+tc.sigHeader) {
				t.Errorf("no signature: %d %v, want 401 saying no %s", code, out, tc.sigHeader)
			}
			if got := h.count("defs", outcomeBadSignature); got != 2 {
				t.Errorf("bad_signature counted %d times, want 2", got)
			}
			tampered := append(append([]byte(nil), body...), ' ')
			if tc.forge != providerGitLab { // GitLab's token does not sign the body
				if code, _ := h.post("defs", headers(tc.forge, tc.event, hookSecret, body), tampered); code != http.StatusUnauthorized {
					t.Errorf("tampered body: %d, want 401", code)
				}
			}

			code, out = h.post("defs", headers(tc.forge, tc.event, hookSecret, body), body)
			if code != http.StatusAccepted || out["status"] != "queued" || out["source"] != "defs" {
				t.Fatalf("signed push: %d %v, want 202 queued", code, out)
			}
			if calls := h.settle(); len(calls) != 1 || calls[0] != "defs webhook:defs" {
				t.Errorf("syncs = %q, want one of defs as webhook:defs", calls)
			}
			if strings.Contains(h.logs.String(), hookSecret) || strings.Contains(h.logs.String(), "default_branch") {
				t.Errorf("the log holds the secret or the body:\n%s", h.logs)
			}
		})
	}
}

func TestRefsAndEvents(t *testing.T) {
	gh := payload(t, "github_push.json")
	gl := payload(t, "gitlab_push.json")
	for _, tc := range []struct {
		name, source, forge, event string
		body                       []byte
		code                       int
		status, reason             string
	}{
		{"other branch", "defs", providerGitHub, "push", withRef(t, gh, "refs/heads/feature"), 202, "ignored", "push to refs/heads/feature, source follows main"},
		{"tag of another name", "defs", providerGitLab, "Tag Push Hook", withRef(t, gl, "refs/tags/v1"), 202, "ignored", "push to refs/tags/v1, source follows main"},
		{"default branch", "head", providerGitHub, "push", gh, 202, "queued", ""},
		{"not the default branch", "head", providerGitHub, "push", withRef(t, gh, "refs/heads/dev"), 202, "ignored", "push to refs/heads/dev, source follows the default branch main"},
		{"gitlab default branch", "head", providerGitLab, "Push Hook", gl, 202, "queued", ""},
		{"ping", "defs", providerGitHub, "ping", payload(t, "github_ping.json"), 200, "ok", "ping received: pushes to main sync this source"},
		{"not a push", "defs", providerGitHub, "issues", []byte(`{"action":"opened"}`), 202, "ignored", `event "issues" is not a push`},
		{"gitlab merge request", "defs", providerGitLab, "Merge Request Hook", []byte(`{"object_kind":"merge_request"}`), 202, "ignored", `event "Merge Request Hook" is not a push`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			code, out := h.post(tc.source, headers(tc.forge, tc.event, hookSecret, tc.body), tc.body)
			if code != tc.code || out["status"] != tc.status || fmt.Sprint(out["reason"]) != cmpStr(tc.reason, "<nil>") {
				t.Fatalf("%d %v, want %d %s %q", code, out, tc.code, tc.status, tc.reason)
			}
			want := 0
			if tc.status == "queued" {
				want = 1
			}
			if calls := h.settle(); len(calls) != want {
				t.Errorf("syncs = %q, want %d", calls, want)
			}
		})
	}
}

func TestFormEncodedGitHubPush(t *testing.T) {
	h := newHarness(t)
	body := []byte("payload=" + url.QueryEscape(string(payload(t, "github_push.json"))))
	hdr := headers(providerGitHub, "push", hookSecret, body)
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, out := h.post("defs", hdr, body); code != 202 || out["status"] != "queued" {
		t.Fatalf("%d %v, want 202 queued", code, out)
	}
}

func formHeaders(h http.Header) http.Header {
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h
}

func TestRefusals(t *testing.T) {
	gh := payload(t, "github_push.json")
	small := []byte(`{"ref":"refs/heads/main"}`)
	big := []byte(`{"ref":"refs/heads/main","pad":"` + strings.Repeat("x", 4096) + `"}`)
	for _, tc := range []struct {
		name, source string
		hdr          http.Header
		body         []byte
		code         int
		outcome      string
		msg          string
	}{
		{"unknown source", "nope", headers(providerGitHub, "push", hookSecret, gh), gh, 404, outcomeUnknownSource, NoWebhookMessage},
		{"folder source", "local", headers(providerGitHub, "push", hookSecret, gh), gh, 404, outcomeUnknownSource, NoWebhookMessage},
		{"no webhook secret", "off", headers(providerGitHub, "push", hookSecret, gh), gh, 404, outcomeDisabled, NoWebhookMessage},
		{"secret not allowed", "unset", headers(providerGitHub, "push", hookSecret, gh), gh, 404, outcomeSecretUnavailable, NoWebhookMessage},
		{"no forge header", "defs", http.Header{"X-Hub-Signature-256": {"sha256=" + sign(hookSecret, gh)}}, gh, 400, outcomeUnknownProvider, "no X-GitHub-Event"},
		{"oversize body", "defs", headers(providerGitHub, "push", hookSecret, big), big, 413, outcomeTooLarge, "over 1024 bytes"},
		{"not JSON", "defs", headers(providerGitHub, "push", hookSecret, []byte("ref=main")), []byte("ref=main"), 400, outcomeBadPayload, "not a push payload"},
		{"no ref", "defs", headers(providerGitHub, "push", hookSecret, []byte(`{}`)), []byte(`{}`), 400, outcomeBadPayload, "has no ref"},
		{"JSON sent as a form (curl -d)", "defs", formHeaders(headers(providerGitHub, "push", hookSecret, small)), small, 400, outcomeBadPayload, "has no payload= field: send JSON with Content-Type: application/json"},
		{"bad signature shape", "defs", http.Header{"X-Github-Event": {"push"}, "X-Hub-Signature-256": {sign(hookSecret, small)}}, small, 401, outcomeBadSignature, "not sha256=<hex>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 1024 })
			code, out := h.post(tc.source, tc.hdr, tc.body)
			e, _ := out["error"].(map[string]any)
			if code != tc.code || !strings.Contains(fmt.Sprint(e["message"]), tc.msg) {
				t.Errorf("%d %v, want %d with %q", code, out, tc.code, tc.msg)
			}
			label := tc.source
			if tc.outcome == outcomeUnknownSource {
				label = ""
			}
			if got := h.count(label, tc.outcome); got != 1 {
				t.Errorf("outcome %s counted %d times, want 1", tc.outcome, got)
			}
			if calls := h.settle(); len(calls) != 0 {
				t.Errorf("syncs = %q, want none", calls)
			}
		})
	}
}

func TestSecretUnavailable(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Secret = func(string) (string, error) {
			return "", errors.New("secret not set: DEFS_HOOK is allowed but has no value on this worker")
		}
	})
	body := payload(t, "github_push.json")
	code, out := h.post("defs", headers(providerGitHub, "push", "", body), body)
	if code != http.StatusNotFound || strings.Contains(fmt.Sprint(out), "DEFS_HOOK") {
		t.Errorf("%d %v, want 404 not naming the secret", code, out)
	}
	if !strings.Contains(h.logs.String(), "DEFS_HOOK is allowed but has no value") {
		t.Errorf("the log does not say why:\n%s", h.logs)
	}
	// An empty secret would accept an empty GitLab token: refused too.
	h = newHarness(t, func(c *Config) { c.Secret = func(string) (string, error) { return "", nil } })
	if code, _ := h.post("defs", headers(providerGitLab, "Push Hook", "", body), body); code != http.StatusNotFound {
		t.Errorf("empty secret: %d, want 404", code)
	}
}

func TestRefusalLogsAreRateLimited(t *testing.T) {
	h := newHarness(t)
	body := payload(t, "github_push.json")
	for range 5 {
		if code, _ := h.post("defs", headers(providerGitHub, "push", "guess", body), body); code != 401 {
			t.Fatalf("code %d, want 401", code)
		}
	}
	if n := strings.Count(h.logs.String(), "webhook refused"); n != 1 {
		t.Errorf("%d refusal lines for 5 refusals in one instant, want 1:\n%s", n, h.logs)
	}
	if got := h.count("defs", outcomeBadSignature); got != 5 {
		t.Errorf("counted %d, want 5", got)
	}
}

func TestBurstCoalesces(t *testing.T) {
	h := newHarness(t)
	h.syncs.block = make(chan struct{})
	body := payload(t, "github_push.json")
	post := func() {
		if code, out := h.post("defs", headers(providerGitHub, "push", hookSecret, body), body); code != 202 || out["status"] != "queued" {
			t.Fatalf("%d %v, want 202 queued", code, out)
		}
	}
	post()
	testsupport.Eventually(t, 5*time.Second, "the first sync starts", func() error {
		if calls, _, _ := h.syncs.snapshot(); len(calls) != 1 {
			return fmt.Errorf("%d syncs started", len(calls))
		}
		return nil
	})
	for range 9 {
		post() // answered at once although a sync is blocked
	}
	h.syncs.block <- struct{}{} // the first ends
	h.syncs.block <- struct{}{} // the queued one ends
	calls := h.settle()
	_, events, most := h.syncs.snapshot()
	if len(calls) != 2 {
		t.Errorf("10 pushes gave %d syncs, want 2", len(calls))
	}
	if want := []string{"start 1", "end 1", "start 2", "end 2"}; fmt.Sprint(events) != fmt.Sprint(want) || most != 1 {
		t.Errorf("events %q (at most %d at once), want %q", events, most, want)
	}
	if got := counter(t, h.r.metrics.syncs.WithLabelValues("defs", triggerWebhook, "ok")); got != 2 {
		t.Errorf("activity_git_syncs_total{defs,webhook,ok} = %v, want 2", got)
	}
}

func TestPolling(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Sources = append(c.Sources, gitSpec("polled", "main", "", 5*time.Millisecond))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.r.Run(ctx)
		close(done)
	}()
	testsupport.Eventually(t, 5*time.Second, "three polls", func() error {
		calls, _, _ := h.syncs.snapshot()
		if len(calls) < 3 {
			return fmt.Errorf("%d syncs", len(calls))
		}
		for _, c := range calls {
			if c != "polled poll:polled" {
				return fmt.Errorf("sync %q, want only polled as poll:polled", c)
			}
		}
		return nil
	})
	cancel()
	<-done
	after, _, _ := h.syncs.snapshot()
	h.r.trigger(h.r.sources["polled"], "poll:polled")
	if now, _, _ := h.syncs.snapshot(); len(now) != len(after) {
		t.Errorf("a sync started after Run returned")
	}
}

func TestFollows(t *testing.T) {
	sha := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		configured, ref, def string
		want                 bool
	}{
		{"main", "refs/heads/main", "", true},
		{"main", "refs/heads/mainline", "", false},
		{"v1", "refs/tags/v1", "", true},
		{"refs/heads/main", "refs/heads/main", "", true},
		{"refs/heads/main", "refs/tags/main", "", false},
		{"", "refs/heads/trunk", "trunk", true},
		{"", "refs/heads/dev", "trunk", false},
		{"", "refs/heads/dev", "", true},
		{sha, "refs/heads/main", "main", false},
	} {
		if got := follows(tc.configured, tc.ref, tc.def); got != tc.want {
			t.Errorf("follows(%q, %q, %q) = %v, want %v", tc.configured, tc.ref, tc.def, got, tc.want)
		}
	}
}

func TestNewChecks(t *testing.T) {
	sync := func(context.Context, string, string) error { return nil }
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Config.Sync is required"},
		{Config{Sync: sync, Sources: []gitsource.Spec{gitSpec("a", "", "S", 0)}}, "source a has a webhook_secret but Config.Secret is nil"},
		{Config{Sync: sync, Sources: []gitsource.Spec{gitSpec("a", "", "", 0), gitSpec("a", "", "", 0)}}, `two sources are named "a"`},
		{Config{Sync: sync, Sources: []gitsource.Spec{gitSpec("a", "", "", -time.Second)}}, "interval -1s is negative"},
		{Config{Sync: sync, BodyReads: -1}, "must not be negative"},
		{Config{Sync: sync, SyncSpacing: -time.Second}, "must not be negative"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
}
