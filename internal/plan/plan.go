// Package plan previews what a change to definitions does, for a pull
// request comment: definitions added, removed and changed field by field,
// fire times before and after with DST days and midnight moves, minutes
// where many jobs fire at once, and overlap risk from run history
// (docs/cutover.md#plan). It reads both sides from a local git repository
// and runs offline; the store is consulted only when one is given.
package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/store"
)

// Defaults of Config.
const (
	daysDefault               = 30
	collisionThresholdDefault = 5
	// OverlapRunsDefault is how many finished runs the p95 duration is
	// computed from.
	overlapRunsDefault = 100
	// StoreTimeoutDefault bounds every question asked of the store.
	storeTimeoutDefault = 10 * time.Second
	daysMax             = 366
)

// ErrRef is returned (wrapped) when a ref does not resolve to a commit.
var ErrRef = errors.New("plan: bad ref")

// RunLister is the part of the store the overlap check reads.
type runLister interface {
	ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error)
}

// Config says what to compare.
type Config struct {
	// RepoDir is the git repository (a work tree or a bare repo); required.
	RepoDir string
	// Path is the definitions folder inside the repository,
	// slash-separated; "" or "." is the root.
	Path string
	// Base is the ref the change starts from; required.
	Base string
	// HeadRef is the ref of the change; when empty, HeadDir is read.
	HeadRef string
	// HeadDir is a folder read as the head side when HeadRef is empty
	// (the working tree's Path by default).
	HeadDir string
	// Now starts the window fire times are computed over; required, so
	// output never depends on the clock.
	Now time.Time
	// Days is the window's length (DaysDefault).
	Days int
	// CollisionThreshold is how many jobs firing in one minute is a
	// collision (CollisionThresholdDefault).
	CollisionThreshold int
	// Load is how each side is loaded (the deployment's alerting
	// defaults); CheckSecret, when set, is applied as validate applies it.
	Load        definition.LoadOptions
	CheckSecret func(name string) error
	// SecretsUnchecked says no allow-list was given: each definition
	// that names a secret gets validate's warning that it was not checked.
	SecretsUnchecked bool
	// Runs, when set, is asked for run history (overlap risk);
	// RunsUnavailable says why it is not set ("" when not configured).
	Runs            runLister
	RunsUnavailable string
	// OverlapRuns is how many finished runs make the p95 (OverlapRunsDefault).
	OverlapRuns int
	// FiresListed bounds the fires the report lists in all
	// (FiresListedDefault); the rest are counted.
	FiresListed int
	// TempDir is where both sides are exported (os.TempDir when empty);
	// the exports are removed before Build returns.
	TempDir string
}

func (c *Config) fill() error {
	c.Days = cmp.Or(c.Days, daysDefault)
	c.CollisionThreshold = cmp.Or(c.CollisionThreshold, collisionThresholdDefault)
	c.OverlapRuns = cmp.Or(c.OverlapRuns, overlapRunsDefault)
	c.FiresListed = cmp.Or(c.FiresListed, firesListedDefault)
	switch {
	case c.RepoDir == "":
		return errors.New("plan: RepoDir is required")
	case c.Base == "":
		return errors.New("plan: Base is required")
	case c.Now.IsZero():
		return errors.New("plan: Now is required")
	case c.Days < 1 || c.Days > daysMax:
		return fmt.Errorf("plan: days must be between 1 and %d, got %d", daysMax, c.Days)
	case c.FiresListed < 0:
		return fmt.Errorf("plan: fires listed must not be negative, got %d", c.FiresListed)
	case c.CollisionThreshold < 2:
		return fmt.Errorf("plan: the collision threshold must be at least 2, got %d", c.CollisionThreshold)
	case c.OverlapRuns < 1 || c.OverlapRuns > store.RunListLimitMax:
		return fmt.Errorf("plan: overlap runs must be between 1 and %d, got %d", store.RunListLimitMax, c.OverlapRuns)
	}
	return nil
}

// Build compares the two sides and returns the report.
func Build(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	base, err := readRef(ctx, &cfg, cfg.Base, true)
	if err != nil {
		return nil, err
	}
	var head *side
	if cfg.HeadRef != "" {
		head, err = readRef(ctx, &cfg, cfg.HeadRef, false)
	} else {
		head, err = readDir(&cfg, cfg.HeadDir)
	}
	if err != nil {
		return nil, err
	}
	rep := newReport(&cfg, base, head)
	rep.diff(base, head)
	rep.schedules(&cfg, base, head)
	rep.collisions(&cfg, head)
	rep.overlap(ctx, &cfg)
	rep.listFires(cfg.FiresListed)
	rep.finish()
	return rep, nil
}

// Failed reports whether the plan should fail a CI job: on errors, and
// on warnings too when failOnWarning.
func (r *Report) Failed(failOnWarning bool) bool {
	return len(r.Errors) > 0 || (failOnWarning && len(r.Warnings) > 0)
}
