package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// The conformance tests of store.AlertStore (docs/alerting.md).

func testLeaseExclusive(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	a, b := e.s, e.open() // two processes' stores
	const ttl = time.Hour
	if ok, err := a.AcquireLease(c, "detector", "a", ttl); err != nil || !ok {
		t.Fatalf("first AcquireLease = %v, %v; want true", ok, err)
	}
	if ok, err := b.AcquireLease(c, "detector", "b", ttl); err != nil || ok {
		t.Errorf("AcquireLease of a held lease = %v, %v; want false", ok, err)
	}
	if ok, err := a.AcquireLease(c, "detector", "a", ttl); err != nil || !ok {
		t.Errorf("renewal by the holder = %v, %v; want true", ok, err)
	}
	// Another name is another lease.
	if ok, err := b.AcquireLease(c, "other", "b", ttl); err != nil || !ok {
		t.Errorf("AcquireLease of another name = %v, %v; want true", ok, err)
	}
	// Releasing by someone else does nothing; by the holder frees it.
	if err := b.ReleaseLease(c, "detector", "b"); err != nil {
		t.Fatalf("ReleaseLease by a non-holder: %v", err)
	}
	if ok, _ := b.AcquireLease(c, "detector", "b", ttl); ok {
		t.Error("a non-holder's release freed the lease")
	}
	if err := a.ReleaseLease(c, "detector", "a"); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if ok, err := b.AcquireLease(c, "detector", "b", ttl); err != nil || !ok {
		t.Errorf("AcquireLease after release = %v, %v; want true", ok, err)
	}
	if err := a.ReleaseLease(c, "never-taken", "a"); err != nil {
		t.Errorf("releasing a lease never taken: %v", err)
	}
	for _, bad := range []struct {
		name, holder string
		ttl          time.Duration
	}{{"", "a", ttl}, {"x", "", ttl}, {"x", "a", 0}, {"x", "a", -time.Second}} {
		if _, err := a.AcquireLease(c, bad.name, bad.holder, bad.ttl); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AcquireLease(%q, %q, %s): %v, want ErrInvalid", bad.name, bad.holder, bad.ttl, err)
		}
	}
}

func testLeaseExpiry(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	a, b := e.s, e.open()
	if ok, err := a.AcquireLease(c, "detector", "a", 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("AcquireLease = %v, %v", ok, err)
	}
	// The lease expires by the database's clock: b gets it then, and a
	// no longer holds it (its renewal fails while b's lease runs).
	within(t, 30*time.Second, "b takes the expired lease", func() bool {
		ok, err := b.AcquireLease(c, "detector", "b", time.Hour)
		if err != nil {
			t.Fatalf("AcquireLease(b): %v", err)
		}
		return ok
	})
	if ok, err := a.AcquireLease(c, "detector", "a", time.Hour); err != nil || ok {
		t.Errorf("the former holder renewed a lease b holds: %v, %v", ok, err)
	}
}

func testLeaseContended(t *testing.T, d Driver) {
	e := setup(t, d)
	stores := []store.Store{e.s, e.open()}
	const holders, rounds = 6, 10
	// Each round, every holder tries at once; exactly one wins, and the
	// winner releases for the next round.
	for round := range rounds {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		for h := range holders {
			wg.Go(func() {
				name := fmt.Sprintf("h%d", h)
				ok, err := stores[h%len(stores)].AcquireLease(ctx(t), "detector", name, time.Hour)
				if err != nil {
					t.Errorf("round %d, %s: %v", round, name, err)
					return
				}
				if ok {
					mu.Lock()
					winners = append(winners, name)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: winners %v, want exactly one", round, winners)
		}
		if err := e.s.ReleaseLease(ctx(t), "detector", winners[0]); err != nil {
			t.Fatal(err)
		}
	}
}

// notification is an outbox row for definition def.
func notification(id, def string, next time.Time) store.Notification {
	return store.Notification{ID: id, DefinitionID: def, RunID: "run-" + id, Event: "failed",
		Target:        "slack:${env:SLACK_OPS_URL}",
		TargetSpec:    json.RawMessage(`{"kind": "slack", "url": "${env:SLACK_OPS_URL}"}`),
		Message:       json.RawMessage(`{"definition": "` + def + `", "status": "failed", "reason": "exit 3 ⚠"}`),
		NextAttemptAt: next}
}

func notificationIDs(ns []store.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func testOutbox(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	zone := time.FixedZone("CET", 3600)
	base := time.Date(2026, 12, 1, 10, 0, 0, 123456789, zone)
	n1 := notification("ex.a|failed|r1|slack", "ex.a", base.Add(2*time.Minute))
	n2 := notification("ex.b|failed|r2|slack", "ex.b", base)
	n3 := notification("ex.a|missed|r3|slack", "ex.a", base.Add(time.Minute))
	later := notification("ex.c|stale|1|slack", "ex.c", base.Add(time.Hour))
	before := time.Now().UTC().Add(-time.Second)
	if got, err := e.s.EnqueueNotifications(c, n1, n2, n3, later); err != nil || got != 4 {
		t.Fatalf("EnqueueNotifications = %d, %v; want 4 new", got, err)
	}
	// Enqueueing the same problem again (and one new) adds only the new.
	n4 := notification("ex.b|recovered|r4|slack", "ex.b", time.Time{}) // zero: due now
	if got, err := e.s.EnqueueNotifications(c, n1, n2, n4, n4); err != nil || got != 1 {
		t.Errorf("enqueueing again = %d, %v; want 1 new", got, err)
	}

	// Due: pending, next attempt not after now, by next attempt.
	due, err := e.s.DueNotifications(c, base.Add(2*time.Minute), 10)
	if err != nil {
		t.Fatalf("DueNotifications: %v", err)
	}
	if got, want := notificationIDs(due), []string{n2.ID, n3.ID, n1.ID}; !slices.Equal(got, want) {
		t.Errorf("due at +2m = %v, want %v (n4 is due from its enqueue time, now)", got, want)
	}
	if due, _ := e.s.DueNotifications(c, base.Add(2*time.Minute), 2); len(due) != 2 {
		t.Errorf("due with limit 2: %d", len(due))
	}
	got := due[0]
	if got.Status != store.NotificationPending || got.Attempts != 0 || !got.NextAttemptAt.Equal(base.Truncate(time.Microsecond)) ||
		got.NextAttemptAt.Location() != time.UTC || got.CreatedAt.Before(before) || !got.UpdatedAt.Equal(got.CreatedAt) ||
		string(got.Message) != string(n2.Message) || string(got.TargetSpec) != string(n2.TargetSpec) || got.SentAt != nil ||
		got.RunID != n2.RunID || got.Event != "failed" || got.Target != n2.Target {
		t.Errorf("due notification as stored = %+v", got)
	}
	if due, _ := e.s.DueNotifications(c, time.Now().Add(2*time.Hour), 10); !slices.Contains(notificationIDs(due), n4.ID) {
		t.Errorf("a notification enqueued with a zero next attempt is not due: %v", notificationIDs(due))
	}

	// Delivery results.
	sent := base.Add(3 * time.Minute).UTC().Truncate(time.Microsecond)
	got.Status, got.Attempts, got.SentAt, got.GroupID = store.NotificationSent, 1, &sent, "grp-1"
	retry := due[1]
	retry.Attempts, retry.NextAttemptAt, retry.LastError = 1, base.Add(time.Hour), "502 Bad Gateway"
	if err := e.s.UpdateNotifications(c, got, retry); err != nil {
		t.Fatalf("UpdateNotifications: %v", err)
	}
	if due, _ := e.s.DueNotifications(c, base.Add(2*time.Minute), 10); !slices.Equal(notificationIDs(due), []string{n1.ID}) {
		t.Errorf("due after delivery = %v, want only %s", notificationIDs(due), n1.ID)
	}
	l, err := e.s.ListNotifications(c, store.NotificationFilter{DefinitionID: "ex.b", Status: store.NotificationSent})
	if err != nil || len(l) != 1 || l[0].ID != n2.ID || !l[0].SentAt.Equal(sent) || l[0].GroupID != "grp-1" || l[0].Attempts != 1 {
		t.Errorf("sent notifications of ex.b = %+v, %v", l, err)
	}
	if l, _ := e.s.ListNotifications(c, store.NotificationFilter{RunID: retry.RunID}); len(l) != 1 ||
		l[0].LastError != "502 Bad Gateway" || !l[0].NextAttemptAt.Equal(base.Add(time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("notifications of run %s = %+v", retry.RunID, l)
	}
	missing := notification("nope", "ex.a", base)
	missing.Status = store.NotificationSent
	if err := e.s.UpdateNotifications(c, got, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("updating an unknown notification: %v, want ErrNotFound", err)
	}
}

func testOutboxList(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	for i := range 5 {
		def := []string{"ex.a", "ex.b"}[i%2]
		if _, err := e.s.EnqueueNotifications(c, notification(fmt.Sprintf("n%d", i), def, time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	all, err := e.s.ListNotifications(c, store.NotificationFilter{})
	if err != nil || !slices.Equal(notificationIDs(all), []string{"n4", "n3", "n2", "n1", "n0"}) {
		t.Errorf("ListNotifications = %v, %v; want newest first", notificationIDs(all), err)
	}
	if l, _ := e.s.ListNotifications(c, store.NotificationFilter{DefinitionID: "ex.a", Limit: 2}); !slices.Equal(notificationIDs(l), []string{"n4", "n2"}) {
		t.Errorf("ex.a, limit 2 = %v", notificationIDs(l))
	}
	if l, _ := e.s.ListNotifications(c, store.NotificationFilter{Status: store.NotificationFailed}); len(l) != 0 {
		t.Errorf("failed = %v", notificationIDs(l))
	}
	if _, err := e.s.ListNotifications(c, store.NotificationFilter{Status: "lost"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unknown status filter: %v, want ErrInvalid", err)
	}
	// Invalid input fails the whole batch and writes nothing.
	for name, mod := range map[string]func(*store.Notification){
		"no id":          func(n *store.Notification) { n.ID = "" },
		"no definition":  func(n *store.Notification) { n.DefinitionID = "" },
		"no target":      func(n *store.Notification) { n.Target = "" },
		"no event":       func(n *store.Notification) { n.Event = "" },
		"bad message":    func(n *store.Notification) { n.Message = json.RawMessage(`{"a":`) },
		"no target spec": func(n *store.Notification) { n.TargetSpec = nil },
		"bad status":     func(n *store.Notification) { n.Status = "lost" },
	} {
		bad := notification("bad", "ex.a", time.Time{})
		mod(&bad)
		if n, err := e.s.EnqueueNotifications(c, notification("good", "ex.a", time.Time{}), bad); !errors.Is(err, store.ErrInvalid) || n != 0 {
			t.Errorf("%s: %d, %v; want ErrInvalid", name, n, err)
		}
	}
	if l, _ := e.s.ListNotifications(c, store.NotificationFilter{}); len(l) != 5 {
		t.Errorf("an invalid batch wrote: %v", notificationIDs(l))
	}
}

// timeline lists a definition's whole timeline.
func (e *env) timeline(id string) []store.TimelineEntry {
	e.t.Helper()
	es, err := e.s.ListTimeline(ctx(e.t), store.TimelineFilter{DefinitionID: id})
	if err != nil {
		e.t.Fatalf("ListTimeline(%s): %v", id, err)
	}
	return es
}

// kinds is "kind: summary" of each entry.
func kinds(es []store.TimelineEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Kind+": "+e.Summary)
	}
	return out
}

func testTimelineAutomatic(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	e.upsert(def("ex.a", "h1"), def("ex.b", "h1"))
	e.upsert(def("ex.a", "h1"))                                                             // unchanged: nothing
	e.upsert(def("ex.a", "h2"))                                                             // v2
	if _, err := e.s.MarkDefinitionsRemoved(c, "/srv/defs", []string{"ex.b"}); err != nil { // ex.a removed
		t.Fatal(err)
	}
	e.upsert(def("ex.a", "h2")) // restored, same content
	if _, err := e.s.MarkDefinitionsRemoved(c, "/srv/defs", []string{"ex.b"}); err != nil {
		t.Fatal(err)
	}
	e.upsert(def("ex.a", "h3")) // restored with new content: v3
	until := time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)
	if _, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.a", Note: "disk full", Until: &until}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.ClearOperatorPause(c, "ex.a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.a",
		Note: "auto-paused after 3 consecutive failures; last run r9", By: "auto-pause"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"version: v1 stored: new definition",
		"version: v2 stored (was v1)",
		"removed: removed: no longer in /srv/defs/ex.a.yaml",
		"restored: restored at v2: found again in /srv/defs/ex.a.yaml",
		"removed: removed: no longer in /srv/defs/ex.a.yaml",
		"restored: restored at v3: found again in /srv/defs/ex.a.yaml",
		"version: v3 stored (was v2)",
		"paused: paused by operator: disk full (until 2026-12-24T00:00:00Z)",
		"resumed: resumed (was paused by operator: disk full)",
		"paused: paused by auto-pause: auto-paused after 3 consecutive failures; last run r9 (until resumed)",
	}
	got := e.timeline("ex.a")
	if !slices.Equal(kinds(got), want) {
		t.Errorf("timeline of ex.a:\n %s\nwant\n %s", strings.Join(kinds(got), "\n "), strings.Join(want, "\n "))
	}
	actors := map[string]string{}
	for _, te := range got {
		if te.ID == 0 || te.At.IsZero() || te.At.Location() != time.UTC || te.DefinitionID != "ex.a" {
			t.Errorf("entry %+v", te)
		}
		actors[te.Kind] = te.Actor
	}
	if want := map[string]string{"version": "sync", "removed": "sync", "restored": "sync", "paused": "auto-pause",
		"resumed": "operator"}; !reflect.DeepEqual(actors, want) {
		t.Errorf("actors by kind = %v, want %v", actors, want)
	}
	if len(got) > 1 && string(got[1].Detail) != `{"previous":1,"version":2}` {
		t.Errorf("detail of a version entry = %s", got[1].Detail)
	}
	if b := e.timeline("ex.b"); !slices.Equal(kinds(b), []string{"version: v1 stored: new definition"}) {
		t.Errorf("timeline of ex.b = %v", kinds(b))
	}
	// A failed operation appends nothing.
	if err := e.s.ClearOperatorPause(c, "ex.b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("clearing no pause: %v", err)
	}
	if _, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.missing"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pausing an unknown definition: %v", err)
	}
	if len(e.timeline("ex.b")) != 1 || len(e.timeline("ex.missing")) != 0 {
		t.Error("a failed pause or resume left a timeline entry")
	}
}

func testTimelineList(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	entry := func(def string, minute int, summary string) store.TimelineEntry {
		return store.TimelineEntry{DefinitionID: def, At: base.Add(time.Duration(minute) * time.Minute),
			Kind: store.TimelineProblem, Summary: summary, Actor: "detector", RunID: "run-" + summary,
			Detail: json.RawMessage(`{"kind": "failing", "since": "2026-12-01T10:00:00Z", "reason": "exit 3"}`)}
	}
	// Out of order, and two at the same instant (kept in append order).
	if err := e.s.AppendTimeline(c, entry("ex.a", 5, "e5"), entry("ex.a", 1, "e1"), entry("ex.b", 2, "b2"),
		entry("ex.a", 3, "e3a"), entry("ex.a", 3, "e3b")); err != nil {
		t.Fatalf("AppendTimeline: %v", err)
	}
	summaries := func(f store.TimelineFilter) []string {
		t.Helper()
		es, err := e.s.ListTimeline(c, f)
		if err != nil {
			t.Fatalf("ListTimeline(%+v): %v", f, err)
		}
		var out []string
		for _, te := range es {
			out = append(out, te.Summary)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.TimelineFilter
		want []string
	}{
		{store.TimelineFilter{DefinitionID: "ex.a"}, []string{"e1", "e3a", "e3b", "e5"}},
		{store.TimelineFilter{DefinitionID: "ex.a", Since: base.Add(3 * time.Minute)}, []string{"e3a", "e3b", "e5"}},
		{store.TimelineFilter{DefinitionID: "ex.a", Until: base.Add(5 * time.Minute)}, []string{"e1", "e3a", "e3b"}},
		{store.TimelineFilter{DefinitionID: "ex.a", Since: base.Add(2 * time.Minute), Until: base.Add(4 * time.Minute)}, []string{"e3a", "e3b"}},
		{store.TimelineFilter{DefinitionID: "ex.a", Limit: 2}, []string{"e1", "e3a"}},
		{store.TimelineFilter{DefinitionID: "ex.b"}, []string{"b2"}},
		{store.TimelineFilter{DefinitionID: "ex.none"}, nil},
	} {
		if got := summaries(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("ListTimeline(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	es := e.timeline("ex.b")
	want := entry("ex.b", 2, "b2")
	want.ID = es[0].ID
	if !reflect.DeepEqual(es[0], want) {
		t.Errorf("entry as stored = %+v, want %+v", es[0], want)
	}
	// A zero At is now.
	before := time.Now().UTC().Add(-time.Second)
	if err := e.s.AppendTimeline(c, store.TimelineEntry{DefinitionID: "ex.c", Kind: store.TimelineNotification,
		Summary: "sent to slack", Actor: "notifier"}); err != nil {
		t.Fatal(err)
	}
	if es := e.timeline("ex.c"); len(es) != 1 || es[0].At.Before(before) || es[0].Detail != nil {
		t.Errorf("entry with a zero At = %+v", es)
	}
	for name, bad := range map[string]store.TimelineEntry{
		"no definition": {Kind: store.TimelineProblem},
		"unknown kind":  {DefinitionID: "ex.a", Kind: "exploded"},
		"bad detail":    {DefinitionID: "ex.a", Kind: store.TimelineProblem, Detail: json.RawMessage(`{`)},
	} {
		if err := e.s.AppendTimeline(c, entry("ex.a", 9, "good"), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if got := summaries(store.TimelineFilter{DefinitionID: "ex.a"}); len(got) != 4 {
		t.Errorf("an invalid batch wrote: %v", got)
	}
	if _, err := e.s.ListTimeline(c, store.TimelineFilter{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ListTimeline without a definition: %v, want ErrInvalid", err)
	}
}

func testHealth(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	if hs, err := e.s.ListHealth(c); err != nil || len(hs) != 0 {
		t.Fatalf("ListHealth of a new store = %+v, %v", hs, err)
	}
	zone := time.FixedZone("CET", 3600)
	since := time.Date(2026, 12, 1, 10, 0, 0, 123456789, zone)
	success, checked := since.Add(-26*time.Hour), since.Add(time.Minute)
	b := store.DefinitionHealth{DefinitionID: "ex.b", State: store.HealthMissed,
		Problems: []store.Problem{
			{Kind: store.HealthMissed, Since: since, Reason: "no worker polling task queue activity-core ⚠", RunID: "missed-ex.b-1", Notified: true},
			{Kind: store.HealthStale, Since: since.Add(-time.Hour), Reason: "no success for 26h"},
		},
		ConsecutiveFailures: 0, LastSuccessAt: &success, MissedTotal: 7, CheckedThrough: &checked,
		UpdatedAt: since.Add(time.Second)}
	a := store.DefinitionHealth{DefinitionID: "ex.a", State: store.HealthOK}
	before := time.Now().UTC().Add(-time.Second)
	if err := e.s.PutHealth(c, b, a); err != nil {
		t.Fatalf("PutHealth: %v", err)
	}
	hs, err := e.s.ListHealth(c)
	if err != nil || len(hs) != 2 {
		t.Fatalf("ListHealth = %+v, %v", hs, err)
	}
	if hs[0].DefinitionID != "ex.a" || hs[0].Problems != nil || hs[0].UpdatedAt.Before(before) || hs[0].LastSuccessAt != nil {
		t.Errorf("health of ex.a (zero UpdatedAt is now) = %+v", hs[0])
	}
	want := b
	want.Problems = []store.Problem{b.Problems[0], b.Problems[1]}
	for i := range want.Problems {
		want.Problems[i].Since = want.Problems[i].Since.UTC().Truncate(time.Microsecond)
	}
	want.LastSuccessAt, want.CheckedThrough = micro(b.LastSuccessAt), micro(b.CheckedThrough)
	want.UpdatedAt = b.UpdatedAt.UTC().Truncate(time.Microsecond)
	if !reflect.DeepEqual(hs[1], want) {
		t.Errorf("health of ex.b:\n %+v\nwant\n %+v", hs[1], want)
	}
	// Put replaces the whole row.
	failure := since.Add(time.Hour)
	b2 := store.DefinitionHealth{DefinitionID: "ex.b", State: store.HealthFailing, ConsecutiveFailures: 3,
		LastFailureAt: &failure, Problems: []store.Problem{{Kind: store.HealthFailing, Since: failure, Reason: "exit 3"}},
		UpdatedAt: failure}
	if err := e.s.PutHealth(c, b2); err != nil {
		t.Fatal(err)
	}
	if hs, err := e.s.ListHealth(c, "nope", "ex.b"); err != nil || len(hs) != 1 || hs[0].DefinitionID != "ex.b" {
		t.Errorf("ListHealth of one unknown and one known id = %+v, %v, want ex.b", hs, err)
	}
	hs, _ = e.s.ListHealth(c)
	if len(hs) != 2 || hs[1].State != store.HealthFailing || hs[1].MissedTotal != 0 || hs[1].LastSuccessAt != nil ||
		len(hs[1].Problems) != 1 || hs[1].ConsecutiveFailures != 3 || !hs[1].LastFailureAt.Equal(*micro(&failure)) {
		t.Errorf("after replacing, health of ex.b = %+v", hs[1])
	}
	for name, bad := range map[string]store.DefinitionHealth{
		"no definition":    {State: store.HealthOK},
		"unknown state":    {DefinitionID: "ex.c", State: "sad"},
		"ok problem":       {DefinitionID: "ex.c", State: store.HealthOK, Problems: []store.Problem{{Kind: store.HealthOK}}},
		"negative count":   {DefinitionID: "ex.c", State: store.HealthOK, MissedTotal: -1},
		"unknown problem":  {DefinitionID: "ex.c", State: store.HealthFailing, Problems: []store.Problem{{Kind: "gone"}}},
		"negative failure": {DefinitionID: "ex.c", State: store.HealthOK, ConsecutiveFailures: -2},
	} {
		if err := e.s.PutHealth(c, store.DefinitionHealth{DefinitionID: "ex.d", State: store.HealthOK}, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if hs, _ := e.s.ListHealth(c); len(hs) != 2 {
		t.Errorf("an invalid batch wrote: %+v", hs)
	}
}

func testRunsUpdatedSince(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	var want []string
	for i := range 7 {
		r := e.createRun(run(fmt.Sprintf("run-%d", i), "ex.a", store.RunRunning))
		want = append(want, r.ID)
	}
	// Updating runs moves them to the end of the feed.
	for _, id := range []string{"run-1", "run-4"} {
		r, _ := e.s.GetRun(c, id)
		r.Status = store.RunSucceeded
		r.Stdout = "output is not in the feed"
		if _, err := e.s.UpdateRun(c, r); err != nil {
			t.Fatal(err)
		}
		want = append(slices.DeleteFunc(want, func(s string) bool { return s == id }), id)
	}
	feed := func(limit int) ([]string, int) {
		t.Helper()
		var got []string
		var since time.Time
		var after string
		calls := 0
		for {
			calls++
			rs, err := e.s.ListRunsUpdatedSince(c, since, after, limit)
			if err != nil {
				t.Fatalf("ListRunsUpdatedSince: %v", err)
			}
			if len(rs) == 0 {
				return got, calls
			}
			for _, r := range rs {
				if r.Stdout != "" {
					t.Errorf("run %s in the feed has its output", r.ID)
				}
				got = append(got, r.ID)
			}
			last := rs[len(rs)-1]
			since, after = last.UpdatedAt, last.ID
			if calls > 20 {
				t.Fatal("the feed does not end")
			}
		}
	}
	for _, limit := range []int{1, 3, 100} {
		if got, _ := feed(limit); !slices.Equal(got, want) {
			t.Errorf("feed by %d = %v, want %v (each run once, by update)", limit, got, want)
		}
	}
	// Runs sharing an update time are told apart by ID.
	rs, _ := e.s.ListRunsUpdatedSince(c, time.Time{}, "", 0)
	if len(rs) != 7 {
		t.Errorf("the whole feed = %d runs", len(rs))
	}
	last := rs[len(rs)-1]
	if more, _ := e.s.ListRunsUpdatedSince(c, last.UpdatedAt, last.ID, 10); len(more) != 0 {
		t.Errorf("after the last run: %v", runIDs(more))
	}
	if more, _ := e.s.ListRunsUpdatedSince(c, last.UpdatedAt, "", 10); len(more) != 1 || more[0].ID != last.ID {
		t.Errorf("from the last run's time with no ID: %v", runIDs(more))
	}
}

func testScheduledRunTimes(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(minute int) *time.Time {
		t := base.Add(time.Duration(minute) * time.Minute)
		return &t
	}
	for i, tc := range []struct {
		def    string
		minute int
		status store.RunStatus
	}{
		{"ex.a", 0, store.RunSucceeded}, {"ex.a", 1, store.RunMissed}, {"ex.a", 2, store.RunFailed},
		{"ex.a", 2, store.RunSkipped}, // two runs of one fire: one time
		{"ex.b", 1, store.RunRunning}, {"ex.b", 5, store.RunSucceeded}, {"ex.c", -1, store.RunSucceeded},
	} {
		r := run(fmt.Sprintf("run-%d", i), tc.def, tc.status)
		r.ScheduledAt = at(tc.minute)
		e.createRun(r)
	}
	e.createRun(run("manual", "ex.a", store.RunSucceeded)) // no ScheduledAt
	got, err := e.s.ScheduledRunTimes(c, base, *at(2))
	if err != nil {
		t.Fatalf("ScheduledRunTimes: %v", err)
	}
	// The missed record at 1m is not a run of that fire.
	want := map[string][]time.Time{"ex.a": {*at(0), *at(2)}, "ex.b": {*at(1)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ScheduledRunTimes([0m, 2m]) = %v, want %v", got, want)
	}
	if got, _ := e.s.ScheduledRunTimes(c, base.Add(time.Hour), base.Add(2*time.Hour)); len(got) != 0 {
		t.Errorf("an empty window = %v", got)
	}
}

func testLastSuccesses(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	if got, err := e.s.LastSuccesses(c); err != nil || len(got) != 0 {
		t.Fatalf("LastSuccesses of a new store = %v, %v", got, err)
	}
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	for i, tc := range []struct {
		def    string
		hour   int
		status store.RunStatus
	}{
		{"ex.a", 1, store.RunSucceeded}, {"ex.a", 3, store.RunSucceeded}, {"ex.a", 4, store.RunFailed},
		{"ex.b", 2, store.RunSucceeded}, {"ex.c", 5, store.RunFailed}, {"ex.d", 6, store.RunMissed},
	} {
		r := run(fmt.Sprintf("run-%d", i), tc.def, tc.status)
		f := base.Add(time.Duration(tc.hour) * time.Hour)
		r.FinishedAt = &f
		e.createRun(r)
	}
	e.createRun(run("running", "ex.c", store.RunSucceeded)) // no FinishedAt: not a time
	got, err := e.s.LastSuccesses(c)
	want := map[string]time.Time{"ex.a": base.Add(3 * time.Hour).UTC(), "ex.b": base.Add(2 * time.Hour).UTC()}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("LastSuccesses = %v, %v; want %v", got, err, want)
	}
}

func testMissedRun(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	fire := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := store.Run{ID: "missed-ex.a-1796119200", DefinitionID: "ex.a", Trigger: store.RunTriggerCron,
		Status: store.RunMissed, ScheduledAt: &fire, SkipReason: "no worker polling task queue activity-core",
		TriggerDetail: json.RawMessage(`{"first":"2026-12-01T10:00:00Z","last":"2026-12-01T10:00:00Z","count":1}`)}
	created := e.createRun(r)
	if got, err := e.s.GetRun(c, r.ID); err != nil || !reflect.DeepEqual(got, created) || got.Status != store.RunMissed {
		t.Errorf("GetRun of a missed run = %+v, %v", got, err)
	}
	// Consecutive misses update the one record; it stays missed.
	r.TriggerDetail = json.RawMessage(`{"first":"2026-12-01T10:00:00Z","last":"2026-12-01T10:05:00Z","count":6}`)
	if _, err := e.s.UpdateRun(c, r); err != nil {
		t.Errorf("updating a missed run, same status: %v", err)
	}
	r.Status = store.RunRunning
	if _, err := e.s.UpdateRun(c, r); !errors.Is(err, store.ErrConflict) {
		t.Errorf("moving a missed run to running: %v, want ErrConflict (missed is terminal)", err)
	}
	if page, err := e.s.ListRuns(c, store.RunFilter{Status: store.RunMissed}); err != nil || len(page.Runs) != 1 ||
		string(page.Runs[0].TriggerDetail) != `{"first":"2026-12-01T10:00:00Z","last":"2026-12-01T10:05:00Z","count":6}` {
		t.Errorf("ListRuns(missed) = %+v, %v", page, err)
	}
}

func testCorruptAlerting(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	if err := e.s.PutHealth(c, store.DefinitionHealth{DefinitionID: "ex.a", State: store.HealthOK},
		store.DefinitionHealth{DefinitionID: "ex.bad", State: store.HealthOK},
		store.DefinitionHealth{DefinitionID: "ex.z", State: store.HealthOK}); err != nil {
		t.Fatal(err)
	}
	e.mustExec(`UPDATE definition_health SET state = 'exploded' WHERE definition_id = 'ex.bad'`)
	if hs, err := e.s.ListHealth(c); err != nil || len(hs) != 2 || hs[0].DefinitionID != "ex.a" || hs[1].DefinitionID != "ex.z" {
		t.Errorf("ListHealth with a corrupt row = %+v, %v", hs, err)
	}
	e.wantReported("ex.bad")
	e.mustExec(`UPDATE definition_health SET state = 'ok', problems = '[{"kind": "gone"}]' WHERE definition_id = 'ex.bad'`)
	if hs, _ := e.s.ListHealth(c); len(hs) != 2 {
		t.Errorf("ListHealth with a corrupt problem = %+v", hs)
	}

	if err := e.s.AppendTimeline(c,
		store.TimelineEntry{DefinitionID: "ex.t", Kind: store.TimelineProblem, Summary: "good 1"},
		store.TimelineEntry{DefinitionID: "ex.t", Kind: store.TimelineProblem, Summary: "bad"},
		store.TimelineEntry{DefinitionID: "ex.t", Kind: store.TimelineRecovered, Summary: "good 2"}); err != nil {
		t.Fatal(err)
	}
	e.mustExec(`UPDATE timeline_entries SET kind = 'exploded' WHERE summary = 'bad'`)
	if es := e.timeline("ex.t"); !slices.Equal(kinds(es), []string{"problem: good 1", "recovered: good 2"}) {
		t.Errorf("timeline with a corrupt row = %v", kinds(es))
	}
	e.wantReported("timeline_entries")

	if _, err := e.s.EnqueueNotifications(c, notification("n.good", "ex.a", time.Time{}),
		notification("n.bad", "ex.a", time.Time{})); err != nil {
		t.Fatal(err)
	}
	e.mustExec(`UPDATE notifications SET status = 'lost' WHERE id = 'n.bad'`)
	if l, err := e.s.ListNotifications(c, store.NotificationFilter{}); err != nil || !slices.Equal(notificationIDs(l), []string{"n.good"}) {
		t.Errorf("ListNotifications with a corrupt row = %v, %v", notificationIDs(l), err)
	}
	e.wantReported("n.bad")
	e.mustExec(`UPDATE notifications SET status = 'pending' WHERE id = 'n.bad'`)
	if e.corruptOrSkip(`UPDATE notifications SET message = '{"half": ' WHERE id = 'n.bad'`) {
		if due, err := e.s.DueNotifications(c, time.Now().Add(time.Hour), 10); err != nil || !slices.Equal(notificationIDs(due), []string{"n.good"}) {
			t.Errorf("DueNotifications with a corrupt row = %v, %v", notificationIDs(due), err)
		}
	}

	// A corrupt run in the feed is skipped, and the feed goes on past it.
	for i := range 4 {
		e.createRun(run(fmt.Sprintf("run-%d", i), "ex.a", store.RunRunning))
	}
	e.mustExec(`UPDATE runs SET status = 'exploded' WHERE id IN ('run-0', 'run-1')`)
	if rs, err := e.s.ListRunsUpdatedSince(c, time.Time{}, "", 2); err != nil || !slices.Equal(runIDs(rs), []string{"run-2", "run-3"}) {
		t.Errorf("feed by 2 over two corrupt runs = %v, %v; want [run-2 run-3]", runIDs(rs), err)
	}
}

func testPauseBy(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	e.upsert(def("ex.a", "h1"), def("ex.b", "h1"), def("ex.old", "h1"))
	auto, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.a", By: "auto-pause", Note: "auto-paused after 3 consecutive failures; last run r3"})
	if err != nil || auto.By != "auto-pause" {
		t.Fatalf("SetOperatorPause(auto-pause) = %+v, %v", auto, err)
	}
	op, err := e.s.SetOperatorPause(c, store.OperatorPause{DefinitionID: "ex.b"})
	if err != nil || op.By != "operator" {
		t.Fatalf("SetOperatorPause with no By = %+v, %v; want By operator", op, err)
	}
	// A pause written before pauses said who made them reads as the
	// operator's.
	e.mustExec(`INSERT INTO operator_pauses (definition_id, note, paused_at) VALUES ('ex.old', 'old', '2026-11-01T00:00:00.000000Z')`)
	l, err := e.s.ListOperatorPauses(c)
	if err != nil || len(l) != 3 || !reflect.DeepEqual(l[0], auto) || !reflect.DeepEqual(l[1], op) || l[2].By != "operator" {
		t.Errorf("ListOperatorPauses = %+v, %v", l, err)
	}
	if got, err := e.s.GetOperatorPause(c, "ex.a"); err != nil || got.By != "auto-pause" {
		t.Errorf("GetOperatorPause = %+v, %v", got, err)
	}
}
