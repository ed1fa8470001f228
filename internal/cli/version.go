package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/coulomb/activity-core/internal/cli.Version=v1.2.3".
var Version = "dev"

// versionCmd prints the version and what the binary was built from.
type versionCmd struct{}

// Run prints the version line.
func (c *versionCmd) Run(env *cmdEnv) error {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " commit " + s.Value[:12]
			}
		}
	}
	_, err := fmt.Fprintf(env.Stdout, "activity-core %s (%s%s)\n", Version, runtime.Version(), rev)
	return err
}
