package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// The run-control conformance tests (docs/run-control.md): the new run
// fields, cancel requests, the audit, sessions and backfills.

// runControlTests are added to Run's list.
var runControlTests = []struct {
	name string
	fn   func(t *testing.T, d Driver)
}{
	{"RunControlFields", testRunControlFields},
	{"RunCancel", testRunCancel},
	{"Audit", testAudit},
	{"AuditPaging", testAuditPaging},
	{"AuditInvalid", testAuditInvalid},
	{"Sessions", testSessions},
	{"SessionsInvalid", testSessionsInvalid},
	{"Backfills", testBackfills},
	{"CorruptRunControl", testCorruptRunControl},
}

func testRunControlFields(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	r := run("run-1", "ex.a", store.RunPending)
	r.Trigger = store.RunTriggerManual
	r.Pool = "state-hub"
	r.Inputs = json.RawMessage(`{"repo":"org/x","depth":3,"wait":"5m0s","mode":"fast"}`)
	created := e.createRun(r)
	if created.Pool != r.Pool || string(created.Inputs) != string(r.Inputs) {
		t.Errorf("CreateRun returned pool %q, inputs %s", created.Pool, created.Inputs)
	}
	page, err := e.s.ListRuns(c, store.RunFilter{})
	if err != nil || len(page.Runs) != 1 || !reflect.DeepEqual(page.Runs[0], created) {
		t.Errorf("ListRuns = %+v, %v;\nwant %+v", page, err, created)
	}
	feed, err := e.s.ListRunsUpdatedSince(c, time.Time{}, "", 0)
	if err != nil || len(feed) != 1 || !reflect.DeepEqual(feed[0], created) {
		t.Errorf("ListRunsUpdatedSince = %+v, %v", feed, err)
	}

	// The engine adopts the pending record and runs it on; the inputs it
	// resolved replace the ones recorded.
	r = created
	r.Status = store.RunRunning
	r.Inputs = json.RawMessage(`{"repo":"org/y"}`)
	updated, err := e.s.UpdateRun(c, r)
	if err != nil {
		t.Fatalf("UpdateRun: %v", err)
	}
	if got, err := e.s.GetRun(c, "run-1"); err != nil || !reflect.DeepEqual(got, updated) || string(got.Inputs) != `{"repo":"org/y"}` {
		t.Errorf("GetRun after UpdateRun = %+v, %v", got, err)
	}

	// A backfill run and one that failed at its inputs are valid runs.
	fire := time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)
	b := run("run-2", "ex.a", store.RunFailed)
	b.Trigger, b.Stage, b.ScheduledAt = store.RunTriggerBackfill, store.StageInputs, &fire
	b.Error = "input depth: want an integer, got \"x\""
	got := e.createRun(b)
	if got.Trigger != store.RunTriggerBackfill || got.Stage != store.StageInputs {
		t.Errorf("backfill run = %+v", got)
	}

	// Free text is stored as PostgreSQL text can hold it.
	n := run("run-3", "ex.a", store.RunRunning)
	n.Pool, n.CanceledBy, n.CancelNote = "a\x00b", "bob\xff", "stop\x00it"
	got = e.createRun(n)
	if got.Pool != "a\uFFFDb" || got.CanceledBy != "bob\uFFFD" || got.CancelNote != "stop\uFFFDit" {
		t.Errorf("free text stored as %q %q %q", got.Pool, got.CanceledBy, got.CancelNote)
	}
}

func testRunCancel(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	r := e.createRun(run("run-1", "ex.a", store.RunRunning))
	if err := e.s.RequestRunCancel(c, "run-1", "alice", "wrong repo\x00"); err != nil {
		t.Fatalf("RequestRunCancel: %v", err)
	}
	got, err := e.s.GetRun(c, "run-1")
	if err != nil || got.Status != store.RunRunning || got.CanceledBy != "alice" || got.CancelNote != "wrong repo\uFFFD" {
		t.Errorf("after RequestRunCancel: %+v, %v", got, err)
	}
	if got.UpdatedAt.Before(r.UpdatedAt) {
		t.Errorf("updated_at went back: %v < %v", got.UpdatedAt, r.UpdatedAt)
	}

	// The engine's updates carry no canceller: they keep the request's.
	r.Status = store.RunCanceled
	r.Error = "canceled by alice: wrong repo"
	done, err := e.s.UpdateRun(c, r)
	if err != nil || done.CanceledBy != "alice" || done.CancelNote != "wrong repo\uFFFD" {
		t.Errorf("UpdateRun without a canceller returned %+v, %v", done, err)
	}
	if got, err := e.s.GetRun(c, "run-1"); err != nil || !reflect.DeepEqual(got, done) {
		t.Errorf("GetRun = %+v, %v;\nwant %+v", got, err, done)
	}

	// A finished run cannot be cancelled and keeps who did.
	err = e.s.RequestRunCancel(c, "run-1", "bob", "too late")
	if !errors.Is(err, store.ErrConflict) || !containsAll(err.Error(), "already", "canceled") {
		t.Errorf("cancelling a canceled run: %v, want ErrConflict saying it is already canceled", err)
	}
	if got, _ := e.s.GetRun(c, "run-1"); got.CanceledBy != "alice" {
		t.Errorf("a refused cancel changed the run: %+v", got)
	}
	e.createRun(run("run-ok", "ex.a", store.RunSucceeded))
	if err := e.s.RequestRunCancel(c, "run-ok", "bob", ""); !errors.Is(err, store.ErrConflict) || !containsAll(err.Error(), "already succeeded") {
		t.Errorf("cancelling a succeeded run: %v", err)
	}

	// A pending run that no worker has begun; a second request replaces
	// the first; an UpdateRun with a canceller sets both fields.
	e.createRun(run("run-2", "ex.a", store.RunPending))
	for _, by := range []string{"alice", "bob"} {
		if err := e.s.RequestRunCancel(c, "run-2", by, by+"'s note"); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := e.s.GetRun(c, "run-2"); got.CanceledBy != "bob" || got.CancelNote != "bob's note" || got.Status != store.RunPending {
		t.Errorf("after two requests: %+v", got)
	}
	r2 := run("run-2", "ex.a", store.RunRunning)
	r2.CanceledBy = "carol"
	if got, err := e.s.UpdateRun(c, r2); err != nil || got.CanceledBy != "carol" || got.CancelNote != "" {
		t.Errorf("UpdateRun with a canceller: %+v, %v", got, err)
	}

	if err := e.s.RequestRunCancel(c, "run-missing", "alice", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cancelling a missing run: %v, want ErrNotFound", err)
	}
	for _, args := range [][2]string{{"", "alice"}, {"run-2", ""}, {"run-2", "a\x00"}} {
		if err := e.s.RequestRunCancel(c, args[0], args[1], ""); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("RequestRunCancel(%q, %q): %v, want ErrInvalid", args[0], args[1], err)
		}
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func auditRec(actor, action, def, runID string) store.AuditRecord {
	return store.AuditRecord{Actor: actor, Role: "operate", Surface: "api", Action: action,
		DefinitionID: def, RunID: runID, Outcome: store.AuditOK}
}

func (e *env) listAudit(f store.AuditFilter) []store.AuditRecord {
	e.t.Helper()
	recs, err := e.s.ListAudit(ctx(e.t), f)
	if err != nil {
		e.t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	return recs
}

func auditIDs(recs []store.AuditRecord) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func testAudit(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	zone := time.FixedZone("UTC-3", -3*3600)
	at := time.Date(2026, 12, 5, 1, 2, 3, 456789999, zone)
	full := store.AuditRecord{At: at, Actor: "alice", Role: "operate", Surface: "ui", Action: store.AuditCancel,
		DefinitionID: "ex.a", RunID: "run-1", Note: "wrong repo", Outcome: store.AuditError,
		Message: "temporal: unavailable", Detail: json.RawMessage(`{"status": "running", "n": [1, 2]}`)}
	before := time.Now().UTC().Add(-time.Second)
	if err := e.s.AppendAudit(c, full, auditRec("bob", store.AuditPause, "ex.b", "")); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if err := e.s.AppendAudit(c); err != nil {
		t.Errorf("AppendAudit of nothing: %v", err)
	}
	recs := e.listAudit(store.AuditFilter{})
	if len(recs) != 2 || recs[0].ID <= recs[1].ID {
		t.Fatalf("ListAudit = %+v, want 2 records newest first", recs)
	}
	want := full
	want.ID, want.At = recs[1].ID, at.UTC().Truncate(time.Microsecond)
	if !reflect.DeepEqual(recs[1], want) {
		t.Errorf("audit record read back\n %+v\nwant\n %+v", recs[1], want)
	}
	if got := recs[0].At; got.Location() != time.UTC || got.Before(before) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("a zero At was stored as %v, want now", got)
	}

	e.mustAppendAudit(auditRec("alice", store.AuditRun, "ex.b", "run-2"), auditRec("carol", store.AuditSync, "", ""),
		auditRec("alice", store.AuditResume, "ex.b", ""))
	all := e.listAudit(store.AuditFilter{})
	if len(all) != 5 {
		t.Fatalf("%d records", len(all))
	}
	byID := func(ids ...int) []int64 {
		var out []int64
		for _, i := range ids {
			out = append(out, all[i].ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.AuditFilter
		want []int64
	}{
		{store.AuditFilter{Actor: "alice"}, byID(0, 2, 4)},
		{store.AuditFilter{Action: store.AuditSync}, byID(1)},
		{store.AuditFilter{DefinitionID: "ex.b"}, byID(0, 2, 3)},
		{store.AuditFilter{RunID: "run-1"}, byID(4)},
		{store.AuditFilter{Actor: "alice", DefinitionID: "ex.b"}, byID(0, 2)},
		{store.AuditFilter{Actor: "alice", BeforeID: all[0].ID}, byID(2, 4)},
		{store.AuditFilter{Actor: "nobody"}, nil},
	} {
		if got := auditIDs(e.listAudit(tc.f)); !slices.Equal(got, tc.want) {
			t.Errorf("ListAudit(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func (e *env) mustAppendAudit(recs ...store.AuditRecord) {
	e.t.Helper()
	if err := e.s.AppendAudit(ctx(e.t), recs...); err != nil {
		e.t.Fatalf("AppendAudit: %v", err)
	}
}

func testAuditPaging(t *testing.T, d Driver) {
	e := setup(t, d)
	var recs []store.AuditRecord
	for i := range store.AuditLimitMax + 5 {
		recs = append(recs, auditRec("actor-"+strconv.Itoa(i%3), store.AuditRun, "ex.a", ""))
	}
	e.mustAppendAudit(recs...)
	if got := e.listAudit(store.AuditFilter{}); len(got) != store.AuditLimitDefault {
		t.Errorf("default page: %d records, want %d", len(got), store.AuditLimitDefault)
	}
	if got := e.listAudit(store.AuditFilter{Limit: 1 << 20}); len(got) != store.AuditLimitMax {
		t.Errorf("huge limit: %d records, want %d", len(got), store.AuditLimitMax)
	}
	// Paging by 7 sees every record of one actor once, newest first, and
	// records appended meanwhile do not shift the pages.
	var seen []int64
	f := store.AuditFilter{Actor: "actor-1", Limit: 7}
	for range 1000 {
		page := e.listAudit(f)
		seen = append(seen, auditIDs(page)...)
		if len(page) < f.Limit {
			break
		}
		if len(seen) == 7 {
			e.mustAppendAudit(auditRec("actor-1", store.AuditRun, "ex.a", ""))
		}
		f.BeforeID = page[len(page)-1].ID
	}
	if len(seen) != (store.AuditLimitMax+5)/3 || !slices.IsSortedFunc(seen, func(a, b int64) int { return int(b - a) }) ||
		len(slices.Compact(slices.Clone(seen))) != len(seen) {
		t.Errorf("paging one actor's %d records by 7 saw %d, sorted newest first: %v", (store.AuditLimitMax+5)/3, len(seen),
			slices.IsSortedFunc(seen, func(a, b int64) int { return int(b - a) }))
	}
}

func testAuditInvalid(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	for name, mutate := range map[string]func(*store.AuditRecord){
		"no actor":        func(a *store.AuditRecord) { a.Actor = "" },
		"no action":       func(a *store.AuditRecord) { a.Action = "" },
		"no outcome":      func(a *store.AuditRecord) { a.Outcome = "" },
		"unknown outcome": func(a *store.AuditRecord) { a.Outcome = "maybe" },
		"bad detail":      func(a *store.AuditRecord) { a.Detail = json.RawMessage(`{"a":`) },
		"bad actor":       func(a *store.AuditRecord) { a.Actor = "al\x00ice" },
	} {
		bad := auditRec("alice", store.AuditRun, "ex.a", "")
		mutate(&bad)
		// One bad record refuses the whole batch.
		if err := e.s.AppendAudit(c, auditRec("bob", store.AuditRun, "", ""), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AppendAudit with %s: %v, want ErrInvalid", name, err)
		}
	}
	if got := e.listAudit(store.AuditFilter{}); len(got) != 0 {
		t.Errorf("refused batches wrote %d records", len(got))
	}
	// Free text is repaired, not refused.
	a := auditRec("alice", store.AuditCancel, "ex.a", "run-1")
	a.Note, a.Message = "n\x00te", "m\xffsg"
	e.mustAppendAudit(a)
	if got := e.listAudit(store.AuditFilter{}); len(got) != 1 || got[0].Note != "n\uFFFDte" || got[0].Message != "m\uFFFDsg" {
		t.Errorf("free text stored as %+v", got)
	}
	for _, f := range []store.AuditFilter{{BeforeID: -1}, {Actor: "a\x00"}, {RunID: "\xff"}} {
		if _, err := e.s.ListAudit(c, f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListAudit(%+v): %v, want ErrInvalid", f, err)
		}
	}
}

func session(idHash string, expires time.Time) store.Session {
	created := expires.Add(-12 * time.Hour)
	return store.Session{IDHash: idHash, Actor: "alice", Role: "operate", CSRF: "csrf-" + idHash,
		CreatedAt: created, LastSeen: created, ExpiresAt: expires}
}

func testSessions(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	now := time.Date(2026, 12, 5, 3, 0, 0, 123456789, time.FixedZone("CET", 3600))
	live := session("sha-live", now.Add(time.Hour))
	live.Flash = "paused ex.a"
	for _, s := range []store.Session{live, session("sha-old", now.Add(-time.Minute)), session("sha-older", now.Add(-time.Hour))} {
		if err := e.s.PutSession(c, s); err != nil {
			t.Fatalf("PutSession: %v", err)
		}
	}
	got, err := e.s.GetSession(c, "sha-live", now)
	want := live
	want.CreatedAt, want.LastSeen, want.ExpiresAt = *micro(&live.CreatedAt), *micro(&live.LastSeen), *micro(&live.ExpiresAt)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("GetSession = %+v, %v;\nwant %+v", got, err, want)
	}
	// Expired sessions are not found, though not yet deleted; a session
	// expiring right now is still valid.
	if _, err := e.s.GetSession(c, "sha-old", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession of an expired session: %v, want ErrNotFound", err)
	}
	if _, err := e.s.GetSession(c, "sha-live", live.ExpiresAt); err != nil {
		t.Errorf("GetSession at its expiry: %v", err)
	}
	if _, err := e.s.GetSession(c, "sha-live", live.ExpiresAt.Add(time.Microsecond)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession just after its expiry: %v, want ErrNotFound", err)
	}
	// A cookie is the caller's input: one that cannot be a key is not found.
	for _, id := range []string{"sha-none", "", "\xff\x00"} {
		if _, err := e.s.GetSession(c, id, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession(%q): %v, want ErrNotFound", id, err)
		}
		if err := e.s.TouchSession(c, id, now, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TouchSession(%q): %v, want ErrNotFound", id, err)
		}
		if err := e.s.DeleteSession(c, id); err != nil {
			t.Errorf("DeleteSession(%q): %v", id, err)
		}
	}

	// Touch moves LastSeen and ExpiresAt only; Put replaces.
	seen, expires := now.Add(time.Minute), now.Add(2*time.Hour)
	if err := e.s.TouchSession(c, "sha-live", seen, expires); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	got, _ = e.s.GetSession(c, "sha-live", now)
	want.LastSeen, want.ExpiresAt = *micro(&seen), *micro(&expires)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after TouchSession: %+v;\nwant %+v", got, want)
	}
	live.Flash = ""
	if err := e.s.PutSession(c, live); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.s.GetSession(c, "sha-live", now); got.Flash != "" || !got.ExpiresAt.Equal(*micro(&live.ExpiresAt)) {
		t.Errorf("PutSession did not replace: %+v", got)
	}

	// A second store on the database (another api replica) sees it.
	if got, err := e.open().GetSession(c, "sha-live", now); err != nil || got.Actor != "alice" {
		t.Errorf("GetSession from a second store: %+v, %v", got, err)
	}

	if n, err := e.s.DeleteExpiredSessions(c, now); err != nil || n != 2 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 2", n, err)
	}
	if n, err := e.s.DeleteExpiredSessions(c, now); err != nil || n != 0 {
		t.Errorf("DeleteExpiredSessions again = %d, %v; want 0", n, err)
	}
	if err := e.s.DeleteSession(c, "sha-live"); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := e.s.GetSession(c, "sha-live", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession after DeleteSession: %v, want ErrNotFound", err)
	}
	if err := e.s.DeleteSession(c, "sha-live"); err != nil {
		t.Errorf("DeleteSession of a missing session: %v", err)
	}
}

func testSessionsInvalid(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	for name, mutate := range map[string]func(*store.Session){
		"no id hash": func(s *store.Session) { s.IDHash = "" },
		"no actor":   func(s *store.Session) { s.Actor = "" },
		"no role":    func(s *store.Session) { s.Role = "" },
		"no expiry":  func(s *store.Session) { s.ExpiresAt = time.Time{} },
		"bad hash":   func(s *store.Session) { s.IDHash = "\xff" },
	} {
		s := session("sha-1", time.Now().Add(time.Hour))
		mutate(&s)
		if err := e.s.PutSession(c, s); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutSession with %s: %v, want ErrInvalid", name, err)
		}
	}
	// Zero creation and last-seen times are now.
	s := session("sha-2", time.Now().Add(time.Hour))
	s.CreatedAt, s.LastSeen, s.Flash = time.Time{}, time.Time{}, "fl\x00sh"
	if err := e.s.PutSession(c, s); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.GetSession(c, "sha-2", time.Now())
	if err != nil || got.CreatedAt.IsZero() || !got.LastSeen.Equal(got.CreatedAt) || got.Flash != "fl\uFFFDsh" {
		t.Errorf("session with zero times = %+v, %v", got, err)
	}
}

func testBackfills(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	from := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Hour)
	asked := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	in := store.Backfill{DefinitionID: "ex.a", From: from.In(time.FixedZone("CET", 3600)), To: to,
		Overlap: "skip", RequestedAt: asked, Actor: "alice"}
	b1, err := e.s.RecordBackfill(c, in)
	if err != nil {
		t.Fatalf("RecordBackfill: %v", err)
	}
	want := in
	want.ID, want.From = b1.ID, from
	if b1.ID == 0 || !reflect.DeepEqual(b1, want) {
		t.Errorf("RecordBackfill = %+v, want %+v", b1, want)
	}
	// A later backfill over the second hour, requested without a time.
	b2, err := e.s.RecordBackfill(c, store.Backfill{DefinitionID: "ex.a", From: from.Add(time.Hour), To: to.Add(time.Hour),
		Overlap: "allow_all", Actor: "bob"})
	if err != nil || b2.ID == b1.ID || b2.RequestedAt.IsZero() {
		t.Fatalf("RecordBackfill = %+v, %v", b2, err)
	}
	later := b2.RequestedAt.Add(time.Minute)

	for _, tc := range []struct {
		name          string
		def           string
		fire, started time.Time
		want          int64 // 0: ErrNotFound
	}{
		{"first fire", "ex.a", from, asked, b1.ID},
		{"inside", "ex.a", from.Add(45 * time.Minute), asked.Add(time.Second), b1.ID},
		{"started before it was asked", "ex.a", from, asked.Add(-time.Second), 0},
		{"before the window", "ex.a", from.Add(-time.Minute), later, 0},
		{"window end is exclusive", "ex.a", to.Add(time.Hour), later, 0},
		{"overlap: the newest wins", "ex.a", from.Add(90 * time.Minute), later, b2.ID},
		{"overlap, before the newer was asked", "ex.a", from.Add(90 * time.Minute), asked, b1.ID},
		{"only in the newer", "ex.a", to, later, b2.ID},
		{"another definition", "ex.b", from, later, 0},
		{"a definition id that cannot be one", "ex.\xff", from, later, 0},
	} {
		got, err := e.s.FindBackfill(c, tc.def, tc.fire, tc.started)
		switch {
		case tc.want == 0 && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: FindBackfill = %+v, %v; want ErrNotFound", tc.name, got, err)
		case tc.want != 0 && (err != nil || got.ID != tc.want):
			t.Errorf("%s: FindBackfill = %+v, %v; want backfill %d", tc.name, got, err, tc.want)
		}
	}
	if got, err := e.s.FindBackfill(c, "ex.a", from, asked); err != nil || !reflect.DeepEqual(got, b1) {
		t.Errorf("FindBackfill returned %+v, %v; want %+v", got, err, b1)
	}

	for name, mutate := range map[string]func(*store.Backfill){
		"no definition": func(b *store.Backfill) { b.DefinitionID = "" },
		"empty window":  func(b *store.Backfill) { b.To = b.From },
		"reversed":      func(b *store.Backfill) { b.From, b.To = b.To, b.From },
		"no start":      func(b *store.Backfill) { b.From = time.Time{} },
	} {
		b := in
		mutate(&b)
		if _, err := e.s.RecordBackfill(c, b); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("RecordBackfill with %s: %v, want ErrInvalid", name, err)
		}
	}
}

func testCorruptRunControl(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	r := run("run-1", "ex.a", store.RunRunning)
	r.Inputs = json.RawMessage(`{}`)
	e.createRun(r)
	if e.corruptOrSkip(`UPDATE runs SET inputs = '{"repo": ' WHERE id = 'run-1'`) {
		_, err := e.s.GetRun(c, "run-1")
		wantCorrupt(t, err, "run-1")
	}

	e.mustAppendAudit(auditRec("alice", store.AuditRun, "", ""), auditRec("bob", store.AuditRun, "", ""),
		auditRec("carol", store.AuditRun, "", ""))
	all := e.listAudit(store.AuditFilter{})
	bad := all[1].ID
	e.mustExec(fmt.Sprintf(`UPDATE audit SET outcome = 'maybe' WHERE id = %d`, bad))
	if got := auditIDs(e.listAudit(store.AuditFilter{})); !slices.Equal(got, []int64{all[0].ID, all[2].ID}) {
		t.Errorf("ListAudit over a corrupt record = %v", got)
	}
	e.wantReported(strconv.FormatInt(bad, 10))

	now := time.Now()
	if err := e.s.PutSession(c, session("sha-bad", now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if e.corruptOrSkip(`UPDATE sessions SET created_at = 'last tuesday' WHERE id_hash = 'sha-bad'`) {
		_, err := e.s.GetSession(c, "sha-bad", now)
		wantCorrupt(t, err, "sha-bad")
	}

	// A corrupt backfill does not hide an older good one.
	from := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	old, err := e.s.RecordBackfill(c, store.Backfill{DefinitionID: "ex.a", From: from, To: from.Add(time.Hour), RequestedAt: from.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	newer, err := e.s.RecordBackfill(c, store.Backfill{DefinitionID: "ex.a", From: from, To: from.Add(time.Hour), RequestedAt: from.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e.mustExec(fmt.Sprintf(`UPDATE backfills SET to_at = from_at WHERE id = %d`, newer.ID))
	if got, err := e.s.FindBackfill(c, "ex.a", from, from.Add(4*time.Hour)); err != nil || got.ID != old.ID {
		t.Errorf("FindBackfill past a corrupt row = %+v, %v; want backfill %d", got, err, old.ID)
	}
	e.wantReported(strconv.FormatInt(newer.ID, 10))
}
