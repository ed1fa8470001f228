package notify

import (
	"github.com/coulomb/activity-core/internal/testsupport"

	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
)

// outbox is the store as the tests drive it: the notifier's Store, plus
// what the detector does (enqueue) and what the timeline reads.
type outbox interface {
	Store
	EnqueueNotifications(ctx context.Context, ns ...store.Notification) (int, error)
	ListTimeline(ctx context.Context, f store.TimelineFilter) ([]store.TimelineEntry, error)
}

// newClock is a fake clock at the current millisecond.
func newClock() *testsupport.Clock {
	return testsupport.NewClock(time.Now().UTC().Truncate(time.Millisecond))
}

// world is one notifier over one store, with a fake clock, captured logs
// and an allow-list made of env.
type world struct {
	t     *testing.T
	store outbox
	clock *testsupport.Clock
	logs  *testsupport.Buffer
	reg   *prometheus.Registry
	n     *Notifier
}

// newWorld makes a notifier; env is the worker's environment the
// allow-list reads (every name in it is allowed).
func newWorld(t *testing.T, st outbox, env map[string]string, mutate func(*Config)) *world {
	t.Helper()
	var names []string
	for k := range env {
		names = append(names, k)
	}
	allow, err := secret.New(secret.Config{Env: strings.Join(names, ","), LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, store: st, clock: newClock(), logs: &testsupport.Buffer{}, reg: prometheus.NewRegistry()}
	if ts, ok := st.(*testStore); ok {
		w.clock = ts.clock
	}
	cfg := Config{
		Store: st, Secrets: allow, Now: w.clock.Now, Registerer: w.reg,
		Logger:    slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PublicURL: "https://activity.example.com/", TemporalUIURL: "https://temporal.example.com", Namespace: "prod",
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if w.n, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return w
}

// enqueue adds a notification due now for target.
func (w *world) enqueue(id, def, event string, target definition.NotifyTarget, m Message) store.Notification {
	w.t.Helper()
	spec, _ := json.Marshal(target)
	m.Event, m.DefinitionID = cmp.Or(m.Event, event), cmp.Or(m.DefinitionID, def)
	if m.At.IsZero() {
		m.At = w.clock.Now()
	}
	body, _ := json.Marshal(m)
	now := w.clock.Now()
	nt := store.Notification{
		ID: id, DefinitionID: def, RunID: m.RunID, Event: event, Target: targetKey(target), TargetSpec: spec, Message: body,
		Status: store.NotificationPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
	}
	if _, err := w.store.EnqueueNotifications(context.Background(), nt); err != nil {
		w.t.Fatal(err)
	}
	return nt
}

// targetKey is the grouping key the detector stores, with no secret in
// it: a literal URL (a Slack URL holds its token) shows as its host and a
// hash.
func targetKey(t definition.NotifyTarget) string {
	switch t.Kind {
	case definition.TargetEmail:
		return "email:" + strings.Join(t.To, ",")
	case definition.TargetNATS:
		return "nats:" + t.Subject
	}
	if strings.HasPrefix(t.URL, "${") {
		return t.Kind + ":" + t.URL
	}
	sum := sha256.Sum256([]byte(t.URL))
	u, _ := url.Parse(t.URL)
	return t.Kind + ":" + u.Scheme + "://" + u.Host + "/…#" + hex.EncodeToString(sum[:6])
}

func (w *world) deliver() {
	w.t.Helper()
	if err := w.n.Deliver(context.Background()); err != nil {
		w.t.Fatalf("Deliver: %v", err)
	}
}

// row reads one notification back from the store.
func (w *world) row(id string) store.Notification {
	w.t.Helper()
	for _, nt := range w.rows() {
		if nt.ID == id {
			return nt
		}
	}
	w.t.Fatalf("no notification %s", id)
	return store.Notification{}
}

func (w *world) rows() []store.Notification {
	w.t.Helper()
	ns, err := w.store.ListNotifications(context.Background(), store.NotificationFilter{Limit: store.NotificationLimitMax})
	if err != nil {
		w.t.Fatal(err)
	}
	return ns
}

func (w *world) timeline(def string) []store.TimelineEntry {
	w.t.Helper()
	es, err := w.store.ListTimeline(context.Background(), store.TimelineFilter{DefinitionID: def})
	if err != nil {
		w.t.Fatal(err)
	}
	return es
}

// metric reads activity_notifications_total{target_kind,result}.
func (w *world) metric(kind, result string) float64 {
	w.t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "activity_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["target_kind"] == kind && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// gauge reads a gauge without labels.
func (w *world) gauge(name string) float64 {
	w.t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	w.t.Fatalf("no gauge %s", name)
	return 0
}
