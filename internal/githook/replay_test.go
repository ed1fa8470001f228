package githook

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A holder of one signed delivery (or of GitLab's token) must not be
// able to make a source sync over and over (docs/git-sources.md#webhooks).

func TestReplayedDeliveryIsNotSyncedAgain(t *testing.T) {
	for _, forge := range []string{providerGitHub, providerGitLab, providerGitea, providerForgejo} {
		t.Run(forge, func(t *testing.T) {
			h := newHarness(t)
			body := payload(t, "github_push.json")
			event := "push"
			if forge == providerGitLab {
				body, event = payload(t, "gitlab_push.json"), "Push Hook"
			}
			hdr := headers(forge, event, hookSecret, body)
			// A forged copy does not make the real delivery a duplicate.
			forged := hdr.Clone()
			forged.Set("X-Gitlab-Token", "guess")
			forged.Set("X-Hub-Signature-256", "sha256="+sign("guess", body))
			forged.Set("X-Gitea-Signature", sign("guess", body))
			forged.Set("X-Forgejo-Signature", sign("guess", body))
			if code, out := h.post("defs", forged, body); code != http.StatusUnauthorized {
				t.Fatalf("forged: %d %v, want 401", code, out)
			}
			if code, out := h.post("defs", hdr, body); code != http.StatusAccepted || out["status"] != "queued" {
				t.Fatalf("first delivery: %d %v, want 202 queued", code, out)
			}
			code, out := h.post("defs", hdr, body)
			if code != http.StatusAccepted || out["status"] != "duplicate" || !strings.Contains(fmt.Sprint(out["reason"]), "nothing was done") {
				t.Errorf("replayed delivery: %d %v, want 202 duplicate", code, out)
			}
			if got := h.count("defs", outcomeDuplicate); got != 1 {
				t.Errorf("duplicate counted %d times, want 1", got)
			}
			if calls := h.settle(); len(calls) != 1 {
				t.Errorf("syncs = %q, want 1", calls)
			}
		})
	}
}

func TestRecentForgetsTheLeastRecent(t *testing.T) {
	c := newRecent(2)
	var got []bool
	for _, k := range []string{"a", "b", "a", "c", "b", "a"} {
		got = append(got, c.seen(k))
	}
	// a b a(seen) c(evicts b) b(new, evicts a) a(new)
	if want := []bool{false, false, true, false, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("seen = %v, want %v", got, want)
	}
}
