package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/gitsource"
)

// side is one side of the change, loaded.
type side struct {
	// Label is how the report names the side: the ref, or the folder.
	Label  string
	Commit *gitsource.Commit
	// Note says something about the side as a whole (its folder does
	// not exist at the base ref).
	Note string
	defs map[string]*definition.Definition
	// errs are every problem of the side, files named inside the repo.
	errs []*definition.Error
	// held are ids and files that had errors: a definition missing for
	// that reason is not "removed".
	heldIDs   map[string]bool
	heldFiles map[string]bool
}

// repoPath is cfg.Path cleaned: slash-separated, "" for the root.
func repoPath(cfg *Config) string {
	p := path.Clean(strings.Trim(filepath.ToSlash(cfg.Path), "/"))
	if p == "." {
		return ""
	}
	return p
}

// readRef exports cfg.Path at ref and loads it. A base without the folder
// is empty (the change creates it); a head without it is an error.
func readRef(ctx context.Context, cfg *Config, ref string, isBase bool) (*side, error) {
	commit, err := gitsource.DescribeRef(ctx, cfg.RepoDir, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRef, err)
	}
	tmp, err := os.MkdirTemp(cfg.TempDir, "activity-core-plan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "tree")
	p := repoPath(cfg)
	s := &side{Label: ref}
	c, err := gitsource.ExportRef(ctx, cfg.RepoDir, commit.SHA, p, dst)
	switch {
	case errors.Is(err, gitsource.ErrPathNotFound) && isBase:
		s.Commit = &commit
		s.Note = fmt.Sprintf("%s does not exist at %s: everything is new", cmp.Or(p, "."), ref)
		s.load(cfg, nil, "", "")
		return s, nil
	case errors.Is(err, gitsource.ErrPathNotFound):
		return nil, fmt.Errorf("%w: %s does not exist at %s (check --path)", ErrRef, cmp.Or(p, "."), ref)
	case err != nil:
		return nil, fmt.Errorf("exporting %s at %s: %w", cmp.Or(p, "."), ref, err)
	}
	s.Commit = &c
	s.load(cfg, []string{dst}, dst, p)
	return s, nil
}

// readDir loads a folder as the head side: dir as given, or the
// repository's Path in its working tree. A symbolic link out of dir, or
// out of the working tree, refuses the plan (ErrLink).
func readDir(cfg *Config, dir string) (*side, error) {
	if dir != "" {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return nil, fmt.Errorf("%w: --head %s is neither a ref nor a folder", ErrRef, dir)
		}
		if err := checkLinks(dir, dir, "--head "+dir, func(f string) string { return f }); err != nil {
			return nil, err
		}
		s := &side{Label: dir}
		s.load(cfg, []string{dir}, "", "")
		return s, nil
	}
	p := repoPath(cfg)
	dir = filepath.Join(cfg.RepoDir, filepath.FromSlash(p))
	inRepo := func(f string) string {
		if rel, err := filepath.Rel(cfg.RepoDir, f); err == nil && filepath.IsLocal(rel) {
			return filepath.ToSlash(rel)
		}
		return f
	}
	if err := checkLinks(dir, cfg.RepoDir, "the repository's working tree", inRepo); err != nil {
		return nil, err
	}
	s := &side{Label: "working tree"}
	s.load(cfg, []string{dir}, dir, p)
	return s, nil
}

// load reads dirs as validate does; file names under from are shown as
// under to (the folder inside the repo), never the export folder.
func (s *side) load(cfg *Config, dirs []string, from, to string) {
	s.defs = map[string]*definition.Definition{}
	s.heldIDs, s.heldFiles = map[string]bool{}, map[string]bool{}
	if len(dirs) == 0 {
		return
	}
	res := definition.LoadWith(dirs, cfg.Load)
	if cfg.CheckSecret != nil {
		res.CheckSecrets(cfg.CheckSecret)
	}
	rename := func(f string) string {
		if from == "" {
			return f
		}
		rel, err := filepath.Rel(from, f)
		if err != nil || strings.HasPrefix(rel, "..") {
			return f
		}
		return path.Join(cmp.Or(to, "."), filepath.ToSlash(rel))
	}
	for _, e := range append(res.SourceErrors, res.Errors...) {
		e.File = rename(e.File)
		s.errs = append(s.errs, e)
		s.heldFiles[e.File] = true
		if e.DefinitionID != "" {
			s.heldIDs[e.DefinitionID] = true
		}
	}
	for _, d := range res.Definitions() {
		d.Source.File = rename(d.Source.File)
		d.Source.Dir = cmp.Or(to, d.Source.Dir)
		for _, w := range d.Warnings {
			w.File = rename(w.File)
		}
		if w := d.UncheckedSecrets(); w != nil && cfg.SecretsUnchecked {
			d.Warnings = append(d.Warnings, w)
		}
		s.defs[d.ID] = d
	}
}
