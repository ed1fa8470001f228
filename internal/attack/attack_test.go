// Package attack is the attack suite: it drives a whole `activity-core dev`
// process, as an operator runs it, with the inputs an attacker or a careless
// migration would send, and checks that every boundary of
// docs/security.md holds. It runs only with ACTIVITY_TEST_ATTACK=1 (CI sets
// it) because it builds the binary and starts real engines.
package attack

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// tally counts attacks tried and held, per category, for the summary that
// docs/security.md quotes.
var tally = struct {
	sync.Mutex
	tried, held map[string]int
	failed      []string
}{tried: map[string]int{}, held: map[string]int{}}

// attack runs one attack as a subtest; it holds when the subtest passes.
func attack(t *testing.T, category, name string, f func(t *testing.T)) {
	t.Helper()
	ran := false
	ok := t.Run(category+"/"+name, func(t *testing.T) { ran = true; f(t) })
	tally.Lock()
	defer tally.Unlock()
	if !ran { // filtered out with -run
		return
	}
	tally.tried[category]++
	if ok {
		tally.held[category]++
	} else {
		tally.failed = append(tally.failed, category+"/"+name)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	tally.Lock()
	defer tally.Unlock()
	if len(tally.tried) > 0 {
		var cats []string
		tried, held := 0, 0
		for c := range tally.tried {
			cats = append(cats, c)
			tried += tally.tried[c]
			held += tally.held[c]
		}
		sort.Strings(cats)
		var b strings.Builder
		fmt.Fprintf(&b, "attack suite: %d tried, %d held\n", tried, held)
		for _, c := range cats {
			fmt.Fprintf(&b, "  %-12s %3d tried, %3d held\n", c, tally.tried[c], tally.held[c])
		}
		for _, f := range tally.failed {
			fmt.Fprintf(&b, "  NOT HELD: %s\n", f)
		}
		fmt.Print(b.String())
		if dir := os.Getenv("ACTIVITY_TEST_ARTIFACTS"); dir != "" {
			_ = os.WriteFile(dir+"/attack-summary.txt", []byte(b.String()), 0o644)
		}
	}
	os.Exit(code)
}

func requireSuite(t *testing.T) {
	t.Helper()
	if os.Getenv("ACTIVITY_TEST_ATTACK") != "1" {
		t.Skip("the attack suite builds the binary and runs `dev`: set ACTIVITY_TEST_ATTACK=1 (CI does)")
	}
	// Built before any attack's clock starts: a cold build on a loaded
	// machine takes longer than a refusal is given.
	binary(t)
}
