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

// verify checks the webhook's signature (GitHub, Gitea, Forgejo: an
// HMAC-SHA256 of the body) or token (GitLab) against the secret, in
// constant time. Errors say what is wrong without the expected value.
func (p provider) verify(h http.Header, body []byte, key string) error {
	switch p.name {
	case providerGitHub:
		sig := h.Get("X-Hub-Signature-256")
		if sig == "" {
			return errors.New("no X-Hub-Signature-256 header: set the webhook's secret on GitHub (docs/git-sources.md#webhooks)")
		}
		hexSig, ok := strings.CutPrefix(sig, "sha256=")
		if !ok {
			return errors.New("X-Hub-Signature-256 is not sha256=<hex>")
		}
		return checkHMAC("X-Hub-Signature-256", hexSig, body, key)
	case providerGitea, providerForgejo:
		header := "X-Gitea-Signature"
		if p.name == providerForgejo {
			header = "X-Forgejo-Signature"
		}
		sig := h.Get(header)
		if sig == "" {
			return fmt.Errorf("no %s header: set the webhook's secret on %s (docs/git-sources.md#webhooks)", header, p.title())
		}
		return checkHMAC(header, sig, body, key)
	case providerGitLab:
		tok := h.Get("X-Gitlab-Token")
		if tok == "" {
			return errors.New("no X-Gitlab-Token header: set the webhook's secret token on GitLab (docs/git-sources.md#webhooks)")
		}
		// Compare digests, so the time taken says nothing about the
		// token's length either.
		got, want := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(key))
		if !hmac.Equal(got[:], want[:]) {
			return errors.New("X-Gitlab-Token does not match the source's webhook secret")
		}
		return nil
	}
	return fmt.Errorf("unknown provider %s", p.name)
}

func checkHMAC(header, hexSig string, body []byte, key string) error {
	got, err := hex.DecodeString(strings.TrimSpace(hexSig))
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%s is not a hex HMAC-SHA256", header)
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%s does not match the body signed with the source's webhook secret", header)
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

// delivery is the forge's id of this delivery, for the log.
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
