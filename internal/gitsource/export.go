package gitsource

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Bounds on one exported tree: git contents are untrusted.
const (
	treeMaxBytes   = 64 << 20
	treeMaxEntries = 20000
)

// ErrTreeTooLarge is a tree past TreeMaxBytes or TreeMaxEntries.
var errTreeTooLarge = errors.New("tree too large")

// extractOptions says how extractTar writes.
type extractOptions struct {
	fileMode os.FileMode // 0400 for snapshots, 0600 for ExportRef
	maxBytes int64
	maxCount int
}

// extractTar writes the regular files and folders of a tar stream under
// dst (which exists) and returns the paths it skipped (symlinks, links,
// devices). An entry that would land outside dst fails the extraction.
func extractTar(r io.Reader, dst string, opt extractOptions) (skipped []string, err error) {
	tr := tar.NewReader(r)
	var total int64
	for count := 0; ; count++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return skipped, nil
		}
		if err != nil {
			return skipped, fmt.Errorf("reading the archive: %w", err)
		}
		if count >= opt.maxCount {
			return skipped, fmt.Errorf("%w: more than %d entries", errTreeTooLarge, opt.maxCount)
		}
		if h.Typeflag == tar.TypeXGlobalHeader || h.Typeflag == tar.TypeXHeader {
			continue
		}
		name := strings.TrimSuffix(path.Clean(strings.TrimPrefix(h.Name, "./")), "/")
		if name == "." {
			continue
		}
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return skipped, fmt.Errorf("entry %q would land outside the folder", h.Name)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o700)
		case tar.TypeReg:
			if total += h.Size; total > opt.maxBytes {
				return skipped, fmt.Errorf("%w: more than %d bytes", errTreeTooLarge, opt.maxBytes)
			}
			err = writeFile(target, tr, h.Size, opt.fileMode)
		default:
			skipped = append(skipped, name)
		}
		if err != nil {
			return skipped, err
		}
	}
}

// writeFile writes exactly size bytes of r to a new file.
func writeFile(target string, r io.Reader, size int64, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, r, size)
	return errors.Join(err, f.Close())
}

// removeTree removes a snapshot folder; read-only files go with their
// folder, which stays writable.
func removeTree(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700) // in case someone made it read-only
		}
		return nil
	})
	return errors.Join(err, os.RemoveAll(dir))
}
