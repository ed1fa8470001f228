package secret

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewRefusesUnsafePatterns(t *testing.T) {
	for _, p := range []string{"*", "ACTIVITY_ADMIN_TOKEN", "ACTIVITY_*", "A*", "ACT*", "TEMPORAL_API_KEY", "TEMP*", "NATS_PASSWORD", "NATS_*", "NAT*", "N*", "bad-name", "X*Y"} {
		if _, err := New(Config{Env: p}); err == nil {
			t.Errorf("New(Env=%q) accepted an unsafe pattern", p)
		} else if !strings.Contains(err.Error(), "ACTIVITY_SECRET_ENV") {
			t.Errorf("New(Env=%q): error %q does not name the setting", p, err)
		}
	}
	if _, err := New(Config{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil || !strings.Contains(err.Error(), "ACTIVITY_SECRETS_DIR") {
		t.Errorf("missing secrets dir: got %v", err)
	}
}

func TestResolveOnlyAllowed(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"DB_PASSWORD", "NATS_TOKEN"} { // a file cannot reach a reserved name either
		if err := os.WriteFile(filepath.Join(dir, f), []byte("from-file-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"HUB_TOKEN": "hub-token-value", "HUB_OTHER": "other", "ACTIVITY_ADMIN_TOKEN": "admin", "PATH": "/bin", "DB_PASSWORD": "from-env", "NATS_PASSWORD": "nats-pw"}
	l, err := New(Config{Dir: dir, Env: "HUB_*, SOLO", LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"HUB_TOKEN": "hub-token-value", "HUB_OTHER": "other", "DB_PASSWORD": "from-file-value"} {
		got, err := l.Resolve(name)
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"ACTIVITY_ADMIN_TOKEN", "PATH", "ACTIVITY_DATABASE_URL", "TEMPORAL_TLS_KEY", "NATS_TOKEN", "NATS_PASSWORD", "NATS_NKEY", "NATS_CREDS"} {
		if _, err := l.Resolve(name); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Resolve(%s): got %v, want ErrNotAllowed", name, err)
		}
	}
	if _, err := l.Resolve("SOLO"); !errors.Is(err, errNotSet) {
		t.Errorf("Resolve(SOLO): got %v, want ErrNotSet", err)
	}
	var zero *AllowList
	if err := zero.Check("HUB_TOKEN"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("nil list allowed a name: %v", err)
	}
}

func TestResolveRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "SUBDIR"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "HUGE"), make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SUBDIR", "HUGE"} {
		if _, err := l.Resolve(name); err == nil {
			t.Errorf("Resolve(%s) accepted a file it must refuse", name)
		}
	}
}

func TestFormsCoverCommonEncodings(t *testing.T) {
	secret := "s3cr3t-admin-token-XYZ"
	forms := Forms(secret)
	redact := func(s string) string {
		for _, f := range forms {
			s = strings.ReplaceAll(s, f, "***")
		}
		return s
	}
	outputs := []string{
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte(secret + "\n")),
		base64.StdEncoding.EncodeToString([]byte("x" + secret + "\n")),
		base64.StdEncoding.EncodeToString([]byte("xy" + secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
		hex.EncodeToString([]byte(secret)),
		strings.ToUpper(hex.EncodeToString([]byte(secret))),
		url.QueryEscape(secret),
	}
	for _, out := range outputs {
		// What is left must not decode back to the whole secret.
		left := redact(out)
		if !strings.Contains(left, "***") {
			t.Errorf("%q: no form of the secret redacted", out)
		}
		if len(strings.ReplaceAll(left, "***", "")) > 8 {
			t.Errorf("%q: too much left after redaction: %q", out, left)
		}
	}
}

// TestFormsCoverWrappedEncodings: `echo "$T" | base64` and `xxd -p` wrap
// long output over lines; a long secret is still redacted.
func TestFormsCoverWrappedEncodings(t *testing.T) {
	secret := strings.Repeat("0123456789abcdef", 4) // 64 bytes, like a hex token
	forms := Forms(secret)
	redact := func(s string) string {
		for _, f := range forms {
			s = strings.ReplaceAll(s, f, "***")
		}
		return s
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(secret + "\n"))
	hx := hex.EncodeToString([]byte(secret))
	for name, out := range map[string]string{
		"echo | base64": b64[:76] + "\n" + b64[76:] + "\n",
		"xxd -p":        hx[:60] + "\n" + hx[60:120] + "\n" + hx[120:] + "\n",
	} {
		left := strings.ReplaceAll(strings.ReplaceAll(redact(out), "***", ""), "\n", "")
		if len(left) > 12 {
			t.Errorf("%s: %q left after redaction", name, left)
		}
	}
}
