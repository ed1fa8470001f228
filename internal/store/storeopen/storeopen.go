// Package storeopen opens the Store named by ACTIVITY_DATABASE_URL. It is
// the one place that knows every driver: package store stays free of
// database code (so everything can import it), and the drivers do not
// import each other.
//
// Pointing activity-core at a database:
//
//   - PostgreSQL (production):
//     ACTIVITY_DATABASE_URL=postgres://user@host:5432/dbname?sslmode=verify-full&sslrootcert=/path/ca.pem
//     (TLS verified against the CA, for the URL's host name:
//     docs/deployment.md#secure-connections; errors and logs show the URL
//     with its password redacted).
//     The database must exist (createdb dbname); `activity-core migrate`
//     (also run at every start) creates the tables in the connection's
//     schema: public, or the one named by search_path=NAME in the URL,
//     which must exist. The user needs CREATE on that schema for migrate,
//     and SELECT/INSERT/UPDATE/DELETE afterwards. Any pgx parameter works
//     in the URL (connect_timeout, pool_max_conns, application_name...).
//   - SQLite (dev, single node):
//     ACTIVITY_DATABASE_URL=sqlite:///var/lib/activity-core/activity-core.db
//     Three slashes, then an absolute path (sqlite:relative/path also
//     works). The file is created if missing; its directory must exist.
//     Keep it on a local disk: the sync lock (flock) and SQLite's own
//     locking do not hold over network file systems.
//
// Several processes on one machine may share a SQLite file (writers queue
// on its busy timeout); replicas on several machines need PostgreSQL.
package storeopen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/postgres"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// Setting is the configuration setting the URL comes from; errors name it
// so the operator knows what to fix.
const Setting = "ACTIVITY_DATABASE_URL"

// Open connects to the database named by rawURL:
//
//	postgres://user:password@host:5432/dbname?sslmode=disable   (or postgresql://)
//	sqlite:///absolute/path/to/activity-core.db
//
// A bad scheme, an unreachable server or refused credentials come back
// within seconds (the PostgreSQL driver's connect timeout) as one line
// that starts with the setting's name and says what to check, with any
// password redacted. Open does not migrate: call Migrate.
func Open(ctx context.Context, rawURL string, logger *slog.Logger) (store.Store, error) {
	scheme, _, ok := strings.Cut(rawURL, ":")
	if !ok || !schemeRE.MatchString(scheme) { // a key=value DSN's "scheme" could hold its password
		return nil, fail(errors.New("empty or not a URL; want postgres://user@host:5432/db or sqlite:///path/to/file.db"), "")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		s, err := postgres.Open(ctx, rawURL, logger)
		if err != nil {
			return nil, fail(err, rawURL)
		}
		return s, nil
	case "sqlite":
		s, err := sqlite.Open(ctx, rawURL, logger)
		if err != nil {
			return nil, fail(err, rawURL)
		}
		return s, nil
	}
	return nil, fail(fmt.Errorf("unsupported scheme %q in %s; want postgres:// or sqlite:///path", scheme, secret.RedactURL(rawURL)), rawURL)
}

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// fail makes err one line that names the setting, with the secrets of
// rawURL (a password, an sslpassword) hidden wherever the driver quoted
// them.
func fail(err error, rawURL string) error {
	// Redacted before the spaces are folded, so that a secret with
	// spaces is still found.
	msg := strings.Join(strings.Fields(secret.RedactURLIn(err.Error(), rawURL)), " ")
	return &Error{msg: Setting + ": " + msg, err: err}
}

// Error is a failure to open the store. Its message is one line meant for
// the operator, secrets redacted; Unwrap gives the driver's error, which
// may quote the URL: print Error, not the unwrapped error.
type Error struct {
	msg string
	err error
}

// Error is the one line to show the operator.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.err }
