package devserver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

const (
	natsSubdir        = "nats"
	natsReadyTimeout  = 10 * time.Second
	natsServerNameDev = "activity-core-dev"
)

// NATSConfig describes an embedded nats-server. The zero value is a test
// server: JetStream in a temporary directory, a random loopback port.
type NATSConfig struct {
	// DataDir keeps JetStream streams and consumers (in DataDir/nats) across
	// restarts, so `dev` does not lose events queued for a stopped router.
	// Empty means a temporary directory that Stop removes.
	DataDir string

	// Host is the listen IP; empty means 127.0.0.1, so a dev machine does
	// not expose an unauthenticated NATS to its network.
	Host string

	// Port is the client port; 0 picks a free one (tests), `dev` passes
	// the port of its --nats-addr (4223 by default: 4222 is often taken by a
	// system nats-server, so the dev engine stays off it).
	Port int
}

// NATS is a running embedded nats-server with JetStream. It gives `dev` and
// integration tests the same event transport production uses, without
// installing nats-server (the machine's own is often too old for JetStream
// features activity-core needs).
type NATS struct {
	srv     *server.Server
	tempDir string

	stopOnce sync.Once
}

// ClientURL is the nats:// URL clients connect to, i.e. what production
// reads from ACTIVITY_NATS_URL.
func (n *NATS) ClientURL() string { return n.srv.ClientURL() }

// Stop shuts the server down, waits until its listener is closed so the port
// can be reused at once, and removes the temporary store directory if
// StartNATS created one. Stop is idempotent.
func (n *NATS) Stop() {
	n.stopOnce.Do(func() {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		if n.tempDir != "" {
			_ = os.RemoveAll(n.tempDir)
		}
	})
}

// StartNATS starts an in-process nats-server with JetStream and returns once
// it accepts connections. It installs no signal handlers and writes no logs,
// because it lives inside activity-core's process, which owns both.
func StartNATS(cfg NATSConfig) (*NATS, error) {
	host := cfg.Host
	if host == "" || host == "localhost" {
		host = loopback
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("devserver: NATS host %q must be an IP address or localhost", cfg.Host)
	}
	port := cfg.Port
	switch {
	case port == 0:
		port = server.RANDOM_PORT
	case port < 0 || port > 65535:
		return nil, fmt.Errorf("devserver: NATS port %d out of range", cfg.Port)
	default:
		// nats-server logs a failed bind and keeps running without a
		// listener; check first to report it.
		if err := checkFree(net.JoinHostPort(host, strconv.Itoa(port))); err != nil {
			return nil, fmt.Errorf("devserver: NATS: %w", err)
		}
	}

	n := &NATS{}
	var storeDir string
	if cfg.DataDir == "" {
		d, err := os.MkdirTemp("", "activity-core-nats-")
		if err != nil {
			return nil, fmt.Errorf("devserver: NATS store: %w", err)
		}
		n.tempDir, storeDir = d, d
	} else {
		storeDir = filepath.Join(cfg.DataDir, natsSubdir)
		if err := os.MkdirAll(storeDir, 0o700); err != nil {
			return nil, fmt.Errorf("devserver: NATS store: %w", err)
		}
	}

	srv, err := server.NewServer(&server.Options{
		ServerName: natsServerNameDev,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		if n.tempDir != "" {
			_ = os.RemoveAll(n.tempDir)
		}
		return nil, fmt.Errorf("devserver: NATS: %w", err)
	}
	n.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(natsReadyTimeout) {
		n.Stop()
		return nil, fmt.Errorf("devserver: NATS on %s:%d not ready after %s", host, cfg.Port, natsReadyTimeout)
	}
	if !srv.JetStreamEnabled() {
		n.Stop()
		return nil, fmt.Errorf("devserver: NATS started without JetStream (store %s)", storeDir)
	}
	return n, nil
}
