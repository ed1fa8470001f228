package gitsource

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// remoteURL splits a remote URL into what may go on git's command line
// (every local user can read /proc/PID/cmdline) and git configuration
// for its environment (readable by our user only): an https URL's user
// and password become an Authorization header for that URL alone.
// Credentials over another transport are refused.
func remoteURL(raw string) (argURL string, config []string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, errors.New("repository URL does not parse")
	}
	if u.User == nil {
		return raw, nil, nil
	}
	pass, hasPassword := u.User.Password()
	switch {
	case u.Scheme == "ssh" && !hasPassword:
		return raw, nil, nil // a user name, as ssh takes it
	case u.Scheme != "https":
		return "", nil, errCleartextCredentials(u.Scheme)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + pass))
	u.User = nil
	argURL = u.String()
	return argURL, []string{"http." + argURL + ".extraHeader", "Authorization: Basic " + auth}, nil
}

// errCleartextCredentials refuses credentials a transport would send in
// clear or put on a command line.
func errCleartextCredentials(scheme string) error {
	if scheme == "ssh" {
		return errors.New("git+ssh URLs take a user, not a password: use an ssh key (docs/git-sources.md#credentials)")
	}
	return fmt.Errorf("git+%s sends credentials in cleartext: use git+https, or a credential helper (docs/git-sources.md#credentials)", scheme)
}

// withConfig adds git configuration (key, value, key, value…) to env
// through GIT_CONFIG_COUNT/KEY_n/VALUE_n, after any the user set there.
func withConfig(env []string, config ...string) []string {
	if len(config) == 0 {
		return env
	}
	n := 0
	out := make([]string, 0, len(env)+len(config)+1)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GIT_CONFIG_COUNT="); ok {
			n, _ = strconv.Atoi(v)
			continue
		}
		out = append(out, kv)
	}
	for i := 0; i+1 < len(config); i += 2 {
		out = append(out, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", n, config[i]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", n, config[i+1]))
		n++
	}
	return append(out, "GIT_CONFIG_COUNT="+strconv.Itoa(n))
}
