// Package cli is spread's command line: one file per subcommand (run,
// inspect, version, lab, experiments), each adding itself to the root.
package cli

import (
	"github.com/spf13/cobra"
)

var subcommands []func() *cobra.Command

// addCommand registers a subcommand constructor; called from init().
func addCommand(f func() *cobra.Command) { subcommands = append(subcommands, f) }

// NewRoot builds the spread root command with every subcommand.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "spread",
		Short:         "Run k6-style load scripts and measure how a Service spreads load across pods",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	return root
}
