package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
)

// eventsCmd groups the event commands.
type eventsCmd struct {
	Explain eventsExplainCmd `cmd:"" help:"Would this event run anything? Per event definition: matched, or what said no."`
}

// eventsExplainCmd asks the server to explain an event.
type eventsExplainCmd struct {
	ClientFlags
	Subject string `required:"" help:"The event's NATS subject."`
	Payload string `default:"{}" help:"The event's JSON payload (an object)."`
}

// Help is shown by "activity-core events explain --help".
func (c *eventsExplainCmd) Help() string {
	return `Nothing is published and nothing runs: the server matches the event against
the event definitions of the last sync and says, for each, whether it would
start a run, or which part said no (subject pattern, a filter, the rule,
disabled, the loop guard). Rules that need context are evaluated at run time.

Examples:
  activity-core events explain --subject org.repo.commit.pushed --payload '{"repo_slug":"coulomb/state-hub"}'
  activity-core events explain --subject org.example.hello --format json`
}

// Run explains.
func (c *eventsExplainCmd) Run(env *cmdEnv) error {
	if !json.Valid([]byte(c.Payload)) {
		return usageError("--payload is not valid JSON: %s", c.Payload)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	body := map[string]any{"subject": c.Subject, "payload": json.RawMessage(c.Payload)}
	if err := cl.do(env.Ctx, "POST", "/api/v1/events/explain", body, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var doc struct {
		Definitions []map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEFINITION\tEVENT TYPE\tMATCH\tWHY NOT")
	n := 0
	for _, d := range doc.Definitions {
		match := "no"
		if d["matched"] == true {
			match = "yes"
			n++
		}
		why := ""
		for _, k := range []string{"reason", "message", "detail"} {
			if v, ok := d[k].(string); ok && v != "" {
				why = v
				break
			}
		}
		fmt.Fprintf(tw, "%v\t%v\t%s\t%s\n", d["definition_id"], d["event_type"], match, why)
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%d of %d event definitions would run\n", n, len(doc.Definitions))
	return nil
}
