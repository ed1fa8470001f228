package importer

import (
	"fmt"
	"strings"
)

// unitEntry is one Key=Value line of a unit file.
type unitEntry struct {
	section, key, value string
	line                int
}

// unitFile is a parsed systemd unit file: entries in file order.
type unitFile struct {
	path    string
	name    string // file name, e.g. backup.timer
	entries []unitEntry
}

// parseUnit reads the INI-like unit syntax (systemd.syntax(7)): [Section]
// headers, Key=Value lines, # and ; comments, and a backslash at the end
// of a line continuing it on the next.
func parseUnit(path, name string, data []byte) (*unitFile, error) {
	u := &unitFile{path: path, name: name}
	section := ""
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(strings.TrimRight(lines[i], "\r"))
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(strings.TrimRight(lines[i], "\r"))
			if strings.HasPrefix(next, "#") || strings.HasPrefix(next, ";") {
				// Comment lines inside a continuation are skipped.
				continue
			}
			line = strings.TrimSuffix(line, "\\") + " " + next
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: section header %q has no closing ]", path, lineNo, line)
			}
			section = line[1 : len(line)-1]
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not Key=Value", path, lineNo, line)
		}
		if section == "" {
			return nil, fmt.Errorf("%s:%d: %q is outside any [Section]", path, lineNo, line)
		}
		u.entries = append(u.entries, unitEntry{section: section, key: strings.TrimSpace(key), value: strings.TrimSpace(value), line: lineNo})
	}
	return u, nil
}

// get returns the last value of section.key (later lines win), and its line.
func (u *unitFile) get(section, key string) (string, int, bool) {
	for i := len(u.entries) - 1; i >= 0; i-- {
		e := u.entries[i]
		if e.section == section && e.key == key {
			return e.value, e.line, true
		}
	}
	return "", 0, false
}

// list returns every value of a list setting, honouring "Key=" (empty),
// which resets the list.
func (u *unitFile) list(section, key string) []unitEntry {
	var out []unitEntry
	for _, e := range u.entries {
		if e.section == section && e.key == key {
			if e.value == "" {
				out = nil
				continue
			}
			out = append(out, e)
		}
	}
	return out
}
