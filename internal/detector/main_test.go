package detector

import (
	"github.com/coulomb/activity-core/internal/testsupport"

	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/schedule"
	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/postgres"
	"github.com/coulomb/activity-core/internal/store/sqlite"
)

// One embedded Temporal server for the package, started by the first test
// that needs it; tests keep apart by schedule prefix and task queue.
var (
	temporalOnce sync.Once
	temporalSrv  *devserver.Temporal
	temporalTC   client.Client
	temporalErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if temporalTC != nil {
		temporalTC.Close()
	}
	if temporalSrv != nil {
		_ = temporalSrv.Stop()
	}
	os.Exit(code)
}

func quiet() *slog.Logger {
	if testing.Verbose() && os.Getenv("ACTIVITY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// embeddedTemporal is the package's server and a client of it.
func embeddedTemporal(t testing.TB) (*devserver.Temporal, client.Client) {
	t.Helper()
	temporalOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if temporalSrv, temporalErr = devserver.StartTemporal(ctx, devserver.TemporalConfig{}); temporalErr != nil {
			return
		}
		temporalTC, temporalErr = client.DialContext(ctx, client.Options{
			HostPort: temporalSrv.Address(), Namespace: temporalSrv.Namespace(), Logger: sdklog.NewStructuredLogger(quiet()),
		})
	})
	if temporalErr != nil {
		t.Fatalf("embedded Temporal: %v", temporalErr)
	}
	return temporalSrv, temporalTC
}

var nameSeq atomic.Int64

// testName is a short name unique in the process, for prefixes and queues.
func testName(t testing.TB) string {
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("d%d-%s", nameSeq.Add(1), n)
}

// newClock is a fake clock at the current second, shared by a store and a
// detector.
func newClock() *testsupport.Clock {
	return testsupport.NewClock(time.Now().UTC().Truncate(time.Second))
}

// driver opens a fresh migrated store of one kind.
type driver struct {
	name string
	open func(t testing.TB, now func() time.Time) store.Store
}

var drivers = []driver{{"sqlite", openSQLite}, {"postgres", openPostgres}}

func openSQLite(t testing.TB, now func() time.Time) store.Store {
	t.Helper()
	st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "store.db"), Logger: quiet(), Now: now})
	if err != nil {
		t.Fatalf("opening SQLite: %v", err)
	}
	return migrated(t, st)
}

func openPostgres(t testing.TB, now func() time.Time) store.Store {
	t.Helper()
	base := os.Getenv("ACTIVITY_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("ACTIVITY_TEST_POSTGRES_URL is not set; set it to a PostgreSQL database the tests may create schemas in, " +
			"e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "detectortest_" + hex.EncodeToString(b)
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.New(context.Background(), postgres.Config{URL: u.String(), Logger: quiet(), Now: now})
	if err != nil {
		t.Fatalf("opening PostgreSQL: %v", err)
	}
	return migrated(t, st)
}

func migrated(t testing.TB, st store.Store) store.Store {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return st
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// putDefs stores definitions as a sync would: their canonical JSON.
func putDefs(t testing.TB, st store.Store, defs ...*definition.Definition) {
	t.Helper()
	recs := make([]store.Definition, len(defs))
	for i, d := range defs {
		recs[i] = store.Definition{
			ID: d.ID, ContentHash: d.ContentHash(), Spec: d.CanonicalJSON(), SourceFile: "/defs/" + d.ID + ".yaml", SourceDir: "/defs",
			Enabled: d.Enabled, TriggerType: store.TriggerType(d.Trigger.Type), EventType: d.Trigger.EventType,
		}
	}
	for len(recs) > 0 {
		n := min(len(recs), 500)
		if _, err := st.UpsertDefinitions(ctxT(t), recs[:n]...); err != nil {
			t.Fatalf("UpsertDefinitions: %v", err)
		}
		recs = recs[n:]
	}
}

// projector is a real Projector over the embedded Temporal with a prefix
// of its own.
func projector(t testing.TB, st store.Store, name, queue string, now func() time.Time) *schedule.Projector {
	t.Helper()
	_, tc := embeddedTemporal(t)
	p, err := schedule.New(schedule.Config{Client: tc, Store: st, Prefix: name + ":", TaskQueue: queue, Logger: quiet(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// projectorWith is a Projector over any Temporal client; name is its
// prefix and task queue.
func projectorWith(t testing.TB, st store.Store, tc client.Client, name string) *schedule.Projector {
	t.Helper()
	p, err := schedule.New(schedule.Config{Client: tc, Store: st, Prefix: name + ":", TaskQueue: name, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newDetector makes a detector with test defaults: Pass is called by the
// test.
func newDetector(t testing.TB, cfg Config) *Detector {
	t.Helper()
	cfg.Logger = quiet()
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func pass(t testing.TB, d *Detector) PassResult {
	t.Helper()
	res, err := d.Pass(ctxT(t))
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	return res
}

// notificationsOf lists a definition's notifications, oldest first.
func notificationsOf(t testing.TB, st store.Store, defID string) []store.Notification {
	t.Helper()
	ns, err := st.ListNotifications(ctxT(t), store.NotificationFilter{DefinitionID: defID, Limit: store.NotificationLimitMax})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(ns)-1; i < j; i, j = i+1, j-1 {
		ns[i], ns[j] = ns[j], ns[i]
	}
	return ns
}

func events(ns []store.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Event
	}
	return out
}

func missedRuns(t testing.TB, st store.Store, defID string) []store.Run {
	t.Helper()
	page, err := st.ListRuns(ctxT(t), store.RunFilter{DefinitionID: defID, Status: store.RunMissed, Limit: store.RunListLimitMax})
	if err != nil {
		t.Fatal(err)
	}
	return page.Runs
}

func health(t testing.TB, st store.Store, defID string) store.DefinitionHealth {
	t.Helper()
	hs, err := st.ListHealth(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.DefinitionID == defID {
			return h
		}
	}
	t.Fatalf("no health for %s", defID)
	return store.DefinitionHealth{}
}

// finishedRun records a run of def that ended with status at the store's
// clock.
func finishedRun(t testing.TB, st store.Store, id, defID string, status store.RunStatus, at time.Time) {
	t.Helper()
	r := store.Run{ID: id, DefinitionID: defID, DefinitionVersion: 1, Trigger: store.RunTriggerCron, Status: status, StartedAt: &at, FinishedAt: &at, Stderr: "boom: disk full\n"}
	if status == store.RunFailed {
		r.Stage, r.Error = store.StageInstruction, "exit status 1"
	}
	if _, err := st.CreateRun(ctxT(t), r); err != nil {
		t.Fatalf("CreateRun %s: %v", id, err)
	}
}
