package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/definition"
	"github.com/coulomb/activity-core/internal/plan"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/store/storeopen"
)

// planStoreTimeout bounds opening the store for the overlap check: a plan
// in CI must not hang on a database it can live without.
const planStoreTimeout = 5 * time.Second

// planCmd previews what a change to definitions would do, from two git
// refs (docs/cutover.md#plan).
type planCmd struct {
	Base   string `name:"base" required:"" help:"The git ref the change starts from (e.g. origin/main)." placeholder:"REF"`
	Head   string `name:"head" help:"The git ref or folder of the change (default: the working tree)." placeholder:"REF|DIR"`
	Format string `name:"format" enum:"markdown,json" default:"markdown" help:"Output: markdown (for a pull-request comment) or json."`
	FailOn string `name:"fail-on" enum:"error,warning" default:"error" help:"Exit 1 on errors only, or on warnings too."`

	Repo               string `name:"repo" help:"The git repository (default: the one the current folder is in)." placeholder:"DIR"`
	Path               string `name:"path" default:"." help:"The definitions folder inside the repository." placeholder:"PATH"`
	Days               int    `name:"days" default:"30" help:"How many days of fire times to compare (1-366)."`
	CollisionThreshold int    `name:"collision-threshold" default:"5" help:"How many jobs firing in the same minute is a collision (at least 2)."`
	Now                string `name:"now" help:"Start the window here instead of now (RFC 3339), for reproducible output." placeholder:"TIME"`
	DatabaseURL        string `name:"database-url" env:"ACTIVITY_DATABASE_URL" help:"The store, for overlap risk from run history (optional: without it that check is skipped)." placeholder:"URL"`
	// The deployment's secrets allow-list and alerting defaults, as
	// validate takes them.
	config.Secrets
	AlertDefaults string `name:"alert-defaults" env:"ACTIVITY_ALERT_DEFAULTS" help:"The deployment's alerting defaults file, merged as sync does." placeholder:"FILE"`
}

// Help is shown by "activity-core plan --help".
func (c *planCmd) Help() string {
	return `Compares the definitions at --base with those at --head (a ref, or a
folder; by default the working tree) and prints what the change does:
definitions added, removed and changed field by field; for every added or
changed schedule its fire times over the next --days before and after, in
its zone and in UTC, with DST-change days and fires that move across
midnight; minutes where --collision-threshold or more jobs of the head fire
at once; and, when ACTIVITY_DATABASE_URL is set and reachable, overlap risk
(a schedule's shortest interval against the p95 duration of its last 100
finished runs). Both refs are read from the local repository: nothing is
fetched.

Exit status: 0 fine, 1 the head has errors (or warnings, with --fail-on
warning), 2 bad command line or unknown ref.

Examples:
  activity-core plan --base origin/main --path automations
  activity-core plan --base main --head feature/backup --format json
  activity-core plan --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" --fail-on warning > plan.md`
}

// Run prints the plan.
func (c *planCmd) Run(env *cmdEnv) error {
	cfg, err := c.config(env)
	if err != nil {
		return err
	}
	if c.DatabaseURL != "" {
		closeStore := c.openStore(env, &cfg)
		defer closeStore()
	}
	rep, err := plan.Build(env.Ctx, cfg)
	if errors.Is(err, plan.ErrRef) {
		return usageError("%s", strings.TrimPrefix(err.Error(), plan.ErrRef.Error()+": "))
	}
	if err != nil {
		return err
	}
	if c.Format == "json" {
		err = rep.WriteJSON(env.Stdout)
	} else {
		err = rep.WriteMarkdown(env.Stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed(c.FailOn == "warning") {
		return failed()
	}
	return nil
}

// config turns the flags into a plan.Config.
func (c *planCmd) config(env *cmdEnv) (plan.Config, error) {
	now := time.Now()
	if c.Now != "" {
		t, err := time.Parse(time.RFC3339, c.Now)
		if err != nil {
			return plan.Config{}, usageError("--now %q is not an RFC 3339 time (e.g. 2026-03-15T00:00:00Z)", c.Now)
		}
		now = t
	}
	repo := c.Repo
	if repo == "" {
		top, err := gitTopLevel(env.Ctx)
		if err != nil {
			return plan.Config{}, usageError("not inside a git repository (%v): run plan in one or pass --repo DIR", err)
		}
		repo = top
	}
	if c.Head == "" && isBareRepo(env.Ctx, repo) {
		return plan.Config{}, usageError("%s is a bare repository, so it has no working tree to be the head: pass --head REF (a branch, tag or commit)", repo)
	}
	check, unchecked, err := secretCheck(c.Secrets)
	if err != nil {
		return plan.Config{}, usageError("%v", err)
	}
	cfg := plan.Config{
		RepoDir: repo, Path: c.Path, Base: c.Base, Now: now, Days: c.Days,
		CollisionThreshold: c.CollisionThreshold, CheckSecret: check, SecretsUnchecked: unchecked,
		Load: definition.LoadOptions{DefaultsFile: c.AlertDefaults},
	}
	if info, err := os.Stat(c.Head); c.Head != "" && err == nil && info.IsDir() {
		cfg.HeadDir = c.Head
	} else {
		cfg.HeadRef = c.Head
	}
	if c.Days < 1 || c.Days > 366 {
		return cfg, usageError("--days must be between 1 and 366, got %d", c.Days)
	}
	if c.CollisionThreshold < 2 {
		return cfg, usageError("--collision-threshold must be at least 2, got %d", c.CollisionThreshold)
	}
	return cfg, nil
}

// openStore sets cfg.Runs, or says in cfg.RunsUnavailable why not; the
// plan goes on either way.
func (c *planCmd) openStore(env *cmdEnv, cfg *plan.Config) func() {
	ctx, cancel := context.WithTimeout(env.Ctx, planStoreTimeout)
	defer cancel()
	st, err := storeopen.Open(ctx, c.DatabaseURL, env.Logger)
	if err != nil {
		// storeopen's message is one line with the password redacted.
		cfg.RunsUnavailable = "store unreachable (" + err.Error() + ")"
		return func() {}
	}
	cfg.Runs = st
	return func() { _ = st.Close() }
}

// gitTopLevel is the work tree the current folder is in.
func gitTopLevel(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s", cmp.Or(strings.TrimSpace(stderr.String()), err.Error()))
	}
	return strings.TrimSpace(out.String()), nil
}

// isBareRepo reports whether dir is a bare git repository; false when git
// cannot tell (the plan then says what is wrong with dir).
func isBareRepo(ctx context.Context, dir string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--is-bare-repository")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

// secretCheck is validate's reading of the allow-list: with none given
// (unchecked), only the names no list can allow are errors.
func secretCheck(s config.Secrets) (check func(string) error, unchecked bool, err error) {
	allow, err := secret.New(secret.Config{Dir: s.SecretsDir, Env: s.SecretEnv})
	if err != nil {
		return nil, false, err
	}
	if !allow.Empty() {
		return allow.Check, false, nil
	}
	return func(name string) error {
		if neverAllowed(name) {
			return allow.Check(name)
		}
		return nil
	}, true, nil
}
