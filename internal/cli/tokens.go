package cli

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/config"
)

// tokensCmd groups the token commands (docs/run-control.md#who-did-what).
type tokensCmd struct {
	New  tokensNewCmd  `cmd:"" help:"Make a random token for NAME with ROLE and print it once, with its line for ACTIVITY_TOKENS_FILE."`
	Hash tokensHashCmd `cmd:"" help:"Read a token from standard input and print its sha256:HEX hash for ACTIVITY_TOKENS_FILE."`
}

// tokenBytes is how much randomness a new token carries.
const tokenBytes = 32

// tokenNameRe is a valid token name: it is the actor in the audit.
var tokenNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// tokenHash is how ACTIVITY_TOKENS_FILE stores a token: "sha256:" and the
// lowercase hex of the SHA-256 of the token's bytes.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return config.TokenHashPrefix + hex.EncodeToString(sum[:])
}

// tokensNewCmd makes a named token.
type tokensNewCmd struct {
	Name   string `arg:"" help:"Who holds the token: a person or a job (lowercase letters, digits, . _ -; at most 63). It is the actor in the audit."`
	Role   string `arg:"" help:"What it may do: read, operate (also run, rerun, cancel, pause, resume, backfill) or admin (also sync)."`
	Format string `help:"Output format: text or json." enum:"text,json" default:"text"`
}

// Help is shown by "activity-core tokens new --help".
func (c *tokensNewCmd) Help() string {
	return `Prints a new random token (32 bytes, hex) once and the line that grants it:
NAME ROLE sha256:HEX. Only the hash goes into the file, so the file is not a
secret worth stealing; the token itself is shown once, here, and never
again. Give it to its holder (they pass it as --token or ACTIVITY_TOKEN),
then append the line to the file ACTIVITY_TOKENS_FILE names on every api
process. The server re-reads the file when it changes: no restart. To take
a token back, delete its line.

Exit status: 0 done, 2 bad name or role.

Examples:
  activity-core tokens new alice operate
  activity-core tokens new ci.deploy admin --format json
  activity-core tokens new bob read | tail -n 1 >> /etc/activity-core/tokens   # the line only`
}

// Run makes the token.
func (c *tokensNewCmd) Run(env *cmdEnv) error {
	if !tokenNameRe.MatchString(c.Name) {
		return usageError("token name %q: use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", c.Name)
	}
	switch adminapi.Role(c.Role) {
	case adminapi.RoleRead, adminapi.RoleOperate, adminapi.RoleAdmin:
	default:
		return usageError("token role %q: use read, operate or admin", c.Role)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("making a random token: %w", err)
	}
	token := hex.EncodeToString(raw)
	line := c.Name + " " + c.Role + " " + tokenHash(token)
	if c.Format == "json" {
		return printJSON(env.Stdout, map[string]string{"name": c.Name, "role": c.Role, "token": token, "line": line})
	}
	// Instructions go to stderr so that stdout is the token, then the line.
	fmt.Fprintf(env.Stderr, "token for %s (role %s), shown only now; give it to its holder (--token or ACTIVITY_TOKEN):\n", c.Name, c.Role)
	fmt.Fprintln(env.Stdout, token)
	fmt.Fprintln(env.Stderr, "append this line to the ACTIVITY_TOKENS_FILE of every api process (re-read when it changes):")
	fmt.Fprintln(env.Stdout, line)
	return nil
}

// tokensHashCmd hashes a token read from stdin.
type tokensHashCmd struct{}

// Help is shown by "activity-core tokens hash --help".
func (c *tokensHashCmd) Help() string {
	return `Reads one token from standard input (its first line, surrounding whitespace
trimmed, as the CLI and the dashboard trim a token) and prints sha256:HEX,
the form ACTIVITY_TOKENS_FILE keeps. Use it to grant a token you already
have; the token never appears on a command line or in shell history.

Exit status: 0 done, 1 no token, or one shorter than 16 characters.

Examples:
  activity-core tokens hash < token.txt
  printf '%s' "$TOKEN" | activity-core tokens hash
  echo "carol operate $(activity-core tokens hash < carol.token)" >> /etc/activity-core/tokens`
}

// tokenReadMax bounds what tokens hash reads: no token is this long.
const tokenReadMax = 4096

// Run hashes.
func (c *tokensHashCmd) Run(env *cmdEnv) error {
	if env.Stdin == nil {
		return fmt.Errorf("no standard input to read the token from")
	}
	if f, ok := env.Stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(env.Stderr, "paste the token and press Enter (or pipe it in: activity-core tokens hash < token.txt):")
		}
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, tokenReadMax)).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("reading the token from standard input: %w", err)
	}
	token := strings.TrimSpace(line)
	switch n := utf8.RuneCountInString(token); {
	case n == 0:
		return fmt.Errorf("no token on standard input: pipe one in (activity-core tokens hash < token.txt), or make one with activity-core tokens new NAME ROLE")
	case n < config.TokenMinLength:
		return fmt.Errorf("the token on standard input is %d characters; use at least %d (activity-core tokens new NAME ROLE makes one)", n, config.TokenMinLength)
	}
	fmt.Fprintln(env.Stdout, tokenHash(token))
	return nil
}
