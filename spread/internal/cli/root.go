// Package cli is spread's command line: one file per subcommand, all
// listed in NewRoot and the built-in outputs in outputs.go (explicit
// wiring; init() registration is kept for extension modules and outputs). Commands write to cobra's
// OutOrStdout / ErrOrStderr, so tests and embedders can capture them.
package cli

import (
	"github.com/spf13/cobra"
)

// NewRoot builds the spread root command with every subcommand.
func NewRoot() *cobra.Command {
	registerOutputs()
	root := &cobra.Command{
		Use:           "spread",
		Short:         "Run k6-style load scripts and measure how a Service spreads load across pods",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRunCommand(),
		newInspectCommand(),
		newArchiveCommand(),
		newVersionCommand(),
		newBuildCommand(),
		newLabCommand(),
		newExperimentsCommand(),
	)
	return root
}
