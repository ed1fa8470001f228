package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
	"unicode"

	"github.com/coulomb/activity-core/internal/store"
)

// countingStore counts the reads a story makes.
type countingStore struct {
	memStore
	runPages int
}

func (c *countingStore) ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error) {
	c.runPages++
	return c.memStore.ListRuns(ctx, f)
}

// A reader picks the window: until= long ago, with a busy definition's
// runs all after it, must not make the story page through its whole run
// history (one ListRuns per run with limit=1).
func TestBuildRunReadsAreBoundedWhateverTheWindow(t *testing.T) {
	st := &countingStore{}
	const runs = 5000
	for i := range runs { // newest first, all after the window
		created := t0.Add(time.Duration(runs-i) * time.Minute)
		st.runs = append(st.runs, store.Run{ID: fmt.Sprint("r", i), DefinitionID: "t.job", Status: store.RunSucceeded,
			Trigger: store.RunTriggerEvent, CreatedAt: created, StartedAt: &created, FinishedAt: &created})
	}
	q := Query{DefinitionID: "t.job", Since: t0.Add(-48 * time.Hour), Until: t0.Add(-24 * time.Hour), Limit: 1}
	if _, err := Build(context.Background(), st, q); err != nil {
		t.Fatal(err)
	}
	if st.runPages > 50 {
		t.Errorf("one story read %d pages of runs (a definition with %d runs, limit 1, until before all of them): the cost follows the run history, not the query", st.runPages, runs)
	}
}

// A version's diff names changed fields by their path in the spec, and a
// publish payload's keys are free text: `why` must not write a terminal
// escape sequence (ESC, or the 8-bit CSI U+009B in a value) to the
// operator's terminal.
func TestTextTimelineHasNoTerminalControls(t *testing.T) {
	st := &memStore{versions: map[int]json.RawMessage{
		1: json.RawMessage(`{"instruction":{"kind":"publish","payload":{"a":1}}}`),
		2: json.RawMessage(`{"instruction":{"kind":"publish","payload":{"a":"\u009b2J","\u001b]0;owned\u0007\u001b[2J":1}}}`),
	}}
	st.entries = []store.TimelineEntry{{ID: 1, DefinitionID: "t.job", At: at(1, 0), Kind: store.TimelineVersion, Actor: "sync",
		Detail: json.RawMessage(`{"version":2,"previous":1}`)}}
	s, err := Build(context.Background(), st, Query{DefinitionID: "t.job", Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, r := range buf.String() {
		if r != '\n' && unicode.IsControl(r) {
			t.Fatalf("the text timeline writes control character %U:\n%q", r, buf.String())
		}
	}
}

// "NaNd" parses as a float that no range check refuses; converted to a
// duration it is whatever the platform makes of NaN.
func TestParseTimeRefusesNaN(t *testing.T) {
	for _, s := range []string{"NaNd", "nanw", "-NaNd"} {
		if got, err := ParseTime(s, t0); err == nil {
			t.Errorf("ParseTime(%q) = %s, want an error", s, got)
		}
	}
}
