package cutover

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// HostZone returns the zone named (--zone, TZ), or the host's: the IANA
// name behind /etc/localtime (or /etc/timezone), so the report can name
// it; time.Local only knows itself as "Local".
func HostZone(name string) (*time.Location, error) {
	name = strings.TrimPrefix(name, ":")
	if name != "" {
		return time.LoadLocation(name)
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if _, zone, ok := strings.Cut(filepath.ToSlash(target), "zoneinfo/"); ok {
			if loc, err := time.LoadLocation(zone); err == nil {
				return loc, nil
			}
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if loc, err := time.LoadLocation(strings.TrimSpace(string(b))); err == nil {
			return loc, nil
		}
	}
	return time.Local, nil
}
