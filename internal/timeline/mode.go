package timeline

import (
	"encoding/json"
	"slices"
)

// A definition's mode (docs/definitions.md#mode) is left out of its spec
// when active, so a switch between versions diffs as the field appearing
// or going. modeChanges says it as a switch, first: "mode: shadow →
// active" (docs/cutover.md#shadow-runs).

const modePath = "mode"

var modeActive = json.RawMessage(`"active"`)

// modeChanges fills the absent side of a mode change with active and
// puts the change first.
func modeChanges(cs []change) []change {
	i := slices.IndexFunc(cs, func(c change) bool { return c.Path == modePath })
	if i < 0 {
		return cs
	}
	c := cs[i]
	if len(c.Old) == 0 {
		c.Old = modeActive
	}
	if len(c.New) == 0 {
		c.New = modeActive
	}
	out := append([]change{c}, cs[:i]...)
	return append(out, cs[i+1:]...)
}

// modeText is a mode change as the text timeline shows it, without the
// quotes of JSON: mode: shadow → active.
func modeText(c change) string {
	var o, n string
	if json.Unmarshal(c.Old, &o) != nil || json.Unmarshal(c.New, &n) != nil {
		return ""
	}
	return modePath + ": " + o + " → " + n
}
