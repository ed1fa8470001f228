package importer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// execCommand is one ExecStart=-style command line after systemd's rules
// are applied.
type execCommand struct {
	key  string // ExecStart, ExecStartPre, ExecStartPost
	line int
	// argv is exact when shell is empty. When the line references
	// variables the unit does not set (EnvironmentFile=, the manager's
	// environment), shell holds the command written for /bin/sh instead,
	// so the worker's environment supplies them.
	argv          []string
	shell         string
	ignoreFailure bool
	prefixes      string
}

// unitNames holds what the specifiers of a unit expand to.
type unitNames struct {
	full     string // %n: backup@db.service
	name     string // %N: backup@db
	prefix   string // %p: backup
	instance string // %i: db
}

func newUnitNames(file string) unitNames {
	n := unitNames{full: file}
	n.name = strings.TrimSuffix(file, file[strings.LastIndexByte(file, '.'):])
	n.prefix, n.instance, _ = strings.Cut(n.name, "@")
	return n
}

// expandSpecifiers applies the % specifiers known from the unit name alone
// (systemd.unit(5), "Specifiers"). Those that depend on the host or user
// at run time (%h, %u, %H, %t, …) are an error: the importer cannot know
// their value and the worker would not expand them.
func expandSpecifiers(s string, n unitNames) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("a lone %% ends the line: write %%%% for a literal %%")
		}
		i++
		switch c := s[i]; c {
		case '%':
			b.WriteByte('%')
		case 'n':
			b.WriteString(n.full)
		case 'N':
			b.WriteString(n.name)
		case 'p':
			b.WriteString(n.prefix)
		case 'i', 'I':
			b.WriteString(n.instance)
		case 'j':
			b.WriteString(n.prefix[strings.LastIndexByte(n.prefix, '-')+1:])
		default:
			return "", fmt.Errorf("specifier %%%c depends on the host or user at run time (systemd.unit(5) \"Specifiers\"); replace it with its value", c)
		}
	}
	return b.String(), nil
}

// splitSystemdWords splits a command line or an Environment= value the
// way systemd does (systemd.service(5), "Command lines"): words are
// separated by whitespace, single and double quotes group, and C-style
// escapes (\n, \t, \\, \", \', \s, \xNN, \NNN octal, \uNNNN) are decoded
// inside and outside quotes.
func splitSystemdWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t' || c == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			r, n, err := cEscape(s[i+1:])
			if err != nil {
				return nil, err
			}
			cur.WriteString(r)
			i += n
			inWord = true
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// cEscape decodes the escape after a backslash; n is how many bytes of s
// it used.
func cEscape(s string) (string, int, error) {
	if s == "" {
		return "", 0, fmt.Errorf("a backslash ends the line")
	}
	simple := map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v", '\\': "\\", '"': "\"", '\'': "'", 's': " ", ';': ";"}
	if r, ok := simple[s[0]]; ok {
		return r, 1, nil
	}
	hexRune := func(digits int) (string, int, error) {
		if len(s) < 1+digits {
			return "", 0, fmt.Errorf("escape \\%s needs %d hex digits", s[:1], digits)
		}
		v, err := strconv.ParseUint(s[1:1+digits], 16, 32)
		if err != nil {
			return "", 0, fmt.Errorf("escape \\%s: %q is not hex", s[:1], s[1:1+digits])
		}
		if digits == 2 {
			return string([]byte{byte(v)}), 1 + digits, nil
		}
		if !utf8.ValidRune(rune(v)) {
			return "", 0, fmt.Errorf("escape \\%s is not a valid character", s[:1+digits])
		}
		return string(rune(v)), 1 + digits, nil
	}
	switch s[0] {
	case 'x':
		return hexRune(2)
	case 'u':
		return hexRune(4)
	case 'U':
		return hexRune(8)
	case '0', '1', '2', '3':
		if len(s) >= 3 {
			if v, err := strconv.ParseUint(s[:3], 8, 8); err == nil {
				return string([]byte{byte(v)}), 3, nil
			}
		}
	}
	return "", 0, fmt.Errorf("unknown escape \\%c", s[0])
}

var (
	bracedVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	wholeVar  = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)$`)
)

// parseExecLine applies systemd's rules to one ExecStart=-style value:
// specifiers, the special prefixes (@ - : + ! !!), word splitting, and
// variable substitution with the unit's Environment= values ($NAME as a
// whole word splits at whitespace; ${NAME} anywhere is one piece).
func parseExecLine(e unitEntry, names unitNames, env []kv) (*execCommand, error) {
	cmd, words, err := execWords(e, names)
	if err != nil {
		return nil, err
	}
	cmd.ignoreFailure = strings.Contains(cmd.prefixes, "-")
	if strings.Contains(cmd.prefixes, ":") {
		cmd.argv = words
		return cmd, nil
	}
	// "$$" is a literal "$": hide it from variable matching.
	for i, w := range words {
		words[i] = strings.ReplaceAll(w, "$$", "\x00")
	}
	known := map[string]string{}
	for _, kv := range env {
		known[kv.name] = kv.value
	}
	if !refersUnknown(words, known) {
		cmd.argv = substituteVars(words, known)
		if len(cmd.argv) == 0 {
			return nil, fmt.Errorf("the command is empty after variable substitution")
		}
		return cmd, nil
	}
	// Some variable is not known here: let /bin/sh expand it on the worker.
	cmd.shell = shellVars(words)
	return cmd, nil
}

// execWords reads an Exec*= line's prefixes and splits the rest into words.
func execWords(e unitEntry, names unitNames) (*execCommand, []string, error) {
	cmd := &execCommand{key: e.key, line: e.line}
	v, err := expandSpecifiers(e.value, names)
	if err != nil {
		return nil, nil, err
	}
	for v != "" && strings.IndexByte("@-:+!|", v[0]) >= 0 {
		cmd.prefixes += v[:1]
		v = v[1:]
	}
	if strings.Contains(cmd.prefixes, "|") {
		return nil, nil, fmt.Errorf("the | prefix (run through the user's login shell) is not supported; write the command with sh -c")
	}
	words, err := splitSystemdWords(v)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range words {
		if w == ";" {
			return nil, nil, fmt.Errorf("\";\" separating several commands on one line is not supported: give each its own %s= line", e.key)
		}
	}
	if strings.Contains(cmd.prefixes, "@") {
		if len(words) < 2 {
			return nil, nil, fmt.Errorf("the @ prefix needs the program and the argv[0] to give it")
		}
		words = append(words[:1], words[2:]...)
	}
	if len(words) == 0 {
		return nil, nil, fmt.Errorf("no command")
	}
	return cmd, words, nil
}

// unhideDollars turns the hidden "$$" back into the literal "$" it means.
func unhideDollars(w string) string { return strings.ReplaceAll(w, "\x00", "$") }

// refersUnknown reports whether a word refers to a variable not in known.
func refersUnknown(words []string, known map[string]string) bool {
	for _, w := range words {
		if m := wholeVar.FindStringSubmatch(w); m != nil {
			if _, ok := known[m[1]]; !ok {
				return true
			}
		}
		for _, m := range bracedVar.FindAllStringSubmatch(w, -1) {
			if _, ok := known[m[1]]; !ok {
				return true
			}
		}
	}
	return false
}

// substituteVars replaces variable references as systemd does: a whole-word
// $VAR splits into words, ${VAR} is substituted inside its word.
func substituteVars(words []string, known map[string]string) []string {
	var argv []string
	for _, w := range words {
		if m := wholeVar.FindStringSubmatch(w); m != nil {
			argv = append(argv, strings.Fields(known[m[1]])...)
			continue
		}
		argv = append(argv, unhideDollars(bracedVar.ReplaceAllStringFunc(w, func(ref string) string {
			return known[bracedVar.FindStringSubmatch(ref)[1]]
		})))
	}
	return argv
}

// shellVars writes the words as one /bin/sh line that expands the variable
// references and quotes everything else.
func shellVars(words []string) string {
	parts := make([]string, len(words))
	for i, w := range words {
		if m := wholeVar.FindStringSubmatch(w); m != nil {
			parts[i] = "$" + m[1]
			continue
		}
		var b strings.Builder
		last := 0
		for _, loc := range bracedVar.FindAllStringSubmatchIndex(w, -1) {
			if loc[0] > last {
				b.WriteString(shellQuote(unhideDollars(w[last:loc[0]])))
			}
			b.WriteString(`"${` + w[loc[2]:loc[3]] + `}"`)
			last = loc[1]
		}
		if last < len(w) || last == 0 {
			b.WriteString(shellQuote(unhideDollars(w[last:])))
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes a word for /bin/sh.
func shellQuote(w string) string {
	if shellSafe.MatchString(w) {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// shellText is the command as /bin/sh text.
func (c *execCommand) shellText() string {
	if c.shell != "" {
		return c.shell
	}
	q := make([]string, len(c.argv))
	for i, a := range c.argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
