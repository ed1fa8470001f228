package testsupport

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Mailpit: a real SMTP server for the notifier's email tests, read back
// through its HTTP API. CI installs it with
//
//	GOBIN=~/.cache/activity-core-tools/mailpit-v1.33.1 go install github.com/axllent/mailpit@v1.33.1
const (
	mailpitVersion = "v1.33.1"
	// MailpitEnv names a mailpit binary to use instead of searching.
	mailpitEnv = "ACTIVITY_TEST_MAILPIT"
)

// MailpitOptions says how the server receives mail.
type MailpitOptions struct {
	// StartTLS offers STARTTLS with a certificate for 127.0.0.1 from a
	// test CA, and requires it.
	StartTLS bool
	// Auth requires AUTH (PLAIN) as Mailpit.Username/Password.
	Auth bool
}

// Mailpit is a running mailpit process.
type Mailpit struct {
	// SMTPAddr is 127.0.0.1:PORT.
	SMTPAddr string
	// APIURL is http://127.0.0.1:PORT, the web UI and API.
	APIURL string
	// CAFile is the PEM file of the CA that signed the STARTTLS
	// certificate (StartTLS only).
	CAFile string
	// Username and Password are the accepted credentials (Auth only).
	Username, Password string
}

// MailpitBinary finds mailpit: $ACTIVITY_TEST_MAILPIT, else on PATH, else
// where CI installs it. The error says how to install it.
func mailpitBinary() (string, error) {
	if p := os.Getenv(mailpitEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", mailpitEnv, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	var cached string
	if home, err := os.UserHomeDir(); err == nil {
		cached = filepath.Join(home, ".cache", "activity-core-tools", "mailpit-"+mailpitVersion, "mailpit")
		if _, err := os.Stat(cached); err == nil {
			return cached, nil
		}
	}
	return "", fmt.Errorf("mailpit not found (not in %s, not on PATH, not at %s); install it with GOBIN=%s go install github.com/axllent/mailpit@%s",
		mailpitEnv, cached, filepath.Dir(cached), mailpitVersion)
}

// StartMailpit runs mailpit on free loopback ports and stops it when the
// test ends. The test is skipped when mailpit is not installed.
func StartMailpit(t testing.TB, o MailpitOptions) *Mailpit {
	t.Helper()
	bin, err := mailpitBinary()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	m := &Mailpit{SMTPAddr: FreeAddr(t)}
	apiAddr := FreeAddr(t)
	m.APIURL = "http://" + apiAddr
	args := []string{
		"--smtp", m.SMTPAddr, "--listen", apiAddr, "--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet",
	}
	if o.StartTLS {
		ca := NewCA(t, "mailpit test CA")
		cert, key := ca.IssueFiles(t, dir, "mailpit", Leaf{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}, Server: true})
		m.CAFile = ca.WriteCA(t, dir, "ca.pem")
		args = append(args, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls")
	}
	if o.Auth {
		m.Username, m.Password = "alerts", "mailpit-test-password-7f3a"
		file := filepath.Join(dir, "smtp-auth")
		WriteFile(t, file, []byte(m.Username+":"+m.Password+"\n"))
		args = append(args, "--smtp-auth-file", file)
		if !o.StartTLS {
			args = append(args, "--smtp-auth-allow-insecure")
		}
	}
	m.start(t, bin, args)
	return m
}

func (m *Mailpit) start(t testing.TB, bin string, args []string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = withoutMailpitEnv(os.Environ())
	var out Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mailpit: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited //nolint:errcheck // Wait's error after Kill only reports the kill
	})
	err := Poll(30*time.Second, func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("mailpit exited: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", m.SMTPAddr, time.Second)
		if err != nil {
			return err
		}
		c.Close()
		var list MailpitList
		return m.get("/api/v1/messages", &list)
	})
	if err != nil {
		t.Fatalf("mailpit %s not ready: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

// withoutMailpitEnv drops MP_* variables, which mailpit reads as settings.
func withoutMailpitEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "MP_") {
			out = append(out, e)
		}
	}
	return out
}

// MailpitAddress is a name and address as mailpit's API shows them.
type mailpitAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// MailpitSummary is one message in mailpit's list.
type MailpitSummary struct {
	ID        string           `json:"ID"`
	MessageID string           `json:"MessageID"`
	From      mailpitAddress   `json:"From"`
	To        []mailpitAddress `json:"To"`
	Subject   string           `json:"Subject"`
}

// MailpitList is GET /api/v1/messages.
type MailpitList struct {
	Total    int              `json:"total"`
	Messages []MailpitSummary `json:"messages"`
}

// MailpitMessage is GET /api/v1/message/{ID}: the parsed message.
type MailpitMessage struct {
	ID        string           `json:"ID"`
	MessageID string           `json:"MessageID"`
	From      mailpitAddress   `json:"From"`
	To        []mailpitAddress `json:"To"`
	Cc        []mailpitAddress `json:"Cc"`
	Bcc       []mailpitAddress `json:"Bcc"`
	Subject   string           `json:"Subject"`
	Text      string           `json:"Text"`
	// Headers is GET /api/v1/message/{ID}/headers.
	Headers map[string][]string `json:"-"`
}

// Messages lists the messages received, newest first.
func (m *Mailpit) Messages(t testing.TB) []MailpitSummary {
	t.Helper()
	var list MailpitList
	if err := m.get("/api/v1/messages", &list); err != nil {
		t.Fatal(err)
	}
	return list.Messages
}

// Message reads one message with its text body and headers.
func (m *Mailpit) Message(t testing.TB, id string) MailpitMessage {
	t.Helper()
	var msg MailpitMessage
	if err := m.get("/api/v1/message/"+url.PathEscape(id), &msg); err != nil {
		t.Fatal(err)
	}
	if err := m.get("/api/v1/message/"+url.PathEscape(id)+"/headers", &msg.Headers); err != nil {
		t.Fatal(err)
	}
	return msg
}

func (m *Mailpit) get(path string, into any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(m.APIURL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("mailpit GET %s: %w", path, err)
	}
	return nil
}
