package testsupport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresURLEnv names the PostgreSQL database real-engine tests use.
const PostgresURLEnv = "ACTIVITY_TEST_POSTGRES_URL"

// PostgresSchema gives the test a schema of its own, named prefix_<random>,
// in the database at ACTIVITY_TEST_POSTGRES_URL, dropped when the test
// ends, and returns a URL whose search_path selects it. The test is
// skipped, saying what to set, when the variable is empty. Register the
// store's Close after calling it, so that it runs before the drop.
func PostgresSchema(tb testing.TB, prefix string) string {
	tb.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		tb.Skip(PostgresURLEnv + " is not set; set it to a PostgreSQL database the tests may create schemas in, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", PostgresURLEnv, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + "_" + hex.EncodeToString(b)
	exec := func(sql string) {
		tb.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Fatalf("connecting to %s: %v", PostgresURLEnv, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			tb.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE SCHEMA "` + schema + `"`)
	tb.Cleanup(func() { exec(`DROP SCHEMA "` + schema + `" CASCADE`) })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
