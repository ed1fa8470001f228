package githook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/testsupport"
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

// spacedSleep replaces the receiver's sleep: it records each wait and
// returns when the test sends on release.
type spacedSleep struct {
	mu      sync.Mutex
	waits   int
	release chan struct{}
}

func (s *spacedSleep) sleep(ctx context.Context, _ time.Duration) bool {
	s.mu.Lock()
	s.waits++
	s.mu.Unlock()
	select {
	case <-s.release:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *spacedSleep) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waits
}

func TestWebhookSyncsAreSpaced(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SyncSpacing = time.Minute })
	sl := &spacedSleep{release: make(chan struct{})}
	h.r.sleep = sl.sleep
	body := payload(t, "github_push.json")
	push := func() {
		t.Helper()
		if code, out := h.post("defs", headers(providerGitHub, "push", hookSecret, body), body); code != 202 || out["status"] != "queued" {
			t.Fatalf("%d %v, want 202 queued", code, out)
		}
	}
	syncs := func(n int) func() error {
		return func() error {
			_, events, _ := h.syncs.snapshot()
			if len(events) != 2*n || h.r.running("defs") {
				return fmt.Errorf("events %q, want %d syncs ended and none running", events, n)
			}
			return nil
		}
	}
	push()
	testsupport.Eventually(t, 5*time.Second, "the first sync", syncs(1))
	// A poll is not spaced.
	h.r.trigger(h.r.sources["defs"], "poll:defs")
	testsupport.Eventually(t, 5*time.Second, "the poll's sync", syncs(2))
	// Pushes inside the spacing wait, together, for one sync.
	push()
	push()
	push()
	testsupport.Eventually(t, 5*time.Second, "a spaced sync waiting", func() error {
		if n := sl.count(); n != 1 {
			return fmt.Errorf("%d waits", n)
		}
		return nil
	})
	if calls, _, _ := h.syncs.snapshot(); len(calls) != 2 {
		t.Fatalf("syncs = %q before the spacing passed, want 2", calls)
	}
	h.clock.Add(time.Minute)
	sl.release <- struct{}{}
	testsupport.Eventually(t, 5*time.Second, "the spaced sync", syncs(3))
	// Once the spacing has passed, a push syncs at once.
	h.clock.Add(time.Minute)
	push()
	calls := h.settle()
	want := []string{"defs webhook:defs", "defs poll:defs", "defs webhook:defs", "defs webhook:defs"}
	if fmt.Sprint(calls) != fmt.Sprint(want) || sl.count() != 1 {
		t.Errorf("syncs = %q after %d waits, want %q after 1", calls, sl.count(), want)
	}
}

// running reports whether a sync of the source is running or waiting.
func (r *Receiver) running(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sources[name].running
}
