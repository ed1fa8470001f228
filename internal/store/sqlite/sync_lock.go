package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Polling bounds of WithSyncLock: a waiter retries the lock after
// lockPollMin, doubling up to lockPollMax, so it runs at most lockPollMax
// after the holder releases.
const (
	lockPollMin = 2 * time.Millisecond
	lockPollMax = 50 * time.Millisecond
)

// errLocked is what tryLock returns when another holder has the lock.
var errLocked = errors.New("sync lock held elsewhere")

// WithSyncLock implements store.Store with an exclusive flock(2) on
// "<database>.sync-lock". A lock inside the database (a row taken in
// BEGIN IMMEDIATE) would block every other write for the whole sync, so the
// lock lives beside it instead:
//
//   - each call opens the lock file anew, so two Store instances in one
//     process exclude each other as two processes do;
//   - waiting polls a non-blocking flock (see lockPollMax) so that ctx can
//     end the wait;
//   - the lock is released when fn returns or panics, and by the kernel
//     when the process dies (the file is closed). The file itself is never
//     deleted: removing a lock file lets two holders lock two different
//     files.
//
// flock is advisory and local: it does not hold across machines sharing a
// network file system, where SQLite itself is not safe either.
func (s *Store) WithSyncLock(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("waiting for the sync lock: %w", err)
	}
	f, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening the sync lock: %w", err)
	}
	defer f.Close()
	wait := lockPollMin
	for {
		err := tryLock(f)
		if err == nil {
			break
		}
		if !errors.Is(err, errLocked) {
			return fmt.Errorf("taking the sync lock %s: %w", s.lockPath, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the sync lock: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, lockPollMax)
	}
	defer unlock(f)
	return fn(ctx)
}
