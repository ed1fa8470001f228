// Package devserver runs the engines activity-core depends on inside the
// current process: a real Temporal server (SQLite persistence, in memory or
// in a data directory) and a nats-server with JetStream. `activity-core dev`
// and the tests that need live engines use it, so nothing else has to be
// installed; production talks to an existing Temporal cluster and NATS.
//
// It is the only package that imports go.temporal.io/server and
// nats-server, because linking them is expensive: only internal/cli's dev
// command (built unless -tags nodev) and a few test packages import it.
// It starts nothing until StartTemporal or StartNATS is called. Why, the
// nodev build and the known limits: docs/architecture.md#devserver-internaldevserver.
package devserver
