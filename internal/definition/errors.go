package definition

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found in a definition or event-type file. Every
// problem carries its position so an operator can jump straight to it:
// Error() reads "path:line:column: field.path: message".
type Error struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Field is the dotted path of the offending field ("trigger.timezone",
	// "context[1].url"); empty for problems with the file as a whole.
	Field string `json:"field,omitempty"`
	// DefinitionID is set when the id of the definition is known, so a sync
	// result can say which definition kept its last good version.
	DefinitionID string `json:"definition_id,omitempty"`
	Message      string `json:"message"`
}

// Error formats the problem the way compilers do, so editors and terminals
// can link to the position.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in one or more files. Loading never stops at
// the first problem: operators fix a file once, not once per error.
type Errors []*Error

// Error joins all problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders problems by file, then position, so output is stable
// and reads top to bottom.
func sortErrors(es []*Error) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// errOrNil turns an empty list into a nil error, so callers can write
// `if err := ...; err != nil`.
func errOrNil(es []*Error) error {
	if len(es) == 0 {
		return nil
	}
	sortErrors(es)
	return Errors(es)
}
