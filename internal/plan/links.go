package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrLink is returned (wrapped) when a folder read as the head holds a
// symbolic link that does not lead inside it.
var errLink = errors.New("plan: symbolic link out of the folder")

// checkLinks walks dir as the definitions loader does (names starting
// with '.' skipped, links followed) and refuses the first symbolic link
// that does not resolve to a path inside root: in CI the head is a pull
// request's checkout, and a link out of it would make the plan read, and
// report on, the runner's files (attack review finding 11). A dangling
// link is refused alike, and the target is never printed, so the message
// says nothing of what exists outside. show names a path for the message,
// where names root.
func checkLinks(dir, root, where string, show func(string) string) error {
	realRoot, err := realAbs(root)
	if err != nil {
		return nil //nolint:nilerr // the loader reports a root it cannot read
	}
	refuse := func(p string) error {
		return fmt.Errorf("%w: %q is a symbolic link that does not lead inside %s: plan does not follow it (remove the link, or plan a ref: refs are exported without links)", errLink, show(p), where)
	}
	if target, err := realAbs(dir); err != nil || !inside(target, realRoot) {
		return refuse(dir)
	}
	seen := map[string]bool{}
	for queue := []string{dir}; len(queue) > 0; queue = queue[1:] {
		d := queue[0]
		if target, err := realAbs(d); err != nil || seen[target] {
			continue
		} else {
			seen[target] = true
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue // the loader reports it
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			switch {
			case strings.HasPrefix(e.Name(), "."):
			case e.Type()&fs.ModeSymlink != 0:
				target, err := realAbs(p)
				if err != nil || !inside(target, realRoot) {
					return refuse(p)
				}
				if info, err := os.Stat(target); err == nil && info.IsDir() {
					queue = append(queue, p)
				}
			case e.IsDir():
				queue = append(queue, p)
			}
		}
	}
	return nil
}

// realAbs is path with every link resolved, absolute.
func realAbs(path string) (string, error) {
	r, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	return filepath.Abs(r)
}

// inside reports whether path is dir or lies below it.
func inside(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}
