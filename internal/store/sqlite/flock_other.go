//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlite

import (
	"errors"
	"os"
)

// tryLock fails where flock(2) does not exist: the SQLite store's sync lock
// is for Unix systems.
func tryLock(*os.File) error {
	return errors.New("the SQLite sync lock needs flock(2), which this system lacks")
}

func unlock(*os.File) {}
