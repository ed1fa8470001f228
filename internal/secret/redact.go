package secret

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret in a redacted connection string.
const Mask = "xxxxx"

// urlSecretKeys are the query parameters and key=value DSN keys whose value
// is a secret (PostgreSQL's password and sslpassword).
var urlSecretKeys = map[string]bool{"password": true, "sslpassword": true}

// tokenSchemes are the NATS schemes, where a user name without a password
// (nats://TOKEN@host) is a token.
var tokenSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

var dsnSecret = regexp.MustCompile(`(?i)\b((?:ssl)?password)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

// urlScheme starts a URL; dsnKey starts a key=value DSN.
var (
	urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	dsnKey    = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)
)

// asURL returns raw as a URL to parse. Without a scheme, a string that
// holds user info is host:port as nats.go dials it, so nats:// is added
// (added reports it); anything else without a scheme is a key=value DSN
// (dsn), even when a value holds "://".
func asURL(raw string) (u string, added, dsn bool) {
	switch {
	case urlScheme.MatchString(raw):
		return raw, false, false
	case dsnKey.MatchString(raw) || !strings.Contains(raw, "@"):
		return "", false, true
	}
	return "nats://" + raw, true, false
}

// RedactURL returns a connection string fit for a log line, an error or
// a page: the password of user:password@, a NATS token (nats://TOKEN@host),
// and the values of password= and sslpassword= (in a URL's query or a
// key=value DSN) become xxxxx, in each URL of a comma-separated list. A URL
// that does not parse is reduced to its scheme. It is the one redaction of the database and NATS URLs
// (docs/deployment.md#secure-connections).
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	s, added, dsn := asURL(raw)
	if dsn {
		return dsnSecret.ReplaceAllString(raw, "${1}="+Mask)
	}
	if parts := urlList(raw); parts != nil {
		for i, p := range parts {
			parts[i] = RedactURL(p)
		}
		return strings.Join(parts, ",")
	}
	u, err := url.Parse(s)
	if err != nil {
		if added {
			return "(unparseable URL, hidden)"
		}
		return urlScheme.FindString(raw) + "(unparseable URL, hidden)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else if tokenSchemes[strings.ToLower(u.Scheme)] {
			u.User = url.User(Mask)
		}
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			if dk, err := url.QueryUnescape(k); err == nil && urlSecretKeys[strings.ToLower(dk)] {
				parts[i] = k + "=" + Mask
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	if added {
		return strings.TrimPrefix(u.String(), "nats://")
	}
	return u.String()
}

// urlList splits a comma-separated list of NATS URLs (nats.go takes one
// for a cluster); nil when raw is a single URL.
func urlList(raw string) []string {
	// nats.go splits at every comma, each URL with or without a scheme;
	// a PostgreSQL URL with several hosts is one URL.
	scheme := strings.TrimSuffix(urlScheme.FindString(raw), "://")
	if !strings.Contains(raw, ",") || (scheme != "" && !tokenSchemes[strings.ToLower(scheme)]) {
		return nil
	}
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// urlSecrets returns the secret values a connection string carries, as
// RedactURL finds them.
func urlSecrets(raw string) []string {
	var out []string
	s, _, dsn := asURL(raw)
	if dsn {
		for _, m := range dsnSecret.FindAllStringSubmatch(raw, -1) {
			out = append(out, strings.Trim(m[2], "'"))
		}
		return out
	}
	if parts := urlList(raw); parts != nil {
		for _, p := range parts {
			out = append(out, urlSecrets(p)...)
		}
		return out
	}
	u, err := url.Parse(s)
	if err != nil {
		// net/url quotes the URL whole in its error: hide the user
		// info as written.
		_, rest, _ := strings.Cut(s, "://")
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest = rest[:i]
		}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			userinfo := rest[:i]
			_, pw, _ := strings.Cut(userinfo, ":")
			return append(out, userinfo, pw)
		}
		return nil
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		} else if tokenSchemes[strings.ToLower(u.Scheme)] {
			out = append(out, u.User.Username())
		}
	}
	for k, vs := range u.Query() {
		if urlSecretKeys[strings.ToLower(k)] {
			out = append(out, vs...)
		}
	}
	return out
}

// minSecretLen is the shortest secret RedactURLIn replaces inside free
// text: shorter ones would mangle ordinary words and protect little.
const minSecretLen = 4

// RedactURLIn returns text (a driver's error, say) with raw replaced by
// RedactURL(raw), and every secret raw carries replaced by xxxxx, as
// written and URL-escaped: drivers quote parts of the URL in their own
// words.
func RedactURLIn(text, raw string) string {
	if raw == "" {
		return text
	}
	text = strings.ReplaceAll(text, raw, RedactURL(raw))
	for _, s := range urlSecrets(raw) {
		if len(s) < minSecretLen {
			continue
		}
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), url.UserPassword("", s).String()[1:]} {
			if form != "" {
				text = strings.ReplaceAll(text, form, Mask)
			}
		}
	}
	return text
}
