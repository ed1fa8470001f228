package adminapi

import (
	"net/http"

	"github.com/coulomb/activity-core/internal/githook"
)

// gitHook hands a git push webhook to Config.GitHooks, which checks its
// signature (docs/git-sources.md#webhooks). Without a receiver it answers
// as the receiver does for a source that takes no webhooks, so the route
// tells an outsider nothing of the configuration.
func (s *Server) gitHook(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.GitHooks == nil {
		return &apiError{http.StatusNotFound, "not_found", githook.NoWebhookMessage, ""}
	}
	s.cfg.GitHooks.ServeHTTP(w, r)
	return nil
}
