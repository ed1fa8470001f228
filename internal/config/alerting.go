package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/tlsconf"
)

// Alerting defaults.
const (
	detectorIntervalDefault = 15 * time.Second
	detectorLeaseTTLDefault = 30 * time.Second
	smtpStartTLSDefault     = smtpStartTLSRequire
	// DetectorIntervalMin keeps a mistyped interval ("15ms") from turning
	// the detector's pass into a busy loop against Temporal and the store.
	detectorIntervalMin = time.Second
)

// ACTIVITY_SMTP_STARTTLS values.
const (
	smtpStartTLSRequire = "require"
	smtpStartTLSOff     = "off"
)

// SMTPCASetting names the SMTP CA file, for messages.
const smtpCASetting = "ACTIVITY_SMTP_CA"

// Alerting holds the settings of the detector and of the notifier that
// delivers its notifications (docs/alerting.md#detector,
// docs/alerting.md#delivery): the links put in messages, the SMTP server
// for email targets, and the detector's pass interval and lease.
type Alerting struct {
	PublicURL     string `name:"public-url" env:"ACTIVITY_PUBLIC_URL" help:"Base URL of the dashboard as people reach it (e.g. https://activity.example.com); notifications link to <url>/ui/runs/<id>. Empty: no dashboard links." placeholder:"URL"`
	TemporalUIURL string `name:"temporal-ui-url" env:"ACTIVITY_TEMPORAL_UI_URL" help:"Base URL of Temporal's web UI (e.g. https://temporal.example.com); notifications link to <url>/namespaces/<ns>/workflows/<id>. Empty: no workflow links." placeholder:"URL"`

	SMTPAddr     string `name:"smtp-addr" env:"ACTIVITY_SMTP_ADDR" help:"SMTP server for email notifications, host:port (587 for submission with STARTTLS). Empty: email targets fail and are retried." placeholder:"HOST:PORT"`
	SMTPFrom     string `name:"smtp-from" env:"ACTIVITY_SMTP_FROM" help:"From address of notification email (e.g. activity-core@example.com)." placeholder:"ADDRESS"`
	SMTPUsername string `name:"smtp-username" env:"ACTIVITY_SMTP_USERNAME" help:"SMTP user for AUTH PLAIN (with ACTIVITY_SMTP_PASSWORD); empty: no authentication." placeholder:"USER"`
	SMTPPassword string `name:"smtp-password" env:"ACTIVITY_SMTP_PASSWORD" help:"SMTP password. Prefer the variable: a flag shows in ps." placeholder:"PASSWORD"`
	SMTPStartTLS string `name:"smtp-starttls" env:"ACTIVITY_SMTP_STARTTLS" default:"require" enum:"require,off" help:"require: mail is sent only after STARTTLS with a verified certificate; off: in clear, allowed to a loopback server (or with ACTIVITY_ALLOW_PLAINTEXT)."`
	SMTPCA       string `name:"smtp-ca" env:"ACTIVITY_SMTP_CA" help:"PEM file of the CA that signed the SMTP server's certificate (default: the system roots)." placeholder:"FILE"`

	DetectorInterval time.Duration `name:"detector-interval" env:"ACTIVITY_DETECTOR_INTERVAL" default:"15s" help:"How often the detector looks for missed, stale, late and failing definitions and delivers notifications."`
	DetectorLeaseTTL time.Duration `name:"detector-lease-ttl" env:"ACTIVITY_DETECTOR_LEASE_TTL" default:"30s" help:"How long the detector's lease outlives its holder; another replica takes over after it. At least twice the interval."`
}

// Validate checks the alerting settings; tr says whether SMTP in clear to
// a non-loopback server is allowed. Each bad setting is one error that
// names it; none shows the password.
func (a *Alerting) Validate(tr Transport) error {
	errs := []error{
		checkBaseURL("ACTIVITY_PUBLIC_URL", a.PublicURL),
		checkBaseURL("ACTIVITY_TEMPORAL_UI_URL", a.TemporalUIURL),
	}
	errs = append(errs, a.validateSMTP(tr)...)
	errs = append(errs, a.validateDetector()...)
	return errors.Join(errs...)
}

// checkBaseURL accepts an empty value or an http(s) URL with a host and no
// query or fragment, to which paths are appended.
func checkBaseURL(setting, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return bad(setting, "%q is not an http(s) URL with a host (e.g. https://activity.example.com)", raw)
	case u.User != nil:
		return bad(setting, "must not carry user info: the URL is put in messages people read")
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "#"):
		return bad(setting, "%q has a query or fragment; give the base URL only, paths are appended to it", raw)
	}
	return nil
}

// validateSMTP checks the email settings. Without ACTIVITY_SMTP_ADDR none
// of the others may be set: a typo in the address's name would otherwise
// go unnoticed until the first alert.
func (a *Alerting) validateSMTP(tr Transport) []error {
	var errs []error
	if a.SMTPAddr == "" {
		for _, s := range []struct{ setting, value string }{
			{"ACTIVITY_SMTP_FROM", a.SMTPFrom}, {"ACTIVITY_SMTP_USERNAME", a.SMTPUsername},
			{"ACTIVITY_SMTP_PASSWORD", a.SMTPPassword}, {smtpCASetting, a.SMTPCA},
		} {
			if s.value != "" {
				errs = append(errs, bad(s.setting, "is set but ACTIVITY_SMTP_ADDR is not; set the SMTP server's host:port, or unset %s", s.setting))
			}
		}
		return append(errs, a.checkStartTLSValue())
	}
	host, port, err := net.SplitHostPort(a.SMTPAddr)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		errs = append(errs, bad("ACTIVITY_SMTP_ADDR", "%q is not host:port (e.g. smtp.example.com:587)", a.SMTPAddr))
	}
	switch addr, err := mail.ParseAddress(a.SMTPFrom); {
	case a.SMTPFrom == "":
		errs = append(errs, bad("ACTIVITY_SMTP_FROM", "not set; email needs a From address (e.g. activity-core@example.com)"))
	case strings.ContainsAny(a.SMTPFrom, "\r\n") || err != nil:
		errs = append(errs, bad("ACTIVITY_SMTP_FROM", "%q is not an email address (e.g. activity-core@example.com or \"Activity\" <activity-core@example.com>)", a.SMTPFrom))
	case !strings.Contains(addr.Address, "@"):
		errs = append(errs, bad("ACTIVITY_SMTP_FROM", "%q has no domain; give a full address (e.g. activity-core@example.com)", a.SMTPFrom))
	}
	switch {
	case a.SMTPUsername != "" && a.SMTPPassword == "":
		errs = append(errs, bad("ACTIVITY_SMTP_USERNAME", "is set without ACTIVITY_SMTP_PASSWORD; set both for AUTH PLAIN, or neither"))
	case a.SMTPUsername == "" && a.SMTPPassword != "":
		errs = append(errs, bad("ACTIVITY_SMTP_PASSWORD", "is set without ACTIVITY_SMTP_USERNAME; set both for AUTH PLAIN, or neither"))
	case strings.ContainsAny(a.SMTPUsername, "\r\n\x00"):
		errs = append(errs, bad("ACTIVITY_SMTP_USERNAME", "contains a line break or NUL; give the user name alone"))
	case strings.ContainsAny(a.SMTPPassword, "\r\n\x00"):
		errs = append(errs, bad("ACTIVITY_SMTP_PASSWORD", "contains a line break or NUL (a file read with $(cat …) keeps its final newline: strip it)"))
	}
	if err := a.checkStartTLSValue(); err != nil {
		return append(errs, err)
	}
	if a.SMTPStartTLS == smtpStartTLSOff {
		errs = append(errs, a.checkPlaintext(tr, host)...)
	} else if a.SMTPCA != "" {
		if err := tlsconf.Check(tlsconf.Files{CA: a.SMTPCA, CASetting: smtpCASetting}, time.Now()); err != nil {
			errs = append(errs, settingErrors(err)...)
		}
	}
	return errs
}

func (a *Alerting) checkStartTLSValue() error {
	if m := a.SMTPStartTLS; m != "" && m != smtpStartTLSRequire && m != smtpStartTLSOff {
		return bad("ACTIVITY_SMTP_STARTTLS", "must be require or off, got %q", m)
	}
	return nil
}

// checkPlaintext refuses mail in clear to a server that is not on this
// machine unless the operator allowed plaintext; a password is never sent
// in clear off the machine (net/smtp refuses it too).
func (a *Alerting) checkPlaintext(tr Transport, host string) []error {
	var errs []error
	if a.SMTPCA != "" {
		errs = append(errs, bad(smtpCASetting, "is set but ACTIVITY_SMTP_STARTTLS is off, so it would never be used; set ACTIVITY_SMTP_STARTTLS=require or unset %s", smtpCASetting))
	}
	if host == "" || tlsconf.IsLoopback(host) {
		return errs
	}
	if !tr.AllowPlaintext {
		errs = append(errs, bad("ACTIVITY_SMTP_STARTTLS", "is off but ACTIVITY_SMTP_ADDR %s is not a loopback address, so alerts (and their stderr) would cross the network in clear; set ACTIVITY_SMTP_STARTTLS=require, or ACTIVITY_ALLOW_PLAINTEXT=1 if this network is trusted", a.SMTPAddr))
	} else if a.SMTPUsername != "" {
		errs = append(errs, bad("ACTIVITY_SMTP_STARTTLS", "is off and ACTIVITY_SMTP_ADDR %s is not a loopback address: the SMTP password would be sent in clear, which is never done; set ACTIVITY_SMTP_STARTTLS=require, or unset ACTIVITY_SMTP_USERNAME and ACTIVITY_SMTP_PASSWORD", a.SMTPAddr))
	}
	return errs
}

// validateDetector checks the pass interval and the lease: a lease shorter
// than two passes would be lost by a holder whose one pass ran long, and
// another replica would take over while it still works.
func (a *Alerting) validateDetector() []error {
	var errs []error
	if a.DetectorInterval != 0 && a.DetectorInterval < detectorIntervalMin { // 0: unset (Go callers), the default
		errs = append(errs, bad("ACTIVITY_DETECTOR_INTERVAL", "must be at least %s, got %s (e.g. 15s)", detectorIntervalMin, a.DetectorInterval))
		return errs
	}
	if ttl, every := a.LeaseTTL(), a.Interval(); ttl < 2*every {
		errs = append(errs, bad("ACTIVITY_DETECTOR_LEASE_TTL", "must be at least twice ACTIVITY_DETECTOR_INTERVAL (%s), got %s; e.g. %s", 2*every, ttl, 2*every))
	}
	return errs
}

// Interval is the detector's pass interval: ACTIVITY_DETECTOR_INTERVAL,
// or its default when unset.
func (a *Alerting) Interval() time.Duration {
	return cmp.Or(a.DetectorInterval, detectorIntervalDefault)
}

// LeaseTTL is the detector lease's time to live:
// ACTIVITY_DETECTOR_LEASE_TTL, or its default when unset.
func (a *Alerting) LeaseTTL() time.Duration {
	return cmp.Or(a.DetectorLeaseTTL, detectorLeaseTTLDefault)
}

// StartTLSRequired reports whether email goes only over STARTTLS (the
// default when unset).
func (a *Alerting) StartTLSRequired() bool {
	return a.SMTPStartTLS != smtpStartTLSOff
}

// Redacted returns the alerting settings as name=value lines for logs,
// the SMTP password masked.
func (a *Alerting) Redacted() []string {
	mask := ""
	if a.SMTPPassword != "" {
		mask = "***"
	}
	return []string{
		"ACTIVITY_PUBLIC_URL=" + a.PublicURL,
		"ACTIVITY_TEMPORAL_UI_URL=" + a.TemporalUIURL,
		"ACTIVITY_SMTP_ADDR=" + a.SMTPAddr,
		"ACTIVITY_SMTP_FROM=" + a.SMTPFrom,
		"ACTIVITY_SMTP_USERNAME=" + a.SMTPUsername,
		"ACTIVITY_SMTP_PASSWORD=" + mask,
		"ACTIVITY_SMTP_STARTTLS=" + a.SMTPStartTLS,
		"ACTIVITY_SMTP_CA=" + a.SMTPCA,
		fmt.Sprintf("ACTIVITY_DETECTOR_INTERVAL=%s", a.DetectorInterval),
		fmt.Sprintf("ACTIVITY_DETECTOR_LEASE_TTL=%s", a.DetectorLeaseTTL),
	}
}
