// Package devserver runs the engines activity-core depends on inside the
// current process: a real Temporal server (SQLite persistence, in memory or
// in a data directory) and a nats-server with JetStream. `activity-core dev`
// and the integration tests use it so that nothing else has to be installed
// or downloaded; production talks to an existing Temporal cluster and an
// existing NATS instead.
//
// # The only importer of go.temporal.io/server
//
// This is deliberately the one package in the module that imports
// go.temporal.io/server (and github.com/nats-io/nats-server/v2). Linking the
// Temporal server is expensive: a binary that embeds it is about 226 MB
// (159 MB stripped, ~1,800 packages), a cold build takes minutes on two cores
// and every edit costs a 12–14 s relink, against 33 MB and under 3 s for a
// binary that only links the SDK and the NATS client. Every package that
// imports devserver pays that price, so:
//
//   - workflow, activity, store and API packages must never import devserver
//     (or go.temporal.io/server); they talk to Temporal through
//     go.temporal.io/sdk and to NATS through nats.go, and take addresses as
//     configuration;
//   - integration tests that need a live server live in few packages, each
//     starting ONE server in TestMain (a test binary that embeds the server
//     is ~210 MB and takes 8–10 s to link even when warm);
//   - workflow logic is unit-tested with go.temporal.io/sdk/testsuite, which
//     needs no server.
//
// devserver has no init-time side effects of its own and starts nothing
// until StartTemporal or StartNATS is called. (The server's own packages
// register their SQL plugins and the like in init functions; those are
// registrations in package-level tables, not goroutines or listeners.)
//
// # Leaving it out of production builds
//
// The production binary must be buildable without the embedded engines. The
// proposed design is a build tag, `nodev`, applied only in internal/cli:
//
//   - internal/cli/dev.go carries `//go:build !nodev`, imports devserver and
//     implements the `dev` command;
//   - internal/cli/dev_nodev.go carries `//go:build nodev` and registers a
//     `dev` command that exits with "this binary was built with -tags nodev,
//     without the embedded Temporal and NATS servers; run `activity-core
//     serve` against an existing cluster, or use the full build";
//   - nothing else refers to devserver, so `go build -tags nodev ./cmd/...`
//     links neither go.temporal.io/server nor nats-server; CI builds both
//     variants and checks, with `go list -deps -tags nodev ./cmd/activity-core`,
//     that go.temporal.io/server is absent from the nodev build.
//
// The default build (no tag) keeps the README's single command working with
// nothing else installed; the tag is opt-in for production images.
//
// # Lifetime and known limits
//
//   - StartTemporal returns only when a client can connect and describe the
//     namespace; Stop releases every listener, so the ports can be reused.
//   - The server's SQLite plugin keeps one connection per database in a
//     process-wide pool and never closes it, so each distinct database (a
//     data directory, or an in-memory server) keeps a connection, and for
//     in-memory servers its memory, until the process exits. Restarting on
//     the same data directory reuses that connection. This is fine for `dev`
//     (one server per process) and for tests (one server per test binary),
//     but do not start thousands of in-memory servers in one process.
//   - The server never closes its internode gRPC client connections, so
//     about 30 idle goroutines outlive each stopped server (no listeners,
//     no traffic). Its never-stopped system workers (scanners, parent close
//     policy) are disabled in dev for the same reason.
//   - The SQLite schema is created once, when the database file is new. A
//     future Temporal server upgrade that changes the SQLite schema may need
//     the dev data directory's temporal/ folder to be removed.
package devserver
