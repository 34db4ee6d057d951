package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"spread.dev/spread/ext"
)

// Version is spread's version, set at build time with
// -ldflags "-X spread.dev/spread/internal/cli.Version=v1.2.3".
var Version = "dev"

// Extensions are the Go modules of the extensions linked into this binary
// (set by command.Main; `spread build --with` adds to them).
var Extensions []string

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print spread's version, the extension modules and the JS modules it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			rev := ""
			bi, haveBI := debug.ReadBuildInfo()
			if haveBI {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = " (" + s.Value + ")"
					}
				}
			}
			fmt.Fprintf(w, "spread %s%s %s %s/%s\n", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if len(Extensions) > 0 {
				fmt.Fprintln(w, "extensions:")
				for _, e := range Extensions {
					fmt.Fprintln(w, "  "+e+" "+moduleVersion(bi, haveBI, e))
				}
			}
			fmt.Fprintln(w, "modules:")
			for _, m := range append([]string{"k6", "k6/execution", "k6/metrics"}, ext.Registered()...) {
				fmt.Fprintln(w, "  "+m)
			}
			return nil
		},
	}
}

// moduleVersion is the version of Go module path in the build, "(local)"
// for a replace to a directory.
func moduleVersion(bi *debug.BuildInfo, ok bool, path string) string {
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path != path {
			continue
		}
		if d.Replace != nil {
			if d.Replace.Version == "" {
				return "(local)"
			}
			return d.Replace.Version
		}
		return d.Version
	}
	return ""
}
