package importer

import (
	"path"
	"regexp"
	"strconv"
	"strings"
)

// maxSlug keeps generated ids readable; the format allows 200 characters.
const maxSlug = 60

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slugify lower-cases s and turns every run of other characters into '-'.
func slugify(s string) string {
	s = nonSlug.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.Trim(s, "-")
	if len(s) > maxSlug {
		s = strings.Trim(s[:maxSlug], "-")
	}
	return s
}

// idSet hands out ids that are unique within one import.
type idSet struct {
	namespace string
	taken     map[string]bool
}

func newIDSet(namespace string) *idSet { return &idSet{namespace: namespace, taken: map[string]bool{}} }

// slug returns a base slug for a command, "job" when it has no usable
// letters.
func (s *idSet) slug(base string) string {
	if base = slugify(base); base == "" {
		return "job"
	}
	return base
}

// take returns namespace.base, or namespace.base-2, -3… if already used.
func (s *idSet) take(base string) string {
	id := s.namespace + "." + base
	for n := 2; s.taken[id]; n++ {
		id = s.namespace + "." + base + "-" + strconv.Itoa(n)
	}
	s.taken[id] = true
	return id
}

// wrappers run another command given after their own options; the slug
// comes from that command. The value is how many non-option arguments the
// wrapper takes before the command.
var wrappers = map[string]int{
	"nice": 0, "ionice": 0, "nohup": 0, "env": 0, "exec": 0, "time": 0, "chronic": 0,
	"sudo": 0, "timeout": 1, "flock": 1, "run-one": 0, "setlock": 1, "cronic": 0,
}

// wrapperValueOptions are the single-letter options of a wrapper that take
// a value (nice -n 10, timeout -s KILL, flock -w 5).
var wrapperValueOptions = map[string]string{
	"nice": "n", "ionice": "cn", "sudo": "ugCDhprT", "timeout": "sk", "flock": "wEc", "env": "uCS",
}

// interpreters run a script named by their first argument.
var interpreters = map[string]bool{
	"python": true, "python2": true, "python3": true, "perl": true, "ruby": true, "node": true,
	"bash": true, "sh": true, "zsh": true, "php": true, "rscript": true, "deno": true, "bun": true,
}

// subcommanders take a subcommand that says what the job does.
var subcommanders = map[string]bool{
	"make": true, "docker": true, "docker-compose": true, "podman": true, "systemctl": true,
	"git": true, "kubectl": true, "npm": true, "yarn": true, "run-parts": true, "certbot": true,
	"rake": true, "artisan": true, "manage": true,
}

// commandSlug picks the words that name what a command does: the script an
// interpreter runs, a program's name, or a program and its subcommand,
// skipping "cd DIR &&", VAR=value prefixes and wrappers such as nice,
// timeout or flock.
func commandSlug(cmd string) string {
	words := shellWords(cmd)
	for {
		switch {
		case len(words) > 0 && words[0] == "(":
			words = words[1:]
			continue
		case len(words) >= 3 && words[0] == "cd" && (words[2] == "&&" || words[2] == ";"):
			// "cd DIR && job": the job names it.
			words = words[3:]
			continue
		case len(words) > 0 && (words[0] == "test" || words[0] == "["):
			// "test -x X || job", "[ -f X ] && job": the job names it.
			for i, w := range words {
				if w == "&&" || w == "||" {
					words = words[i+1:]
					break
				}
			}
			if len(words) > 0 && (words[0] == "test" || words[0] == "[") {
				words = words[1:]
			}
			continue
		}
		break
	}
	// Stop at the first operator.
	for i, w := range words {
		if isOperator(w) {
			words = words[:i]
			break
		}
	}
	skip := 0
	wrapper := ""
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case isAssignment(w):
			continue
		case strings.HasPrefix(w, "-"):
			// A wrapper's option; the common ones with a value skip it too.
			if len(w) == 2 && wrapper != "" && strings.Contains(wrapperValueOptions[wrapper], w[1:]) {
				i++
			}
			continue
		case skip > 0:
			skip--
			continue
		}
		prog := strings.ToLower(path.Base(w))
		if n, ok := wrappers[prog]; ok {
			skip, wrapper = n, prog
			continue
		}
		if (prog == "sh" || prog == "bash") && i+2 < len(words) && words[i+1] == "-c" {
			return commandSlug(words[i+2])
		}
		base := stripExt(prog)
		if strings.HasPrefix(prog, "python") || interpreters[prog] {
			if arg := firstArg(words[i+1:]); arg != "" {
				return stripExt(path.Base(arg))
			}
			return base
		}
		if subcommanders[base] {
			if arg := firstArg(words[i+1:]); arg != "" {
				return base + "-" + stripExt(path.Base(arg))
			}
		}
		return base
	}
	return ""
}

func firstArg(words []string) string {
	for _, w := range words {
		if !strings.HasPrefix(w, "-") && !isAssignment(w) {
			return w
		}
	}
	return ""
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	return ok && name != "" && envNameOK(name)
}

func envNameOK(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

func stripExt(s string) string {
	switch ext := path.Ext(s); ext {
	case ".sh", ".py", ".pl", ".rb", ".js", ".php", ".bash", ".ts":
		return strings.TrimSuffix(s, ext)
	}
	return s
}

func isOperator(w string) bool {
	switch w {
	case "&&", "||", ";", "|", "&", "(", ")":
		return true
	}
	return strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "2>") || strings.HasPrefix(w, "1>")
}

// shellWords splits a command roughly as sh would, only for naming: quotes
// group, and ; & | < > are separate words.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '\'' || c == '"':
			inWord = true
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				cur.WriteString(s[i+1:])
				i = len(s)
			} else {
				cur.WriteString(s[i+1 : i+1+j])
				i += j + 1
			}
		case c == '\\' && i+1 < len(s):
			inWord = true
			cur.WriteByte(s[i+1])
			i++
		case strings.IndexByte(";&|<>()", c) >= 0:
			flush()
			op := string(c)
			if i+1 < len(s) && (s[i+1] == c || c == '>' && s[i+1] == '&') {
				op += string(s[i+1])
				i++
			}
			words = append(words, op)
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	flush()
	return words
}
