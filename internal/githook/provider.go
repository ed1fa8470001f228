package githook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Forges whose webhooks the receiver takes.
const (
	providerGitHub  = "github"
	providerGitLab  = "gitlab"
	providerGitea   = "gitea"
	providerForgejo = "forgejo"
)

// provider is the forge that sent a webhook and the event it names.
type provider struct {
	name  string
	event string
}

// detect tells the forge from its event header. Order matters: Forgejo
// also sends Gitea's and GitHub's headers, and Gitea sends GitHub's, for
// compatibility; the most specific one wins.
func detect(h http.Header) (provider, bool) {
	for _, c := range []struct{ name, header string }{
		{providerForgejo, "X-Forgejo-Event"},
		{providerGitea, "X-Gitea-Event"},
		{providerGitLab, "X-Gitlab-Event"},
		{providerGitHub, "X-GitHub-Event"},
	} {
		if v := h.Get(c.header); v != "" {
			return provider{name: c.name, event: v}, true
		}
	}
	return provider{}, false
}

// sigHeader is the header that carries the signature or token.
func (p provider) sigHeader() string {
	switch p.name {
	case providerGitHub:
		return "X-Hub-Signature-256"
	case providerGitLab:
		return "X-Gitlab-Token"
	case providerGitea:
		return "X-Gitea-Signature"
	}
	return "X-Forgejo-Signature"
}

// credential reads the webhook's signature (GitHub, Gitea, Forgejo: an
// HMAC-SHA256 of the body, hex) or token (GitLab) from its header, so a
// request without a well-formed one is refused before its body is read.
// Errors say what is wrong without the expected value.
func (p provider) credential(h http.Header) ([]byte, error) {
	header := p.sigHeader()
	v := h.Get(header)
	if v == "" {
		what := "secret"
		if p.name == providerGitLab {
			what = "secret token"
		}
		return nil, fmt.Errorf("no %s header: set the webhook's %s on %s (docs/git-sources.md#webhooks)", header, what, p.title())
	}
	if p.name == providerGitLab {
		return []byte(v), nil
	}
	if p.name == providerGitHub {
		var ok bool
		if v, ok = strings.CutPrefix(v, "sha256="); !ok {
			return nil, errors.New("X-Hub-Signature-256 is not sha256=<hex>")
		}
	}
	sig, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil || len(sig) != sha256.Size {
		return nil, fmt.Errorf("%s is not a hex HMAC-SHA256", header)
	}
	return sig, nil
}

// verify checks the credential read by credential against the secret, in
// constant time: the HMAC-SHA256 of the body, or GitLab's token itself.
func (p provider) verify(cred, body []byte, key string) error {
	if p.name == providerGitLab {
		// Compare digests, so the time taken says nothing about the
		// token's length either.
		got, want := sha256.Sum256(cred), sha256.Sum256([]byte(key))
		if !hmac.Equal(got[:], want[:]) {
			return errors.New("X-Gitlab-Token does not match the source's webhook secret")
		}
		return nil
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	if !hmac.Equal(cred, mac.Sum(nil)) {
		return fmt.Errorf("%s does not match the body signed with the source's webhook secret", p.sigHeader())
	}
	return nil
}

func (p provider) title() string {
	switch p.name {
	case providerGitHub:
		return "GitHub"
	case providerGitLab:
		return "GitLab"
	case providerGitea:
		return "Gitea"
	}
	return "Forgejo"
}

// isPing reports GitHub's ping, sent when a webhook is created.
func (p provider) isPing() bool { return p.name == providerGitHub && p.event == "ping" }

// isPush reports a push of a branch or tag.
func (p provider) isPush() bool {
	if p.name == providerGitLab {
		return p.event == "Push Hook" || p.event == "Tag Push Hook"
	}
	return p.event == "push"
}

// delivery is the forge's id of this delivery: for the log, and to
// answer a replayed delivery without acting on it again.
func (p provider) delivery(h http.Header) string {
	switch p.name {
	case providerGitHub:
		return h.Get("X-GitHub-Delivery")
	case providerGitLab:
		return h.Get("X-Gitlab-Event-UUID")
	case providerGitea:
		return h.Get("X-Gitea-Delivery")
	}
	return h.Get("X-Forgejo-Delivery")
}
