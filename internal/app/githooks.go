package app

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/githook"
	"github.com/coulomb/activity-core/internal/gitsource"
	"github.com/coulomb/activity-core/internal/secret"
	"github.com/coulomb/activity-core/internal/syncer"
)

// newGitHooks builds the receiver of git sources' webhooks and polls
// (docs/git-sources.md#webhooks); nil when no git source is configured.
// Its syncs go through api.Sync (*api is set once the API is built, before
// it serves), as the principal "webhook:NAME" or "poll:NAME", so they are
// audited, counted and shown in the sync status like any sync.
func newGitHooks(paths []string, secrets *secret.AllowList, m *adminapi.Metrics, api **adminapi.Server, log *slog.Logger) (*githook.Receiver, error) {
	specs, err := gitsource.ParseSpecs(paths)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(specs, func(s gitsource.Spec) bool { return s.Git != nil }) {
		return nil, nil
	}
	return githook.New(githook.Config{
		Sources: specs, Secret: secrets.Resolve, Registerer: m.Registry(), Logger: log,
		Sync: func(ctx context.Context, source, actor string) error {
			surface, _, _ := strings.Cut(actor, ":")
			ctx = adminapi.WithPrincipal(ctx, adminapi.Principal{Name: actor, Role: adminapi.RoleAdmin, Surface: surface})
			opts := syncer.DefaultOptions()
			opts.Source = source
			_, err := (*api).Sync(ctx, opts)
			return err
		},
	})
}

// newAPIWithHooks makes the API, with the git webhooks and polling of the
// sources in paths when any is a git source; polling runs in wg until ctx
// ends, which also stops the hooks' syncs.
func newAPIWithHooks(ctx context.Context, wg *sync.WaitGroup, acfg adminapi.Config, paths []string, secrets *secret.AllowList, m *adminapi.Metrics, log *slog.Logger) (*adminapi.Server, error) {
	var api *adminapi.Server
	hooks, err := newGitHooks(paths, secrets, m, &api, log)
	if err != nil {
		return nil, err
	}
	if hooks != nil {
		acfg.GitHooks = hooks
	}
	if api, err = adminapi.New(acfg); err != nil {
		return nil, err
	}
	if hooks != nil { // after api is set: the hooks' syncs go through it
		wg.Go(func() { hooks.Run(ctx) })
	}
	return api, nil
}
