package devserver

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// loopback is where every embedded listener binds unless the caller asks
// for another frontend IP: dev engines must not be reachable from the network
// by default.
const loopback = "127.0.0.1"

// freePorts reserves n distinct free TCP ports on ip by holding listeners
// open until all are chosen, then releases them for the server to bind. The
// window between release and bind is a few milliseconds; the servers' own
// bind would fail loudly if another process took a port in between.
func freePorts(ip string, n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("reserve a free port on %s: %w", ip, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// checkFree reports a clear error when a fixed address is taken, because the
// server itself treats a failed bind as fatal for the whole process.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("address %s is not available: %w", addr, err)
	}
	return l.Close()
}

// splitAddr parses a listen address into an IP literal and port, mapping ""
// and "localhost" to the IPv4 loopback (resolving "localhost" can yield ::1,
// which clients dialing 127.0.0.1 would not reach).
func splitAddr(addr, defaultAddr string) (string, int, error) {
	addr = cmp.Or(addr, defaultAddr)
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" || host == "localhost" {
		host = loopback
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("address %q: host must be an IP address or localhost", addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, errors.Join(fmt.Errorf("address %q: bad port", addr), err)
	}
	return host, port, nil
}

// dialHost is the address a local client uses to reach a listener bound to
// ip: a wildcard bind is reached through the loopback.
func dialHost(ip string) string {
	if p := net.ParseIP(ip); p != nil && p.IsUnspecified() {
		return loopback
	}
	return ip
}
