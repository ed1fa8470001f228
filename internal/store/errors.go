package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Store methods wrap them with what was being done, so test
// with errors.Is; the HTTP API maps them to status codes.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write contradicts what is stored (a duplicate key,
	// a finished run moved to another status, a record changed by
	// someone else too often to retry).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input can never be stored as given (missing key,
	// invalid JSON, unknown status, a malformed cursor).
	ErrInvalid = errors.New("invalid")
	// ErrCorrupt: a stored row cannot be decoded; see CorruptError.
	ErrCorrupt = errors.New("corrupt row")
	// ErrUnavailable: the database could not be reached, went away
	// mid-operation, or asked for a retry (deadlock, serialization
	// failure, busy). The operation may be retried as is; the store
	// reconnects by itself when the database is back.
	ErrUnavailable = errors.New("database unavailable")
)

// IsRetryable reports whether err is worth retrying unchanged: it wraps
// ErrUnavailable. Workflow activities make every other store error a
// non-retryable failure.
func IsRetryable(err error) bool { return errors.Is(err, ErrUnavailable) }

// CorruptError is a row that could not be decoded, with what identifies it
// so an operator can find and fix it. It matches ErrCorrupt.
type CorruptError struct {
	// Table is the table holding the row.
	Table string
	// Key is the row's primary key (an ID or name).
	Key string
	// Err says what is wrong with it.
	Err error
}

// Error says which row to look at and what is wrong with it.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt row in %s, key %q: %v", e.Table, e.Key, e.Err)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the decoding error.
func (e *CorruptError) Unwrap() error { return e.Err }
