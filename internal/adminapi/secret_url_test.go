package adminapi

import (
	"strings"
	"testing"
)

// A Slack URL carries its token, and so may a webhook URL's user info or
// query. A read token sees definitions and their timelines, so sync
// refuses such a URL written in a file (it must be an allow-listed
// ${env:NAME}), stores nothing of it, and never echoes it in a way a read
// token gets back (docs/alerting.md#notify).
func TestReadTokenDoesNotSeeALiteralNotifyURL(t *testing.T) {
	e := newEnv(t, adminToken, readToken)
	const token = "Xk3vQ9hTz7LwP2mN"
	for _, target := range []string{
		"{slack: {url: 'https://hooks.slack.com/services/T0000/B0000/" + token + "'}}",
		"{webhook: {url: 'https://hooks.example/ops?key=" + token + "', secret: HOOK_KEY}}",
		"{webhook: {url: 'https://ops:" + token + "@hooks.example/ops', secret: HOOK_KEY}}",
	} {
		e.write("s.yaml", "id: t.s\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\n"+
			"notify: {targets: ["+target+"]}\n")
		_, body := e.do("POST", "/admin/sync", adminToken, "")
		if !strings.Contains(string(body), "${env:NAME}") {
			t.Errorf("sync of %s: %s, want a refusal that says to use ${env:NAME}", target, body)
		}
		for _, path := range []string{"/api/v1/definitions/t.s", "/api/v1/definitions/t.s/timeline?since=1d"} {
			_, body := e.do("GET", path, readToken, "")
			if strings.Contains(string(body), token) {
				t.Errorf("GET %s with the read token shows the URL's credential after syncing %s", path, target)
			}
		}
	}
}
