package adminapi

import (
	"strings"
	"testing"
)

// A literal Slack (or webhook) URL carries its token: the notifier and the
// outbox treat it as a secret (targets are named by host and hash, and
// GET /api/v1/notifications drops target_spec). A read token must not get
// it back from the definition or its timeline either.
func TestReadTokenDoesNotSeeALiteralNotifyURL(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	def := func(token string) string {
		return "id: t.s\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n" +
			"notify: {targets: [{slack: {url: 'https://hooks.slack.com/services/T0000/B0000/" + token + "'}}]}\n"
	}
	for _, token := range []string{"Xk3vQ9hTz7LwP2mN", "Yr8bC4jUe6FsA1qW"} {
		e.write("s.yaml", def(token))
		if code, body := e.do("POST", "/admin/sync", adminToken, ""); code != 200 {
			t.Fatalf("sync: %d %s", code, body)
		}
	}
	for _, path := range []string{"/api/v1/definitions/t.s", "/api/v1/definitions/t.s/timeline?since=1d"} {
		code, body := e.do("GET", path, readToken, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		for _, token := range []string{"Xk3vQ9hTz7LwP2mN", "Yr8bC4jUe6FsA1qW"} {
			if strings.Contains(string(body), token) {
				t.Errorf("GET %s with the read token shows the Slack URL's token %s", path, token)
			}
		}
	}
}
