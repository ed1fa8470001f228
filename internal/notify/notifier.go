package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coulomb/activity-core/internal/limits"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// Defaults and bounds (docs/alerting.md#delivery).
const (
	// SendTimeoutDefault bounds one send: a webhook POST, an SMTP
	// conversation, a NATS publish and flush.
	sendTimeoutDefault = 10 * time.Second
	// BatchLimitDefault is the most notifications one pass reads (the
	// store's limit).
	batchLimitDefault = store.NotificationLimitMax
	// ParallelDefault is how many targets one pass sends to at once.
	parallelDefault = 4
	// RetryFirst is the wait after the first failed attempt; each further
	// failure doubles it, up to RetryMax.
	retryFirst = time.Minute
	retryMax   = time.Hour
	// GiveUpAfter is how long after it was enqueued a notification that
	// still fails is given up (status failed).
	giveUpAfter = 24 * time.Hour
	// StderrTailMax bounds the stderr tail a message shows.
	stderrTailMax = 2 << 10
	// lastErrorMax bounds the error kept on a notification.
	lastErrorMax = 1000
	// recordTimeout bounds the store writes that record a pass's results,
	// which go on after the pass's context ends so a sent message is not
	// sent twice.
	recordTimeout = 10 * time.Second
)

// Store is what the notifier needs of the store (store.AlertStore).
type Store interface {
	DueNotifications(ctx context.Context, now time.Time, limit int) ([]store.Notification, error)
	UpdateNotifications(ctx context.Context, ns ...store.Notification) error
	AppendTimeline(ctx context.Context, es ...store.TimelineEntry) error
	ListNotifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error)
}

// Config is what a Notifier needs. Store is required; everything else has
// a default or turns its feature off.
type Config struct {
	Store Store
	// Secrets resolves ${env:NAME} in target URLs and the webhook signing
	// secrets; nil allows none.
	Secrets *secret.AllowList
	// SMTP is the server email targets use; zero: email targets fail and
	// are retried.
	SMTP smtpSettings
	// NATS publishes to nats targets; nil: they fail and are retried.
	NATS *nats.Conn
	// PublicURL (the dashboard), TemporalUIURL and Namespace make the
	// links in messages; empty leaves them out.
	PublicURL, TemporalUIURL, Namespace string
	// HTTPClient posts webhooks and Slack messages. Nil: a client that
	// times out after SendTimeout. A redirect to another host (or from
	// https to http) is never followed.
	HTTPClient *http.Client
	// SendTimeout bounds one send (SendTimeoutDefault).
	SendTimeout time.Duration
	// BatchLimit is the most notifications one Deliver reads
	// (BatchLimitDefault).
	BatchLimit int
	// Parallel is how many targets one Deliver sends to at once
	// (ParallelDefault).
	Parallel int
	// Now is the clock (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer receives the notifier's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Notifier delivers the store's notification outbox.
type Notifier struct {
	cfg     Config
	secrets *secret.AllowList
	http    *http.Client
	smtp    *smtpSender
	log     *slog.Logger
	metrics *metrics
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Notifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: Config.Store is nil")
	}
	cfg.SendTimeout = cmp.Or(cfg.SendTimeout, sendTimeoutDefault)
	cfg.BatchLimit = cmp.Or(cfg.BatchLimit, batchLimitDefault)
	cfg.Parallel = cmp.Or(cfg.Parallel, parallelDefault)
	if cfg.SendTimeout < 0 || cfg.BatchLimit < 0 || cfg.Parallel < 0 {
		return nil, fmt.Errorf("notify: SendTimeout (%s), BatchLimit (%d) and Parallel (%d) must not be negative", cfg.SendTimeout, cfg.BatchLimit, cfg.Parallel)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	cfg.TemporalUIURL = strings.TrimRight(cfg.TemporalUIURL, "/")
	n := &Notifier{cfg: cfg, secrets: cfg.Secrets, log: cfg.Logger, http: httpClient(cfg.HTTPClient, cfg.SendTimeout)}
	if n.secrets == nil {
		n.secrets, _ = secret.New(secret.Config{})
	}
	var err error
	if n.smtp, err = newSMTPSender(cfg.SMTP, cfg.Logger); err != nil {
		return nil, err
	}
	if n.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return n, nil
}

// batch is the notifications of one pass that go to one target as one
// message.
type batch struct {
	rows []store.Notification
	spec definition.NotifyTarget
	// specErr is set when the stored target cannot be read.
	specErr error
}

// Deliver makes one pass over the outbox: it reads the notifications that
// are due, sends one message per target (a Group when several are due for
// it), and records each result on its notification and, when it was sent
// or given up, in its definition's timeline. A send that fails is retried
// by a later pass (docs/alerting.md#delivery). It returns an error only
// when the store could not be read or written.
func (n *Notifier) Deliver(ctx context.Context) error {
	due, err := n.cfg.Store.DueNotifications(ctx, n.cfg.Now(), n.cfg.BatchLimit)
	if err != nil {
		return fmt.Errorf("notify: reading due notifications: %w", err)
	}
	batches := groupByTarget(due)
	results := make([][]store.Notification, len(batches))
	sem := make(chan struct{}, n.cfg.Parallel)
	var wg sync.WaitGroup
	for i, b := range batches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = n.deliverBatch(ctx, b)
		})
	}
	wg.Wait()
	return n.record(ctx, results)
}

// groupByTarget splits due notifications by target, keeping their order
// (oldest first) within each and the order of first appearance between
// them. Two notifications share a target when both the key and the stored
// target are the same, so two definitions that sign with different
// secrets are never sent as one.
func groupByTarget(due []store.Notification) []*batch {
	index := map[string]*batch{}
	var out []*batch
	for _, nt := range due {
		key := nt.Target + "\x00" + compactJSON(nt.TargetSpec)
		b := index[key]
		if b == nil {
			b = &batch{}
			if err := json.Unmarshal(nt.TargetSpec, &b.spec); err != nil {
				b.specErr = permanentf("the stored target does not parse: %v", err)
			}
			index[key] = b
			out = append(out, b)
		}
		b.rows = append(b.rows, nt)
	}
	return out
}

func compactJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// deliverBatch sends one batch and returns its rows with the result set.
// Rows are returned unchanged (still due) when ctx ended before the send
// could be made: that is a shutdown, not a failed attempt.
func (n *Notifier) deliverBatch(ctx context.Context, b *batch) []store.Notification {
	p := n.payload(b.rows)
	err := b.specErr
	if err == nil {
		sendCtx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
		err = n.send(sendCtx, b.spec, p)
		cancel()
	}
	if err != nil && ctx.Err() != nil {
		return nil
	}
	now := n.cfg.Now()
	out := make([]store.Notification, len(b.rows))
	kind := b.spec.Kind
	if err == nil {
		n.log.Info("notify: sent", "target", b.rows[0].Target, "event", p.event, "notifications", len(b.rows), "delivery", p.deliveryID)
	}
	for i, row := range b.rows {
		row.Attempts++
		row.UpdatedAt = now
		if err == nil {
			row.Status, row.SentAt, row.LastError = store.NotificationSent, &now, ""
			if len(b.rows) > 1 {
				row.GroupID = p.deliveryID
			}
			n.metrics.result(kind, resultSent)
		} else {
			n.failed(&row, err, now, kind)
		}
		out[i] = row
	}
	if err != nil {
		n.logFailure(b.rows, out[0])
	}
	return out
}

// failed records a failed attempt on row: retried with backoff, or given
// up when the error is permanent or the notification is GiveUpAfter old.
func (n *Notifier) failed(row *store.Notification, err error, now time.Time, kind string) {
	row.LastError = limits.Clip(err.Error(), lastErrorMax)
	if isPermanent(err) || now.Sub(row.CreatedAt) >= giveUpAfter {
		row.Status = store.NotificationFailed
		n.metrics.result(kind, resultFailed)
		return
	}
	row.NextAttemptAt = now.Add(backoff(row.Attempts))
	n.metrics.result(kind, resultRetry)
}

func (n *Notifier) logFailure(rows []store.Notification, after store.Notification) {
	args := []any{"target", rows[0].Target, "notifications", len(rows), "attempt", after.Attempts, "error", after.LastError}
	if after.Status == store.NotificationFailed {
		n.log.Error("notify: gave up delivering", args...)
		return
	}
	n.log.Warn("notify: delivery failed, will retry", append(args, "next_attempt_at", after.NextAttemptAt)...)
}

// backoff is the wait after the attempts-th failed attempt: RetryFirst,
// doubled for each further attempt, at most RetryMax.
func backoff(attempts int) time.Duration {
	d := retryFirst
	for i := 1; i < attempts && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// record writes the results of a pass: the notifications, then a timeline
// entry for each one sent or given up. It goes on when ctx has ended
// (bounded by recordTimeout): a message that was sent must be marked so,
// or the next pass would send it again.
func (n *Notifier) record(ctx context.Context, results [][]store.Notification) error {
	var rows []store.Notification
	for _, r := range results {
		rows = append(rows, r...)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if len(rows) > 0 {
		if err := n.cfg.Store.UpdateNotifications(wctx, rows...); err != nil {
			return fmt.Errorf("notify: recording %d delivery results: %w", len(rows), err)
		}
		groups := map[string]int{}
		for _, row := range rows {
			if row.GroupID != "" {
				groups[row.GroupID]++
			}
		}
		var entries []store.TimelineEntry
		for _, row := range rows {
			if row.Status != store.NotificationPending {
				entries = append(entries, timelineEntry(row, groups[row.GroupID]))
			}
		}
		if len(entries) > 0 {
			if err := n.cfg.Store.AppendTimeline(wctx, entries...); err != nil {
				return fmt.Errorf("notify: recording %d timeline entries: %w", len(entries), err)
			}
		}
	}
	return n.refreshPending(wctx)
}

// refreshPending sets the pending gauge from the outbox (at most
// store.NotificationLimitMax are counted).
func (n *Notifier) refreshPending(ctx context.Context) error {
	pending, err := n.cfg.Store.ListNotifications(ctx, store.NotificationFilter{Status: store.NotificationPending, Limit: store.NotificationLimitMax})
	if err != nil {
		return fmt.Errorf("notify: counting pending notifications: %w", err)
	}
	n.metrics.pending.Set(float64(len(pending)))
	return nil
}

// timelineEntry is the definition's record of a notification sent or
// given up: the target's key and the error, never a resolved secret.
// grouped is how many notifications went in its message (0 or 1: alone).
func timelineEntry(row store.Notification, grouped int) store.TimelineEntry {
	summary := fmt.Sprintf("%s notification sent to %s", row.Event, row.Target)
	if grouped > 1 {
		summary += fmt.Sprintf(" (one message with %d others)", grouped-1)
	}
	if row.Status == store.NotificationFailed {
		summary = fmt.Sprintf("%s notification to %s given up after %d attempts: %s", row.Event, row.Target, row.Attempts, limits.Clip(row.LastError, 200))
	}
	detail, _ := json.Marshal(map[string]any{
		"notification_id": row.ID, "event": row.Event, "target": row.Target, "status": row.Status,
		"attempts": row.Attempts, "group_id": row.GroupID, "last_error": row.LastError,
	})
	at := row.UpdatedAt
	return store.TimelineEntry{
		DefinitionID: row.DefinitionID, At: at, Kind: store.TimelineNotification, Summary: summary,
		Actor: "notifier", RunID: row.RunID, Detail: detail,
	}
}

// groupID names a group by the notifications it carries, so the same
// group retried keeps its X-Activity-Delivery and a receiver can drop a
// repeat.
func groupID(rows []store.Notification) string {
	h := sha256.New()
	for _, r := range rows {
		h.Write([]byte(r.ID))
		h.Write([]byte{0})
	}
	return "group-" + hex.EncodeToString(h.Sum(nil))[:32]
}
