package schedule

import (
	"context"

	"github.com/coulomb/activity-core/internal/store"
)

// SyncPlanned is Sync for a dry run that must see definitions as the
// definitions stage would have left them (sync --dry-run plans both stages
// at once, but the definitions stage writes nothing in a dry run). With a
// nil planned it is Sync.
func (p *Projector) SyncPlanned(ctx context.Context, dryRun bool, planned []store.Definition) (*Result, error) {
	if planned == nil || !dryRun {
		return p.Sync(ctx, dryRun)
	}
	cfg := p.cfg
	cfg.Store = plannedStore{Store: p.cfg.Store, defs: planned}
	q, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return q.Sync(ctx, true)
}

// plannedStore answers ListDefinitions with the planned set; a dry run
// writes nothing, so every other method can read the real store.
type plannedStore struct {
	store.Store
	defs []store.Definition
}

func (s plannedStore) ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]store.Definition, error) {
	if f != (store.DefinitionFilter{}) {
		return s.Store.ListDefinitions(ctx, f)
	}
	return s.defs, nil
}
