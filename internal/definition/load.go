package definition

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// SourceResult is what one definitions directory yielded.
type SourceResult struct {
	// Dir is the directory as configured.
	Dir string
	// Err is set when the directory itself could not be read (missing, not a
	// directory, permission denied). Then nothing else is set, and a sync
	// must not remove any definition of this source: a checkout caught
	// mid-update must not wipe its definitions.
	Err error
	// Files is every definition or event-type file found, valid or not.
	Files []string
	// Definitions and EventTypes hold what parsed and validated, minus
	// definitions whose id is duplicated.
	Definitions []*Definition
	EventTypes  []*EventType
	// FailedFiles holds the files that had errors. A sync keeps the last
	// good version of whatever such a file held before.
	FailedFiles map[string]bool
	// HeldIDs holds the ids withheld because they are duplicated: a sync
	// keeps their last good versions too.
	HeldIDs map[string]bool

	fileErrs []*Error
}

// Result is what loading a list of directories yielded.
type Result struct {
	Sources []*SourceResult
	// Errors is every problem in every file, sorted by file and position.
	Errors []*Error
}

// Definitions returns every valid definition across all sources.
func (r *Result) Definitions() []*Definition {
	var out []*Definition
	for _, s := range r.Sources {
		out = append(out, s.Definitions...)
	}
	return out
}

// EventTypes returns every valid event type across all sources.
func (r *Result) EventTypes() []*EventType {
	var out []*EventType
	for _, s := range r.Sources {
		out = append(out, s.EventTypes...)
	}
	return out
}

// Err returns the source errors and file errors as one error, or nil.
func (r *Result) Err() error {
	var es []*Error
	for _, s := range r.Sources {
		if s.Err != nil {
			es = append(es, &Error{File: s.Dir, Message: s.Err.Error()})
		}
	}
	es = append(es, r.Errors...)
	return errOrNil(es)
}

// Load reads every definitions directory: `*.yaml` and `*.yml` files below
// it, recursively, skipping hidden files and folders; files inside folders
// named event-types are event types. Symbolic links are followed, with
// loops detected. Duplicate definition ids are errors in every file that
// uses them, and none of those files is applied. A path that is a file
// instead of a directory is loaded as that one file.
func Load(dirs []string) *Result {
	res := &Result{}
	for _, dir := range dirs {
		sr := loadSource(dir)
		res.Sources = append(res.Sources, sr)
	}
	res.Errors = append(res.Errors, markDuplicates(res.Sources)...)
	for _, sr := range res.Sources {
		for _, e := range sr.fileErrs {
			res.Errors = append(res.Errors, e)
		}
		sr.fileErrs = nil
	}
	sortErrors(res.Errors)
	return res
}

func loadSource(dir string) *SourceResult {
	sr := &SourceResult{Dir: dir, FailedFiles: map[string]bool{}, HeldIDs: map[string]bool{}}
	info, err := os.Stat(dir)
	if err != nil {
		sr.Err = describeDirErr(dir, err)
		return sr
	}
	if !info.IsDir() {
		// A single file given directly (validate takes files and folders).
		sr.loadFile(dir, dir, filepath.Base(filepath.Dir(dir)) == EventTypesDir)
		return sr
	}
	w := &walker{sr: sr, seen: map[fileID]string{}}
	if err := w.walk(dir, dir, false); err != nil {
		sr.Err = describeDirErr(dir, err)
		sr.Definitions, sr.EventTypes, sr.Files = nil, nil, nil
	}
	return sr
}

func describeDirErr(dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("definitions directory does not exist: check the path (nothing from this source was changed)")
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("definitions directory is not readable: permission denied (nothing from this source was changed)")
	}
	return fmt.Errorf("reading definitions directory: %v (nothing from this source was changed)", err)
}

type fileID struct{ dev, ino uint64 }

type walker struct {
	sr   *SourceResult
	seen map[fileID]string // directories on the current path, for loop detection
}

// walk reads one directory. Errors reading the top directory fail the
// source; errors below it fail just that entry.
func (w *walker) walk(root, dir string, eventTypes bool) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	if id, ok := statID(dir); ok {
		w.seen[id] = dir
		defer delete(w.seen, id)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		typ := e.Type()
		if typ&fs.ModeSymlink != 0 {
			target, err := os.Stat(path)
			if err != nil {
				if isYAML(name) || errors.Is(err, syscall.ELOOP) {
					w.sr.fail(path, "cannot follow symbolic link: "+linkErr(err))
				}
				continue
			}
			typ = target.Mode().Type()
			if target.IsDir() {
				if id, ok := statID(path); ok {
					if prev, loop := w.seen[id]; loop {
						w.sr.fail(path, fmt.Sprintf("symbolic link loop: points back to %s", prev))
						continue
					}
				}
			}
		}
		switch {
		case typ.IsDir():
			if err := w.walk(root, path, eventTypes || name == EventTypesDir); err != nil {
				w.sr.fail(path, "cannot read folder: "+linkErr(err))
			}
		case typ.IsRegular() && isYAML(name):
			w.sr.loadFile(root, path, eventTypes)
		}
	}
	return nil
}

func linkErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func isYAML(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

func statID(path string) (fileID, bool) {
	info, err := os.Stat(path)
	if err != nil {
		return fileID{}, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// fail records a problem with a whole file.
func (sr *SourceResult) fail(path, msg string) {
	sr.Files = append(sr.Files, path)
	sr.FailedFiles[path] = true
	sr.fileErrs = append(sr.fileErrs, &Error{File: path, Message: msg})
}

func (sr *SourceResult) loadFile(root, path string, eventType bool) {
	data, err := readLimited(path)
	if err != nil {
		sr.fail(path, err.Error())
		return
	}
	sr.Files = append(sr.Files, path)
	if eventType {
		et, err := ParseEventType(path, data)
		if err != nil {
			sr.FailedFiles[path] = true
			sr.fileErrs = append(sr.fileErrs, err.(Errors)...)
			return
		}
		et.Source.Dir = root
		sr.EventTypes = append(sr.EventTypes, et)
		return
	}
	def, err := Parse(path, data)
	if err != nil {
		sr.FailedFiles[path] = true
		errs := err.(Errors)
		for _, e := range errs {
			if e.DefinitionID != "" {
				sr.HeldIDs[e.DefinitionID] = true
			}
		}
		sr.fileErrs = append(sr.fileErrs, errs...)
		return
	}
	def.Source.Dir = root
	sr.Definitions = append(sr.Definitions, def)
}

// readLimited reads a file, refusing anything over MaxFileSize without
// reading it whole (a FIFO or a huge file must not hang or exhaust memory).
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read file: %s", linkErr(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read file: %s", linkErr(err))
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is over the 1 MiB limit for a definition file")
	}
	return data, nil
}

// markDuplicates finds ids defined by more than one file (across all
// sources), reports each file, and withholds all of them.
func markDuplicates(sources []*SourceResult) []*Error {
	files := map[string][]*Definition{}
	var order []string
	for _, sr := range sources {
		for _, d := range sr.Definitions {
			if _, ok := files[d.ID]; !ok {
				order = append(order, d.ID)
			}
			files[d.ID] = append(files[d.ID], d)
		}
	}
	var errs []*Error
	dup := map[string]bool{}
	for _, id := range order {
		defs := files[id]
		if len(defs) < 2 {
			continue
		}
		dup[id] = true
		for _, d := range defs {
			var others []string
			for _, o := range defs {
				if o != d {
					others = append(others, fmt.Sprintf("%s:%d", o.Source.File, o.Source.Line))
				}
			}
			errs = append(errs, &Error{
				File: d.Source.File, Line: d.Source.Line, Column: d.Source.Column, Field: "id", DefinitionID: id,
				Message: fmt.Sprintf("id %q is also defined in %s: ids must be unique, neither file is applied", id, strings.Join(others, ", ")),
			})
		}
	}
	if len(dup) == 0 {
		return nil
	}
	for _, sr := range sources {
		kept := sr.Definitions[:0]
		for _, d := range sr.Definitions {
			if dup[d.ID] {
				sr.FailedFiles[d.Source.File] = true
				sr.HeldIDs[d.ID] = true
				continue
			}
			kept = append(kept, d)
		}
		sr.Definitions = kept
	}
	return errs
}
