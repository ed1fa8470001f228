// Package sqlite is the embedded Store, on one SQLite file through
// modernc.org/sqlite (pure Go, no cgo), for `activity-core dev` and
// single-node installs. The queries are sqlstore's; this package opens the
// file, migrates it, takes the sync lock and supplies SQLite's dialect.
//
// The file is in WAL mode, so readers never wait for the writer. All
// writes of a process go through one connection whose transactions start
// with BEGIN IMMEDIATE, so goroutines queue in database/sql instead of
// failing with SQLITE_BUSY. The sync lock is a flock(2) on
// "<database>.sync-lock" (see WithSyncLock).
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Defaults of Config.
const (
	// busyTimeoutDefault is how long a write waits for another process's
	// write transaction before failing with store.ErrUnavailable.
	busyTimeoutDefault = 10 * time.Second
	// readConnsDefault is the size of the read pool.
	readConnsDefault = 4
)

// Config configures a Store. Only Path is required.
type Config struct {
	// Path is the database file; it is created if missing, but its
	// directory must exist.
	Path string
	// Logger receives the store's warnings (corrupt rows, migrations).
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock the store stamps records with. Default: time.Now.
	Now func() time.Time
	// BusyTimeout is how long a write waits for another process's write
	// transaction. Default: 10s.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool. Default: 4.
	ReadConns int
}

// Store is the SQLite Store. Create it with Open or New.
type Store struct {
	*sqlstore.Store
	path     string
	lockPath string
	writer   *sql.DB // exactly one connection; every write goes here
	reader   *sql.DB // query-only connections
}

var _ store.Store = (*Store)(nil)

// PathFromURL returns the file named by a sqlite: URL: sqlite:///abs/path
// (the documented form) or sqlite:relative/path (relative to the working
// directory).
func PathFromURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "sqlite" {
		return "", fmt.Errorf("not a sqlite URL: want sqlite:///absolute/path/to/file.db")
	}
	var p string
	switch {
	case u.Opaque != "":
		p = u.Opaque
	case u.Host != "":
		return "", fmt.Errorf("sqlite URL %q has a host %q: want three slashes, sqlite:///absolute/path/to/file.db", rawURL, u.Host)
	default:
		p = u.Path
	}
	if p == "" || strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("sqlite URL %q names no file: want sqlite:///absolute/path/to/file.db", rawURL)
	}
	if u.RawQuery != "" {
		return "", fmt.Errorf("sqlite URL %q: query parameters are not supported", rawURL)
	}
	return p, nil
}

// Open opens the database named by a sqlite: URL (see PathFromURL) with
// default settings; it is what storeopen.Open calls.
func Open(ctx context.Context, rawURL string, logger *slog.Logger) (*Store, error) {
	p, err := PathFromURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(ctx, Config{Path: p, Logger: logger})
}

// New opens (creating if needed) the database file and checks it is
// usable. It does not migrate: call Migrate.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("no SQLite database path")
	}
	if strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("SQLite database path %q: '?' and '#' are not supported in file names", cfg.Path)
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(filepath.Dir(abs)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("SQLite database %s: directory %s does not exist; create it or fix the path", abs, filepath.Dir(abs))
	}
	busy := cmp.Or(cfg.BusyTimeout, busyTimeoutDefault).Milliseconds()
	base := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)", abs, busy)

	s := &Store{path: abs, lockPath: abs + ".sync-lock"}
	s.writer, err = sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("SQLite database %s: %w", abs, err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	// Connecting the writer first creates the file and switches it to WAL
	// before any reader looks at it.
	if err := s.writer.PingContext(ctx); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("SQLite database %s: %w", abs, err)
	}
	s.reader, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("SQLite database %s: %w", abs, err)
	}
	n := cmp.Or(cfg.ReadConns, readConnsDefault)
	s.reader.SetMaxOpenConns(n)
	s.reader.SetMaxIdleConns(n)
	s.Store = sqlstore.New(dialect{}, s.reader, s.writer, cmp.Or(cfg.Logger, slog.Default()), cfg.Now)
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("SQLite database %s: %w", abs, err)
	}
	return s, nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("pinging SQLite: %w", dbErr(err))
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// Migrate implements store.Store. The whole migration runs in one
// BEGIN IMMEDIATE transaction on the writer, which excludes every other
// writer, in this process or another, until it commits.
func (s *Store) Migrate(ctx context.Context) error {
	err := s.Store.Migrate(ctx, migrationFS, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at TEXT    NOT NULL) STRICT`,
		func(*sqlstore.Tx) error { return nil }, slog.String("path", s.path))
	if err != nil {
		return fmt.Errorf("migrating SQLite database %s: %w", s.path, err)
	}
	return nil
}

// dialect is SQLite's sqlstore.Dialect.
type dialect struct{}

// Time is stored as text in sqlstore.TimeLayout: fixed width, so text
// order is time order.
func (dialect) Time(t time.Time) any { return t.Format(sqlstore.TimeLayout) }

// List passes keys as one JSON array, read with json_each: SQLite has no
// arrays.
func (dialect) List(keys []string) any {
	b, _ := json.Marshal(keys)
	return string(b)
}

func (dialect) In(col, param string) string {
	return col + " IN (SELECT value FROM json_each(" + param + "))"
}

func (dialect) ValidJSON(col string) string { return "json_valid(" + col + ")" }

// sqlNow is SQLite's clock in the stored time format (strftime's %f has
// milliseconds; the zeros pad them to microseconds); the host's, shared by
// every process using the file.
const sqlNow = `strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'`

func (dialect) Lease(param string, ttl time.Duration) (now, expires string, arg any) {
	return sqlNow + ")", sqlNow + ", " + param + ")", fmt.Sprintf("+%.3f seconds", ttl.Seconds())
}

// Classify: the file locked by another process beyond busy_timeout is
// worth retrying.
func (dialect) Classify(err error) sqlstore.ErrKind {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqlstore.ErrOther
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ErrForeignKey
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return sqlstore.ErrUnavailable
	case sqlite3.SQLITE_CONSTRAINT:
		return sqlstore.ErrUnique
	}
	return sqlstore.ErrOther
}

// LockCatalog does nothing: there is one writer, and BEGIN IMMEDIATE
// excludes other processes' writers.
func (dialect) LockCatalog(context.Context, *sqlstore.Tx) error { return nil }

func (dialect) ExecBatch(ctx context.Context, tx *sqlstore.Tx, stmts []sqlstore.Stmt) ([]int64, error) {
	return sqlstore.ExecPrepared(ctx, tx, stmts)
}

// dbErr marks errors worth retrying with store.ErrUnavailable.
func dbErr(err error) error {
	if err != nil && (dialect{}).Classify(err) == sqlstore.ErrUnavailable {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
