package eventbus_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/coulomb/activity-core/internal/eventbus"
)

// The Publisher publishes a definition's publish instruction with the
// process's own identity, through JetStream (a request with a reply). A
// subject under $JS.API is then a JetStream API call: STREAM.DELETE
// deletes the stream the router reads events from.
func TestPublisherRefusesJetStreamAPISubjects(t *testing.T) {
	u := os.Getenv("ACTIVITY_TEST_NATS_URL")
	if u == "" {
		t.Skip("ACTIVITY_TEST_NATS_URL is not set; set it to a NATS server with JetStream (e.g. nats://127.0.0.1:4222)")
	}
	nc, err := nats.Connect(u, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := "SECREVIEW_" + nats.NewInbox()[len("_INBOX."):]
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"secreview." + name + ".>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Skipf("the test NATS has no JetStream: %v", err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	err = eventbus.NewPublisher(nc, js).Publish(ctx, "$JS.API.STREAM.DELETE."+name, []byte(`{}`), "")
	if _, serr := js.Stream(ctx, name); errors.Is(serr, jetstream.ErrStreamNotFound) {
		t.Fatalf("publishing to $JS.API.STREAM.DELETE.%s deleted the stream (publish error: %v)", name, err)
	}
	if err == nil {
		t.Error("publishing to a JetStream API subject gave no error")
	}
}

// With ACTIVITY_NATS_JS_API_PREFIX (a stream in another account), the
// JetStream API is reached under that prefix, not $JS.API: a subject
// under it is the same API call.
func TestPublisherRefusesItsJetStreamAPIPrefix(t *testing.T) {
	u := os.Getenv("ACTIVITY_TEST_NATS_URL")
	if u == "" {
		t.Skip("ACTIVITY_TEST_NATS_URL is not set; set it to a NATS server (e.g. nats://127.0.0.1:4222)")
	}
	nc, err := nats.Connect(u, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.NewWithAPIPrefix(nc, "JS.JS.API")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = eventbus.NewPublisher(nc, js).Publish(ctx, "JS.JS.API.STREAM.DELETE.ACTIVITY", []byte(`{}`), "")
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("publishing under the JetStream API prefix: %v, want it refused", err)
	}
}
