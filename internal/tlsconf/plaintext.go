package tlsconf

import (
	"net"
	"net/url"
	"strings"
)

// IsLoopback reports whether host is "localhost", in 127.0.0.0/8 or ::1:
// the only places activity-core talks to without TLS unless the operator
// allows it (docs/deployment.md#secure-connections).
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// NATSServer parses one entry of a comma-separated NATS server list as
// nats.go dials it: host:port without a scheme means nats://host:port.
// tls means the entry itself asks for TLS (tls:// or wss://).
func NATSServer(raw string) (u *url.URL, tls bool, err error) {
	if !strings.Contains(raw, "://") {
		raw = "nats://" + raw
	}
	if u, err = url.Parse(raw); err != nil {
		return nil, false, err
	}
	return u, u.Scheme == "tls" || u.Scheme == "wss", nil
}
