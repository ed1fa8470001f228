package importer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// ErrExists is returned by WriteDir when a file it would write is already
// there and overwriting was not asked for.
var ErrExists = errors.New("file exists")

// WriteDir writes one file per definition, named after its id, into dir
// (created if missing). Unless force is set it refuses, before writing
// anything, when any of the files exists. It returns the paths written.
func WriteDir(dir string, defs []*Definition, force bool) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := make([]string, len(defs))
	var exist []string
	for i, d := range defs {
		paths[i] = filepath.Join(dir, d.ID+".yaml")
		if _, err := os.Lstat(paths[i]); err == nil {
			exist = append(exist, paths[i])
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if len(exist) > 0 && !force {
		return nil, fmt.Errorf("%w: %s (nothing was written; pass --force to overwrite)", ErrExists, strings.Join(exist, ", "))
	}
	for i, d := range defs {
		if err := os.WriteFile(paths[i], d.YAML, 0o644); err != nil {
			return paths[:i], err
		}
	}
	return paths, nil
}

// WriteStream writes the definitions as one multi-document YAML stream.
// (A definitions folder needs one file per definition: use WriteDir for
// that; the stream is for reading and piping.)
func WriteStream(w io.Writer, defs []*Definition) error {
	for i, d := range defs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(d.YAML); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable prints what an import would produce: one row per definition
// (id, schedule, command, notes), then the skipped entries and notices.
func WriteTable(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tSCHEDULE\tCOMMAND\tNOTES")
	for _, d := range res.Definitions {
		notes := "-"
		if len(d.Notes) > 0 {
			notes = strings.Join(d.Notes, " | ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Source, d.Schedule, clipText(d.Command, 60), notes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range res.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", p.Error())
	}
	for _, p := range res.Notices {
		fmt.Fprintf(w, "note: %s\n", p.Error())
	}
	return nil
}

func clipText(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
