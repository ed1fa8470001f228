package router

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Guard is the loop guard for lifecycle events (docs/definitions.md#what-a-run-leaves-behind: runs publish
// <prefix>.run.<status> so definitions can chain on them). For a
// definition that an event matched it returns the chain depth a run
// started by the event gets, and a non-empty reason when the run must not
// be started at all:
//
//   - the event is not a lifecycle event: depth 0, never blocked;
//   - it is: depth = payload.chain_depth + 1 (a missing or malformed
//     chain_depth counts as 0). The engine copies a run's depth into its
//     lifecycle event, so every hop of a chain A -> B -> C adds one; a run
//     whose depth would exceed ChainDepthLimit is not started;
//   - a definition is never started by a lifecycle event of its own run
//     (payload.definition_id equals its id), at any depth: "notify me when
//     I fail" on a definition that matches its own failure would otherwise
//     fail, notify and fail again until the depth limit. Use retry for
//     retries instead.
//
// What the guard cannot see: chains that leave activity-core's lifecycle
// subjects (a publish instruction that emits an ordinary event matching its
// own definition) carry no depth, so only the self-trigger rule of the
// lifecycle form protects them; the depth counter needs the publisher to
// carry it.
func (ix *Index) Guard(subject string, payload map[string]any, definitionID string) (depth int, blocked string) {
	if !ix.IsLifecycle(subject) {
		return 0, ""
	}
	depth = chainDepth(payload) + 1
	if src, _ := payload["definition_id"].(string); src != "" && src == definitionID {
		return depth, fmt.Sprintf("loop guard: %s is a lifecycle event of a run of this definition; a definition never triggers itself", subject)
	}
	if limit := ix.opts.ChainDepthLimit; limit >= 0 && depth > limit {
		return depth, fmt.Sprintf("loop guard: the run would be %d lifecycle events deep, over the chain depth limit of %d", depth, limit)
	}
	return depth, ""
}

// IsLifecycle reports whether subject is a run lifecycle event,
// <prefix>.run.<status>.
func (ix *Index) IsLifecycle(subject string) bool {
	p := ix.opts.LifecyclePrefix
	if len(subject) <= len(p)+5 || !strings.HasPrefix(subject, p) || subject[len(p):len(p)+5] != ".run." {
		return false
	}
	return !strings.Contains(subject[len(p)+5:], ".")
}

// chainDepth reads payload.chain_depth; anything but a non-negative number
// reads 0.
func chainDepth(payload map[string]any) int {
	var f float64
	switch v := payload["chain_depth"].(type) {
	case json.Number:
		x, err := v.Float64()
		if err != nil {
			return 0
		}
		f = x
	case float64:
		f = v
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	default:
		return 0
	}
	if math.IsNaN(f) || f < 0 {
		return 0
	}
	if f > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(f)
}
