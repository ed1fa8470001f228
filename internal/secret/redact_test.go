package secret

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"postgres://app:hunter2@db:5432/activity?sslmode=verify-full&sslrootcert=/etc/ca.pem",
			"postgres://app:xxxxx@db:5432/activity?sslmode=verify-full&sslrootcert=/etc/ca.pem"},
		{"postgres://app@db/activity?password=hunter2&sslpassword=keypass&application_name=x",
			"postgres://app@db/activity?password=xxxxx&sslpassword=xxxxx&application_name=x"},
		{"postgresql://app@db/activity?PassWord=hunter2", "postgresql://app@db/activity?PassWord=xxxxx"},
		{"postgres://app:p%40ss%2Fw@db/x", "postgres://app:xxxxx@db/x"},
		{"postgres://app@db/activity", "postgres://app@db/activity"},
		{"host=db user=app password=hunter2 sslmode=verify-full", "host=db user=app password=xxxxx sslmode=verify-full"},
		{"host=db password='hunter 2' sslpassword = k3y dbname=x", "host=db password=xxxxx sslpassword=xxxxx dbname=x"},
		{"nats://alice:s3cret@nats.example:4222", "nats://alice:xxxxx@nats.example:4222"},
		{"tls://s3crettoken@nats.example:4222", "tls://xxxxx@nats.example:4222"},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"sqlite:///var/lib/a.db", "sqlite:///var/lib/a.db"},
		{"postgres://app:hunter2@db:bad port/x", "postgres://(unparseable URL, hidden)"},
		{"nats://a:s3cret@n1:4222, nats://t0ken@n2:4222,nats://n3:4222", "nats://a:xxxxx@n1:4222,nats://xxxxx@n2:4222,nats://n3:4222"},
		// nats.go dials host:port without a scheme as nats://host:port.
		{"alice:s3cret@nats.example:4222", "alice:xxxxx@nats.example:4222"},
		{"s3crettoken@nats.example:4222", "xxxxx@nats.example:4222"},
		{"nats://n1:4222,nats://n2:4222,alice:s3cret@n3:4222", "nats://n1:4222,nats://n2:4222,alice:xxxxx@n3:4222"},
		{"nats.example:4222", "nats.example:4222"},
		{"n1:4222, alice:s3cret@n2:4222,t0ken@n3", "n1:4222,alice:xxxxx@n2:4222,xxxxx@n3"},
		{"nats://n1:4222,alice:s3cret@n2:4222", "nats://n1:4222,alice:xxxxx@n2:4222"},
		{"postgres://app:hunter2@h1:5432,h2:5432/db?password=x", "postgres://app:xxxxx@h1:5432,h2:5432/db?password=xxxxx"},
		// A key=value DSN is not a URL because a value holds "://".
		{"host=db password=hunter2 application_name=http://x", "host=db password=xxxxx application_name=http://x"},
		{"host=db password=hunt://er2", "host=db password=xxxxx"},
	} {
		if got := RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRedactURLIn(t *testing.T) {
	raw := "postgres://app:p%40ss%2Fw0rd@db/x?sslpassword=keypass1"
	msg := "failed to connect to " + raw + ": password p@ss/w0rd rejected (p%40ss%2Fw0rd); sslpassword keypass1 wrong"
	got := RedactURLIn(msg, raw)
	for _, leak := range []string{"p@ss/w0rd", "p%40ss%2Fw0rd", "keypass1"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q leaks %q", got, leak)
		}
	}
	if !strings.Contains(got, "postgres://app:xxxxx@db/x?sslpassword=xxxxx") {
		t.Errorf("the URL is not shown redacted: %q", got)
	}
	if got := RedactURLIn("token abc used", "nats://abc@h:4222"); got != "token abc used" {
		t.Errorf("a secret shorter than %d was replaced inside words: %q", minSecretLen, got)
	}
	if got := RedactURLIn("bad token s3crettoken", "nats://s3crettoken@h:4222"); strings.Contains(got, "s3crettoken") {
		t.Errorf("token leaks: %q", got)
	}
	if got := RedactURLIn("n2 refused t0ken-2", "nats://n1:4222,nats://t0ken-2@n2:4222"); strings.Contains(got, "t0ken-2") {
		t.Errorf("token of the second URL leaks: %q", got)
	}
	for _, raw := range []string{"nats://alice:s3cret@h:bad", "nats://n1,nats://s3cret@h:bad", "alice:s3cret@[::1"} {
		if got := RedactURLIn(`parse "nats://alice:s3cret@h:bad": invalid port`, raw); strings.Contains(got, "s3cret") {
			t.Errorf("the secret of unparseable %q leaks: %q", raw, got)
		}
	}
	if got := RedactURLIn("n2: s3cret refused", "n1:4222,alice:s3cret@n2:4222"); strings.Contains(got, "s3cret") {
		t.Errorf("password of a list without schemes leaks: %q", got)
	}
	if got := RedactURLIn("parse \"nats://alice:s3cret@h\": bad", "alice:s3cret@h"); strings.Contains(got, "s3cret") {
		t.Errorf("password of a URL without a scheme leaks: %q", got)
	}
}
