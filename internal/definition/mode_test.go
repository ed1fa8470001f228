package definition

import (
	"strings"
	"testing"
)

// TestModeParsed: shadow is kept; active, written or not, is the same
// definition with the same hash (docs/definitions.md#mode).
func TestModeParsed(t *testing.T) {
	plain := mustParse(t, cronHead)
	active := mustParse(t, cronHead+"mode: active\n")
	shadow := mustParse(t, cronHead+"mode: shadow\n")
	if plain.Shadow() || active.Shadow() || !shadow.Shadow() {
		t.Errorf("Shadow(): plain %v, active %v, shadow %v", plain.Shadow(), active.Shadow(), shadow.Shadow())
	}
	if active.ContentHash() != plain.ContentHash() || strings.Contains(string(active.CanonicalJSON()), `"mode"`) {
		t.Errorf("mode: active changes the definition: %s", active.CanonicalJSON())
	}
	if shadow.ContentHash() == plain.ContentHash() || !strings.Contains(string(shadow.CanonicalJSON()), `"mode":"shadow"`) {
		t.Errorf("mode: shadow is not in the canonical form: %s", shadow.CanonicalJSON())
	}
	back, err := FromCanonicalJSON(shadow.CanonicalJSON())
	if err != nil || !back.Shadow() || back.ContentHash() != shadow.ContentHash() {
		t.Errorf("shadow mode does not round-trip: %v %s", err, back.CanonicalJSON())
	}
}

func TestModeParseErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown mode", cronHead + "mode: dry-run\n",
			`x.yaml:4:7: mode: "dry-run" is not one of active, shadow (shadow records what would have run and runs nothing; docs/cutover.md#shadow-runs)`},
		{"upper case", cronHead + "mode: Shadow\n",
			`x.yaml:4:7: mode: "Shadow" is not one of active, shadow (shadow records what would have run and runs nothing; docs/cutover.md#shadow-runs)`},
		{"empty", cronHead + "mode: \"\"\n",
			`x.yaml:4:7: mode: "" is not one of active, shadow (shadow records what would have run and runs nothing; docs/cutover.md#shadow-runs)`},
		{"a bool", cronHead + "mode: true\n", `x.yaml:4:7: mode: must be a string, got boolean true (quote it: "true")`},
		{"a mapping", cronHead + "mode: {shadow: true}\n", `x.yaml:4:7: mode: must be a string, got a mapping`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.src)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("errors\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
