package gitsource

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/secret"
)

// MinInterval is the shortest polling interval a git source accepts: a
// shorter one would hammer the remote for little gain.
const minInterval = 10 * time.Second

// schemes are the transports a git source may use. http and git (git
// daemon) carry no authentication and are meant for local read-only
// mirrors (docs/git-sources.md#sources).
var schemes = map[string]bool{"https": true, "ssh": true, "file": true, "http": true, "git": true}

// queryKeys are the parameters a git source URL accepts.
const queryKeys = "ref, webhook_secret, interval"

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	nameInvalid = regexp.MustCompile(`[^a-z0-9._-]+`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// scpLike is git's host:path shorthand (git@host:org/repo.git).
	scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:`)
	// namePrefix is a NAME= in front of a spec: no slash or colon before
	// the first '='.
	namePrefix = regexp.MustCompile(`^([^/:=]+)=(.*)$`)
)

// ParseSpec parses one source spec. Errors name the spec (redacted) and
// what to write instead.
func ParseSpec(raw string) (Spec, error) {
	raw = strings.TrimSpace(raw)
	name, body := "", raw
	if m := namePrefix.FindStringSubmatch(raw); m != nil {
		name, body = m[1], m[2]
		if !nameRE.MatchString(name) {
			return Spec{}, fmt.Errorf("source %q: name %q must match [a-z0-9][a-z0-9._-]* (lower case)", redactSpec(raw), name)
		}
	}
	if body == "" {
		return Spec{}, fmt.Errorf("source %q: empty; write [NAME=]DIR or [NAME=]git+https://host/org/repo.git//path?ref=main", redactSpec(raw))
	}
	var s Spec
	var err error
	switch {
	case strings.HasPrefix(body, "git+"):
		s, err = parseGit(body)
	case strings.Contains(body, "://"):
		err = fmt.Errorf("a git source starts with git+ (git+https://, git+ssh://, git+file://)")
	case scpLike.MatchString(body):
		err = fmt.Errorf("scp-like addresses are not accepted; write git+ssh://user@host/org/repo.git")
	default:
		s = Spec{Kind: KindFolder, Dir: body}
	}
	if err != nil {
		return Spec{}, fmt.Errorf("source %q: %w", redactSpec(raw), err)
	}
	if s.Name = name; name == "" {
		s.defaulted = true
		if s.Name, err = defaultName(s); err != nil {
			return Spec{}, fmt.Errorf("source %q: %w", redactSpec(raw), err)
		}
	}
	return s, nil
}

// ParseSpecs parses a --definitions list and checks that names are
// unique. An unnamed folder whose name another source has becomes
// NAME-2, NAME-3… in list order, so folder lists that worked before
// sources had names keep working; any other clash is refused.
func ParseSpecs(raw []string) ([]Spec, error) {
	out := make([]Spec, 0, len(raw))
	byName := map[string]string{}
	for _, r := range raw {
		if strings.TrimSpace(r) == "" {
			continue
		}
		s, err := ParseSpec(r)
		if err != nil {
			return nil, err
		}
		if s.Kind == KindFolder && s.defaulted {
			continue // named below, once every other name is known
		}
		if prev, ok := byName[s.Name]; ok {
			return nil, fmt.Errorf("sources %q and %q are both named %q: give one another name with NAME=", prev, s.String(), s.Name)
		}
		byName[s.Name] = s.String()
		out = append(out, s)
	}
	return nameFolders(raw, out, byName)
}

// nameFolders parses the unnamed folders of raw again and gives each a
// name no other source has, keeping raw's order in the result.
func nameFolders(raw []string, named []Spec, byName map[string]string) ([]Spec, error) {
	out := make([]Spec, 0, len(raw))
	for _, r := range raw {
		if strings.TrimSpace(r) == "" {
			continue
		}
		s, _ := ParseSpec(r) // parsed once already
		if s.Kind != KindFolder || !s.defaulted {
			out = append(out, named[0])
			named = named[1:]
			continue
		}
		base := s.Name
		for n := 2; byName[s.Name] != ""; n++ {
			s.Name = fmt.Sprintf("%s-%d", base, n)
		}
		byName[s.Name] = s.String()
		out = append(out, s)
	}
	return out, nil
}

// parseGit parses git+SCHEME://…[//path][?query].
func parseGit(body string) (Spec, error) {
	rest := strings.TrimPrefix(body, "git+")
	if strings.Contains(rest, "#") {
		return Spec{}, fmt.Errorf("a fragment (#) is not accepted; set the ref with ?ref=")
	}
	rest, query, _ := strings.Cut(rest, "?")
	scheme, after, ok := strings.Cut(rest, "://")
	if !ok {
		return Spec{}, fmt.Errorf("no :// after the scheme; write git+https://host/org/repo.git (or git+ssh://, git+file://)")
	}
	if !schemes[scheme] {
		return Spec{}, fmt.Errorf("scheme git+%s is not supported; use git+https, git+ssh or git+file (git+http and git+git for local read-only mirrors)", scheme)
	}
	repo, path := after, ""
	if i := strings.Index(after[min(1, len(after)):], "//"); i >= 0 {
		i += min(1, len(after))
		repo, path = after[:i], after[i+2:]
	}
	r := &Remote{URL: scheme + "://" + repo}
	if err := checkRemoteURL(r.URL); err != nil {
		return Spec{}, err
	}
	var err error
	if r.Path, err = cleanPath(path); err != nil {
		return Spec{}, err
	}
	if err := parseQuery(r, query); err != nil {
		return Spec{}, err
	}
	return Spec{Kind: KindGit, Git: r}, nil
}

// checkRemoteURL checks the repository URL has what its scheme needs.
func checkRemoteURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("repository URL does not parse")
	}
	switch {
	case u.Scheme == "file" && u.Host != "" && u.Host != "localhost":
		return fmt.Errorf("git+file URLs take an absolute path: git+file:///srv/repo.git")
	case u.Scheme != "file" && u.Host == "":
		return fmt.Errorf("repository URL has no host: git+%s://host/org/repo.git", u.Scheme)
	case strings.Trim(u.Path, "/") == "":
		return fmt.Errorf("repository URL has no repository path")
	case u.Scheme == "file" && u.User != nil:
		return fmt.Errorf("git+file URLs take no user")
	case strings.HasPrefix(u.Hostname(), "-") || u.User != nil && strings.HasPrefix(u.User.Username(), "-"):
		return fmt.Errorf("a host or user starting with '-' is not accepted: git or ssh would read it as an option")
	}
	if _, _, err := remoteURL(raw); err != nil {
		return err // credentials git+http, git+git or ssh would expose
	}
	return nil
}

// parseQuery sets the Remote's parameters from the URL's query.
func parseQuery(r *Remote, query string) error {
	q, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("query does not parse: write ?ref=main&webhook_secret=NAME&interval=5m, with %% as %%25")
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return fmt.Errorf("parameter %s is given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "ref":
			if err := CheckRef(v); err != nil {
				return err
			}
			r.Ref = v
		case "webhook_secret":
			if !envNameRE.MatchString(v) {
				return fmt.Errorf("webhook_secret must name an allow-listed secret (letters, digits, _), not hold its value")
			}
			r.WebhookSecret = v
		case "interval":
			d, err := time.ParseDuration(v)
			if err != nil || d < minInterval {
				return fmt.Errorf("interval %q must be a duration of at least %s, e.g. 5m", v, minInterval)
			}
			r.Interval = d
		default:
			return fmt.Errorf("unknown parameter %q; the parameters are %s", k, queryKeys)
		}
	}
	return nil
}

// cleanPath normalises the path inside the repository and refuses ..
func cleanPath(p string) (string, error) {
	var parts []string
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return "", fmt.Errorf("path %q must not contain .. segments", p)
		case strings.ContainsFunc(seg, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
			return "", fmt.Errorf("path %q holds a control character or backslash", p)
		}
		parts = append(parts, seg)
	}
	return strings.Join(parts, "/"), nil
}

// defaultName is the repository's or folder's last path element without
// ".git", lower-cased, other characters replaced by '-'.
func defaultName(s Spec) (string, error) {
	var base string
	if s.Kind == KindGit {
		u, _ := url.Parse(s.Git.URL)
		base = strings.TrimRight(u.Path, "/")
		base = base[strings.LastIndex(base, "/")+1:]
	} else {
		dir := s.Dir
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		base = filepath.Base(dir)
	}
	base = strings.TrimSuffix(base, ".git")
	name := strings.TrimLeft(nameInvalid.ReplaceAllString(strings.ToLower(base), "-"), "._-")
	if !nameRE.MatchString(name) {
		return "", fmt.Errorf("no name can be made from %q; write NAME=%s", base, s.String())
	}
	return name, nil
}

// String is the spec as configured with credentials redacted: safe for
// logs, status and the API.
func (s Spec) String() string {
	if s.Git == nil {
		return s.Dir
	}
	var b strings.Builder
	b.WriteString("git+" + redactURL(s.Git.URL))
	if s.Git.Path != "" {
		b.WriteString("//" + s.Git.Path)
	}
	q := url.Values{}
	if s.Git.Ref != "" {
		q.Set("ref", s.Git.Ref)
	}
	if s.Git.WebhookSecret != "" {
		q.Set("webhook_secret", s.Git.WebhookSecret)
	}
	if s.Git.Interval != 0 {
		q.Set("interval", s.Git.Interval.String())
	}
	if len(q) > 0 {
		b.WriteString("?" + q.Encode())
	}
	return b.String()
}

// RedactURL is secret.RedactURL, and for http(s) also hides a user name
// given without a password: forges accept a token there.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil && (u.Scheme == "https" || u.Scheme == "http") {
		if _, ok := u.User.Password(); !ok {
			u.User = url.User(secret.Mask)
			return u.String()
		}
	}
	return secret.RedactURL(raw)
}

// redactSpec redacts a raw spec for an error message: everything from
// "://" to the last '@' (a password may hold '@' or '/') and the values
// of query parameters that may be secret. A spec it cannot split with
// certainty, or whose URL does not parse, shows as scheme://(hidden).
func redactSpec(raw string) string {
	name, body := "", raw
	if m := namePrefix.FindStringSubmatch(raw); m != nil {
		name, body = m[1]+"=", m[2]
	}
	scheme, rest, ok := strings.Cut(body, "://")
	if !ok {
		if strings.Contains(body, "@") { // git+https:/user:pw@host, mistyped
			scheme, _, _ = strings.Cut(body, ":")
			return name + scheme + "://(hidden)"
		}
		return raw
	}
	hidden := name + scheme + "://(hidden)"
	at, q := strings.LastIndex(rest, "@"), strings.Index(rest, "?")
	if at >= 0 && q >= 0 && q < at {
		return hidden // a '?' in the password, or an '@' in the query
	}
	if at >= 0 {
		rest = secret.Mask + rest[at:]
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	if _, err := url.Parse(strings.TrimPrefix(scheme, "git+") + "://" + rest); err != nil {
		return hidden
	}
	if hasQuery {
		rest += "?" + redactQuery(query)
	}
	return name + scheme + "://" + rest
}

// redactQuery masks every query value but a ref, an interval and a
// webhook_secret that names a secret (rather than holding one).
func redactQuery(query string) string {
	params := strings.Split(query, "&")
	for i, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		plain, _ := url.QueryUnescape(v)
		safe := k == "ref" || k == "interval" || k == "webhook_secret" && envNameRE.MatchString(plain)
		if !safe {
			params[i] = k + "=" + secret.Mask
		}
	}
	return strings.Join(params, "&")
}

// userinfoRE matches the user info of any URL in free text.
var userinfoRE = regexp.MustCompile(`://[^/\s@?#]+@`)
