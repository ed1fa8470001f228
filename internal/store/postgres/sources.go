package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

// SaveSourceState implements store.SourceStore.
func (s *Store) SaveSourceState(ctx context.Context, st store.SourceState) error {
	st, state, err := contract.PrepareSourceState(st)
	if err != nil {
		return fmt.Errorf("saving source state: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO source_states (name, state, updated_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
		st.Name, state, contract.Time(s.now()))
	if err != nil {
		return fmt.Errorf("saving state of source %q: %w", st.Name, dbErr(err))
	}
	return nil
}

func scanSourceState(row pgx.Row) (store.SourceState, error) {
	var name string
	var state []byte
	if err := row.Scan(&name, &state); err != nil {
		return store.SourceState{}, err
	}
	return contract.DecodeSourceState(name, state)
}

// GetSourceState implements store.SourceStore.
func (s *Store) GetSourceState(ctx context.Context, name string) (store.SourceState, error) {
	st, err := scanSourceState(s.pool.QueryRow(ctx,
		`SELECT name, state FROM source_states WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("source %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("getting state of source %q: %w", name, dbErr(err))
	}
	return st, nil
}

// ListSourceStates implements store.SourceStore, in the name column's "C"
// (bytewise) order.
func (s *Store) ListSourceStates(ctx context.Context) ([]store.SourceState, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, state FROM source_states ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing source states: %w", dbErr(err))
	}
	states, err := collect(ctx, s, rows, scanSourceState)
	if err != nil {
		return nil, fmt.Errorf("listing source states: %w", dbErr(err))
	}
	return states, nil
}
