package adminapi

import (
	"net/http"
)

// gitHook hands a git push webhook to Config.GitHooks, which checks its
// signature (docs/git-sources.md#webhooks).
func (s *Server) gitHook(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.GitHooks == nil {
		return &apiError{http.StatusNotFound, "not_found", "this api process takes no git webhooks: no git source is configured (docs/git-sources.md#webhooks)", ""}
	}
	s.cfg.GitHooks.ServeHTTP(w, r)
	return nil
}
