package storeopen_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coulomb/activity-core/internal/store/storeopen"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// tlsPostgres is a private PostgreSQL cluster with ssl=on, its server
// certificate (for 127.0.0.1 only) signed by a test CA.
type tlsPostgres struct {
	port   string
	caFile string
	ca     *testsupport.CA
}

// pgBin is the newest /usr/lib/postgresql/*/bin with initdb and postgres.
func pgBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// startTLSPostgres initialises and starts the cluster; it runs as the
// postgres user when the test runs as root (initdb refuses root).
func startTLSPostgres(t *testing.T) *tlsPostgres {
	t.Helper()
	if os.Getenv("ACTIVITY_TEST_POSTGRES_URL") == "" {
		t.Skip("set ACTIVITY_TEST_POSTGRES_URL to run the PostgreSQL TLS tests (they start their own cluster with ssl=on)")
	}
	bin := pgBin()
	if bin == "" {
		t.Skip("no /usr/lib/postgresql/*/bin/initdb: install PostgreSQL to run the TLS tests")
	}
	var cred *syscall.Credential
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root, PostgreSQL needs the postgres user")
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "activity-pg-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &tlsPostgres{ca: testsupport.NewCA(t, "pg test CA")}
	p.caFile = p.ca.WriteCA(t, dir, "ca.pem")
	cert, key := p.ca.IssueFiles(t, dir, "server", testsupport.Leaf{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	for _, f := range []string{dir, cert, key, p.caFile} {
		if err := os.Chown(f, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	addr := testsupport.FreeAddr(t)
	_, p.port, _ = net.SplitHostPort(addr)
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", p.port, "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "ssl=on",
		"-c", "ssl_cert_file="+cert, "-c", "ssl_key_file="+key)
	srv.Env = initdb.Env
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stdout, srv.Stderr = logFile, logFile
	srv.SysProcAttr = initdb.SysProcAttr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		_ = srv.Wait()
		logFile.Close()
	})
	plain := fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", p.port)
	testsupport.Eventually(t, 30*time.Second, "PostgreSQL accepts connections", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, plain)
		if err != nil {
			log, _ := os.ReadFile(logFile.Name())
			return fmt.Errorf("%v\n%s", err, log)
		}
		return c.Close(ctx)
	})
	return p
}

func (p *tlsPostgres) url(host, query string) string {
	return fmt.Sprintf("postgres://postgres:pg-s3cret-pw@%s:%s/postgres?%s", host, p.port, query)
}

func TestPostgresVerifyFull(t *testing.T) {
	p := startTLSPostgres(t)
	ctx := context.Background()

	t.Run("verify-full with the CA connects and migrates", func(t *testing.T) {
		st, err := storeopen.Open(ctx, p.url("127.0.0.1", "sslmode=verify-full&sslrootcert="+p.caFile), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Migrate(ctx); err != nil {
			t.Fatalf("migrate over TLS: %v", err)
		}
		if err := st.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("verify-ca ignores the host name", func(t *testing.T) {
		st, err := storeopen.Open(ctx, p.url("localhost", "sslmode=verify-ca&sslrootcert="+p.caFile), nil)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	})
	other := testsupport.NewCA(t, "another CA").WriteCA(t, t.TempDir(), "other-ca.pem")
	for _, tc := range []struct {
		name  string
		url   string
		wants []string
	}{
		{"wrong CA", p.url("127.0.0.1", "sslmode=verify-full&sslrootcert="+other), []string{"not trusted", "sslrootcert"}},
		{"system roots", p.url("127.0.0.1", "sslmode=verify-full"), []string{"not trusted", "sslrootcert"}},
		{"wrong host name", p.url("localhost", "sslmode=verify-full&sslrootcert="+p.caFile), []string{`not for host "localhost"`, "verify-full"}},
		{"missing CA file", p.url("127.0.0.1", "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"), []string{"sslrootcert must name a readable PEM file"}},
		{"password in the query", fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?password=pg-s3cret-pw&sslmode=verify-full&sslrootcert=%s", p.port, other), []string{"sslrootcert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := storeopen.Open(ctx, tc.url, nil)
			if err == nil {
				st.Close()
				t.Fatal("connected")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, storeopen.Setting+": ") {
				t.Errorf("does not name %s: %s", storeopen.Setting, msg)
			}
			for _, w := range tc.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "pg-s3cret-pw") {
				t.Errorf("password in %q", msg)
			}
			t.Log(msg)
		})
	}
}
