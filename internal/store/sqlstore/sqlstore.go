// Package sqlstore is the one query layer of both store drivers: every
// store.Store method, written once over database/sql. PostgreSQL reaches it
// through pgx's stdlib adapter, SQLite through modernc.org/sqlite.
//
// Queries use $N placeholders, which both databases accept. What really
// differs between them is a Dialect: how a time or a list is passed, how an
// error is classified, the catalog lock, the lease clock and how a batch of
// writes is sent. Opening, migrations, the sync lock and error mapping stay
// in the postgres and sqlite packages (docs/development.md#the-store-one-query-layer-two-dialects).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/internal/contract"
)

// Dialect is what differs between the databases.
type Dialect interface {
	// Time is t, already in UTC and truncated to microseconds, as a
	// parameter of a time column.
	Time(t time.Time) any
	// List is keys as one parameter, and In the condition that col is
	// one of the keys in parameter param.
	List(keys []string) any
	In(col, param string) string
	// ValidJSON is an expression true when col holds valid JSON or NULL.
	ValidJSON(col string) string
	// Lease is the server's clock, and the expiry ttl from now given
	// parameter param, and that parameter's value, for AcquireLease.
	Lease(param string, ttl time.Duration) (now, expires string, arg any)
	// Classify sorts an error of the database into the kinds the store
	// treats apart.
	Classify(err error) ErrKind
	// LockCatalog serializes batches of definitions and event types in
	// tx, when the database can run two writers at once.
	LockCatalog(ctx context.Context, tx *Tx) error
	// ExecBatch runs stmts in order in tx and returns the rows each
	// affected, stopping at the first error; ExecPrepared is the plain way.
	ExecBatch(ctx context.Context, tx *Tx, stmts []Stmt) ([]int64, error)
}

// ErrKind is how a Dialect classifies a database error.
type ErrKind int

// The kinds of ErrKind.
const (
	ErrOther       ErrKind = iota
	ErrUnavailable         // worth retrying: connection lost, busy, restarting
	ErrUnique              // a unique constraint refused the write
	ErrForeignKey          // a foreign key refused the write
)

// Stmt is one statement of a batch.
type Stmt struct {
	SQL  string
	Args []any
}

// Tx is a write transaction, on a connection of its own (a dialect's
// batch may need the driver's connection).
type Tx struct {
	*sql.Tx
	Conn *sql.Conn
}

// Store implements store.Store, store.AlertStore, store.RunControlStore and
// store.SourceStore but the sync lock, Ping, Close and Migrate.
type Store struct {
	d      Dialect
	reader *sql.DB
	writer *sql.DB
	logger *slog.Logger
	now    func() time.Time
}

// New returns a Store that reads through reader and writes through writer
// (the same pool on PostgreSQL).
func New(d Dialect, reader, writer *sql.DB, logger *slog.Logger, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{d: d, reader: reader, writer: writer, logger: logger, now: now}
}

// errRace means a row changed between the read and the write of a batch.
var errRace = errors.New("concurrent write")

// dbErr marks errors worth retrying with store.ErrUnavailable.
func (s *Store) dbErr(err error) error {
	if err == nil || s.d.Classify(err) != ErrUnavailable {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// writeTx runs fn in a write transaction.
func (s *Store) writeTx(ctx context.Context, fn func(tx *Tx) error) error {
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&Tx{tx, conn}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// batch runs stmts in one transaction.
func (s *Store) batch(ctx context.Context, stmts []Stmt) ([]int64, error) {
	var n []int64
	err := s.writeTx(ctx, func(tx *Tx) error {
		var err error
		n, err = s.d.ExecBatch(ctx, tx, stmts)
		return err
	})
	return n, err
}

// execOne runs stmts in tx and requires each to affect exactly one row:
// anything else means another writer got there first.
func (s *Store) execOne(ctx context.Context, tx *Tx, stmts []Stmt) error {
	n, err := s.d.ExecBatch(ctx, tx, stmts)
	// The counts of the statements that ran come first: an update that
	// missed its row makes the next statement fail (a version row's foreign
	// key), and the miss is the cause.
	for _, k := range n {
		if k != 1 {
			return errRace
		}
	}
	if err != nil && s.d.Classify(err) == ErrUnique {
		return fmt.Errorf("%w: %w", errRace, err)
	}
	return err
}

// ExecPrepared is the plain ExecBatch: each distinct statement prepared
// once in tx, then executed.
func ExecPrepared(ctx context.Context, tx *Tx, stmts []Stmt) ([]int64, error) {
	prepared := map[string]*sql.Stmt{}
	defer func() {
		for _, p := range prepared {
			p.Close()
		}
	}()
	out := make([]int64, 0, len(stmts))
	for _, st := range stmts {
		p, ok := prepared[st.SQL]
		if !ok {
			var err error
			if p, err = tx.PrepareContext(ctx, st.SQL); err != nil {
				return out, err
			}
			prepared[st.SQL] = p
		}
		res, err := p.ExecContext(ctx, st.Args...)
		if err != nil {
			return out, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return out, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Migrate applies the numbered migrations in dir of fsys that the
// schema_migrations table (created by createTable) does not list, in one
// write transaction after lock. Both databases have transactional DDL, so
// a failed migration leaves no trace. where names the database in logs.
func (s *Store) Migrate(ctx context.Context, fsys fs.FS, createTable string, lock func(*Tx) error, where slog.Attr) error {
	migrations, err := contract.Migrations(fsys, "migrations")
	if err != nil {
		return fmt.Errorf("reading migrations: %w", err)
	}
	err = s.writeTx(ctx, func(tx *Tx) error {
		if err := lock(tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, createTable); err != nil {
			return err
		}
		applied, err := collect(ctx, s, tx.QueryContext, `SELECT version FROM schema_migrations`, nil, scanOne[int])
		if err != nil {
			return err
		}
		done := make(map[int]bool, len(applied))
		for _, v := range applied {
			done[v] = true
			if v > len(migrations) {
				s.logger.WarnContext(ctx, "store: database schema is newer than this release; upgrade activity-core",
					where, "version", v, "known", len(migrations))
			}
		}
		for _, m := range migrations {
			if done[m.Version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.Version, m.Name, s.time(s.now())); err != nil {
				return err
			}
			s.logger.InfoContext(ctx, "store: applied migration", where, "migration", m.Name)
		}
		return nil
	})
	return s.dbErr(err)
}

// --- parameters ---

func (s *Store) time(t time.Time) any { return s.d.Time(contract.Time(t)) }

func (s *Store) timePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.time(*t)
}

// jsonArg is a JSON field as a parameter: text, or NULL when absent.
func jsonArg(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// bytesOf is s as a non-nil []byte, for NOT NULL byte columns.
func bytesOf(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return []byte(s)
}

// keys is a list of keys as one parameter, for Dialect.In.
func (s *Store) keys(keys []string) any {
	if keys == nil {
		keys = []string{}
	}
	return s.d.List(keys)
}

// --- scanning ---

// TimeLayout is how SQLite stores times: fixed width, so text order is
// time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// timeCol receives a time column as the driver hands it over: a time.Time
// from PostgreSQL, text from SQLite, parsed later so that a bad one makes
// its row corrupt rather than failing the scan.
type timeCol struct {
	t    time.Time
	text string
	kind byte // 0 NULL, 't' time, 's' text
}

func (c *timeCol) Scan(src any) error {
	*c = timeCol{}
	switch v := src.(type) {
	case nil:
	case time.Time:
		c.t, c.kind = v, 't'
	case string:
		c.text, c.kind = v, 's'
	case []byte:
		c.text, c.kind = string(v), 's'
	default:
		return fmt.Errorf("time column holds a %T", src)
	}
	return nil
}

// arg is the column's value as a parameter again, as read: a cursor from a
// row whose time is corrupt still moves on.
func (c timeCol) arg() any {
	if c.kind == 's' {
		return c.text
	}
	return c.t
}

func (c timeCol) parse() (time.Time, error) {
	switch c.kind {
	case 't':
		return c.t.UTC(), nil
	case 0:
		return time.Time{}, errors.New("time is NULL")
	}
	t, err := time.Parse(TimeLayout, c.text)
	if err != nil {
		// Accept any RFC 3339 time someone typed in by hand.
		if t, err = time.Parse(time.RFC3339Nano, c.text); err != nil {
			return t, fmt.Errorf("bad time %q", c.text)
		}
	}
	return contract.Time(t), nil
}

// times parses several time columns at once, keeping the first error.
type times struct{ err error }

func (ts *times) at(c timeCol, dst *time.Time) {
	if ts.err == nil {
		*dst, ts.err = c.parse()
	}
}

func (ts *times) ptr(c timeCol, dst **time.Time) {
	if ts.err == nil && c.kind != 0 {
		var t time.Time
		t, ts.err = c.parse()
		*dst = &t
	}
}

// jsonOf is a nullable JSON column as the record holds it.
func jsonOf(s sql.NullString) []byte {
	if !s.Valid {
		return nil
	}
	return []byte(s.String)
}

// firstErr is the first non-nil error of errs: a row is corrupt for the
// first reason found.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanOne[T any](row scanner) (T, error) {
	var v T
	return v, row.Scan(&v)
}

// queryFunc is QueryContext of a *sql.DB or a *Tx.
type queryFunc func(ctx context.Context, query string, args ...any) (*sql.Rows, error)

// collect runs a query and scans every row, logging and skipping corrupt
// ones.
func collect[T any](ctx context.Context, s *Store, query queryFunc, q string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err == nil {
			out = append(out, v)
		} else if err := contract.SkipCorrupt(ctx, s.logger, err); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// get reads one row; none is store.ErrNotFound, wrapped with what.
func get[T any](ctx context.Context, s *Store, what string, q string, args []any, scan func(scanner) (T, error)) (T, error) {
	v, err := scan(s.reader.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("getting %s: %w", what, s.dbErr(err))
	}
	return v, nil
}

// list reads rows through the reader, skipping corrupt ones.
func list[T any](ctx context.Context, s *Store, what string, q string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	out, err := collect(ctx, s, s.reader.QueryContext, q, args, scan)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, s.dbErr(err))
	}
	return out, nil
}

// where builds a WHERE clause from the conditions a filter asks for; each
// ? in a condition becomes the next $N.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	var b strings.Builder
	for _, a := range args {
		i := strings.IndexByte(cond, '?')
		b.WriteString(cond[:i])
		b.WriteString(w.param(a))
		cond = cond[i+1:]
	}
	b.WriteString(cond)
	w.conds = append(w.conds, b.String())
}

// param adds an argument and returns its placeholder.
func (w *where) param(arg any) string {
	w.args = append(w.args, arg)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}
