package githook

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// An outsider must not learn which sources exist, which take webhooks, or
// that a secret is missing: the 404s are alike, the log says which.
func TestNotFoundAnswersAreAlike(t *testing.T) {
	body := payload(t, "github_push.json")
	var first string
	for _, tc := range []struct{ source, label, outcome, logged string }{
		{"nope", "", outcomeUnknownSource, `no git source is named \"nope\"`},
		{"local", "", outcomeUnknownSource, `no git source is named \"local\"`},
		{"off", "off", outcomeDisabled, "its spec has no webhook_secret"},
		{"unset", "unset", outcomeSecretUnavailable, "webhook_secret UNSET_HOOK is not available"},
	} {
		h := newHarness(t) // a log line each: they are rate-limited per outcome
		rec := h.send(tc.source, headers(providerGitHub, "push", hookSecret, body), strings.NewReader(string(body)))
		answer := fmt.Sprint(rec.Code, " ", rec.Header(), " ", rec.Body)
		if first == "" {
			first = answer
		}
		if rec.Code != http.StatusNotFound || answer != first || strings.Contains(rec.Body.String(), tc.source) {
			t.Errorf("%s: %s, want 404 as for the others, without the name: %s", tc.source, answer, first)
		}
		if got := h.count(tc.label, tc.outcome); got < 1 {
			t.Errorf("%s: outcome %s not counted", tc.source, tc.outcome)
		}
		if !strings.Contains(h.logs.String(), tc.logged) {
			t.Errorf("%s: the log does not say %q:\n%s", tc.source, tc.logged, h.logs)
		}
	}
}
