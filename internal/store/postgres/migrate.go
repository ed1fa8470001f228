package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

// Migrate implements store.Store. It runs in one transaction under a
// transaction-level advisory lock, so concurrent callers (replicas starting
// together) wait for each other and the later ones find nothing to do;
// PostgreSQL DDL is transactional, so a failed migration leaves no trace.
func (s *Store) Migrate(ctx context.Context) error {
	migrations, err := contract.Migrations(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("reading migrations: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.migrateLockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		done := make(map[int]bool, len(applied))
		for _, v := range applied {
			done[v] = true
			if v > len(migrations) {
				s.logger.WarnContext(ctx, "store: database schema is newer than this release; upgrade activity-core",
					"schema", s.schema, "version", v, "known", len(migrations))
			}
		}
		for _, m := range migrations {
			if done[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.Version, m.Name, contract.Time(s.now())); err != nil {
				return err
			}
			s.logger.InfoContext(ctx, "store: applied migration", "schema", s.schema, "migration", m.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrating PostgreSQL schema %q: %w", s.schema, dbErr(err))
	}
	return nil
}
