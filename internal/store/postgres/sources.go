package postgres

import (
	"context"
	"errors"

	"github.com/coulomb/activity-core/internal/store"
)

// errSourcesTODO marks the source-state methods still to be written.
var errSourcesTODO = errors.New("postgres: source states are not implemented yet")

// SaveSourceState implements store.SourceStore.
func (s *Store) SaveSourceState(ctx context.Context, st store.SourceState) error {
	return errSourcesTODO
}

// GetSourceState implements store.SourceStore.
func (s *Store) GetSourceState(ctx context.Context, name string) (store.SourceState, error) {
	return store.SourceState{}, errSourcesTODO
}

// ListSourceStates implements store.SourceStore.
func (s *Store) ListSourceStates(ctx context.Context) ([]store.SourceState, error) {
	return nil, errSourcesTODO
}
