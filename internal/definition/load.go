package definition

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
	// Unreadable lists the folders below Dir that could not be read (a
	// symbolic link loop, permission denied). What a sync stored from under
	// them is unknown now, so it is kept: see Unknown.
	Unreadable []string
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

	pathErrs []*Error
	fileErrs []*Error
	// defaults are the folders' _defaults.yaml by folder; badDefaults
	// the invalid ones (folder -> file).
	defaults    map[string]*Defaults
	badDefaults map[string]string
}

// Unknown reports whether file lies under a folder of this source that
// could not be read: whatever a sync stored from it must be kept, since
// the folder may be back next time (docs/definitions.md#loading).
func (sr *SourceResult) Unknown(file string) bool {
	for _, p := range sr.Unreadable {
		if file == p || strings.HasPrefix(file, p+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// Result is what loading a list of directories yielded.
type Result struct {
	Sources []*SourceResult
	// SourceErrors is every problem with a source or a folder as a whole
	// (missing, unreadable, a link loop). Reports list them before Errors
	// and never drop them: each one hides a whole folder of definitions.
	SourceErrors []*Error
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

// Err returns the source errors, then the file errors, as one error, or nil.
func (r *Result) Err() error {
	es := append(slices.Clip(r.SourceErrors), r.Errors...)
	if len(es) == 0 {
		return nil
	}
	return Errors(es)
}

// Load reads every definitions directory: `*.yaml` and `*.yml` files below
// it, recursively, skipping hidden files and folders; files inside folders
// named event-types are event types. Symbolic links are followed, each
// real file and folder is read once (a file reached by two paths is one
// definition, under its real path when it has one in the source), and a
// link to one of its own parent folders is a loop. A folder that cannot be
// read is a source error, and what lies under it is unknown, not gone.
// Duplicate definition ids are errors in every file that uses them, and
// none of those files is applied. A path that is a file instead of a
// directory is loaded as that one file. Alerting defaults of the folders
// (_defaults.yaml) are merged in; LoadWith adds the deployment's.
func Load(dirs []string) *Result {
	return LoadWith(dirs, LoadOptions{})
}

// LoadWith is Load with the deployment's alerting defaults.
func LoadWith(dirs []string, opts LoadOptions) *Result {
	res := &Result{}
	var deployment *Defaults
	deploymentBad := false
	if opts.DefaultsFile != "" {
		d, err := ReadDefaults(opts.DefaultsFile)
		if err != nil {
			res.SourceErrors = append(res.SourceErrors, err.(Errors)...)
			deploymentBad = true
		}
		deployment = d
	}
	for _, dir := range dirs {
		sr := loadSource(dir)
		if deploymentBad {
			for _, def := range sr.Definitions {
				sr.withhold(def, fmt.Sprintf("not applied: the deployment's alerting defaults in %s are invalid (fix that file)", opts.DefaultsFile))
			}
			sr.Definitions = nil
		} else {
			sr.applyDefaults(deployment)
		}
		res.Sources = append(res.Sources, sr)
		if sr.Err != nil {
			res.SourceErrors = append(res.SourceErrors, &Error{File: dir, Message: sr.Err.Error()})
		}
		res.SourceErrors = append(res.SourceErrors, sr.pathErrs...)
		sr.pathErrs = nil
	}
	res.Errors = append(res.Errors, markDuplicates(res.Sources)...)
	for _, sr := range res.Sources {
		res.Errors = append(res.Errors, sr.fileErrs...)
		sr.fileErrs = nil
	}
	sortErrors(res.Errors)
	return res
}

func loadSource(dir string) *SourceResult {
	sr := &SourceResult{Dir: dir, FailedFiles: map[string]bool{}, HeldIDs: map[string]bool{},
		defaults: map[string]*Defaults{}, badDefaults: map[string]string{}}
	info, err := os.Stat(dir)
	if err != nil {
		sr.Err = describeDirErr(dir, err)
		return sr
	}
	realRoot, err := filepath.EvalSymlinks(dir)
	if err != nil {
		sr.Err = describeDirErr(dir, err)
		return sr
	}
	if !info.IsDir() {
		// A single file given directly (validate takes files and folders).
		sr.loadFile(dir, dir, filepath.Base(filepath.Dir(dir)) == EventTypesDir, true)
		return sr
	}
	w := &walker{sr: sr, root: dir, realRoot: realRoot, visited: map[fileID]bool{}}
	if id, ok := idOf(info); ok {
		w.visited[id] = true
	}
	if err := w.walk(dir, false, false); err != nil {
		sr.Err = describeDirErr(dir, err)
		sr.Definitions, sr.EventTypes, sr.Files, sr.Unreadable = nil, nil, nil, nil
		sr.pathErrs, sr.fileErrs = nil, nil
		return sr
	}
	// Links are followed once the real tree is read, so a file or folder
	// reachable both directly and through a link keeps its real path.
	for len(w.links) > 0 {
		l := w.links[0]
		w.links = w.links[1:]
		w.follow(l)
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

// link is a symbolic link met while walking, followed after the real tree.
type link struct {
	path       string
	eventTypes bool
}

type walker struct {
	sr             *SourceResult
	root, realRoot string
	// visited holds every real folder and file read so far: each is read
	// once however many paths reach it, so a tree of links that reach the
	// same folders many ways costs what its real files cost.
	visited map[fileID]bool
	links   []link
}

// walk reads one directory, queueing the links it holds. Only an error
// reading dir itself is returned; problems below it are recorded.
func (w *walker) walk(dir string, eventTypes, viaLink bool) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		if e.Type()&fs.ModeSymlink != 0 {
			w.links = append(w.links, link{path: path, eventTypes: eventTypes})
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed while we read the folder
		}
		w.entry(path, info, eventTypes || (e.IsDir() && name == EventTypesDir), viaLink)
	}
	return nil
}

// follow reads what a symbolic link points to.
func (w *walker) follow(l link) {
	name := filepath.Base(l.path)
	info, err := os.Stat(l.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A dangling link is nothing, like a deleted file; one named like a
		// definition is reported so a broken checkout is noticed.
		if isYAML(name) {
			w.sr.fail(l.path, "cannot follow symbolic link: "+linkErr(err))
		}
		return
	case err != nil && isYAML(name):
		w.sr.fail(l.path, "cannot follow symbolic link: "+linkErr(err))
		return
	case err != nil:
		w.sr.unreadable(l.path, "cannot follow symbolic link: "+linkErr(err))
		return
	}
	if info.IsDir() {
		if target, parent := realPath(l.path), realPath(filepath.Dir(l.path)); target != "" && within(parent, target) {
			w.sr.unreadable(l.path, fmt.Sprintf("symbolic link loop: points back to %s", target))
			return
		}
	}
	w.entry(l.path, info, l.eventTypes || (info.IsDir() && name == EventTypesDir), true)
}

// entry reads one folder or file (info is what the path resolves to),
// unless its real file was read already. viaLink says a link led here.
func (w *walker) entry(path string, info fs.FileInfo, eventTypes, viaLink bool) {
	if info.IsDir() || isYAML(info.Name()) || isYAML(path) {
		if id, ok := idOf(info); ok {
			if w.visited[id] {
				return // the same real folder or file, reached another way
			}
			w.visited[id] = true
		}
	}
	switch {
	case info.IsDir():
		if err := w.walk(path, eventTypes, viaLink); err != nil {
			w.sr.unreadable(path, "cannot read folder: "+linkErr(err))
		}
	case !isYAML(path):
	case !info.Mode().IsRegular():
		w.sr.fail(path, fmt.Sprintf("is %s, not a regular file: a definition must be a regular file (it was not opened)", kindOfFile(info.Mode())))
	default:
		inside := !viaLink || within(realPath(path), w.realRoot)
		w.sr.loadFile(w.root, path, eventTypes, inside)
	}
}

func kindOfFile(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// realPath resolves every link in path; "" when it cannot.
func realPath(path string) string {
	r, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(r)
	if err != nil {
		return ""
	}
	return abs
}

// within reports whether path is dir or lies below it.
func within(path, dir string) bool {
	if path == "" || dir == "" {
		return false
	}
	dir, _ = filepath.Abs(dir)
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
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

func idOf(info fs.FileInfo) (fileID, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true //nolint:unconvert // syscall.Stat_t field types differ across platforms
}

// fail records a problem with a whole file.
func (sr *SourceResult) fail(path, msg string) {
	sr.Files = append(sr.Files, path)
	sr.FailedFiles[path] = true
	sr.fileErrs = append(sr.fileErrs, &Error{File: path, Message: msg})
}

// unreadable records a folder (or a link that may be one) that could not
// be read: a source-level error, and nothing stored under it is removed.
func (sr *SourceResult) unreadable(path, msg string) {
	sr.Unreadable = append(sr.Unreadable, path)
	sr.pathErrs = append(sr.pathErrs, &Error{File: path, Message: msg + " (nothing stored from under this folder was changed)"})
}

// loadFile reads and parses one file. inside is false for a file that a
// link reaches outside the source: its errors then never quote it.
func (sr *SourceResult) loadFile(root, path string, eventType, inside bool) {
	data, err := readLimited(path)
	if err != nil {
		sr.fail(path, err.Error())
		return
	}
	sr.Files = append(sr.Files, path)
	switch name := filepath.Base(path); {
	case name == defaultsFileName && eventType:
		sr.FailedFiles[path] = true
		sr.fileErrs = append(sr.fileErrs, &Error{File: path, Message: "alerting defaults apply to definitions: an event-types folder holds event types only (move it to the folder above)"})
		return
	case name == defaultsFileName:
		sr.loadDefaults(path, data, inside)
		return
	case strings.EqualFold(strings.TrimSuffix(name, filepath.Ext(name)), "_defaults"):
		sr.FailedFiles[path] = true
		sr.fileErrs = append(sr.fileErrs, &Error{File: path, Message: "alerting defaults must be in a file named exactly " + defaultsFileName + ": rename it"})
		return
	}
	if eventType {
		et, err := ParseEventType(path, data)
		if err != nil {
			sr.FailedFiles[path] = true
			sr.fileErrs = append(sr.fileErrs, unquoted(err.(Errors), path, inside)...)
			return
		}
		et.Source.Dir = root
		sr.EventTypes = append(sr.EventTypes, et)
		return
	}
	def, err := Parse(path, data)
	if err != nil {
		sr.FailedFiles[path] = true
		errs := unquoted(err.(Errors), path, inside)
		for _, e := range err.(Errors) {
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

// unquoted turns the errors of a file outside the source into one that
// keeps the first position and drops everything taken from the content
// (values, keys, YAML tokens, an id that is not one): a link to /etc/shadow must not leak its lines
// into sync results (docs/definitions.md#loading).
func unquoted(errs Errors, path string, inside bool) []*Error {
	if inside {
		return errs
	}
	e := errs[0]
	id := e.DefinitionID
	if !idPattern.MatchString(id) {
		id = ""
	}
	return []*Error{{
		File: e.File, Line: e.Line, Column: e.Column, DefinitionID: id,
		Message: fmt.Sprintf("invalid file outside the definitions source (the link leads to %s; its content is not quoted here): run activity-core validate on that file to see its %d problem(s)", realPath(path), len(errs)),
	}}
}

// readLimited reads a regular file, refusing anything over maxFileSize
// without reading it whole. It opens without blocking and checks the open
// file, so a FIFO swapped in after the walk looked cannot hang a sync.
func readLimited(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read file: %s", linkErr(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read file: %s", linkErr(err))
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("is %s, not a regular file: a definition must be a regular file", kindOfFile(info.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read file: %s", linkErr(err))
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is over the 1 MiB limit for a definition file")
	}
	return data, nil
}

// maxDuplicateErrors bounds the errors about one duplicated id, and the
// other files each names: n files sharing an id cost n lines, not n².
const maxDuplicateErrors = 3

// duplicateErrors reports the first files that share id, each naming the
// others up to the bound; one more error counts the files left out.
func duplicateErrors(id string, defs []*Definition) []*Error {
	var errs []*Error
	for i, d := range defs {
		if i == maxDuplicateErrors {
			errs = append(errs, &Error{
				File: d.Source.File, Line: d.Source.Line, Column: d.Source.Column, Field: "id", DefinitionID: id,
				Message: fmt.Sprintf("id %q is defined in %d more files, this one included (not listed): ids must be unique, none of them is applied", id, len(defs)-maxDuplicateErrors),
			})
			break
		}
		var others []string
		for _, o := range defs {
			if o == d {
				continue
			}
			if len(others) == maxDuplicateErrors {
				others = append(others, fmt.Sprintf("and %d more", len(defs)-1-maxDuplicateErrors))
				break
			}
			others = append(others, fmt.Sprintf("%s:%d", o.Source.File, o.Source.Line))
		}
		errs = append(errs, &Error{
			File: d.Source.File, Line: d.Source.Line, Column: d.Source.Column, Field: "id", DefinitionID: id,
			Message: fmt.Sprintf("id %q is also defined in %s: ids must be unique, neither file is applied", id, strings.Join(others, ", ")),
		})
	}
	return errs
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
		errs = append(errs, duplicateErrors(id, defs)...)
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
