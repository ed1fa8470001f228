//go:build !nodev

package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/syncer"
)

// TestPrintFirstSync: the line under dev's banner names the first error
// and how to see them all, or says there were none.
func TestPrintFirstSync(t *testing.T) {
	bad := &syncer.Result{Errors: []syncer.Error{{Stage: "definitions", File: "state-hub/sweep.yaml", Line: 12, Message: "secret STATE_HUB_DIR is not allowed"}, {Stage: "definitions", File: "b.yaml", Message: "x"}}}
	bad.Definitions.Scanned = 6
	good := &syncer.Result{Warnings: []syncer.Error{{Message: "w"}}}
	good.Definitions.Scanned = 3
	for _, tc := range []struct {
		name string
		res  *syncer.Result
		err  error
		want []string
	}{
		{"errors", bad, nil, []string{"first sync: 6 definitions, 2 error(s); first: ", "state-hub/sweep.yaml:12", "STATE_HUB_DIR is not allowed", "sync --dry-run lists them all"}},
		{"clean", good, nil, []string{"first sync: 3 definitions, no errors, 1 warning(s)"}},
		{"failed", nil, errors.New("store is down"), []string{"first sync failed: store is down"}},
	} {
		var b bytes.Buffer
		printFirstSync(&b, tc.res, tc.err)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, b.String(), w)
			}
		}
	}
}
