package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
)

// memStore is the three reads a story needs, over slices: the merge, the
// diff and the bounds are pure logic. The real stores are exercised by
// the golden test in internal/cli.
type memStore struct {
	versions map[int]json.RawMessage
	entries  []store.TimelineEntry
	runs     []store.Run // newest first, as ListRuns answers
}

func (m *memStore) GetDefinitionVersion(_ context.Context, id string, v int) (store.DefinitionVersion, error) {
	spec, ok := m.versions[v]
	if !ok {
		return store.DefinitionVersion{}, fmt.Errorf("version %d: %w", v, store.ErrNotFound)
	}
	return store.DefinitionVersion{DefinitionID: id, Version: v, Spec: spec}, nil
}

func (m *memStore) ListTimeline(_ context.Context, f store.TimelineFilter) ([]store.TimelineEntry, error) {
	var out []store.TimelineEntry
	for _, e := range m.entries {
		if e.DefinitionID == f.DefinitionID && !e.At.Before(f.Since) && (f.Until.IsZero() || e.At.Before(f.Until)) {
			out = append(out, e)
		}
		if len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

func (m *memStore) ListRuns(_ context.Context, f store.RunFilter) (store.RunPage, error) {
	start := 0
	if f.Before != "" {
		start = slices.IndexFunc(m.runs, func(r store.Run) bool { return r.ID == f.Before }) + 1
	}
	end := min(start+f.Limit, len(m.runs))
	page := store.RunPage{Runs: m.runs[start:end]}
	if end < len(m.runs) {
		page.Next = m.runs[end-1].ID
	}
	return page, nil
}

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func at(h, m int) time.Time   { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
func atp(h, m int) *time.Time { t := at(h, m); return &t }
func intp(i int) *int         { return &i }
func secp(h, m, s int) *time.Time {
	t := at(h, m).Add(time.Duration(s) * time.Second)
	return &t
}

func TestDiff(t *testing.T) {
	old := json.RawMessage(`{"id":"a","trigger":{"trigger_type":"cron","cron_expression":"0 3 * * *"},"rule":{"when":["x","y"]},"retry":{"max_attempts":1},"gone":true}`)
	next := json.RawMessage(`{"id":"a","trigger":{"trigger_type":"cron","cron_expression":"0 4 * * *"},"rule":{"when":["x","z"]},"retry":{"max_attempts":1},"expect":{"grace":"5m"},"env":["<a>"]}`)
	var got []string
	for _, c := range diff(old, next) {
		got = append(got, c.String())
	}
	want := []string{
		`env: (none) → ["<a>"]`,
		`expect: (none) → {"grace":"5m"}`,
		`gone: true → (none)`,
		`rule.when[1]: "y" → "z"`,
		`trigger.cron_expression: "0 3 * * *" → "0 4 * * *"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := diff(old, old); len(d) != 0 {
		t.Errorf("no change gave %v", d)
	}
	if d := diff(json.RawMessage(`{"l":[1]}`), json.RawMessage(`{"l":[1,2]}`)); len(d) != 1 || d[0].String() != "l: [1] → [1,2]" {
		t.Errorf("list of another length: %v", d)
	}
}

func weekStore() *memStore {
	return &memStore{
		versions: map[int]json.RawMessage{
			1: json.RawMessage(`{"id":"t.job","trigger":{"cron_expression":"0 3 * * *"}}`),
			2: json.RawMessage(`{"id":"t.job","trigger":{"cron_expression":"0 4 * * *"}}`),
		},
		entries: []store.TimelineEntry{
			{ID: 1, DefinitionID: "t.job", At: at(0, 0), Kind: store.TimelineVersion, Actor: "sync", Summary: "stored version 1", Detail: json.RawMessage(`{"version":1}`)},
			{ID: 2, DefinitionID: "t.job", At: at(3, 10), Kind: store.TimelineVersion, Actor: "sync", Detail: json.RawMessage(`{"version":2,"previous":1}`)},
			{ID: 3, DefinitionID: "t.job", At: at(4, 0), Kind: store.TimelineProblem, Actor: "detector",
				Detail: json.RawMessage(`{"kind":"failing","since":"2026-03-02T04:00:00Z","reason":"1 consecutive failure","run_id":"r-2"}`)},
			{ID: 4, DefinitionID: "t.job", At: at(4, 0), Kind: store.TimelineNotification, Actor: "notifier", Summary: "failed: sent to slack:#ops"},
			{ID: 5, DefinitionID: "t.job", At: at(5, 0), Kind: store.TimelinePaused, Actor: "operator",
				Detail: json.RawMessage(`{"definition_id":"t.job","note":"disk\nfull \u001b[31m","by":"operator","paused_at":"2026-03-02T05:00:00Z"}`)},
		},
		runs: []store.Run{
			{ID: "m-1", DefinitionID: "t.job", Status: store.RunMissed, Trigger: store.RunTriggerCron, ScheduledAt: atp(6, 0), CreatedAt: at(6, 5),
				SkipReason: "paused by operator: disk full", TriggerDetail: json.RawMessage(`{"first":"2026-03-02T06:00:00Z","last":"2026-03-02T08:00:00Z","count":3}`)},
			{ID: "r-2", DefinitionID: "t.job", DefinitionVersion: 2, Status: store.RunFailed, Trigger: store.RunTriggerCron, Stage: store.StageInstruction,
				ExitCode: intp(2), Error: "exit status 2:\nno space left", ScheduledAt: atp(4, 0), StartedAt: atp(4, 0), FinishedAt: secp(4, 0, 2), CreatedAt: at(4, 0)},
			{ID: "r-1", DefinitionID: "t.job", DefinitionVersion: 1, Status: store.RunSkipped, Trigger: store.RunTriggerCron, SkipReason: "rule false: env.DAY == 'mon'",
				ScheduledAt: atp(3, 0), StartedAt: atp(3, 0), CreatedAt: at(3, 0)},
		},
	}
}

func TestBuildMergesOldestFirst(t *testing.T) {
	s, err := Build(context.Background(), weekStore(), Query{DefinitionID: "t.job", Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	want := `t.job: 9 items from 2026-03-02 00:00:00Z to now, oldest first (times UTC)
2026-03-02 00:00:00Z  version       v1 created
2026-03-02 03:00:00Z  skipped       run r-1 (cron, v1) skipped: rule false: env.DAY == 'mon'
2026-03-02 03:10:00Z  version       v2 (was v1): trigger.cron_expression: "0 3 * * *" → "0 4 * * *"
2026-03-02 04:00:00Z  fired         run r-2 fired (cron, v2)
2026-03-02 04:00:00Z  problem       failing: 1 consecutive failure
2026-03-02 04:00:00Z  notification  failed: sent to slack:#ops
2026-03-02 04:00:02Z  failed        run r-2 failed at stage instruction, exit 2 after 2s: exit status 2: no space left
2026-03-02 05:00:00Z  paused        paused by operator: disk full �[31m
2026-03-02 06:00:00Z  missed        missed 3 fires, 2026-03-02 06:00:00Z to 2026-03-02 08:00:00Z: paused by operator: disk full
`
	if got := buf.String(); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	if it := s.Items[2]; len(it.Changes) != 1 || it.Version != 2 || it.Previous != 1 {
		t.Errorf("version item %+v", it)
	}
	if it := s.Items[4]; it.RunID != "r-2" {
		t.Errorf("problem item takes its run from the detail: %+v", it)
	}
	if it := s.Items[8]; it.Run == nil || it.Run.MissedCount != 3 || it.Actor != "" {
		t.Errorf("missed item %+v", it)
	}
	if it := s.Items[7]; it.Actor != "operator" {
		t.Errorf("paused item actor %q", it.Actor)
	}
}

func TestBuildWindowAndLimit(t *testing.T) {
	ctx := context.Background()
	st := weekStore()
	s, err := Build(ctx, st, Query{DefinitionID: "t.job", Since: at(3, 5), Until: at(5, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, it := range s.Items {
		kinds = append(kinds, it.Kind)
	}
	if want := []string{"version", "fired", "problem", "notification", "failed"}; !slices.Equal(kinds, want) {
		t.Errorf("window [03:05, 05:00): %v, want %v", kinds, want)
	}
	// The newest items are kept; the rest are counted.
	s, err = Build(ctx, st, Query{DefinitionID: "t.job", Since: t0, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Items) != 3 || s.Items[2].Kind != kindMissed || s.Items[0].Kind != "failed" || s.LeftOut != 6 {
		t.Errorf("limit 3: %d items, first %s, left out %d", len(s.Items), s.Items[0].Kind, s.LeftOut)
	}
	var buf bytes.Buffer
	_ = s.WriteText(&buf)
	if !strings.Contains(buf.String(), "… 6 earlier items left out") {
		t.Errorf("text does not say what was left out:\n%s", buf.String())
	}
	// Many entries at one instant, over several pages: the newest kept.
	many := &memStore{}
	for i := range 25 {
		many.entries = append(many.entries, store.TimelineEntry{ID: int64(i + 1), DefinitionID: "t.job", At: at(i/10, 0), Kind: store.TimelineNotification, Summary: fmt.Sprint("n", i)})
	}
	entryPage = 6
	defer func() { entryPage = LimitMax }()
	s, err = Build(ctx, many, Query{DefinitionID: "t.job", Since: t0, Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Items) != 4 || s.Items[3].Summary != "n24" || s.Items[0].Summary != "n21" || s.LeftOut < 15 {
		t.Errorf("paged entries: %+v left out %d", s.Items, s.LeftOut)
	}
	if _, err := Build(ctx, many, Query{}); err == nil {
		t.Error("no definition id accepted")
	}
}

func TestRunItems(t *testing.T) {
	running := runItems(store.Run{ID: "r", Status: store.RunRunning, Trigger: store.RunTriggerEvent, StartedAt: atp(1, 0),
		TriggerDetail: json.RawMessage(`{"event":{"subject":"org.repo.pushed"}}`)})
	if len(running) != 1 || running[0].Summary != "run r fired (event org.repo.pushed), running" {
		t.Errorf("running: %+v", running)
	}
	ok := runItems(store.Run{ID: "r", Status: store.RunSucceeded, Trigger: store.RunTriggerCron, ScheduledAt: atp(1, 0), StartedAt: secp(1, 0, 3), FinishedAt: secp(1, 0, 4), ExitCode: intp(0)})
	if len(ok) != 2 || ok[0].Summary != "run r fired (cron, scheduled 2026-03-02 01:00:00Z)" || ok[1].Summary != "run r succeeded, exit 0 after 1s" {
		t.Errorf("succeeded: %q / %q", ok[0].Summary, ok[1].Summary)
	}
	one := runItems(store.Run{ID: "m", Status: store.RunMissed, ScheduledAt: atp(2, 0), SkipReason: "no worker polling task queue q"})
	if one[0].Summary != "missed the 2026-03-02 02:00:00Z fire: no worker polling task queue q" || one[0].Run.MissedCount != 1 {
		t.Errorf("one missed: %+v", one[0])
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"7d":                        "2026-03-01T12:00:00Z",
		"1w":                        "2026-03-01T12:00:00Z",
		"36h":                       "2026-03-07T00:00:00Z",
		"90m":                       "2026-03-08T10:30:00Z",
		"2026-03-01T06:00:00+01:00": "2026-03-01T05:00:00Z",
		"2026-03-01":                "2026-03-01T00:00:00Z",
		"2026-03-01T06:00":          "2026-03-01T06:00:00Z",
	} {
		got, err := ParseTime(in, now)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-7d", "0h", "7x", "2026-13-01"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\n\tb \x1b[2J c\x00"); got != "a b \ufffd[2J c\ufffd" {
		t.Errorf("oneLine: %q", got)
	}
	if got := oneLine(strings.Repeat("é", 400)); len([]rune(got)) != lineMax {
		t.Errorf("oneLine keeps %d runes", len([]rune(got)))
	}
}

// TestModeSwitch: a version that switches mode says so, first, in words
// ("mode: active → shadow"), though active is not in the spec.
func TestModeSwitch(t *testing.T) {
	base := `{"id":"t.job","trigger":{"cron_expression":"0 3 * * *"}%s}`
	m := &memStore{
		versions: map[int]json.RawMessage{
			1: json.RawMessage(fmt.Sprintf(base, ``)),
			2: json.RawMessage(fmt.Sprintf(base, `,"mode":"shadow","description":"x"`)),
			3: json.RawMessage(fmt.Sprintf(base, `,"description":"x"`)),
		},
		entries: []store.TimelineEntry{
			{ID: 1, DefinitionID: "t.job", At: at(1, 0), Kind: store.TimelineVersion, Detail: json.RawMessage(`{"version":2,"previous":1}`)},
			{ID: 2, DefinitionID: "t.job", At: at(2, 0), Kind: store.TimelineVersion, Detail: json.RawMessage(`{"version":3,"previous":2}`)},
		},
	}
	tl, err := Build(context.Background(), m, Query{DefinitionID: "t.job", Since: t0, Until: at(3, 0), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range tl.Items {
		got = append(got, it.Summary)
	}
	want := []string{`v2 (was v1): mode: active → shadow; description: (none) → "x"`, `v3 (was v2): mode: shadow → active`}
	if !slices.Equal(got, want) {
		t.Errorf("summaries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
