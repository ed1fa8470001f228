package config

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func hashLine(name, role, token string) string {
	h := sha256.Sum256([]byte(token))
	return name + " " + role + " sha256:" + hex.EncodeToString(h[:])
}

func TestParseTokens(t *testing.T) {
	in := "# who may do what\n\n" + hashLine("alice", "operate", "a-token") + "\n  " + hashLine("ci.bot_1", "read", "b-token") + "  # trailing spaces\n"
	es, err := ParseTokens("tokens", strings.NewReader(strings.ReplaceAll(in, "  # trailing spaces", "")))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Name != "alice" || es[0].Role != roleOperate || es[1].Name != "ci.bot_1" || es[1].Hash != sha256.Sum256([]byte("b-token")) {
		t.Errorf("got %+v", es)
	}
}

func TestParseTokensRefused(t *testing.T) {
	good := hashLine("alice", "operate", "a-token")
	for _, tc := range []struct{ name, in, want string }{
		{"two fields", "alice operate\n", "tokens:1: want NAME ROLE sha256:HEX, got 2 fields"},
		{"four fields", good + " extra\n", "tokens:1: want NAME ROLE sha256:HEX, got 4 fields"},
		{"bad name", "# c\n" + hashLine("Alice", "read", "x") + "\n", `tokens:2: name "Alice": use lower-case letters`},
		{"name starts with a dot", hashLine(".alice", "read", "x"), `tokens:1: name ".alice"`},
		{"unknown role", hashLine("alice", "root", "x"), `tokens:1: role "root" is not one of read, operate, admin`},
		{"raw token instead of hash", "alice read my-secret-token\n", `tokens:1: hash must start with "sha256:"`},
		{"short hash", "alice read sha256:abcd\n", "tokens:1: hash: want 64 hex digits"},
		{"not hex", "alice read sha256:" + strings.Repeat("z", 64) + "\n", "tokens:1: hash: want 64 hex digits"},
		{"name twice", good + "\n\n" + hashLine("alice", "read", "other") + "\n", `tokens:3: name "alice" is already on line 1`},
		{"hash twice", good + "\n" + hashLine("bob", "read", "a-token") + "\n", "tokens:2: this hash is already on line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokens("tokens", strings.NewReader(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s…", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "my-secret-token") {
				t.Errorf("the error quotes what may be a token: %v", err)
			}
		})
	}
}

func TestLoadTokensFileMissing(t *testing.T) {
	if _, err := LoadTokensFile(t.TempDir() + "/none"); err == nil || !strings.Contains(err.Error(), "tokens file") {
		t.Errorf("missing file: %v", err)
	}
}
