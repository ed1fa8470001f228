package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/devserver"
	"github.com/coulomb/activity-core/internal/testsupport"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if mtls.srv != nil {
		_ = mtls.srv.Stop()
	}
	if mtls.dir != "" {
		_ = os.RemoveAll(mtls.dir)
	}
	os.Exit(code)
}

// mtlsServer is one embedded Temporal whose frontend requires a client
// certificate from ca, shared by the tests of this file (starting a server
// takes seconds). auth records the authorization headers it was sent.
var mtls struct {
	once sync.Once
	err  error
	srv  *devserver.Temporal
	ca   *testsupport.CA
	dir  string

	mu   sync.Mutex
	auth []string
}

func mtlsServer(t *testing.T) *devserver.Temporal {
	t.Helper()
	mtls.once.Do(func() {
		mtls.ca = testsupport.NewCA(t, "activity-core test CA")
		dir, err := os.MkdirTemp("", "activity-core-tls-")
		if err != nil {
			mtls.err = err
			return
		}
		mtls.dir = dir
		ca := mtls.ca.WriteCA(t, dir, "ca.pem")
		cert, key := mtls.ca.IssueFiles(t, dir, "frontend", testsupport.Leaf{CommonName: "temporal", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		mtls.srv, mtls.err = devserver.StartTemporal(ctx, devserver.TemporalConfig{
			TLS: &devserver.TemporalTLS{CertFile: cert, KeyFile: key, CAFile: ca, ServerName: "localhost", RequireClientAuth: true},
			FrontendInterceptors: []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if md, ok := metadata.FromIncomingContext(ctx); ok {
					if v := md.Get("authorization"); len(v) > 0 {
						mtls.mu.Lock()
						mtls.auth = append(mtls.auth, v...)
						mtls.mu.Unlock()
					}
				}
				return h(ctx, req)
			}},
		})
	})
	if mtls.err != nil {
		t.Fatalf("embedded Temporal with mTLS: %v", mtls.err)
	}
	return mtls.srv
}

// engines are settings that reach the mTLS server with a fresh client
// certificate from the test CA, in their own directory.
func engines(t *testing.T, srv *devserver.Temporal) config.Engines {
	t.Helper()
	dir := t.TempDir()
	cert, key := mtls.ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	return config.Engines{
		DatabaseURL: "sqlite://" + filepath.Join(dir, "store.db"), TemporalAddress: srv.Address(), TemporalNamespace: srv.Namespace(),
		TaskQueue: "tls-" + filepath.Base(dir), NATSSubjects: config.NATSSubjectsDefault,
		TemporalTLS: config.TemporalTLS{TemporalTLSCA: filepath.Join(mtls.dir, "ca.pem"), TemporalTLSCert: cert, TemporalTLSKey: key},
	}
}

// logSink collects the logs of a client, to show what they hold.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *logSink) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// dial builds a client the way Run does and probes it.
func dial(t *testing.T, e config.Engines, logs *logSink) (client.Client, error) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := client.Options{HostPort: e.TemporalAddress, Namespace: e.TemporalNamespace, Logger: sdklog.NewStructuredLogger(log)}
	if err := withTemporalTLS(&opts, e, log); err != nil {
		return nil, err
	}
	tc, err := client.NewLazyClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return tc, probeTemporal(context.Background(), tc, e, log)
}

func settingOf(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) {
		return ce.Setting
	}
	return ""
}

func echo(ctx workflow.Context, s string) (string, error) { return "echo " + s, nil }

func TestTemporalMTLSRunsAWorkflow(t *testing.T) {
	srv := mtlsServer(t)
	e := engines(t, srv)
	var logs logSink
	tc, err := dial(t, e, &logs)
	if err != nil {
		t.Fatalf("good mTLS settings refused: %v", err)
	}
	w := worker.New(tc, e.TaskQueue, worker.Options{})
	w.RegisterWorkflow(echo)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.TaskQueue}, echo, "over mTLS")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "echo over mTLS" {
		t.Fatalf("workflow: %q, %v", got, err)
	}
}

func TestTemporalTLSRefusalsNameTheSetting(t *testing.T) {
	srv := mtlsServer(t)
	stranger := testsupport.NewCA(t, "stranger CA")
	for _, tc := range []struct {
		name    string
		mutate  func(t *testing.T, e *config.Engines)
		setting string
		msg     string
	}{
		{"wrong CA", func(t *testing.T, e *config.Engines) {
			e.TemporalTLSCA = stranger.WriteCA(t, t.TempDir(), "other-ca.pem")
		}, config.TemporalTLSCASetting, "certificate at " + srv.Address() + " is not trusted by "},
		{"system roots do not know the test CA", func(t *testing.T, e *config.Engines) {
			e.TemporalTLSCA = ""
		}, config.TemporalTLSCASetting, "is not trusted by the system's CA roots"},
		{"missing client certificate", func(t *testing.T, e *config.Engines) {
			e.TemporalTLSCert, e.TemporalTLSKey = "", ""
		}, config.TemporalTLSCertSetting, "requires a client certificate (mTLS); set ACTIVITY_TEMPORAL_TLS_CERT and ACTIVITY_TEMPORAL_TLS_KEY"},
		{"client certificate from another CA", func(t *testing.T, e *config.Engines) {
			e.TemporalTLSCert, e.TemporalTLSKey = stranger.IssueFiles(t, t.TempDir(), "stranger", testsupport.Leaf{CommonName: "x", Client: true})
		}, config.TemporalTLSCertSetting, "refused the client certificate in "},
		{"expired client certificate", func(t *testing.T, e *config.Engines) {
			e.TemporalTLSCert, e.TemporalTLSKey = mtls.ca.IssueFiles(t, t.TempDir(), "old", testsupport.Leaf{CommonName: "old", Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		}, config.TemporalTLSCertSetting, "expired on"},
		{"server name", func(t *testing.T, e *config.Engines) {
			e.TemporalServerName = "temporal.example"
		}, "ACTIVITY_TEMPORAL_TLS_SERVER_NAME", `does not carry the name "temporal.example"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := engines(t, srv)
			tc.mutate(t, &e)
			_, err := dial(t, e, &logSink{})
			if settingOf(err) != tc.setting || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("want %s: …%s…, got %v", tc.setting, tc.msg, err)
			}
		})
	}
}

// TestRunRefusesAMissingClientCertificate goes through Run, as serve does.
func TestRunRefusesAMissingClientCertificate(t *testing.T) {
	srv := mtlsServer(t)
	e := engines(t, srv)
	e.TemporalTLSCert, e.TemporalTLSKey = "", ""
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, Options{Roles: []string{RoleWorker}, Engines: e, Sync: config.Sync{SchedulePrefix: "tls:", SyncMaxErrors: 1},
		Containment: config.Containment{CgroupRoot: "off"}, Logger: slog.New(slog.DiscardHandler)})
	if settingOf(err) != config.TemporalTLSCertSetting {
		t.Fatalf("want %s, got %v", config.TemporalTLSCertSetting, err)
	}
}

// TestRunOverMTLS starts a worker role over mTLS and stops it.
func TestRunOverMTLS(t *testing.T) {
	srv := mtlsServer(t)
	e := engines(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Roles: []string{RoleWorker}, Engines: e, Sync: config.Sync{SchedulePrefix: "tls:", SyncMaxErrors: 1},
			Containment: config.Containment{CgroupRoot: "off"}, Logger: slog.New(slog.DiscardHandler), Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	case err := <-done:
		t.Fatalf("Run ended before ready: %v", err)
	}
}

// TestRotatedClientCertificateWithoutRestart starts with a certificate the
// frontend does not trust, then rotates the files: the same client gets
// in on its next connection.
func TestRotatedClientCertificateWithoutRestart(t *testing.T) {
	srv := mtlsServer(t)
	e := engines(t, srv)
	stranger := testsupport.NewCA(t, "stranger CA")
	dir := filepath.Dir(e.TemporalTLSCert)
	stranger.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	var logs logSink
	tc, err := dial(t, e, &logs)
	if settingOf(err) != config.TemporalTLSCertSetting {
		t.Fatalf("untrusted certificate: want %s, got %v", config.TemporalTLSCertSetting, err)
	}

	mtls.ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "activity-core", Client: true})
	testsupport.Eventually(t, time.Minute, "the rotated certificate is used", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	})
	if !strings.Contains(logs.String(), "client certificate reloaded") {
		t.Errorf("reload not logged:\n%s", logs.String())
	}
}

func TestAPIKeyIsSentAsBearerAndNeverLogged(t *testing.T) {
	srv := mtlsServer(t)
	e := engines(t, srv)
	const key = "test-api-key-4f9c2a"
	e.TemporalAPIKey = key
	var logs logSink
	if _, err := dial(t, e, &logs); err != nil {
		t.Fatal(err)
	}
	mtls.mu.Lock()
	sent := slices.Contains(mtls.auth, "Bearer "+key)
	mtls.mu.Unlock()
	if !sent {
		t.Errorf("the frontend did not receive authorization: Bearer <key>")
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("API key in the logs:\n%s", logs.String())
	}
}

// TestTemporalDownIsNotASettingError: roles start while Temporal is down.
func TestTemporalDownIsNotASettingError(t *testing.T) {
	mtlsServer(t)
	e := engines(t, mtls.srv)
	e.TemporalAddress = testsupport.FreeAddr(t)
	var logs logSink
	if _, err := dial(t, e, &logs); err != nil {
		t.Fatalf("Temporal down must not stop startup: %v", err)
	}
	if !strings.Contains(logs.String(), "Temporal is not reachable yet") {
		t.Errorf("not logged:\n%s", logs.String())
	}
}

// TestTemporalSettingError covers the refusals the embedded server does
// not produce (an expired certificate the process already holds, a
// plaintext frontend) with the messages gRPC gives for them.
func TestTemporalSettingError(t *testing.T) {
	e := config.Engines{TemporalAddress: "temporal.example.internal:7233", TemporalTLS: config.TemporalTLS{TemporalTLSCert: "/c.pem", TemporalTLSKey: "/k.pem"}}
	for _, tc := range []struct{ msg, setting, want string }{
		{`failed reaching server: connection error: desc = "error reading server preface: remote error: tls: expired certificate"`, config.TemporalTLSCertSetting, "refused the client certificate in /c.pem as expired"},
		{`connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`, "ACTIVITY_TEMPORAL_TLS", "does not speak TLS"},
		{`connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`, config.TemporalTLSCASetting, "not trusted by the system's CA roots (tls: failed to verify certificate: x509: certificate signed by unknown authority)"},
		{`connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.1:7233: connect: connection refused"`, "", ""},
		{`context deadline exceeded`, "", ""},
	} {
		err := temporalSettingError(errors.New(tc.msg), e)
		if settingOf(err) != tc.setting || (tc.want != "" && !strings.Contains(err.Error(), tc.want)) || (tc.setting == "" && err != nil) {
			t.Errorf("%s:\n got %v\nwant %s: …%s…", tc.msg, err, tc.setting, tc.want)
		}
	}
}
