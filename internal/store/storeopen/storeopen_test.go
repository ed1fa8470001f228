package storeopen_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store/storeopen"
)

// checkFailure checks an Open failure is what an operator should see: fast,
// one line, naming the setting and saying what is wrong, no password.
func checkFailure(t *testing.T, rawURL string, want ...string) {
	t.Helper()
	start := time.Now()
	s, err := storeopen.Open(context.Background(), rawURL, nil)
	took := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatalf("Open(%q) succeeded", rawURL)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, storeopen.Setting+": ") || strings.Contains(msg, "\n") {
		t.Errorf("Open(%q) error is not one line naming %s: %q", rawURL, storeopen.Setting, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("Open(%q) error %q does not say %q", rawURL, msg, w)
		}
	}
	if strings.Contains(msg, "s3cret") || strings.Contains(msg, "s3 cret") {
		t.Errorf("Open(%q) error shows the password: %q", rawURL, msg)
	}
	if took > 8*time.Second {
		t.Errorf("Open(%q) took %s to fail", rawURL, took)
	}
	var se *storeopen.Error
	if !errors.As(err, &se) {
		t.Errorf("Open(%q) error is %T, want *storeopen.Error", rawURL, err)
	}
	t.Logf("%s", msg)
}

func TestOpenBadURL(t *testing.T) {
	checkFailure(t, "", "want postgres://")
	checkFailure(t, "localhost:5432", "unsupported scheme")
	checkFailure(t, "mysql://root:s3cret@db/activity", "unsupported scheme \"mysql\"", "want postgres://")
	checkFailure(t, "sqlite://var/lib/x.db", "three slashes")
	checkFailure(t, "sqlite:///no/such/dir/x.db", "directory /no/such/dir does not exist")
	checkFailure(t, "postgres://u:s3cret@127.0.0.1:5432/db?sslmode=bogus", "invalid PostgreSQL URL")
	// A key=value DSN is not a URL; its password, spaces and all, stays hidden.
	checkFailure(t, "password='s3cret  x' host=db:5432", "not a URL")
	checkFailure(t, "password='s3  cret' host=db:5432", "not a URL")
}

func TestOpenUnreachable(t *testing.T) {
	// Nothing listens on port 1: refused at once.
	checkFailure(t, "postgres://activity:s3cret@127.0.0.1:1/activity?sslmode=disable",
		"cannot reach PostgreSQL at 127.0.0.1:1", "is the server running")
	// A name that does not resolve.
	checkFailure(t, "postgres://activity:s3cret@no-such-host.invalid:5432/activity?sslmode=disable&connect_timeout=2",
		"cannot resolve the host", "no-such-host.invalid")
}

func TestOpenSilentServer(t *testing.T) {
	// A server that accepts connections and never answers: the connect
	// timeout ends the wait.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	checkFailure(t, "postgres://activity@"+ln.Addr().String()+"/activity?sslmode=disable&connect_timeout=1",
		"did not answer within 1s")
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := storeopen.Open(context.Background(), "sqlite://"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate on a new file: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	base := os.Getenv("ACTIVITY_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("ACTIVITY_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	s, err := storeopen.Open(context.Background(), base, nil)
	if err != nil {
		t.Fatalf("Open(ACTIVITY_TEST_POSTGRES_URL): %v", err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	s.Close()

	with := func(mutate func(u *url.URL)) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		mutate(u)
		return u.String()
	}
	checkFailure(t, with(func(u *url.URL) { u.User = url.UserPassword("no_such_role_x", "s3cret") }),
		"refused the login", "no_such_role_x", "check the user and password")
	checkFailure(t, with(func(u *url.URL) { u.Path = "/no_such_database_x" }),
		"database does not exist", "createdb no_such_database_x")
	checkFailure(t, with(func(u *url.URL) {
		q := u.Query()
		q.Set("search_path", "no_such_schema_x")
		u.RawQuery = q.Encode()
	}), "names no existing schema")
}
