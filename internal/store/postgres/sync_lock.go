package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store"
)

// WithSyncLock implements store.Store with a session-level advisory lock
// (pg_advisory_lock) on a connection opened for this call alone:
//
//   - waiting happens in the server's lock queue, so a waiter runs as soon
//     as the holder releases; if ctx ends first, the wait is canceled on
//     the server;
//   - the lock is released with pg_advisory_unlock when fn returns (or
//     panics), and the connection is closed; if the process dies, the
//     server ends the session and releases the lock with it;
//   - while fn runs, the session is pinged every LockCheckInterval; if it
//     is gone (the server restarted, the network broke), the lock is gone
//     too, so fn's context is canceled and the error wraps
//     store.ErrUnavailable.
//
// The connection is not taken from the pool, so fn can use the store
// freely, and a lock can never be returned to the pool still held.
func (s *Store) WithSyncLock(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("waiting for the sync lock: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, s.lockConfig)
	if err != nil {
		return fmt.Errorf("connecting for the sync lock: %w", dbErr(err))
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", s.syncLockKey); err != nil {
		closeConn(conn)
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for the sync lock: %w", ctx.Err())
		}
		return fmt.Errorf("taking the sync lock: %w", dbErr(err))
	}

	fnCtx, cancel := context.WithCancelCause(ctx)
	lost := make(chan error, 1)
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if err := s.watchLock(conn, stop); err != nil {
			lost <- err
			cancel(err)
		}
	}()
	defer func() {
		close(stop)
		<-watched
		cancel(nil)
		uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ucancel()
		if _, uerr := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", s.syncLockKey); uerr != nil {
			// Closing the session below releases it anyway.
			s.logger.WarnContext(ctx, "store: releasing the sync lock", "error", uerr)
		}
		_ = conn.Close(uctx)
		select {
		case lerr := <-lost:
			err = errors.Join(fmt.Errorf("sync lock lost while the sync ran: %w: %w", store.ErrUnavailable, lerr), err)
		default:
		}
	}()
	return fn(fnCtx)
}

// watchLock pings the lock's session until stop is closed, and returns the
// error of the first ping that fails.
func (s *Store) watchLock(conn *pgx.Conn, stop <-chan struct{}) error {
	t := time.NewTicker(s.lockCheck)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(s.lockCheck, time.Second))
		err := conn.Ping(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
