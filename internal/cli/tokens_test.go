package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// runIn runs the command line in-process with stdin.
func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := mainIO(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestTokensNew: the token goes out once, and the line's hash is the
// hash of that token, in the form the tokens file keeps.
func TestTokensNew(t *testing.T) {
	code, out, errOut := run(t, "tokens", "new", "alice", "operate")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 2 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	token, line := lines[0], lines[1]
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(token) {
		t.Errorf("token %q is not 32 random bytes in hex", token)
	}
	if want := "alice operate " + tokenHash(token); line != want {
		t.Errorf("line %q, want %q", line, want)
	}
	if !strings.Contains(errOut, "ACTIVITY_TOKENS_FILE") || strings.Contains(errOut, token) {
		t.Errorf("instructions on stderr should name the file and not repeat the token: %q", errOut)
	}

	code, out2, _ := run(t, "tokens", "new", "ci.deploy", "admin", "--format", "json")
	var doc struct{ Name, Role, Token, Line string }
	if code != ExitOK || json.Unmarshal([]byte(out2), &doc) != nil || doc.Line != "ci.deploy admin "+tokenHash(doc.Token) || doc.Token == token {
		t.Errorf("json: exit %d %s", code, out2)
	}
}

func TestTokensNewRefusesBadNameOrRole(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"Alice", "read"}, `token name "Alice"`},
		{[]string{"-x", "read"}, ``}, // kong reads it as a flag
		{[]string{"a b", "read"}, `token name "a b"`},
		{[]string{strings.Repeat("a", 64), "read"}, "use 1 to 63 lowercase letters"},
		{[]string{"alice", "root"}, `token role "root": use read, operate or admin`},
		{[]string{"alice", ""}, `token role "": use read, operate or admin`},
		{[]string{"alice"}, `expected "<role>"`},
	} {
		code, out, errOut := run(t, append([]string{"tokens", "new"}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("tokens new %q: exit %d, stdout %q, stderr %q; want 2 saying %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestTokensHash: sha256: and the lowercase hex of the token's bytes, the
// line's end and surrounding blanks trimmed.
func TestTokensHash(t *testing.T) {
	// printf 'abcdefghijklmnop' | sha256sum
	const sum = "sha256:f39dac6cbaba535e2c207cd0cd8f154974223c848f727f98b3564cea569b41cf"
	for _, in := range []string{"abcdefghijklmnop", "abcdefghijklmnop\n", "  abcdefghijklmnop \r\n", "abcdefghijklmnop\nsecond line ignored\n"} {
		code, out, errOut := runIn(t, in, "tokens", "hash")
		if code != ExitOK || out != sum+"\n" {
			t.Errorf("tokens hash < %q: exit %d, %q %q; want %s", in, code, out, errOut, sum)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "no token on standard input"},
		{"\n\n", "no token on standard input"},
		{"short\n", "is 5 characters; use at least 16"},
	} {
		code, out, errOut := runIn(t, tc.in, "tokens", "hash")
		if code != ExitFailure || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("tokens hash < %q: exit %d, %q %q; want 1 saying %q", tc.in, code, out, errOut, tc.want)
		}
	}
}
