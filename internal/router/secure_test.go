package router

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coulomb/activity-core/internal/eventbus"
	"github.com/coulomb/activity-core/internal/testsupport"
	"github.com/coulomb/activity-core/internal/testsupport/natstest"
)

// secureConnect connects as a role does (eventbus.Connect with o) and
// returns the connection and its JetStream context.
func secureConnect(t *testing.T, url string, o eventbus.Options) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := eventbus.Connect(url, "router-secure-test", o, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	testsupport.Eventually(t, 10*time.Second, "connected", func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("status %v, last error %v", nc.Status(), nc.LastError())
		}
		return nil
	})
	js, err := eventbus.JetStream(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// routeOne routes one event published through the event bus's Publisher
// and checks the run started.
func routeOne(t *testing.T, w *world) {
	t.Helper()
	w.setDefs(eventDef(t, w.id("hook"), w.subj("org.repo.commit.pushed"), nil, ""))
	// Only the JetStream context: the router must not make its own.
	r := w.newRouter(func(c *Config) { c.Conn, c.JS = nil, w.js })
	w.start(r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eventbus.NewPublisher(w.nc, w.js).Publish(ctx, w.subj("org.repo.commit.pushed"), []byte(`{"repo":"x"}`), "secure-1"); err != nil {
		t.Fatal(err)
	}
	got := w.waitRuns(1)
	if in := got[workflowID(w.id("hook"), "secure-1")]; len(in) != 1 || string(in[0].Event.Payload) != `{"repo":"x"}` {
		t.Errorf("runs: %v", got)
	}
	w.waitIdle(DurableDefault)
}

// TestRouteOverMTLSAndCreds routes an event end to end over mTLS with an
// operator-mode .creds user whose account has JetStream.
func TestRouteOverMTLSAndCreds(t *testing.T) {
	t.Parallel()
	ca := testsupport.NewCA(t, "router test CA")
	dir := t.TempDir()
	caFile := ca.WriteCA(t, dir, "ca.pem")
	srvCert, srvKey := ca.IssueFiles(t, dir, "server", testsupport.Leaf{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	cliCert, cliKey := ca.IssueFiles(t, dir, "client", testsupport.Leaf{CommonName: "router", Client: true})
	op := natstest.NewOperator(t)
	srv := natstest.Start(t, natstest.Config{Body: fmt.Sprintf("tls {\n cert_file: %q\n key_file: %q\n ca_file: %q\n verify: true\n}\n%s",
		srvCert, srvKey, caFile, op.ServerConfig())})
	o := eventbus.Options{CA: caFile, Cert: cliCert, Key: cliKey, Creds: op.UserCreds(t, dir, "router")}
	nc, js := secureConnect(t, srv.URL, o)
	routeOne(t, newWorldOn(t, srv.URL, nc, js))
}

// TestRouteThroughJetStreamDomain reads the stream of a hub's JetStream
// domain from a leaf node that has no JetStream of its own: only a
// context in the domain reaches it.
func TestRouteThroughJetStreamDomain(t *testing.T) {
	t.Parallel()
	leafAddr := testsupport.FreeAddr(t)
	natstest.Start(t, natstest.Config{Domain: "hub", Body: fmt.Sprintf("leafnodes {\n listen: %q\n}\n", leafAddr)})
	leaf := natstest.Start(t, natstest.Config{NoJetStream: true, Body: fmt.Sprintf("leafnodes {\n remotes: [ { url: \"nats://%s\" } ]\n}\n", leafAddr)})
	testsupport.Eventually(t, 10*time.Second, "leaf node connected", func() error {
		if leaf.NumLeafNodes() != 1 {
			return fmt.Errorf("%d leaf connections", leaf.NumLeafNodes())
		}
		return nil
	})
	o := eventbus.Options{JSDomain: "hub"}
	nc, js := secureConnect(t, leaf.URL, o)

	// Without the domain the leaf has no JetStream to answer.
	plain, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := plain.AccountInfo(ctx); err == nil {
		t.Fatal("the leaf answered JetStream without the domain: the test would not show the domain is used")
	}
	testsupport.Eventually(t, 10*time.Second, "JetStream in domain hub answers through the leaf", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
	routeOne(t, newWorldOn(t, leaf.URL, nc, js))
}

// TestRouteThroughJetStreamAPIPrefix reads a stream that lives in another
// account: JS exports its JetStream API (and acks and the event subjects),
// APP imports the API under JS.JS.API, and the router in APP reaches it
// through that prefix.
func TestRouteThroughJetStreamAPIPrefix(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t, natstest.Config{Body: `accounts {
  JS: {
    jetstream: enabled
    users: [ { user: js, password: js-password } ]
    exports: [
      { service: "$JS.API.>", response_type: stream }
      { service: "$JS.ACK.>" }
      { service: "*.org.>" }
    ]
  }
  APP: {
    users: [ { user: app, password: app-password } ]
    imports: [
      { service: { account: JS, subject: "$JS.API.>" }, to: "JS.JS.API.>" }
      { service: { account: JS, subject: "$JS.ACK.>" } }
      { service: { account: JS, subject: "*.org.>" } }
    ]
  }
}
`})
	o := eventbus.Options{User: "app", Password: "app-password", JSAPIPrefix: "JS.JS.API"}
	nc, js := secureConnect(t, srv.URL, o)
	plain, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := plain.AccountInfo(ctx); err == nil {
		t.Fatal("APP answered JetStream without the prefix: the test would not show the prefix is used")
	}
	routeOne(t, newWorldOn(t, srv.URL, nc, js))
}
