package contract

import (
	"slices"
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

// TestRunStatuses: the list the drivers' terminal guard is built from
// holds valid statuses once each, shadow among the terminal ones.
func TestRunStatuses(t *testing.T) {
	seen := map[store.RunStatus]bool{}
	for _, s := range runStatuses {
		if !s.Valid() || seen[s] {
			t.Errorf("status %q invalid or listed twice", s)
		}
		seen[s] = true
	}
	if !slices.Contains(TerminalStatuses(), string(store.RunShadow)) {
		t.Errorf("TerminalStatuses() = %v, lacks shadow", TerminalStatuses())
	}
	for _, s := range TerminalStatuses() {
		if !store.RunStatus(s).Terminal() {
			t.Errorf("TerminalStatuses() holds %q, which is not terminal", s)
		}
	}
}

func TestDecodeOrigin(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"source":"ops","path":"a.yaml"}`: true,
		`null`:                             true,
		`{"source":7}`:                     false,
		`"ops"`:                            false,
		`{"commit_time":"yesterday"}`:      false,
		`{"source":`:                       false,
	} {
		if _, err := DecodeOrigin([]byte(in)); (err == nil) != ok {
			t.Errorf("DecodeOrigin(%s): %v, want ok %v", in, err, ok)
		}
	}
	if o, err := DecodeOrigin(nil); o != nil || err != nil {
		t.Errorf("DecodeOrigin(NULL) = %v, %v", o, err)
	}
}
