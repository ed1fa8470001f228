package adminapi

import (
	"context"
	"time"
)

// Role is what a token may do (docs/run-control.md#who-did-what): read
// reads; operate also runs, cancels, pauses, resumes and backfills; admin
// also syncs.
type Role string

// The roles, weakest first.
const (
	RoleRead    Role = "read"
	RoleOperate Role = "operate"
	RoleAdmin   Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleRead:
		return 1
	case RoleOperate:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether r may do what need may.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// Principal is who makes a call: the token's name and role.
type Principal struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Surface is "api" or "ui", for the audit.
	Surface string `json:"surface,omitempty"`
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p; the API's exported methods act as
// (and audit) the principal of their context.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries.
func principalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// RunRequest starts one run (Runner.StartRun).
type RunRequest struct {
	// RunID is chosen by the API, which records the run pending under it
	// before StartRun (docs/run-control.md#placement).
	RunID        string
	DefinitionID string
	// Pool is the definition's pool (definition.Definition.Pool).
	Pool string
	// Inputs are the given values, checked by the API against the
	// definition's declaration; the run resolves them again with the
	// version it loads.
	Inputs map[string]any
	// RerunOf is the run whose inputs this one repeats, if any.
	RerunOf string
}

// BackfillRequest asks Temporal to fire a schedule for past times.
type BackfillRequest struct {
	// From and To bound the window [From, To).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Overlap is skip, buffer_all or allow_all (default buffer_all: a
	// backfill is asked for to run every fire of the window).
	Overlap string `json:"overlap,omitempty"`
	DryRun  bool   `json:"dry_run,omitempty"`
	Note    string `json:"note,omitempty"`
}

// FireTime is one fire a backfill stands for, in the definition's zone and
// in UTC.
type fireTime struct {
	Local string    `json:"local"`
	UTC   time.Time `json:"utc"`
}

// BackfillPlan answers a backfill: the fires, and whether they were sent
// to Temporal (false for a dry run).
type BackfillPlan struct {
	DefinitionID string     `json:"definition_id"`
	Timezone     string     `json:"timezone"`
	From         time.Time  `json:"from"`
	To           time.Time  `json:"to"`
	Overlap      string     `json:"overlap"`
	Fires        []fireTime `json:"fires"`
	DryRun       bool       `json:"dry_run"`
	Started      bool       `json:"started"`
}

// PoolStatus is one worker pool as the Workers page shows it.
type PoolStatus struct {
	Pool      string `json:"pool"`
	TaskQueue string `json:"task_queue"`
	// Definitions counts the live definitions placed on the pool.
	Definitions int      `json:"definitions"`
	Workers     []Poller `json:"workers"`
	// Backlog is Temporal's approximate count of tasks waiting; -1 when
	// the server does not report it.
	Backlog int64 `json:"backlog"`
}

// Poller is one worker polling a pool's task queue.
type Poller struct {
	Identity string    `json:"identity"`
	Host     string    `json:"host,omitempty"`
	LastSeen time.Time `json:"last_seen"`
}

// Pools describes worker pools from Temporal (DescribeTaskQueue).
type Pools interface {
	// Describe returns the status of each named pool, in order.
	Describe(ctx context.Context, pools []string) ([]PoolStatus, error)
}

// Backfiller asks Temporal's schedule backfill for past fires.
type backfiller interface {
	Backfill(ctx context.Context, definitionID string, from, to time.Time, overlap string) error
}
