package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/limits"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/tlsconf"
)

// Webhook headers (docs/alerting.md#delivery).
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// body, keyed by the target's secret.
	signatureHeader = "X-Activity-Signature-256"
	// EventHeader is the message's event, or "group".
	eventHeader = "X-Activity-Event"
	// DeliveryHeader identifies the message: the notification's ID, or
	// the group's. A retry carries the same one, so a receiver can drop
	// a repeat.
	deliveryHeader = "X-Activity-Delivery"
)

// HTTP bounds.
const (
	// responseShown is how much of a refusal's body an error quotes.
	responseShown = 512
	// responseDrained is how much of a response is read so the connection
	// can be reused; the rest is dropped with it.
	responseDrained = 64 << 10
	// redirectsMax is the most redirects followed, all to the same host.
	redirectsMax = 3
)

// sign returns the signature header value of body: "sha256=" and the hex
// HMAC-SHA256 of body keyed by secret.
func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether header (the X-Activity-Signature-256
// value) is the signature of body under secret. A receiver checks it on
// the raw body, before parsing it; the comparison takes the same time
// whatever the header holds. This function uses only the standard
// library, so receivers can copy it.
func VerifySignature(secret, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// sendWebhook POSTs the Message or Group as JSON, signed when the target
// names a secret.
func (n *Notifier) sendWebhook(ctx context.Context, t definition.NotifyTarget, p payload, red *redactor) error {
	target, err := n.targetURL(t.URL, red)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(eventHeader, p.event)
	h.Set(deliveryHeader, p.deliveryID)
	if t.Secret != "" {
		key, err := n.secrets.Resolve(t.Secret)
		if err != nil {
			return fmt.Errorf("signing secret: %w", err)
		}
		if key == "" {
			return fmt.Errorf("signing secret %s is empty; put the shared secret in it", t.Secret)
		}
		red.add(key)
		h.Set(signatureHeader, sign([]byte(key), p.body))
	}
	return n.post(ctx, target, p.body, h)
}

// sendSlack POSTs {"text": …} to a Slack-compatible incoming webhook.
func (n *Notifier) sendSlack(ctx context.Context, t definition.NotifyTarget, p payload, red *redactor) error {
	target, err := n.targetURL(t.URL, red)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]string{"text": slackText(p)})
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return n.post(ctx, target, body, h)
}

// targetURL resolves the target's URL and checks it is http(s). A
// webhook URL is a secret even when written out (a Slack URL carries its
// token), so neither it nor its parts show in any error.
func (n *Notifier) targetURL(raw string, red *redactor) (string, error) {
	if raw == "" {
		return "", permanentf("the target has no url")
	}
	s, err := n.resolve(raw, red) // remembers s, literal or resolved
	if err != nil {
		return "", fmt.Errorf("url: %w", err)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if s != raw {
			return "", fmt.Errorf("url: %s does not hold an http(s) URL; fix the secret's value", raw)
		}
		return "", permanentf("url is not an http(s) URL with a host")
	}
	redactURLParts(u, red)
	if s != raw {
		// The whole value is the secret: its host too, which a failed
		// connection quotes (a written URL's host is in its target key).
		red.add(u.Host)
		red.add(u.Hostname())
	}
	if strings.EqualFold(u.Scheme, "http") && !tlsconf.IsLoopback(u.Hostname()) {
		// Sync refuses this written out; a secret's value is only seen here.
		if s != raw {
			return "", fmt.Errorf("url: %s holds a plain http:// URL to a host that is not loopback; notifications carry run output, so make it https://", raw)
		}
		return "", permanentf("url is a plain http:// URL to a host that is not loopback; notifications carry run output, so make it https://")
	}
	return s, nil
}

// redactURLParts masks the parts of a secret URL a receiver might quote
// back in its answer ("no such hook: /services/T0/B0/XXXX"): the path,
// its longer segments, the query and its values, the password.
func redactURLParts(u *url.URL, red *redactor) {
	red.add(u.EscapedPath())
	red.add(u.Path)
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 8 {
			red.add(seg)
		}
	}
	red.add(u.RawQuery)
	for _, vs := range u.Query() {
		for _, v := range vs {
			red.add(v)
		}
	}
	if p, ok := u.User.Password(); ok {
		red.add(p)
	}
}

// post sends body and reads a bounded part of the answer; anything but
// 2xx is an error quoting the start of the answer's body.
func (n *Notifier) post(ctx context.Context, target string, body []byte, h http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return errors.New("url does not make a request")
	}
	req.Header = h
	req.Header.Set("User-Agent", "activity-core-notifier")
	resp, err := n.http.Do(req)
	if err != nil {
		// url.Error quotes the whole URL, which may be a secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST failed: %w", err)
	}
	defer resp.Body.Close()
	shown, _ := io.ReadAll(io.LimitReader(resp.Body, responseShown))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseDrained))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST answered %s: %s", resp.Status, limits.Clip(oneLine(strings.TrimSpace(string(shown))), 200))
	}
	return nil
}

// httpClient returns c, or a client that times out after timeout, made
// to refuse redirects to another host or from https to http.
func httpClient(c *http.Client, timeout time.Duration) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = timeout
	}
	if out.CheckRedirect == nil {
		out.CheckRedirect = sameHostRedirect
	}
	return &out
}

func sameHostRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) > redirectsMax:
		return fmt.Errorf("more than %d redirects", redirectsMax)
	case req.URL.Host != first.Host:
		return errors.New("redirect to another host refused")
	case first.Scheme == "https" && req.URL.Scheme != "https":
		return errors.New("redirect from https to http refused")
	}
	return nil
}
