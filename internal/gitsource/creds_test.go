package gitsource

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/testsupport/gittest"
)

// serveHTTPSAuth is gittest's ServeHTTPAuth behind a TLS proxy whose
// certificate git trusts (GIT_SSL_CAINFO), as a private forge serves.
func serveHTTPSAuth(t *testing.T, r *gittest.Repo, user, password string) string {
	t.Helper()
	target, err := url.Parse(r.ServeHTTPAuth(t, user, password))
	if err != nil {
		t.Fatal(err)
	}
	path := target.Path
	target.Path = ""
	srv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_SSL_CAINFO", ca)
	return srv.URL + path
}

// withUserinfo puts creds ("user:pass" or "token") into an http(s) URL.
func withUserinfo(raw, creds string) string {
	scheme, rest, _ := strings.Cut(raw, "://")
	return scheme + "://" + creds + "@" + rest
}

func TestFetchKeepsCredentialsOffTheCommandLine(t *testing.T) {
	r := gittest.NewRepo(t)
	want := r.Commit(map[string]string{"a.yaml": "a"}, ann, "a")
	r.Push()
	const password = "Sup3r-Secret-Pass"
	url := serveHTTPSAuth(t, r, "deploy", password)
	trace := filepath.Join(t.TempDir(), "trace")
	t.Setenv("GIT_TRACE", trace) // every git's argv, and the helpers' it runs
	f := newFetcher(t)
	snap, err := f.Fetch(context.Background(), mustSpec(t, "ops=git+"+withUserinfo(url, "deploy:"+password)), "")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Commit.SHA != want {
		t.Fatalf("read %s, want %s", snap.Commit.SHA, want)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.Contains(got, "remote-https") {
		t.Fatalf("the trace did not record the transport helper's argv:\n%s", got)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("deploy:" + password))
	for _, secret := range []string{password, basic, "deploy:"} {
		if strings.Contains(got, secret) {
			t.Fatalf("a git command line holds %q:\n%s", secret, got)
		}
	}
}

func TestRemoteURLRefusesCleartextCredentials(t *testing.T) {
	for _, raw := range []string{"http://ann:pw@host/r.git", "http://tok@host/r.git", "git://ann@host/r.git", "ssh://git:pw@host/r.git"} {
		if _, _, err := remoteURL(raw); err == nil {
			t.Errorf("remoteURL(%q) accepted credentials", raw)
		}
	}
	for raw, want := range map[string]string{"ssh://git@host/r.git": "ssh://git@host/r.git", "https://host/r.git": "https://host/r.git"} {
		got, config, err := remoteURL(raw)
		if err != nil || got != want || config != nil {
			t.Errorf("remoteURL(%q) = %q, %q, %v; want %q unchanged", raw, got, config, err, want)
		}
	}
	got, config, err := remoteURL("https://tok%40en@host:8443/r.git")
	wantConfig := []string{"http.https://host:8443/r.git.extraHeader", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("tok@en:"))}
	if err != nil || got != "https://host:8443/r.git" || !slices.Equal(config, wantConfig) {
		t.Fatalf("remoteURL = %q, %q, %v; want the URL without user and %q", got, config, err, wantConfig)
	}
}

func TestWithConfigKeepsTheUsersConfig(t *testing.T) {
	got := withConfig([]string{"HOME=/h", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=protocol.version", "GIT_CONFIG_VALUE_0=0"}, "k", "v")
	want := []string{"HOME=/h", "GIT_CONFIG_KEY_0=protocol.version", "GIT_CONFIG_VALUE_0=0", "GIT_CONFIG_KEY_1=k", "GIT_CONFIG_VALUE_1=v", "GIT_CONFIG_COUNT=2"}
	if !slices.Equal(got, want) {
		t.Fatalf("withConfig = %q, want %q", got, want)
	}
}
