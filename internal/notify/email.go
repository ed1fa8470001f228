package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/coulomb/activity-core/internal/config"
	"github.com/coulomb/activity-core/internal/tlsconf"
)

// SMTP is the server email targets are sent through
// (docs/alerting.md#delivery), from the ACTIVITY_SMTP_* settings.
type smtpSettings struct {
	// Addr is host:port; empty: email targets fail (and are retried)
	// with a message naming ACTIVITY_SMTP_ADDR.
	Addr string
	// From is the From address.
	From string
	// Username and Password authenticate with AUTH PLAIN when Username
	// is set; only ever after STARTTLS, or to a loopback server.
	Username, Password string
	// Plaintext is ACTIVITY_SMTP_STARTTLS=off: no STARTTLS. Allowed to a
	// loopback server, or anywhere with AllowPlaintext.
	Plaintext      bool
	AllowPlaintext bool
	// CAFile is ACTIVITY_SMTP_CA: the CA that signed the server's
	// certificate (default: the system roots). It is re-read when it
	// changes.
	CAFile string
	// HelloName is the name given in EHLO (default: "localhost", as
	// net/smtp does).
	HelloName string
}

// emailRecipientsMax bounds the addresses of one email target.
const emailRecipientsMax = 100

// smtpSender sends email through one server.
type smtpSender struct {
	cfg  smtpSettings
	host string
	from *mail.Address
	tls  *tls.Config
}

// newSMTPSender checks the SMTP settings as config.Alerting.Validate
// does, for callers that build them in Go.
func newSMTPSender(cfg smtpSettings, log *slog.Logger) (*smtpSender, error) {
	s := &smtpSender{cfg: cfg}
	if cfg.Addr == "" {
		return s, nil
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("notify: ACTIVITY_SMTP_ADDR: %q is not host:port", cfg.Addr)
	}
	s.host = host
	if strings.ContainsAny(cfg.From, "\r\n") {
		return nil, errors.New("notify: ACTIVITY_SMTP_FROM: contains a line break")
	}
	if s.from, err = mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("notify: ACTIVITY_SMTP_FROM: %q is not an email address", cfg.From)
	}
	if cfg.Plaintext {
		if !tlsconf.IsLoopback(host) && (!cfg.AllowPlaintext || cfg.Username != "") {
			return nil, fmt.Errorf("notify: ACTIVITY_SMTP_STARTTLS is off but %s is not a loopback address; mail (and a password) would cross the network in clear", cfg.Addr)
		}
		return s, nil
	}
	if s.tls, err = tlsconf.New(tlsconf.Files{CA: cfg.CAFile, CASetting: "ACTIVITY_SMTP_CA"}, host, log); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return s, nil
}

// send mails p to every address in to, in one SMTP transaction: all get
// it or none does.
func (s *smtpSender) send(ctx context.Context, to []string, p payload, now time.Time) error {
	if s.cfg.Addr == "" {
		return errors.New("ACTIVITY_SMTP_ADDR is not set; set it (and ACTIVITY_SMTP_FROM) to send email notifications")
	}
	rcpts, err := recipients(to)
	if err != nil {
		return err
	}
	msg, err := s.compose(rcpts, p, now)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("greeting from %s: %w", s.cfg.Addr, err)
	}
	defer c.Close()
	if err := s.transact(c, rcpts, msg); err != nil {
		return fmt.Errorf("%s: %w", s.cfg.Addr, err)
	}
	return nil
}

// transact is one SMTP conversation: EHLO, STARTTLS, AUTH, MAIL, RCPT,
// DATA, QUIT.
func (s *smtpSender) transact(c *smtp.Client, rcpts []*mail.Address, msg []byte) error {
	if err := c.Hello(cmp.Or(s.cfg.HelloName, "localhost")); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if !s.cfg.Plaintext {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS, and ACTIVITY_SMTP_STARTTLS=require; use a server (or port, usually 587) that does, or off for a loopback relay")
		}
		if err := c.StartTLS(s.tls.Clone()); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not offer AUTH, and ACTIVITY_SMTP_USERNAME is set")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return fmt.Errorf("AUTH PLAIN as %s: %w", s.cfg.Username, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r.Address); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// recipients parses the target's addresses. An address with a line break
// (a header injection) or that does not parse refuses the whole target:
// a retry would not mend it.
func recipients(to []string) ([]*mail.Address, error) {
	if len(to) == 0 {
		return nil, permanentf("the target has no address in to")
	}
	if len(to) > emailRecipientsMax {
		return nil, permanentf("the target has %d addresses; at most %d", len(to), emailRecipientsMax)
	}
	out := make([]*mail.Address, 0, len(to))
	for _, raw := range to {
		if strings.ContainsAny(raw, "\r\n\x00") {
			return nil, permanentf("address %q holds a line break; refused (it could add mail headers)", raw)
		}
		a, err := mail.ParseAddress(raw)
		if err != nil || !strings.Contains(a.Address, "@") {
			return nil, permanentf("%q is not an email address", raw)
		}
		out = append(out, a)
	}
	return out, nil
}

// compose writes the message: headers from values that cannot hold a line
// break (addresses are parsed, the subject is made one line and
// MIME-encoded), and a quoted-printable UTF-8 text body.
func (s *smtpSender) compose(rcpts []*mail.Address, p payload, now time.Time) ([]byte, error) {
	to := make([]string, len(rcpts))
	for i, r := range rcpts {
		to[i] = r.String()
	}
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name + ": " + oneLine(value) + "\r\n")
	}
	header("From", s.from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", subject(p)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", s.messageID(p, now))
	header("Auto-Submitted", "auto-generated")
	header(eventHeader, p.event)
	header(deliveryHeader, p.deliveryID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(plainText(p), "\n", "\r\n")
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// messageID is unique per delivery and attempt, in the From domain.
func (s *smtpSender) messageID(p payload, now time.Time) string {
	sum := sha256.Sum256([]byte(p.deliveryID + "\x00" + now.Format(time.RFC3339Nano)))
	domain := "activity-core.invalid"
	if _, d, ok := strings.Cut(s.from.Address, "@"); ok && d != "" {
		domain = d
	}
	return "<" + hex.EncodeToString(sum[:16]) + "@" + domain + ">"
}

// SMTPSettings is the SMTP of the ACTIVITY_SMTP_* settings.
func SMTPSettings(a *config.Alerting, tr config.Transport) smtpSettings {
	return smtpSettings{
		Addr: a.SMTPAddr, From: a.SMTPFrom, Username: a.SMTPUsername, Password: a.SMTPPassword,
		Plaintext: !a.StartTLSRequired(), AllowPlaintext: tr.AllowPlaintext, CAFile: a.SMTPCA,
	}
}
