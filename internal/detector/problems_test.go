package detector

import (
	"testing"

	"github.com/coulomb/activity-core/internal/store"
)

func TestRunReason(t *testing.T) {
	three := 3
	for _, tc := range []struct {
		run  store.Run
		want string
	}{
		{store.Run{Status: store.RunFailed, Stage: store.StageInstruction, Error: "command exited with status 3", ExitCode: &three},
			"failed at stage instruction: command exited with status 3"},
		{store.Run{Status: store.RunFailed, Stage: store.StageExpectation, Error: `expectation: stdout did not match "backup complete"`},
			`failed at stage expectation: stdout did not match "backup complete"`},
		{store.Run{Status: store.RunFailed, ExitCode: &three}, "failed: exit status 3"},
	} {
		if got := runReason(tc.run); got != tc.want {
			t.Errorf("runReason(%+v) = %q, want %q", tc.run, got, tc.want)
		}
	}
}

func TestPausedMiss(t *testing.T) {
	missed := func(reason string) store.DefinitionHealth {
		return store.DefinitionHealth{State: store.HealthMissed, Problems: []store.Problem{{Kind: store.HealthMissed, Reason: reason}}}
	}
	for h, want := range map[*store.DefinitionHealth]bool{
		ptr(missed("paused by operator: disk swap")):                                                                true,
		ptr(missed("paused by auto-pause: 5 failures")):                                                             true,
		ptr(missed("no worker polling task queue activity")):                                                        false,
		ptr(missed("schedule paused in Temporal: by hand")):                                                         false,
		{State: store.HealthFailing, Problems: []store.Problem{{Kind: store.HealthFailing, Reason: "paused by x"}}}: false,
	} {
		if got := pausedMiss(*h); got != want {
			t.Errorf("pausedMiss(%+v) = %t, want %t", h.Problems, got, want)
		}
	}
}
