package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coulomb/activity-core/internal/store"
	"github.com/coulomb/activity-core/internal/store/postgres"
	"github.com/coulomb/activity-core/internal/testsupport"
)

// proxy forwards TCP connections to PostgreSQL and can be taken down (the
// port refuses connections, open ones are cut) and brought back on the same
// port: a database outage the test controls.
type proxy struct {
	t       *testing.T
	addr    string
	backend string
	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
}

func newProxy(t *testing.T, backend string) *proxy {
	p := &proxy{t: t, backend: backend}
	p.up("127.0.0.1:0")
	t.Cleanup(p.down)
	return p
}

func (p *proxy) up(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }() // ends when either side is cut
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestOutage takes the database away mid-use and brings it back: calls
// fail with retryable errors while it is gone, and the same Store works
// again once it is back, without being reopened.
func TestOutage(t *testing.T) {
	needPostgres(t)
	u, err := url.Parse(newSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	ctx := context.Background()
	s, err := postgres.New(ctx, postgres.Config{URL: u.String(), ConnectTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertDefinitions(ctx, store.Definition{ID: "ex.a", ContentHash: "h", Spec: []byte(`{}`), TriggerType: store.TriggerCron}); err != nil {
		t.Fatal(err)
	}

	p.down()
	for name, call := range map[string]func() error{
		"GetDefinition": func() error { _, err := s.GetDefinition(ctx, "ex.a"); return err },
		"CreateRun": func() error {
			_, err := s.CreateRun(ctx, store.Run{ID: "r", DefinitionID: "ex.a", Trigger: store.RunTriggerManual, Status: store.RunPending})
			return err
		},
		"ListRuns":     func() error { _, err := s.ListRuns(ctx, store.RunFilter{}); return err },
		"Ping":         func() error { return s.Ping(ctx) },
		"WithSyncLock": func() error { return s.WithSyncLock(ctx, func(context.Context) error { return nil }) },
	} {
		start := time.Now()
		err := call()
		if err == nil || !store.IsRetryable(err) || !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while the database is down: %v, want a retryable error", name, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s took %s to fail", name, took)
		}
	}

	p.up(p.addr)
	// The pool reconnects on the next call; an error that is not
	// retryable ends the wait at once.
	testsupport.Eventually(t, 30*time.Second, "the store recovered", func() error {
		_, err := s.GetDefinition(ctx, "ex.a")
		if err != nil && !store.IsRetryable(err) {
			return fmt.Errorf("%w: after the database came back: %w", testsupport.ErrGaveUp, err)
		}
		return err
	})
	if _, err := s.CreateRun(ctx, store.Run{ID: "r", DefinitionID: "ex.a", Trigger: store.RunTriggerManual, Status: store.RunPending}); err != nil {
		t.Errorf("CreateRun after recovery: %v", err)
	}
}
