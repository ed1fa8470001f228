package simulate

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/router"
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
	if len(rep.Events) != 7 {
		t.Errorf("%d events traced", len(rep.Events))
	}
}

// The shipped commit hook neither routes a slug that carries make or shell
// syntax (the event type's schema refuses it) nor expands one if it got
// through: its command hands the slug, as one argument, to a program.
func TestExampleCommitHookSlugIsData(t *testing.T) {
	rep := Run(context.Background(), Config{
		Paths:       []string{"../../examples/definitions"},
		EventsFile:  "../../examples/simulate/events.jsonl",
		ContextPath: "../../examples/simulate/fixtures",
	})
	var found bool
	for _, ev := range rep.Events {
		if ev.Event.ID != "push-evil-slug" {
			continue
		}
		for _, d := range ev.Definitions {
			if d.DefinitionID != hookID {
				continue
			}
			found = true
			if d.Match.Matched || d.Match.Stage != router.StageSchema || !strings.Contains(d.Match.Reason, "/repo_slug") {
				t.Errorf("evil slug: %+v, want refused at stage schema naming /repo_slug", d.Match)
			}
		}
	}
	if !found {
		t.Fatal("push-evil-slug not traced against the commit hook")
	}

	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed: the hook's command needs it")
	}
	loaded := definition.Load([]string{"../../examples/definitions"})
	if err := loaded.Err(); err != nil {
		t.Fatal(err)
	}
	var def *definition.Definition
	for _, d := range loaded.Definitions() {
		if d.ID == hookID {
			def = d
		}
	}
	if def == nil {
		t.Fatalf("%s not loaded", hookID)
	}
	cmd := def.Instruction.Cmd
	if strings.Contains(cmd, "make ") || strings.Contains(cmd, "eval ") {
		t.Errorf("the hook hands its input to an interpreter that expands it: %s", cmd)
	}
	// Run the command with its program replaced by one that records argv.
	const prog = `"$STATE_HUB_DIR/scripts/fix_consistency.sh"` // the checkout is a worker setting (docs/cutover.md#the-checkout-state_hub_dir)
	if !strings.Contains(cmd, prog) {
		t.Fatalf("command %q no longer runs %s: update this test", cmd, prog)
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "stub.sh")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nprintf '%s\\n' \"$#\" \"$2\" > \"$OUT\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "pwned")
	slug := "x$(shell touch " + marker + ")$(touch " + marker + ")`touch " + marker + "`"
	payload, _ := json.Marshal(map[string]any{"repo_slug": slug, "sha": "1a2b3c4d"})
	c := exec.Command("/bin/sh", "-c", strings.Replace(cmd, prog, stub, 1))
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "ACTIVITY_EVENT_JSON=" + string(payload), "OUT=" + filepath.Join(dir, "argv")}
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("running the hook: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "argv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "2\n" + slug + "\n"; string(got) != want {
		t.Errorf("program got argv %q, want the slug verbatim as one argument after --", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the slug was expanded: the marker file exists")
	}
}

const hookID = "the-custodian.state-hub-commit-consistency"
