package engine

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// maxRedirects is how many same-origin redirects a request follows.
const maxRedirects = 10

// sameOriginRedirect is the engine's one redirect policy: a redirect is
// followed only to the same origin (scheme, host and port), where the
// definition's headers and body may go again. A redirect elsewhere is not
// followed: the 3xx response is the answer, and redirectNote explains it.
// So a definition's headers (X-Api-Key, Authorization) and body never
// reach an origin the definition did not name.
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if origin(req.URL) != origin(via[0].URL) {
		return http.ErrUseLastResponse
	}
	return nil
}

func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return u.Scheme + "://" + u.Hostname() + ":" + port
}

// redirectNote explains a 3xx answer that was not followed.
func redirectNote(resp *http.Response) string {
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return ""
	}
	loc, err := resp.Location()
	if errors.Is(err, http.ErrNoLocation) || err != nil {
		return ""
	}
	return fmt.Sprintf(" (a redirect to %s, another origin, is not followed: headers and body never cross origins; use the final URL)", origin(loc))
}
