// Package postgres is the production Store, on PostgreSQL through pgx v5.
// The queries are sqlstore's, run through pgx's database/sql adapter over
// this package's pgxpool; this package connects, migrates, takes the sync
// lock, maps errors and supplies PostgreSQL's dialect.
//
// A deployment lives in one schema, chosen by the URL's search_path; the
// advisory lock keys derive from the schema name, so deployments sharing a
// database never block each other. The sync lock is a session-level
// advisory lock on a connection of its own, outside the pool (see
// WithSyncLock).
package postgres

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Defaults of Config.
const (
	// connectTimeoutDefault bounds each connection attempt, so that a bad
	// host stops startup within seconds instead of the operating system's
	// minutes. A connect_timeout in the URL wins.
	connectTimeoutDefault = 5 * time.Second
	// lockCheckIntervalDefault is how often a held sync lock checks that
	// its session is still alive.
	lockCheckIntervalDefault = 5 * time.Second
	// applicationNameDefault names activity-core's sessions in
	// pg_stat_activity, unless the URL sets application_name.
	applicationNameDefault = "activity-core"
)

// Config configures a Store. Only URL is required.
type Config struct {
	// URL is a postgres:// or postgresql:// URL, or a key=value DSN, as
	// pgx reads it (pool_max_conns and the like included).
	URL string
	// Logger receives the store's warnings (corrupt rows, migrations).
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock the store stamps records with. Default: time.Now.
	Now func() time.Time
	// ConnectTimeout bounds each connection attempt, unless the URL sets
	// connect_timeout. Default: 5s.
	ConnectTimeout time.Duration
	// LockCheckInterval is how often a held sync lock checks its session.
	// Default: 5s.
	LockCheckInterval time.Duration
}

// Store is the PostgreSQL Store. Create it with Open or New.
type Store struct {
	*sqlstore.Store
	pool           *pgxpool.Pool
	db             *sql.DB // the pool through database/sql, for sqlstore
	lockConfig     *pgx.ConnConfig
	logger         *slog.Logger
	lockCheck      time.Duration
	schema         string
	syncLockKey    int64
	migrateLockKey int64
	catalogLockKey int64
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url with default settings; it is what
// storeopen.Open calls for postgres:// URLs.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	return New(ctx, Config{URL: url, Logger: logger})
}

// New connects to the database and checks that it answers, so that a bad
// URL, an unreachable server or wrong credentials are reported at startup
// in one line that says what to fix. It does not migrate: call Migrate.
func New(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("invalid PostgreSQL URL: %w%s", err, tlsFileHint(err))
	}
	cc := pc.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, connectTimeoutDefault)
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = applicationNameDefault
	}
	s := &Store{
		logger:    cmp.Or(cfg.Logger, slog.Default()),
		lockCheck: cmp.Or(cfg.LockCheckInterval, lockCheckIntervalDefault),
	}
	// The lock connection cancels a waiting pg_advisory_lock on the server
	// when ctx ends, rather than only dropping the socket: a dropped socket
	// leaves the backend queued for the lock until it is granted.
	s.lockConfig = cc.Copy()
	s.lockConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}

	s.pool, err = pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, describeConnectError(cc, err)
	}
	cctx, cancel := context.WithTimeout(ctx, cc.ConnectTimeout+time.Second)
	defer cancel()
	var schema *string
	if err := s.pool.QueryRow(cctx, "SELECT current_schema()").Scan(&schema); err != nil {
		s.pool.Close()
		return nil, describeConnectError(cc, err)
	}
	if schema == nil {
		s.pool.Close()
		return nil, fmt.Errorf("%s: the search_path (%s) names no existing schema: create the schema or fix search_path in the URL",
			target(cc), cc.RuntimeParams["search_path"])
	}
	s.schema = *schema
	s.syncLockKey = lockKey("sync", s.schema)
	s.migrateLockKey = lockKey("migrate", s.schema)
	s.catalogLockKey = lockKey("catalog", s.schema)
	// database/sql over the same pool keeps its configuration: connect
	// timeout, TLS, application_name and search_path.
	s.db = stdlib.OpenDBFromPool(s.pool)
	s.Store = sqlstore.New(dialect{s.catalogLockKey}, s.db, s.db, s.logger, cfg.Now)
	return s, nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pinging PostgreSQL: %w", dbErr(err))
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	err := s.db.Close()
	s.pool.Close()
	return err
}

// Migrate implements store.Store. It runs in one transaction under a
// transaction-level advisory lock, so concurrent callers (replicas starting
// together) wait for each other and the later ones find nothing to do.
func (s *Store) Migrate(ctx context.Context) error {
	err := s.Store.Migrate(ctx, migrationFS, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL)`,
		func(tx *sqlstore.Tx) error { return advisoryXactLock(ctx, tx, s.migrateLockKey) },
		slog.String("schema", s.schema))
	if err != nil {
		return fmt.Errorf("migrating PostgreSQL schema %q: %w", s.schema, err)
	}
	return nil
}

func advisoryXactLock(ctx context.Context, tx *sqlstore.Tx, key int64) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", key)
	return err
}

// lockKey derives an advisory lock key from a purpose and the schema, so
// that deployments in different schemas of one database do not share locks.
func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, "activity-core:"+purpose+":"+schema) // a hash's Write never fails
	return int64(h.Sum64())
}

func target(cc *pgx.ConnConfig) string {
	return fmt.Sprintf("PostgreSQL at %s:%d (database %q, user %q)", cc.Host, cc.Port, cc.Database, cc.User)
}

// tlsFileHint names the URL parameter behind a TLS file pgx could not
// load.
func tlsFileHint(err error) string {
	m := err.Error()
	switch {
	case strings.Contains(m, "CA file"), strings.Contains(m, "CA to cert pool"):
		return "; sslrootcert must name a readable PEM file of the CA that signed the server's certificate"
	case strings.Contains(m, "sslkey"), strings.Contains(m, "decrypt key"), strings.Contains(m, "sslpassword"):
		return "; check sslkey (the client key file) and sslpassword"
	case strings.Contains(m, "read cert"), strings.Contains(m, "load cert"):
		return "; check sslcert and sslkey (the client certificate and its key)"
	}
	return ""
}

// describeTLSError explains a failed TLS handshake, naming the URL
// parameter to fix (docs/deployment.md#secure-connections); "" when err
// is not one.
func describeTLSError(cc *pgx.ConnConfig, err error) string {
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &hostErr):
		return fmt.Sprintf("%s: the server's certificate is not for host %q (%v); with sslmode=verify-full the host in the URL must be a name in the certificate: use that name, or reissue the certificate",
			target(cc), cc.Host, hostErr)
	case errors.As(err, &certErr):
		return fmt.Sprintf("%s: the server's certificate is not trusted (%v); set sslrootcert in the URL to the PEM file of the CA that signed it",
			target(cc), certErr.Err)
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return fmt.Sprintf("%s does not offer TLS, which the URL's sslmode requires; turn ssl on in the server or change sslmode", target(cc))
	}
	return ""
}

// describeConnectError turns a failed first connection into one line that
// says what is wrong and what to check.
func describeConnectError(cc *pgx.ConnConfig, err error) error {
	if msg := describeTLSError(cc, err); msg != "" {
		return errors.New(msg)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			return fmt.Errorf("%s refused the login: %s; check the user and password in the URL", target(cc), pgErr.Message)
		case "3D000":
			return fmt.Errorf("%s: the database does not exist; create it (createdb %s) or fix the URL", target(cc), cc.Database)
		}
		return fmt.Errorf("%s: %s (SQLSTATE %s)", target(cc), pgErr.Message, pgErr.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return fmt.Errorf("%s did not answer within %s; is the server up, and are host and port right?", target(cc), cc.ConnectTimeout)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("cannot resolve the host of %s: %v; check the host in the URL", target(cc), dnsErr)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("cannot reach %s: %v; is the server running, and are host and port right?", target(cc), opErr)
	}
	return fmt.Errorf("cannot connect to %s: %v", target(cc), err)
}

// dbErr marks errors worth retrying with store.ErrUnavailable: the
// connection broke, the server is shutting down or starting, or it asked
// for a retry. Other errors are returned unchanged.
func dbErr(err error) error {
	if err == nil || !retryable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up; that is not the database's doing
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch c := pgErr.Code; {
		case strings.HasPrefix(c, "08"), // connection exception
			c == "40001", // serialization_failure
			c == "40P01", // deadlock_detected
			c == "53300", // too_many_connections
			c == "57P01", // admin_shutdown
			c == "57P02", // crash_shutdown
			c == "57P03": // cannot_connect_now
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err)
}

// dialect is PostgreSQL's sqlstore.Dialect.
type dialect struct{ catalogLockKey int64 }

func (dialect) Time(t time.Time) any        { return t }
func (dialect) List(keys []string) any      { return keys }
func (dialect) In(col, param string) string { return col + " = ANY(" + param + ")" }
func (dialect) ValidJSON(col string) string { return "TRUE" } // the json type keeps it valid
func (dialect) Classify(err error) sqlstore.ErrKind {
	switch {
	case retryable(err):
		return sqlstore.ErrUnavailable
	case pgCode(err) == "23505": // unique_violation
		return sqlstore.ErrUnique
	case pgCode(err) == "23503": // foreign_key_violation
		return sqlstore.ErrForeignKey
	}
	return sqlstore.ErrOther
}

// Lease is by the server's clock.
func (dialect) Lease(param string, ttl time.Duration) (now, expires string, arg any) {
	return "now()", "now() + " + param + "::bigint * interval '1 microsecond'", ttl.Microseconds()
}

// LockCatalog takes a transaction-level advisory lock, so two batches of
// definitions or event types never interleave between their read and
// their write: version numbers cannot be skipped or taken twice, and
// nobody has to retry.
func (d dialect) LockCatalog(ctx context.Context, tx *sqlstore.Tx) error {
	return advisoryXactLock(ctx, tx, d.catalogLockKey)
}

// ExecBatch sends stmts as one pipelined pgx batch: one round trip for a
// whole sync's writes (docs/benchmarks-store.md#upsert-10000-definitions-the-definitions-stage-of-a-sync).
func (dialect) ExecBatch(ctx context.Context, tx *sqlstore.Tx, stmts []sqlstore.Stmt) ([]int64, error) {
	if len(stmts) == 0 {
		return nil, nil
	}
	out := make([]int64, 0, len(stmts))
	err := tx.Conn.Raw(func(dc any) error {
		b := &pgx.Batch{}
		for _, st := range stmts {
			b.Queue(st.SQL, st.Args...)
		}
		br := dc.(*stdlib.Conn).Conn().SendBatch(ctx, b)
		defer br.Close()
		for range stmts {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			out = append(out, tag.RowsAffected())
		}
		return br.Close()
	})
	return out, err
}

// pgCode is the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
