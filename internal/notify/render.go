package notify

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/limits"

	"github.com/coulomb/activity-core/internal/store"
)

// Rendering bounds: a message stays short whatever a run printed.
const (
	reasonMax      = 1000
	descriptionMax = 300
)

// EventGroup is the Event of a Group.
const eventGroup = "group"

// payload is what one send carries to one target: a Message, or a Group
// when several notifications are due for the target.
type payload struct {
	single *Message
	group  *Group
	// event is the message's event, or EventGroup.
	event string
	// deliveryID is the notification's ID, or the group's ID.
	deliveryID string
	// body is the JSON of single or group: the webhook body and the NATS
	// message.
	body []byte
}

// payload builds the content of one send from its notifications, with
// the links filled in from the deployment's base URLs.
func (n *Notifier) payload(rows []store.Notification) payload {
	if len(rows) == 1 {
		m := n.message(rows[0])
		body, _ := json.Marshal(m)
		return payload{single: &m, event: m.Event, deliveryID: rows[0].ID, body: body}
	}
	g := Group{Event: eventGroup, Count: len(rows), Counts: map[string]int{}}
	for i, row := range rows {
		g.Counts[row.Event]++
		if i < groupShown {
			g.Messages = append(g.Messages, n.message(row))
		}
	}
	body, _ := json.Marshal(g)
	return payload{group: &g, event: eventGroup, deliveryID: groupID(rows), body: body}
}

// message reads a notification's stored Message (the row's own fields
// fill what it lacks) and adds the links.
func (n *Notifier) message(row store.Notification) Message {
	var m Message
	if len(row.Message) > 0 {
		if err := json.Unmarshal(row.Message, &m); err != nil {
			m = Message{Reason: "(the stored message does not parse)"}
		}
	}
	m.Event = cmp.Or(m.Event, row.Event)
	m.DefinitionID = cmp.Or(m.DefinitionID, row.DefinitionID)
	m.RunID = cmp.Or(m.RunID, row.RunID)
	if m.At.IsZero() {
		m.At = row.CreatedAt
	}
	m.StderrTail = tail(m.StderrTail, stderrTailMax)
	m.Reason, m.Description = limits.Clip(m.Reason, reasonMax), limits.Clip(m.Description, descriptionMax)
	m.RunURL, m.WorkflowURL = n.runURL(m), n.workflowURL(m)
	return m
}

// runURL links to the run's page in the dashboard, or the definition's
// when the message has no run.
func (n *Notifier) runURL(m Message) string {
	switch {
	case n.cfg.PublicURL == "":
		return ""
	case m.RunID != "":
		return n.cfg.PublicURL + "/ui/runs/" + url.PathEscape(m.RunID)
	case m.DefinitionID != "":
		return n.cfg.PublicURL + "/ui/definitions/" + url.PathEscape(m.DefinitionID)
	}
	return ""
}

// workflowURL links to the run's workflow in Temporal's UI.
func (n *Notifier) workflowURL(m Message) string {
	if n.cfg.TemporalUIURL == "" || m.WorkflowID == "" || n.cfg.Namespace == "" {
		return ""
	}
	return n.cfg.TemporalUIURL + "/namespaces/" + url.PathEscape(n.cfg.Namespace) + "/workflows/" + url.PathEscape(m.WorkflowID)
}

// tail keeps the last limit bytes of s, starting on a whole line when one
// fits, and never inside a UTF-8 sequence.
func tail(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	s = s[len(s)-limit:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	for len(s) > 0 && s[0]&0xC0 == 0x80 {
		s = s[1:]
	}
	return s
}

// oneLine makes s fit on one line of a header or a list: control
// characters (CR and LF among them) become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// countsText is "150 failed, 50 missed", events in a fixed order.
func countsText(counts map[string]int) string {
	events := make([]string, 0, len(counts))
	for e := range counts {
		events = append(events, e)
	}
	slices.SortFunc(events, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = fmt.Sprintf("%d %s", counts[e], e)
	}
	return strings.Join(parts, ", ")
}

// subject is the email subject: "[activity-core] failed: backup-db", or
// for a group "[activity-core] 200 notifications: 150 failed, 50 missed".
func subject(p payload) string {
	if p.group != nil {
		return oneLine(fmt.Sprintf("[activity-core] %d notifications: %s", p.group.Count, countsText(p.group.Counts)))
	}
	return oneLine(fmt.Sprintf("[activity-core] %s: %s", p.single.Event, p.single.DefinitionID))
}

// plainText is the email body.
func plainText(p payload) string {
	var b strings.Builder
	if p.group == nil {
		writeMessageText(&b, *p.single, true)
	} else {
		fmt.Fprintf(&b, "%d notifications: %s\n", p.group.Count, countsText(p.group.Counts))
		for _, m := range p.group.Messages {
			b.WriteString("\n")
			writeMessageText(&b, m, false)
		}
		if more := p.group.Count - len(p.group.Messages); more > 0 {
			fmt.Fprintf(&b, "\n…and %d more.\n", more)
		}
	}
	b.WriteString("\n-- \nSent by activity-core (docs/alerting.md#delivery).\n")
	return b.String()
}

func writeMessageText(b *strings.Builder, m Message, full bool) {
	fmt.Fprintf(b, "%s: %s\n", m.Event, m.DefinitionID)
	if m.Description != "" && full {
		fmt.Fprintf(b, "%s\n", oneLine(m.Description))
	}
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(b, "  %-9s %s\n", name+":", value)
		}
	}
	field("Status", m.Status)
	field("Reason", oneLine(m.Reason))
	field("At", m.At.UTC().Format(time.RFC3339))
	if m.ConsecutiveFailures > 1 {
		field("Failures", fmt.Sprintf("%d in a row", m.ConsecutiveFailures))
	}
	field("Run", m.RunID)
	field("Dashboard", m.RunURL)
	field("Workflow", m.WorkflowURL)
	if full && m.StderrTail != "" {
		b.WriteString("\nLast lines of stderr:\n")
		for _, line := range strings.Split(strings.TrimRight(m.StderrTail, "\n"), "\n") {
			b.WriteString("  " + strings.TrimRight(line, "\r") + "\n")
		}
	}
}

// slackText is the text of a Slack message (mrkdwn): short, with the
// reason, the stderr tail in a code block and the links.
func slackText(p payload) string {
	var b strings.Builder
	if p.group == nil {
		writeSlackMessage(&b, *p.single, true)
		return b.String()
	}
	fmt.Fprintf(&b, "*%d notifications*: %s\n", p.group.Count, slackEscape(countsText(p.group.Counts)))
	for _, m := range p.group.Messages {
		b.WriteString("• ")
		writeSlackMessage(&b, m, false)
	}
	if more := p.group.Count - len(p.group.Messages); more > 0 {
		fmt.Fprintf(&b, "…and %d more\n", more)
	}
	return b.String()
}

func writeSlackMessage(b *strings.Builder, m Message, full bool) {
	fmt.Fprintf(b, "*%s* `%s`", slackEscape(m.Event), slackCode(m.DefinitionID))
	if m.Reason != "" {
		fmt.Fprintf(b, ": %s", slackEscape(oneLine(m.Reason)))
	}
	var links []string
	if m.RunURL != "" {
		links = append(links, slackLink(m.RunURL, "run"))
	}
	if m.WorkflowURL != "" {
		links = append(links, slackLink(m.WorkflowURL, "workflow"))
	}
	if full {
		b.WriteString("\n")
		var facts []string
		if m.Status != "" {
			facts = append(facts, "status "+slackEscape(m.Status))
		}
		if m.ConsecutiveFailures > 1 {
			facts = append(facts, fmt.Sprintf("%d failures in a row", m.ConsecutiveFailures))
		}
		if line := strings.Join(append(facts, links...), " · "); line != "" {
			b.WriteString(line + "\n")
		}
		if m.StderrTail != "" {
			b.WriteString("```\n" + slackCodeBlock(m.StderrTail) + "\n```\n")
		}
		return
	}
	if len(links) > 0 {
		b.WriteString(" (" + strings.Join(links, ", ") + ")")
	}
	b.WriteString("\n")
}

// slackEscape escapes the three characters Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackCode is text inside `…`: a backquote would end it.
func slackCode(s string) string {
	return slackEscape(strings.ReplaceAll(oneLine(s), "`", "'"))
}

// slackCodeBlock is text inside ```…```: a run of three backquotes would
// end it.
func slackCodeBlock(s string) string {
	return slackEscape(strings.ReplaceAll(strings.TrimRight(s, "\n"), "```", "'''"))
}

// slackLink is <url|label>; the URL's own | and > would end it.
func slackLink(u, label string) string {
	u = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(u)
	return "<" + u + "|" + label + ">"
}
