package githook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/limits"
)

// Outcomes of a webhook: the outcome label of activity_git_webhooks_total.
const (
	outcomeQueued            = "queued"
	outcomeIgnored           = "ignored"
	outcomePing              = "ping"
	outcomeUnknownSource     = "unknown_source"
	outcomeDisabled          = "disabled"
	outcomeUnknownProvider   = "unknown_provider"
	outcomeTooLarge          = "too_large"
	outcomeBadSignature      = "bad_signature"
	outcomeBadPayload        = "bad_payload"
	outcomeSecretUnavailable = "secret_unavailable"
	outcomeMethod            = "method_not_allowed"
	outcomeDuplicate         = "duplicate"
	outcomeBusy              = "busy"
)

// NoWebhookMessage is the message of the 404 answered for a source that
// does not exist, takes no webhooks or whose secret is not available: the
// same for all three, so that an outsider learns nothing of the
// configuration (the log and the outcome label say which it was).
const NoWebhookMessage = "no webhook here"

// answer is the answer to a webhook that was accepted: status "queued" (a
// sync of the source is running or will), "ignored" (with the reason),
// "duplicate" (a delivery received already: nothing done) or "ok" (a
// ping).
type answer struct {
	Status string `json:"status"`
	Source string `json:"source"`
	Reason string `json:"reason,omitempty"`
}

// result is what handle decided: the answer, its outcome label, and what
// the log line adds (never the body or the secret).
type result struct {
	status  int
	outcome string
	body    any
	detail  string
	attrs   []any
}

func refuse(status int, outcome, code, msg string) result {
	return result{status: status, outcome: outcome, detail: msg, body: errorBody(code, msg)}
}

func errorBody(code, msg string) any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

// notFound is the one 404 of the route; detail is for the log only.
func notFound(outcome, detail string) result {
	return result{status: http.StatusNotFound, outcome: outcome, detail: detail, body: errorBody("not_found", NoWebhookMessage)}
}

// handle checks a webhook in order of cost: what the URL and headers say
// first, the body (bounded in size, time and how many are read at once)
// only once they are well-formed, and its signature last.
func (r *Receiver) handle(w http.ResponseWriter, req *http.Request, name string) result {
	if req.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, outcomeMethod, "method_not_allowed", "git webhooks are POST requests")
	}
	s, key, res, ok := r.lookup(name)
	if !ok {
		return res
	}
	p, ok := detect(req.Header)
	if !ok {
		return refuse(http.StatusBadRequest, outcomeUnknownProvider, "bad_request",
			"no X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event or X-Forgejo-Event header: this endpoint takes push webhooks from GitHub, GitLab, Gitea and Forgejo")
	}
	badSignature := func(err error) result {
		res := refuse(http.StatusUnauthorized, outcomeBadSignature, "unauthorized", err.Error())
		res.attrs = []any{"provider", p.name, "webhook_secret", s.spec.Git.WebhookSecret}
		return res
	}
	cred, err := p.credential(req.Header)
	if err != nil {
		return badSignature(err)
	}
	body, res, ok := r.readBody(w, req)
	if !ok {
		if res.outcome == outcomeBusy {
			r.catchUpLater(s)
		}
		return res
	}
	if err := p.verify(cred, body, key); err != nil {
		return badSignature(err)
	}
	return r.event(s, p, req, body)
}

// lookup finds the source a webhook names and its secret. A name that is
// no git source, a source without webhook_secret and one whose secret is
// not available here all get the same 404.
func (r *Receiver) lookup(name string) (*source, string, result, bool) {
	s, ok := r.sources[name]
	if !ok || s.spec.Git == nil {
		return nil, "", notFound(outcomeUnknownSource,
			fmt.Sprintf("no git source is named %q: the URL is /hooks/git/NAME with NAME as in --definitions (docs/git-sources.md#webhooks)", limits.Clip(name, 100))), false
	}
	if s.spec.Git.WebhookSecret == "" {
		return nil, "", notFound(outcomeDisabled,
			fmt.Sprintf("webhooks are off for source %s: its spec has no webhook_secret=NAME (docs/git-sources.md#webhooks)", name)), false
	}
	key, err := r.cfg.Secret(s.spec.Git.WebhookSecret)
	if err != nil || key == "" {
		return nil, "", notFound(outcomeSecretUnavailable,
			fmt.Sprintf("webhook_secret %s is not available on this server: %s", s.spec.Git.WebhookSecret, cmpErr(err, "the secret is empty"))), false
	}
	return s, key, result{}, true
}

// readBody reads a webhook's body, at most MaxBodyBytes within
// ReadTimeout, in one of the BodyReads slots; when none is free it
// answers 503 without reading.
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request) ([]byte, result, bool) {
	select {
	case r.bodies <- struct{}{}:
		defer func() { <-r.bodies }()
	default:
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(r.cfg.ReadTimeout.Round(time.Second)/time.Second))))
		return nil, refuse(http.StatusServiceUnavailable, outcomeBusy, "unavailable",
			"too many webhooks are being received at once: retry later"), false
	}
	// The server's own ReadTimeout is longer: it is meant for the API.
	err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(r.cfg.ReadTimeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, refuse(http.StatusBadRequest, outcomeBadPayload, "bad_request", "reading the body: "+err.Error()), false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, refuse(http.StatusRequestEntityTooLarge, outcomeTooLarge, "too_large",
				fmt.Sprintf("the body is over %d bytes, more than any push payload", mbe.Limit)), false
		}
		return nil, refuse(http.StatusBadRequest, outcomeBadPayload, "bad_request", "reading the body: "+err.Error()), false
	}
	return body, result{}, true
}

func cmpErr(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

// pushPayload holds the fields of a push payload the receiver reads; the
// three forges name them alike (GitLab has project, the others
// repository).
type pushPayload struct {
	Ref         string `json:"ref"`
	After       string `json:"after"`
	CheckoutSHA string `json:"checkout_sha"`
	Repository  struct {
		DefaultBranch string `json:"default_branch"`
	} `json:"repository"`
	Project struct {
		DefaultBranch string `json:"default_branch"`
	} `json:"project"`
}

// event answers a verified webhook: a delivery received already
// (duplicate), a ping, a push to the followed ref (queued), or anything
// else (ignored).
func (r *Receiver) event(s *source, p provider, req *http.Request, body []byte) result {
	name := s.spec.Name
	attrs := []any{"provider", p.name, "event", limits.Clip(p.event, 60), "delivery", limits.Clip(p.delivery(req.Header), 80)}
	ack := func(status int, outcome, st, reason string) result {
		return result{status: status, outcome: outcome, body: answer{Status: st, Source: name, Reason: reason}, detail: reason, attrs: attrs}
	}
	if id := p.delivery(req.Header); id != "" && r.replayed(s, id) {
		return ack(http.StatusAccepted, outcomeDuplicate, "duplicate",
			fmt.Sprintf("delivery %s was received already: nothing was done", limits.Clip(id, 80)))
	}
	if p.isPing() {
		return ack(http.StatusOK, outcomePing, "ok", "ping received: pushes to "+followed(s.spec.Git.Ref, "")+" sync this source")
	}
	if !p.isPush() {
		return ack(http.StatusAccepted, outcomeIgnored, "ignored", fmt.Sprintf("event %q is not a push", limits.Clip(p.event, 60)))
	}
	push, err := parsePush(req.Header, body)
	if err != nil {
		res := refuse(http.StatusBadRequest, outcomeBadPayload, "bad_request", err.Error())
		res.attrs = attrs
		return res
	}
	defaultBranch := cmpStr(push.Repository.DefaultBranch, push.Project.DefaultBranch)
	attrs = append(attrs, "ref", limits.Clip(push.Ref, 200), "commit", limits.Clip(cmpStr(push.After, push.CheckoutSHA), 64))
	if !follows(s.spec.Git.Ref, push.Ref, defaultBranch) {
		return ack(http.StatusAccepted, outcomeIgnored, "ignored",
			fmt.Sprintf("push to %s, source follows %s", limits.Clip(push.Ref, 200), followed(s.spec.Git.Ref, defaultBranch)))
	}
	coalesced := r.trigger(s, "webhook:"+name)
	res := ack(http.StatusAccepted, outcomeQueued, "queued", "")
	res.attrs = append(res.attrs, "coalesced", coalesced)
	return res
}

// replayed reports whether the source received the delivery id already,
// and remembers it: a captured delivery, replayed, syncs nothing.
func (r *Receiver) replayed(s *source, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.deliveries.seen(limits.Clip(id, 100))
}

// parsePush reads a push payload: JSON, or GitHub's form encoding (the
// JSON in the payload field).
func parsePush(h http.Header, body []byte) (pushPayload, error) {
	var push pushPayload
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil || !form.Has("payload") {
			// curl -d sends JSON as this type, which GitHub's form
			// encoding also uses: say which the body was taken for.
			return push, errors.New("the body is sent as a form (Content-Type: application/x-www-form-urlencoded) but has no payload= field: send JSON with Content-Type: application/json, or GitHub's form with payload=")
		}
		body = []byte(form.Get("payload"))
	}
	if err := json.Unmarshal(body, &push); err != nil {
		return push, fmt.Errorf("the body is not a push payload (JSON with a ref): %v", err)
	}
	if push.Ref == "" {
		return push, errors.New("the push payload has no ref")
	}
	return push, nil
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var commitSHA = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// follows reports whether a push to ref (refs/heads/… or refs/tags/…)
// moves what a source with the configured ref reads: a branch or tag by
// short or full name; the remote's default branch when the source has no
// ref (accepted when the payload does not say which it is: a sync too
// many costs little); never a commit SHA, which no push moves.
func follows(configured, ref, defaultBranch string) bool {
	switch {
	case configured == "":
		return defaultBranch == "" || ref == "refs/heads/"+defaultBranch
	case commitSHA.MatchString(configured):
		return false
	case strings.HasPrefix(configured, "refs/"):
		return ref == configured
	}
	return ref == "refs/heads/"+configured || ref == "refs/tags/"+configured
}

// followed says what a source follows, for messages.
func followed(configured, defaultBranch string) string {
	switch {
	case configured != "" && commitSHA.MatchString(configured):
		return "commit " + configured[:12] + " (pinned: no push moves it)"
	case configured != "":
		return configured
	case defaultBranch != "":
		return "the default branch " + defaultBranch
	}
	return "the remote's default branch"
}

func (r *Receiver) logResult(req *http.Request, label string, res result) {
	attrs := append([]any{"source", label, "outcome", res.outcome, "status", res.status}, res.attrs...)
	switch res.outcome {
	case outcomeQueued, outcomeIgnored, outcomePing:
		// Authenticated: the forge's own calls, logged each time.
		r.log.Info("githook: webhook "+res.outcome, append(attrs, "detail", res.detail)...)
	default:
		n, ok := r.limiter.allow(label + " " + res.outcome)
		if !ok {
			return
		}
		attrs = append(attrs, "remote", remoteIP(req), "detail", res.detail, "suppressed_since_last", n)
		r.log.Log(req.Context(), levelOf(res), "githook: webhook refused", attrs...)
	}
}

// levelOf is Error for what an operator must fix, Warn for the rest.
func levelOf(res result) slog.Level {
	if res.outcome == outcomeSecretUnavailable || (res.status >= 500 && res.outcome != outcomeBusy) {
		return slog.LevelError
	}
	return slog.LevelWarn
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
