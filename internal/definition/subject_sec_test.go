package definition

import (
	"strings"
	"testing"
)

// A publish instruction and a nats notify target publish with
// activity-core's own NATS identity, the one the router uses for the
// JetStream API. A subject under $JS (the API: $JS.API.STREAM.DELETE.<s>
// deletes the events stream; acks), $SYS or _INBOX (another client's
// replies) is not an event: sync must refuse it with one error.
func TestPublishAndNotifySubjectsRefuseSystemSubjects(t *testing.T) {
	for _, subject := range []string{"$JS.API.STREAM.DELETE.ACTIVITY", "$JS.ACK.ACTIVITY.router.1.2.3.4.5", "$SYS.REQ.SERVER.PING", "$KV.cfg.key", "_INBOX.abc.def"} {
		for name, yaml := range map[string]string{
			"publish": "id: t.pub\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: publish, subject: '" + subject + "'}\n",
			"notify":  "id: t.pub\ntrigger: {trigger_type: cron, cron_expression: '@daily'}\ninstruction: {kind: shell, cmd: 'true'}\nnotify: {targets: [{nats: {subject: '" + subject + "'}}]}\n",
		} {
			_, err := Parse("t.yaml", []byte(yaml))
			if err == nil {
				t.Errorf("%s subject %s accepted", name, subject)
				continue
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 || !strings.Contains(err.Error(), "subject") {
				t.Errorf("%s subject %s: want one error about the subject, got %d:\n%v", name, subject, n, err)
			}
		}
	}
	for _, ok := range []string{"org.backup.done", "alerts.activity", "a$b.c"} {
		if err := ValidateSubject(ok); err != nil {
			t.Errorf("ValidateSubject(%q): %v", ok, err)
		}
	}
}
