// Package notify delivers alerts from the store's outbox to webhooks,
// Slack, email and NATS, with retries and grouping (docs/alerting.md).
package notify

import "time"

// Message is what a notification says: the JSON body of a webhook, and
// what the Slack, email and NATS renderings are made from. Everything in
// it is redacted before it is stored.
type Message struct {
	// Event is failed, timed_out, missed, stale, late, recovered, skipped
	// or paused.
	Event        string    `json:"event"`
	DefinitionID string    `json:"definition_id"`
	Description  string    `json:"description,omitempty"`
	At           time.Time `json:"at"`
	// Status is the run's status, or the health state for stale, late and
	// recovered.
	Status string `json:"status"`
	// Reason says why, in one line an operator can act on.
	Reason string `json:"reason"`
	RunID  string `json:"run_id,omitempty"`
	// WorkflowID is the run's workflow, for WorkflowURL.
	WorkflowID string `json:"workflow_id,omitempty"`
	// StderrTail is the last lines of the run's stderr (at most 2 KiB),
	// redacted.
	StderrTail string `json:"stderr_tail,omitempty"`
	// RunURL links to the run (or definition) in the dashboard, and
	// WorkflowURL to the workflow in Temporal's UI. The notifier fills
	// them at delivery from the deployment's base URLs; empty when those
	// are not set.
	RunURL      string `json:"run_url,omitempty"`
	WorkflowURL string `json:"workflow_url,omitempty"`
	// ConsecutiveFailures, for failed and timed_out.
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
}

// Group is the body of one message carrying many notifications to one
// target: a storm becomes one message per target and pass.
type Group struct {
	Event string `json:"event"` // "group"
	// Count is how many notifications the group carries; Messages holds at
	// most GroupShown of them.
	Count    int       `json:"count"`
	Messages []Message `json:"messages"`
	// Counts is how many of each event.
	Counts map[string]int `json:"counts"`
}

// GroupShown is the most messages a group lists in full.
const groupShown = 20
