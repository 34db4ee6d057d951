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

func init() { addCommand(newVersionCommand) }

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print spread's version and the modules it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = " (" + s.Value + ")"
					}
				}
			}
			fmt.Fprintf(w, "spread %s%s %s %s/%s\n", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintln(w, "modules:")
			for _, m := range append([]string{"k6", "k6/execution", "k6/metrics"}, ext.Registered()...) {
				fmt.Fprintln(w, "  "+m)
			}
			return nil
		},
	}
}
