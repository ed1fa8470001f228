package simulate

import (
	"context"
	"testing"
)

// TestExample runs examples/simulate against examples/definitions, as an
// operators' CI would: every expectation must pass.
func TestExample(t *testing.T) {
	rep := Run(context.Background(), Config{
		Paths:       []string{"../../examples/definitions"},
		EventsFile:  "../../examples/simulate/events.jsonl",
		ContextPath: "../../examples/simulate/fixtures",
		ExpectFile:  "../../examples/simulate/expect.yaml",
	})
	if !rep.OK {
		t.Errorf("problems:\n%s", problemsText(rep))
		for _, r := range rep.Expectations.Results {
			if !r.Pass {
				t.Error(r.String())
			}
		}
	}
	if x := rep.Expectations; x == nil || x.Passed < 20 || x.Failed != 0 {
		t.Errorf("expectations: %+v", x)
	}
	if len(rep.Events) != 6 {
		t.Errorf("%d events traced", len(rep.Events))
	}
}
