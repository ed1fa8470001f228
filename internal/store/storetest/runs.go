package storetest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// fullRun has every field set, times in a zone other than UTC and with
// nanoseconds, to check normalization.
func fullRun(id string) store.Run {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	at := time.Date(2026, 11, 23, 18, 30, 15, 123456789, zone)
	started, finished := at.Add(time.Second), at.Add(3*time.Second)
	exit := 3
	return store.Run{
		ID:                id,
		DefinitionID:      "ex.a",
		DefinitionVersion: 2,
		ContentHash:       "h2",
		Trigger:           store.RunTriggerEvent,
		TriggerDetail:     json.RawMessage(`{"subject": "org.repo.pushed", "id": "7", "payload": {"repo": "x"}}`),
		Status:            store.RunFailed,
		Stage:             store.StageInstruction,
		WorkflowID:        "activity-core:evt:ex.a:7",
		WorkflowRunID:     "0194-run",
		ScheduledAt:       &at,
		StartedAt:         &started,
		FinishedAt:        &finished,
		ContextSnapshot:   json.RawMessage(`{"hub_health": {"status": "ok"}, "token": "***"}`),
		RuleOutcome:       json.RawMessage(`{"when": [{"expr": "true", "result": true}]}`),
		ExitCode:          &exit,
		Stdout:            "checking…\nok\n",
		Stderr:            "warning: 1\n",
		Error:             "exit status 3",
		Attempt:           1,
		Pool:              "state-hub",
		Inputs:            json.RawMessage(`{"repo": "org/x", "depth": 3, "dry_run": false}`),
		CanceledBy:        "alice",
		CancelNote:        "wrong repo",
	}
}

func micro(t *time.Time) *time.Time {
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

func testRunRoundTrip(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	in := fullRun("run-1")
	before := time.Now().UTC().Add(-time.Second)
	created := e.createRun(in)

	want := in
	want.ScheduledAt, want.StartedAt, want.FinishedAt = micro(in.ScheduledAt), micro(in.StartedAt), micro(in.FinishedAt)
	want.CreatedAt, want.UpdatedAt = created.CreatedAt, created.UpdatedAt
	if !reflect.DeepEqual(created, want) {
		t.Errorf("CreateRun returned\n %+v\nwant\n %+v", created, want)
	}
	if created.CreatedAt.Location() != time.UTC || created.CreatedAt.Before(before) || !created.UpdatedAt.Equal(created.CreatedAt) {
		t.Errorf("created_at = %v, updated_at = %v", created.CreatedAt, created.UpdatedAt)
	}
	got, err := e.s.GetRun(c, "run-1")
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if !reflect.DeepEqual(got, created) {
		t.Errorf("GetRun returned\n %+v\nwant\n %+v", got, created)
	}
	// JSON encoding (API, Temporal payloads) shows times in UTC.
	b, _ := json.Marshal(got)
	if !strings.Contains(string(b), `"scheduled_at":"2026-11-23T13:00:15.123456Z"`) {
		t.Errorf("JSON of a run: %s", b)
	}

	// A minimal run: optional fields stay empty.
	minimal := e.createRun(run("run-2", "ex.a", store.RunPending))
	got, err = e.s.GetRun(c, "run-2")
	if err != nil || !reflect.DeepEqual(got, minimal) || got.TriggerDetail != nil || got.ExitCode != nil || got.StartedAt != nil {
		t.Errorf("minimal run = %+v, %v", got, err)
	}

	if _, err := e.s.CreateRun(c, in); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateRun of an existing id: %v, want ErrConflict", err)
	}
	if _, err := e.s.GetRun(c, "run-missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun of a missing id: %v, want ErrNotFound", err)
	}
	for name, mutate := range map[string]func(*store.Run){
		"no id":          func(r *store.Run) { r.ID = "" },
		"no definition":  func(r *store.Run) { r.DefinitionID = "" },
		"unknown status": func(r *store.Run) { r.Status = "exploded" },
		"unknown stage":  func(r *store.Run) { r.Stage = "lunch" },
		"unknown cause":  func(r *store.Run) { r.Trigger = "whim" },
		"bad JSON":       func(r *store.Run) { r.RuleOutcome = json.RawMessage(`{"when"`) },
		"bad inputs":     func(r *store.Run) { r.Inputs = json.RawMessage(`{"repo":`) },
	} {
		r := fullRun("run-bad")
		mutate(&r)
		if _, err := e.s.CreateRun(c, r); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateRun with %s: %v, want ErrInvalid", name, err)
		}
	}
}

func testRunUpdate(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	r := e.createRun(run("run-1", "ex.a", store.RunPending))

	r.Status = store.RunRunning
	started := time.Now()
	r.StartedAt = &started
	running, err := e.s.UpdateRun(c, r)
	if err != nil {
		t.Fatalf("UpdateRun to running: %v", err)
	}
	if !running.CreatedAt.Equal(r.CreatedAt) || running.UpdatedAt.Before(r.UpdatedAt) {
		t.Errorf("update changed created_at or went back in time: %+v", running)
	}

	done := fullRun("run-1")
	done.Status = store.RunSucceeded
	done.Stage = store.StageNone
	done.CreatedAt = time.Time{} // ignored
	finished, err := e.s.UpdateRun(c, done)
	if err != nil {
		t.Fatalf("UpdateRun to succeeded: %v", err)
	}
	if got, err := e.s.GetRun(c, "run-1"); err != nil || !reflect.DeepEqual(got, finished) || !got.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("GetRun after update = %+v, %v;\nwant %+v", got, err, finished)
	}

	// Finished is final: a late retry cannot move it back or elsewhere,
	// but may repeat itself.
	running.Status = store.RunRunning
	if _, err := e.s.UpdateRun(c, running); !errors.Is(err, store.ErrConflict) {
		t.Errorf("succeeded -> running: %v, want ErrConflict", err)
	}
	done.Status = store.RunFailed
	if _, err := e.s.UpdateRun(c, done); !errors.Is(err, store.ErrConflict) {
		t.Errorf("succeeded -> failed: %v, want ErrConflict", err)
	}
	done.Status = store.RunSucceeded
	done.Error = "repeated"
	if _, err := e.s.UpdateRun(c, done); err != nil {
		t.Errorf("succeeded -> succeeded: %v", err)
	}
	if _, err := e.s.UpdateRun(c, run("run-missing", "ex.a", store.RunRunning)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRun of a missing run: %v, want ErrNotFound", err)
	}
	if _, err := e.s.UpdateRun(c, run("run-1", "ex.a", "bogus")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UpdateRun with an unknown status: %v, want ErrInvalid", err)
	}
}

// outputTail is exactly 64 KiB of awkward output: multi-byte characters
// (cut in the middle at the end), emoji, CJK, NULs, control bytes and bytes
// that are not UTF-8.
func outputTail() string {
	var b strings.Builder
	for i := 0; b.Len() < store.OutputTailMax; i++ {
		fmt.Fprintf(&b, "line %d: héllo 世界 🎉 \x00\x01\x1b[31m red \xff\xfe\r\n", i)
	}
	return b.String()[:store.OutputTailMax]
}

func testRunOutputTail(t *testing.T, d Driver) {
	e := setup(t, d)
	c := ctx(t)
	tail := outputTail()
	r := run("run-1", "ex.a", store.RunSucceeded)
	r.Stdout = tail
	r.Stderr = strings.Repeat("é", store.OutputTailMax/2)
	e.createRun(r)
	got, err := e.s.GetRun(c, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Stdout != tail {
		t.Errorf("stdout round trip: got %d bytes, want %d; first difference at %d", len(got.Stdout), len(tail), firstDiff(got.Stdout, tail))
	}
	if got.Stderr != r.Stderr {
		t.Errorf("stderr round trip: got %d bytes, want %d", len(got.Stderr), len(r.Stderr))
	}

	// Longer than the tail: the store keeps the last 64 KiB.
	r2 := run("run-2", "ex.a", store.RunRunning)
	e.createRun(r2)
	r2.Status = store.RunFailed
	r2.Stdout = "this head is cut off " + tail
	if _, err := e.s.UpdateRun(c, r2); err != nil {
		t.Fatal(err)
	}
	got, err = e.s.GetRun(c, "run-2")
	if err != nil || got.Stdout != tail {
		t.Errorf("oversized stdout: got %d bytes (%v), want the last %d", len(got.Stdout), err, len(tail))
	}

	// Lists leave output out unless asked.
	page, err := e.s.ListRuns(c, store.RunFilter{})
	if err != nil || len(page.Runs) != 2 || page.Runs[0].Stdout != "" || page.Runs[1].Stdout != "" {
		t.Errorf("ListRuns without output: %d runs, %v", len(page.Runs), err)
	}
	page, err = e.s.ListRuns(c, store.RunFilter{IncludeOutput: true})
	if err != nil || len(page.Runs) != 2 || page.Runs[0].Stdout != tail || page.Runs[1].Stdout != tail {
		t.Errorf("ListRuns with output: %d runs, %v", len(page.Runs), err)
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testRunText(t *testing.T, d Driver) {
	e := setup(t, d)
	r := run("run-ünïcode-🎉-漢字", "ex.ünï", store.RunSkipped)
	r.SkipReason = "rule false: hub_health.status == 'ok' 🚫 规则为假"
	r.Error = "bad\x00byte \xff end"
	created := e.createRun(r)
	got, err := e.s.GetRun(ctx(t), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || got.DefinitionID != r.DefinitionID || got.SkipReason != r.SkipReason {
		t.Errorf("unicode round trip: %q %q %q", got.ID, got.DefinitionID, got.SkipReason)
	}
	// Free text cannot hold NUL or invalid UTF-8 in PostgreSQL; both
	// drivers replace them with U+FFFD (output tails are kept exactly).
	if want := "bad\uFFFDbyte \uFFFD end"; got.Error != want || created.Error != want {
		t.Errorf("error text stored as %q (returned %q), want %q", got.Error, created.Error, want)
	}
}

// createRuns creates n runs alternating between two definitions and two
// statuses, and returns them newest first, as ListRuns orders them.
func createRuns(t *testing.T, e *env, prefix string, n int) []store.Run {
	t.Helper()
	var runs []store.Run
	for i := range n {
		defID := []string{"ex.a", "ex.b"}[i%2]
		status := []store.RunStatus{store.RunSucceeded, store.RunFailed, store.RunFailed}[i%3]
		runs = append(runs, e.createRun(run(fmt.Sprintf("%s-%03d", prefix, i), defID, status)))
	}
	sortNewestFirst(runs)
	return runs
}

func sortNewestFirst(runs []store.Run) {
	slices.SortFunc(runs, func(a, b store.Run) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}

// pages lists every page of f, checking each is no larger than the limit.
func pages(t *testing.T, e *env, f store.RunFilter) (all []store.Run, sizes []int) {
	t.Helper()
	for range 10000 {
		page, err := e.s.ListRuns(ctx(t), f)
		if err != nil {
			t.Fatalf("ListRuns(%+v): %v", f, err)
		}
		all = append(all, page.Runs...)
		sizes = append(sizes, len(page.Runs))
		if page.Next == "" {
			return all, sizes
		}
		if page.Next == f.Before {
			t.Fatalf("ListRuns returned its own cursor %q", page.Next)
		}
		f.Before = page.Next
	}
	t.Fatal("ListRuns never ended")
	return nil, nil
}

func runIDs(runs []store.Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func testRunPagination(t *testing.T, d Driver) {
	e := setup(t, d)
	want := createRuns(t, e, "run", 30)
	for _, tc := range []struct {
		limit int
		sizes []int
	}{
		{7, []int{7, 7, 7, 7, 2}},
		{10, []int{10, 10, 10}},
		{30, []int{30}},
		{31, []int{30}},
		{1, nil},
	} {
		got, sizes := pages(t, e, store.RunFilter{Limit: tc.limit})
		if !slices.Equal(runIDs(got), runIDs(want)) {
			t.Errorf("limit %d: paged ids\n %v\nwant\n %v", tc.limit, runIDs(got), runIDs(want))
		}
		if tc.sizes != nil && !slices.Equal(sizes, tc.sizes) {
			t.Errorf("limit %d: page sizes %v, want %v", tc.limit, sizes, tc.sizes)
		}
	}
	if len(want) > 0 && !reflect.DeepEqual(e.getRunNoOutput(want[0].ID), firstOf(t, e, store.RunFilter{Limit: 1})) {
		t.Errorf("a listed run differs from GetRun without output")
	}
	for _, bad := range []string{"!!!", base64.RawURLEncoding.EncodeToString([]byte("no-colon")),
		base64.RawURLEncoding.EncodeToString([]byte("x:run-1")), base64.RawURLEncoding.EncodeToString([]byte("12:"))} {
		if _, err := e.s.ListRuns(ctx(t), store.RunFilter{Before: bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("cursor %q: %v, want ErrInvalid", bad, err)
		}
	}
}

func (e *env) getRunNoOutput(id string) store.Run {
	e.t.Helper()
	r, err := e.s.GetRun(ctx(e.t), id)
	if err != nil {
		e.t.Fatal(err)
	}
	r.Stdout, r.Stderr = "", ""
	return r
}

func firstOf(t *testing.T, e *env, f store.RunFilter) store.Run {
	t.Helper()
	page, err := e.s.ListRuns(ctx(t), f)
	if err != nil || len(page.Runs) == 0 {
		t.Fatalf("ListRuns(%+v) = %v, %v", f, page, err)
	}
	return page.Runs[0]
}

func testRunPaginationStable(t *testing.T, d Driver) {
	e := setup(t, d)
	want := createRuns(t, e, "old", 20)
	first, err := e.s.ListRuns(ctx(t), store.RunFilter{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Runs created while a client pages must not shift what it sees next.
	createRuns(t, e, "new", 7)
	rest, _ := pages(t, e, store.RunFilter{Limit: 5, Before: first.Next})
	got := append(first.Runs, rest...)
	if !slices.Equal(runIDs(got), runIDs(want)) {
		t.Errorf("pages across inserts:\n %v\nwant\n %v", runIDs(got), runIDs(want))
	}
	// Updating a run does not move it either.
	r := want[10]
	r.Error = "updated while paging"
	if _, err := e.s.UpdateRun(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	all, _ := pages(t, e, store.RunFilter{Limit: 4})
	if n := len(all); n != 27 || !slices.Equal(runIDs(all[7:]), runIDs(want)) {
		t.Errorf("after an update, %d runs; old ones in order: %v", n, runIDs(all))
	}

	// The same, filtered by definition and status (the dashboard's and
	// the API's most selective list).
	f := store.RunFilter{DefinitionID: "ex.a", Status: store.RunFailed, Limit: 2}
	filtered, _ := pages(t, e, f)
	wantFiltered := runIDs(filtered)
	head, err := e.s.ListRuns(ctx(t), f)
	if err != nil {
		t.Fatal(err)
	}
	createRuns(t, e, "newer", 7)
	f.Before = head.Next
	rest, _ = pages(t, e, f)
	if got := runIDs(append(head.Runs, rest...)); len(got) < 4 || !slices.Equal(got, wantFiltered) {
		t.Errorf("filtered pages across inserts:\n %v\nwant\n %v", got, wantFiltered)
	}
}

func testRunFilters(t *testing.T, d Driver) {
	e := setup(t, d)
	all := createRuns(t, e, "run", 24)
	keep := func(pred func(store.Run) bool) []string {
		var out []string
		for _, r := range all {
			if pred(r) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	for _, f := range []store.RunFilter{
		{DefinitionID: "ex.a"},
		{Status: store.RunFailed},
		{DefinitionID: "ex.b", Status: store.RunSucceeded},
		{DefinitionID: "ex.none"},
		{Status: store.RunCanceled},
	} {
		want := keep(func(r store.Run) bool {
			return (f.DefinitionID == "" || r.DefinitionID == f.DefinitionID) && (f.Status == "" || r.Status == f.Status)
		})
		f.Limit = 3
		got, _ := pages(t, e, f)
		if !slices.Equal(runIDs(got), want) {
			t.Errorf("ListRuns(%+v):\n %v\nwant\n %v", f, runIDs(got), want)
		}
	}
}

func testRunLimits(t *testing.T, d Driver) {
	e := setup(t, d)
	n := store.RunListLimitMax + 1
	for i := range n {
		e.createRun(run(fmt.Sprintf("run-%04d", i), "ex.a", store.RunSucceeded))
	}
	for _, tc := range []struct{ limit, want int }{
		{0, store.RunListLimitDefault},
		{-5, store.RunListLimitDefault},
		{store.RunListLimitMax + 500, store.RunListLimitMax},
		{store.RunListLimitMax, store.RunListLimitMax},
	} {
		page, err := e.s.ListRuns(ctx(t), store.RunFilter{Limit: tc.limit})
		if err != nil || len(page.Runs) != tc.want || page.Next == "" {
			t.Errorf("Limit %d: %d runs, next %q, %v; want %d and a next page", tc.limit, len(page.Runs), page.Next, err, tc.want)
		}
	}
}
