package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempts, want := range map[int]time.Duration{
		0: time.Minute, 1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 6: 32 * time.Minute,
		7: time.Hour, 8: time.Hour, 1000: time.Hour,
	} {
		if got := backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %s, want %s", attempts, got, want)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"failed"}`)
	good := sign([]byte("k3y"), body)
	if !strings.HasPrefix(good, "sha256=") || len(good) != len("sha256=")+64 {
		t.Fatalf("signature %q", good)
	}
	for _, tc := range []struct {
		secret, body, header string
		want                 bool
	}{
		{"k3y", string(body), good, true},
		{"k3y", string(body) + " ", good, false},
		{"other", string(body), good, false},
		{"k3y", string(body), strings.TrimPrefix(good, "sha256="), false},
		{"k3y", string(body), "sha1=" + strings.TrimPrefix(good, "sha256="), false},
		{"k3y", string(body), "sha256=zz", false},
		{"k3y", string(body), "sha256=", false},
		{"k3y", string(body), good[:len(good)-2], false},
		{"k3y", string(body), "", false},
	} {
		if got := VerifySignature([]byte(tc.secret), []byte(tc.body), tc.header); got != tc.want {
			t.Errorf("VerifySignature(%q, %q, %q) = %t", tc.secret, tc.body, tc.header, got)
		}
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"line one\nline two\nline three\n", 16, "line three\n"},
		{"no newline at all here", 8, "all here"},
		{"ééééé", 5, "éé"}, // never starts inside a rune
	} {
		if got := tail(tc.in, tc.max); got != tc.want {
			t.Errorf("tail(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
	long := strings.Repeat("x", 10000)
	if got := tail(long, stderrTailMax); len(got) != stderrTailMax {
		t.Errorf("tail of 10000 bytes is %d bytes", len(got))
	}
}

// TestMessageBounds: whatever a stored message holds, what is sent is
// bounded: the stderr tail to 2 KiB, the reason and description clipped.
func TestMessageBounds(t *testing.T) {
	t.Parallel()
	n := &Notifier{cfg: Config{PublicURL: "https://a.example.com"}}
	m := Message{Reason: strings.Repeat("r", 5000), Description: strings.Repeat("d", 5000), StderrTail: strings.Repeat("e\n", 5000)}
	raw, _ := json.Marshal(m)
	got := n.message(store.Notification{ID: "n1", DefinitionID: "d1", Event: "failed", Message: raw})
	if len(got.StderrTail) > stderrTailMax || len(got.Reason) > reasonMax+len("…") || len(got.Description) > descriptionMax+len("…") {
		t.Errorf("stderr %d, reason %d, description %d bytes", len(got.StderrTail), len(got.Reason), len(got.Description))
	}
	if got.Event != "failed" || got.DefinitionID != "d1" || got.RunURL != "https://a.example.com/ui/definitions/d1" {
		t.Errorf("message %+v", got)
	}
	bad := n.message(store.Notification{ID: "n2", DefinitionID: "d2", Event: "late", Message: []byte(`"not an object"`)})
	if bad.Event != "late" || bad.DefinitionID != "d2" || !strings.Contains(bad.Reason, "does not parse") {
		t.Errorf("unreadable message: %+v", bad)
	}
}

func groupPayload(count int) payload {
	n := &Notifier{cfg: Config{PublicURL: "https://a.example.com"}}
	var rows []store.Notification
	for i := range count {
		event := "failed"
		if i%3 == 0 {
			event = "missed"
		}
		raw, _ := json.Marshal(Message{Status: event, Reason: "why " + fmt.Sprint(i), StderrTail: "secretless stderr"})
		rows = append(rows, store.Notification{ID: fmt.Sprintf("n%03d", i), DefinitionID: fmt.Sprintf("def-%03d", i), Event: event, RunID: fmt.Sprintf("r%03d", i), Message: raw})
	}
	return n.payload(rows)
}

func TestGroupRendering(t *testing.T) {
	t.Parallel()
	p := groupPayload(45)
	if p.event != eventGroup || p.group.Count != 45 || len(p.group.Messages) != groupShown || p.group.Counts["missed"] != 15 || p.group.Counts["failed"] != 30 {
		t.Fatalf("group: %+v", p.group)
	}
	if s := subject(p); s != "[activity-core] 45 notifications: 30 failed, 15 missed" {
		t.Errorf("subject %q", s)
	}
	text := plainText(p)
	for _, want := range []string{"45 notifications: 30 failed, 15 missed\n", "missed: def-000\n", "  Reason:   why 19\n", "  Dashboard: https://a.example.com/ui/runs/r019\n", "…and 25 more."} {
		if !strings.Contains(text, want) {
			t.Errorf("email body lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "def-020") || strings.Contains(text, "stderr") {
		t.Errorf("email body lists more than GroupShown, or stderr:\n%s", text)
	}
	slack := slackText(p)
	if !strings.HasPrefix(slack, "*45 notifications*: 30 failed, 15 missed\n• *missed* `def-000`: why 0 (<https://a.example.com/ui/runs/r000|run>)\n") ||
		!strings.HasSuffix(slack, "…and 25 more\n") || strings.Count(slack, "• ") != groupShown {
		t.Errorf("slack text:\n%s", slack)
	}
	if p2 := groupPayload(45); p2.deliveryID != p.deliveryID {
		t.Error("the same notifications make a different group ID")
	}
	if p3 := groupPayload(44); p3.deliveryID == p.deliveryID {
		t.Error("different notifications make the same group ID")
	}
}

// TestGroupByTarget: one batch per target key and stored target, in the
// order they came, each keeping its notifications' order.
func TestGroupByTarget(t *testing.T) {
	t.Parallel()
	spec := func(secretName string) json.RawMessage {
		b, _ := json.Marshal(definition.NotifyTarget{Kind: definition.TargetWebhook, URL: "https://h.example.com", Secret: secretName})
		return b
	}
	due := []store.Notification{
		{ID: "1", Target: "webhook:https://h.example.com", TargetSpec: spec("A")},
		{ID: "2", Target: "slack:${env:S}", TargetSpec: json.RawMessage(`{"kind":"slack","url":"${env:S}"}`)},
		{ID: "3", Target: "webhook:https://h.example.com", TargetSpec: spec("A")},
		{ID: "4", Target: "webhook:https://h.example.com", TargetSpec: spec("B")},
		{ID: "5", Target: "slack:${env:S}", TargetSpec: json.RawMessage(`{ "kind": "slack", "url": "${env:S}" }`)},
		{ID: "6", Target: "broken", TargetSpec: json.RawMessage(`[1]`)},
	}
	var got []string
	for _, b := range groupByTarget(due) {
		var ids []string
		for _, r := range b.rows {
			ids = append(ids, r.ID)
		}
		got = append(got, strings.Join(ids, ","))
		if (b.specErr != nil) != (ids[0] == "6") {
			t.Errorf("batch %v: spec error %v", ids, b.specErr)
		}
	}
	if want := []string{"1,3", "2,5", "4", "6"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("batches %v, want %v", got, want)
	}
}

func TestLinks(t *testing.T) {
	t.Parallel()
	n := &Notifier{cfg: Config{PublicURL: "https://a.example.com/base", TemporalUIURL: "https://t.example.com", Namespace: "prod ns"}}
	m := Message{DefinitionID: "d/1", RunID: "r 1", WorkflowID: "activity-core:run/1"}
	if got := n.runURL(m); got != "https://a.example.com/base/ui/runs/r%201" {
		t.Errorf("run URL %q", got)
	}
	if got := n.workflowURL(m); got != "https://t.example.com/namespaces/prod%20ns/workflows/activity-core:run%2F1" {
		t.Errorf("workflow URL %q", got)
	}
	n.cfg.TemporalUIURL = ""
	if got := n.workflowURL(m); got != "" {
		t.Errorf("workflow URL without a base: %q", got)
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	if got := oneLine("a\r\nb\tc\u2028d\x00e"); got != "a  b c d e" {
		t.Errorf("oneLine = %q", got)
	}
}
