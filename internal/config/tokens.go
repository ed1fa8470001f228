package config

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Token roles (docs/security.md#tokens): read reads; operate also runs,
// cancels, pauses, resumes and backfills; admin also syncs.
const (
	roleRead    = "read"
	roleOperate = "operate"
	roleAdmin   = "admin"
)

// TokenHashPrefix starts every hash in a tokens file.
const TokenHashPrefix = "sha256:"

// tokensFileMax bounds a tokens file: a few hundred lines is already many
// people.
const tokensFileMax = 1 << 20

var tokenNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// TokenEntry is one line of ACTIVITY_TOKENS_FILE: a named token with a
// role, known only by the SHA-256 of the token.
type TokenEntry struct {
	Name string
	Role string
	Hash [32]byte
}

// LoadTokensFile reads and checks a tokens file (ParseTokens).
func LoadTokensFile(path string) ([]TokenEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	return ParseTokens(path, f)
}

// ParseTokens reads lines `NAME ROLE sha256:<64 hex>`, with `#` comments
// and blank lines. Every error names file:line; a name or a hash given
// twice is an error, so one token never means two people.
func ParseTokens(file string, r io.Reader) ([]TokenEntry, error) {
	data, err := io.ReadAll(io.LimitReader(r, tokensFileMax+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > tokensFileMax {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, tokensFileMax)
	}
	var out []TokenEntry
	names := map[string]int{}
	hashes := map[[32]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), tokensFileMax)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseTokenLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		if prev, ok := names[e.Name]; ok {
			return nil, fmt.Errorf("%s:%d: name %q is already on line %d", file, n, e.Name, prev)
		}
		if prev, ok := hashes[e.Hash]; ok {
			return nil, fmt.Errorf("%s:%d: this hash is already on line %d: two names would share one token", file, n, prev)
		}
		names[e.Name], hashes[e.Hash] = n, n
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

func parseTokenLine(line string) (TokenEntry, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return TokenEntry{}, fmt.Errorf("want NAME ROLE sha256:HEX, got %d fields (make a line with: activity-core tokens new NAME ROLE)", len(f))
	}
	e := TokenEntry{Name: f[0], Role: f[1]}
	if !tokenNameRE.MatchString(e.Name) {
		return e, fmt.Errorf("name %q: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63", clip(e.Name))
	}
	switch e.Role {
	case roleRead, roleOperate, roleAdmin:
	default:
		return e, fmt.Errorf("role %q is not one of read, operate, admin", clip(e.Role))
	}
	h, ok := strings.CutPrefix(f[2], TokenHashPrefix)
	if !ok {
		return e, fmt.Errorf("hash must start with %q (the file holds hashes, never tokens: activity-core tokens hash)", TokenHashPrefix)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(e.Hash) {
		return e, fmt.Errorf("hash: want %d hex digits after %q", 2*len(e.Hash), TokenHashPrefix)
	}
	copy(e.Hash[:], b)
	return e, nil
}

// clip shortens a value quoted back in an error.
func clip(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
