package gitsource

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/coulomb/activity-core/internal/testsupport/gittest"
)

type entry struct {
	name string
	typ  byte
	body string
}

func tarOf(t *testing.T, entries ...entry) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeXGlobalHeader {
			h = &tar.Header{Typeflag: e.typ, Name: e.name, PAXRecords: map[string]string{"comment": "0123abc"}}
		}
		if e.typ == tar.TypeSymlink {
			h.Linkname, h.Size = e.body, 0
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := w.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

var testOpt = extractOptions{fileMode: 0o444, maxBytes: 100, maxCount: 10}

func TestExtractRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil.yaml", "a/../../evil.yaml", "/etc/evil.yaml"} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dst := filepath.Join(base, "dst")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := extractTar(tarOf(t, entry{"ok.yaml", tar.TypeReg, "ok"}, entry{name, tar.TypeReg, "evil"}), dst, testOpt)
			if err == nil || !strings.Contains(err.Error(), "would land outside the folder") {
				t.Fatalf("got %v, want a refusal", err)
			}
			if _, err := os.Stat(filepath.Join(base, "evil.yaml")); !os.IsNotExist(err) {
				t.Fatalf("escaped entry written: %v", err)
			}
		})
	}
}

func TestExtractKeepsOnlyFilesAndFolders(t *testing.T) {
	dst := t.TempDir()
	skipped, err := extractTar(tarOf(t,
		entry{"pax_global_header", tar.TypeXGlobalHeader, ""},
		entry{"d/", tar.TypeDir, ""},
		entry{"d/a.yaml", tar.TypeReg, "a"},
		entry{"d/link", tar.TypeSymlink, "/etc/passwd"},
		entry{"hard", tar.TypeLink, ""},
		entry{"fifo", tar.TypeFifo, ""},
	), dst, testOpt)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(skipped, ",") != "d/link,hard,fifo" {
		t.Fatalf("skipped = %v", skipped)
	}
	assertFiles(t, dst, map[string]string{"d/a.yaml": "a"})
	if fi, err := os.Stat(filepath.Join(dst, "d/a.yaml")); err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("file mode = %v, %v; want read-only", fi.Mode(), err)
	}
}

func TestExtractBounds(t *testing.T) {
	big := strings.Repeat("x", 60)
	_, err := extractTar(tarOf(t, entry{"a", tar.TypeReg, big}, entry{"b", tar.TypeReg, big}), t.TempDir(), testOpt)
	if !errors.Is(err, errTreeTooLarge) || !strings.Contains(err.Error(), "more than 100 bytes") {
		t.Fatalf("size: got %v", err)
	}
	var many []entry
	for i := range 11 {
		many = append(many, entry{string(rune('a'+i)) + "/", tar.TypeDir, ""})
	}
	_, err = extractTar(tarOf(t, many...), t.TempDir(), testOpt)
	if !errors.Is(err, errTreeTooLarge) || !strings.Contains(err.Error(), "more than 10 entries") {
		t.Fatalf("count: got %v", err)
	}
}

func TestExportRef(t *testing.T) {
	r := gittest.NewRepo(t)
	base := r.Commit(map[string]string{"defs/a.yaml": "old", "other": "x"}, ann, "base")
	r.Commit(map[string]string{"defs/a.yaml": "new", "defs/b.yaml": "b"}, "Bob <bob@example.com>", "head")
	ctx := context.Background()
	dst := filepath.Join(t.TempDir(), "base")
	c, err := ExportRef(ctx, r.Work, "HEAD~1", "defs", dst)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != base || c.Author != ann || c.Subject != "base" {
		t.Fatalf("commit = %+v, want %s", c, base)
	}
	assertFiles(t, dst, map[string]string{"a.yaml": "old"})

	head := filepath.Join(t.TempDir(), "head")
	if _, err := ExportRef(ctx, r.Work, "main", "", head); err != nil {
		t.Fatal(err)
	}
	assertFiles(t, head, map[string]string{"defs/a.yaml": "new", "defs/b.yaml": "b", "other": "x"})

	errs := []struct{ ref, path, want string }{
		{"--output=/tmp/x", "defs", "not starting with '-'"},
		{"nope", "defs", "nope does not name a commit"},
		{"main", "missing", "path missing not found at "},
		{"main", "../x", "must not contain .. segments"},
	}
	for _, e := range errs {
		_, err := ExportRef(ctx, r.Work, e.ref, e.path, filepath.Join(t.TempDir(), "x"))
		if err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("ExportRef(%q, %q) = %v, want %q", e.ref, e.path, err, e.want)
		}
	}
}

func TestExportRefIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	r := gittest.NewRepo(t)
	r.Commit(map[string]string{"defs/a.yaml": "a", "defs/sub/b.yaml": "b"}, ann, "a")
	dst := filepath.Join(t.TempDir(), "x")
	if _, err := ExportRef(context.Background(), r.Work, "HEAD", "defs", dst); err != nil {
		t.Fatal(err)
	}
	assertPrivate(t, dst, 0o600)
}
