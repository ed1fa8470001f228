package config

import (
	"errors"
	"net/url"
	"os"
	"strings"
)

// Validate checks the NATS credentials and TLS settings that can be
// checked without connecting: one kind of credential at a time, the
// halves of a pair together, and files that can be read. Their contents
// are checked when the role connects (eventbus.Connect). natsURL is
// ACTIVITY_NATS_URL, whose user:password@ or token@ is a credential too.
func (n *NATSAuth) Validate(natsURL string) error {
	var errs []error
	var kinds []string
	if n.NATSCreds != "" {
		kinds = append(kinds, "ACTIVITY_NATS_CREDS")
	}
	if n.NATSNKey != "" {
		kinds = append(kinds, "ACTIVITY_NATS_NKEY")
	}
	if n.NATSUser != "" || n.NATSPassword != "" {
		kinds = append(kinds, "ACTIVITY_NATS_USER/ACTIVITY_NATS_PASSWORD")
		if n.NATSUser == "" || n.NATSPassword == "" {
			errs = append(errs, bad("ACTIVITY_NATS_USER", "and ACTIVITY_NATS_PASSWORD go together; set both or neither"))
		}
	}
	if n.NATSToken != "" {
		kinds = append(kinds, "ACTIVITY_NATS_TOKEN")
	}
	if u, err := url.Parse(natsURL); err == nil && u.User != nil {
		kinds = append(kinds, "the user info in ACTIVITY_NATS_URL")
	}
	if len(kinds) > 1 {
		errs = append(errs, bad(strings.SplitN(kinds[0], "/", 2)[0], "set together with %s; NATS takes one kind of credential: keep one of %s",
			strings.Join(kinds[1:], ", "), strings.Join(kinds, ", ")))
	}
	if (n.NATSCert == "") != (n.NATSKey == "") {
		errs = append(errs, bad("ACTIVITY_NATS_CERT", "and ACTIVITY_NATS_KEY go together (client certificate and its private key); set both or neither"))
	}
	if n.NATSJSDomain != "" && n.NATSJSAPIPrefix != "" {
		errs = append(errs, bad("ACTIVITY_NATS_JS_DOMAIN", "set together with ACTIVITY_NATS_JS_API_PREFIX; a domain is the prefix $JS.<domain>.API: keep one"))
	}
	for _, f := range []struct{ setting, path string }{
		{"ACTIVITY_NATS_CREDS", n.NATSCreds}, {"ACTIVITY_NATS_NKEY", n.NATSNKey},
		{"ACTIVITY_NATS_CA", n.NATSCA}, {"ACTIVITY_NATS_CERT", n.NATSCert}, {"ACTIVITY_NATS_KEY", n.NATSKey},
	} {
		if f.path == "" {
			continue
		}
		if fh, err := os.Open(f.path); err != nil {
			errs = append(errs, bad(f.setting, "cannot read the file: %v", unwrapPath(err)))
		} else {
			fh.Close()
		}
	}
	return errors.Join(errs...)
}

// unwrapPath keeps the path and the reason of a file error.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return errors.New(pe.Path + ": " + pe.Err.Error())
	}
	return err
}

// redacted is the NATS part of the settings dump: file paths and names
// shown, the password and the token masked.
func (n *NATSAuth) redacted() []string {
	mask := func(v string) string {
		if v == "" {
			return ""
		}
		return "***"
	}
	return []string{
		"ACTIVITY_NATS_CREDS=" + n.NATSCreds,
		"ACTIVITY_NATS_NKEY=" + n.NATSNKey,
		"ACTIVITY_NATS_USER=" + n.NATSUser,
		"ACTIVITY_NATS_PASSWORD=" + mask(n.NATSPassword),
		"ACTIVITY_NATS_TOKEN=" + mask(n.NATSToken),
		"ACTIVITY_NATS_CA=" + n.NATSCA,
		"ACTIVITY_NATS_CERT=" + n.NATSCert,
		"ACTIVITY_NATS_KEY=" + n.NATSKey,
		"ACTIVITY_NATS_JS_DOMAIN=" + n.NATSJSDomain,
		"ACTIVITY_NATS_JS_API_PREFIX=" + n.NATSJSAPIPrefix,
	}
}
