package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
)

// workersCmd lists worker pools (docs/run-control.md#placement).
type workersCmd struct {
	ClientFlags
}

// Help is shown by "activity-core workers --help".
func (c *workersCmd) Help() string {
	return `A pool is a Temporal task queue: a definition's run_on names it (default
"default"), and a worker serves the pools it is given (serve --pools a,b or
ACTIVITY_WORKER_POOLS). For every pool in use this lists the workers
polling it (identity, host, when Temporal last saw it poll) and the tasks
waiting (backlog; "?" when Temporal does not say). A pool with definitions
and no worker means their runs wait: start a worker for it.

Examples:
  activity-core workers
  activity-core workers --format json | jq '.pools[] | select(.workers == [])'`
}

// Run lists.
func (c *workersCmd) Run(env *cmdEnv) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cl.do(env.Ctx, "GET", "/api/v1/workers", nil, &raw); err != nil {
		return err
	}
	if c.Format == "json" {
		return printJSON(env.Stdout, raw)
	}
	var doc struct {
		Pools []adminapi.PoolStatus `json:"pools"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	printPools(env.Stdout, doc.Pools, time.Now())
	return nil
}

// printPools prints each pool and its workers; now dates "last seen".
func printPools(w io.Writer, pools []adminapi.PoolStatus, now time.Time) {
	for i, p := range pools {
		if i > 0 {
			fmt.Fprintln(w)
		}
		backlog := "?"
		if p.Backlog >= 0 {
			backlog = strconv.FormatInt(p.Backlog, 10)
		}
		fmt.Fprintf(w, "pool %s (task queue %s): %d definition%s, %d worker%s, backlog %s\n", p.Pool, p.TaskQueue,
			p.Definitions, plural(p.Definitions), len(p.Workers), plural(len(p.Workers)), backlog)
		if len(p.Workers) == 0 {
			fmt.Fprintf(w, "  no worker polls it: its runs wait (start one: activity-core serve --roles worker --pools %s)\n", p.Pool)
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  IDENTITY\tHOST\tLAST SEEN")
		for _, wk := range p.Workers {
			seen := "-"
			if !wk.LastSeen.IsZero() {
				seen = wk.LastSeen.UTC().Format(time.RFC3339) + " (" + now.Sub(wk.LastSeen).Round(time.Second).String() + " ago)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", wk.Identity, dash(wk.Host), seen)
		}
		tw.Flush()
	}
	if len(pools) == 0 {
		fmt.Fprintln(w, "no pools")
	}
}
